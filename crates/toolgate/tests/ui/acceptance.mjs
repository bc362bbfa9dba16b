// The web UI's acceptance scenarios in a real browser (Debian's Chromium driven by playwright-core),
// against a running toolgate. Started by tests/e2e_ui.rs, one step per run:
//
//   node acceptance.mjs <step> <admin base URL> <token> [screenshot dir]
//
// The token signs in (an admin's, an approver's or a viewer's, as the step needs); for the `once`
// step it is the one-time sign-in link itself. Prints progress lines and, last, one line
// `RESULT <json>` that the Rust test asserts on. The `approve` step prints `READY` once the
// approvals page is open and listening, so the test can make the held call only then (the row must
// arrive without a reload).
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const peers = process.env.TOOLGATE_PEERS_DIR;
const require = createRequire(join(peers, "node_modules") + "/");
const { chromium } = require("playwright-core");
const axePath = require.resolve("axe-core/axe.min.js");

const [step, base, token, shots] = process.argv.slice(2);
const STEP_TIMEOUT_MS = 15_000;
const result = {};
const profile = mkdtempSync(join(tmpdir(), "toolgate-ui-"));
// A fresh profile (the user-data-dir) per run.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync"],
  viewport: { width: 1280, height: 900 },
  timeout: 30_000,
  // axe-core is injected as a script, which the UI's Content-Security-Policy rightly refuses.
  bypassCSP: ["approve", "guard", "builder", "pins", "grants", "grant-policy", "renew"].includes(step),
});
const browser = context;
context.setDefaultTimeout(STEP_TIMEOUT_MS);
const errors = [];
const page = context.pages()[0] || await context.newPage();
page.on("pageerror", (e) => errors.push(e.message));

async function signIn(p) {
  await p.goto(`${base}/ui`);
  await p.fill("#token", token);
  await p.click("button[type=submit]");
  await p.waitForURL(`${base}/ui`);
}

async function shot(p, name) {
  if (shots) await p.screenshot({ path: join(shots, `${name}.png`) });
}

async function axe(p) {
  await p.addScriptTag({ path: axePath });
  const r = await p.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  return r.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes: ${v.nodes.slice(0, 2).map((n) => n.target.join(" ")).join(", ")})`);
}

// The builder's "Review changes", then "Save": the review's diff and the notice once saved.
async function reviewAndSave(p) {
  await p.click("#review-build");
  await p.waitForSelector("#review:not([hidden])");
  const diff = await p.locator("#review-diff").innerText();
  await p.click("#save");
  await p.waitForURL(/saved=/);
  return { diff, saved: await p.locator(".notice.ok").innerText() };
}

// How many elements match each selector on the page at `path`.
async function counts(p, path, selectors) {
  await p.goto(`${base}${path}`);
  const out = {};
  for (const s of selectors) out[s] = await p.locator(s).count();
  return out;
}

try {
  if (step !== "once") await signIn(page);
  if (step === "build") {
    result.signedIn = (await page.locator(".who").innerText()).includes("admin");
    // Find deleteOneCompany by searching the catalogue.
    await page.goto(`${base}/ui/catalogue`);
    await page.fill("#f-q", "deleteonecompany");
    await page.press("#f-q", "Enter");
    await page.waitForURL(/q=deleteonecompany/);
    const rows = page.locator("#tools tbody tr");
    result.searchRows = await rows.count();
    result.searchTool = await rows.first().locator("th a").innerText();
    result.searchRisk = await rows.first().locator(".badge[class*=risk-]").innerText();
    await page.fill("#f-q", "");
    await page.press("#f-q", "Enter");
    await shot(page, "catalogue");
    await page.goto(`${base}/ui/catalogue/crm/deleteOneCompany`);
    await shot(page, "tool");
    // Build: deny one tool with a reason, limit another to 2 a minute, hold a third; save.
    await page.goto(`${base}/ui/policies/crm`);
    const row = (t) => page.locator(`#builder-tools tr[data-tool="${t}"]`);
    await row("createOneConnectedAccount").locator("[data-field=action]").selectOption("deny");
    await row("createOneConnectedAccount").locator("[data-field=reason]").fill("Credentials are managed by IT.");
    await row("createOneCompany").locator("[data-field=action]").selectOption("limit");
    await row("createOneCompany").locator("[data-field=max]").fill("2");
    await row("createOneCompany").locator("[data-field=window]").selectOption("minute");
    await row("createOneCompany").locator("[data-field=counter]").fill("company_writes");
    await row("deleteOneCompany").locator("[data-field=action]").selectOption("hold");
    await row("deleteOneCompany").locator("[data-field=timeout]").fill("5m");
    // A fourth held in retry mode: the agent is answered at once and calls again once approved.
    await row("deleteOnePerson").locator("[data-field=action]").selectOption("hold");
    await row("deleteOnePerson").locator("[data-field=mode]").selectOption("retry");
    await row("deleteOnePerson").locator("[data-field=timeout]").fill("1h");
    // And a ceiling on every call (all_tools).
    await page.selectOption("#all-limit", "limit");
    await page.fill("#all-max", "100");
    await page.selectOption("#all-window", "minute");
    await page.click("#review-build");
    await page.waitForSelector("#review:not([hidden])");
    result.diff = await page.locator("#review-diff").innerText();
    await shot(page, "policy-review");
    await page.click("#save");
    await page.waitForURL(/saved=/);
    result.saved = await page.locator(".notice.ok").innerText();
    await shot(page, "policy");
    // An invalid raw edit shows the validator's error at its line.
    await page.click("#tab-raw");
    const text = await page.inputValue("#raw-text");
    const lines = text.split("\n");
    const at = lines.findIndex((l) => /^default:/.test(l));
    lines[at] = "default: maybe";
    await page.fill("#raw-text", lines.join("\n"));
    await page.click("#raw-check");
    const diag = page.locator("#raw-diagnostics .diag").first();
    await diag.waitFor();
    result.rawError = { line: Number(await diag.getAttribute("data-line")), expectedLine: at + 1, text: await diag.innerText() };
    await shot(page, "policy-raw");
    await page.click("#tab-sim");
    await page.fill("#sim-tool", "createOneConnectedAccount");
    await page.click("#sim-run");
    await page.locator("#sim-result dd").first().waitFor();
    result.simulated = await page.locator("#sim-result").innerText();
    await shot(page, "policy-simulator");
  } else if (step === "approve") {
    const audit = await context.newPage();
    audit.on("pageerror", (e) => errors.push(e.message));
    await audit.goto(`${base}/ui/audit`);
    await audit.waitForFunction(() => document.getElementById("audit-live").textContent.startsWith("Live"));
    await page.goto(`${base}/ui/approvals`);
    await page.waitForFunction(() => document.getElementById("approvals-live").textContent.startsWith("Live"));
    const loadedAt = await page.evaluate(() => performance.timeOrigin);
    console.log("READY");
    const row = page.locator("#pending tbody tr").filter({ hasText: "deleteOneCompany" }).first();
    await row.waitFor({ timeout: 30_000 });
    result.sameDocument = (await page.evaluate(() => performance.timeOrigin)) === loadedAt;
    result.pendingRow = await row.innerText();
    const id = await row.getAttribute("data-id");
    await shot(page, "approvals");
    result.axe = { "/ui/approvals (a pending row)": await axe(page) };
    await row.locator("input[name=note]").fill("Looks right.");
    await row.getByRole("button", { name: "Approve" }).click();
    await page.waitForURL(/done=approve/);
    // The page that answers the decision lists it: "approved", or already "used" when the held
    // call went ahead first (the gateway reads decisions four times a second). Either way the
    // page then follows it live until the call has gone ahead: "used".
    const decidedAt = await page.evaluate(() => performance.timeOrigin);
    const decided = page.locator(`#history tbody tr[data-id="${id}"]`);
    result.historyAtOnce = await decided.innerText();
    await page.waitForFunction((id) => document.querySelector(
      `#history tbody tr[data-id="${CSS.escape(id)}"] td:nth-child(3)`)?.textContent === "used", id);
    result.history = await decided.innerText();
    result.historyLive = (await page.evaluate(() => performance.timeOrigin)) === decidedAt;
    // The approved call's decision reaches the open audit page without a reload.
    const allowed = audit.locator("#audit-requests tbody tr").filter({ hasText: "deleteOneCompany" }).filter({ hasText: "allow" });
    await allowed.first().waitFor({ timeout: 20_000 });
    result.auditLive = await allowed.first().innerText();
    const admin = audit.locator("#audit-admin tbody tr").filter({ hasText: "approval.approve" });
    await admin.first().waitFor({ timeout: 20_000 });
    result.adminLive = await admin.first().innerText();
    await shot(audit, "audit");
    await audit.goto(`${base}/ui/audit/verify`);
    result.verified = await audit.locator(".notice").first().innerText();
    await shot(audit, "audit-verify");
    result.who = await page.locator(".who span").first().innerText();
    // An approver decides held calls but edits no policy: the save buttons are absent.
    result.approverPolicy = await counts(page, "/ui/policies/crm", ["#review-build", "#review-raw", "#save"]);
  } else if (step === "flood") {
    // The audit page while about a thousand decisions a second arrive (the test makes them once
    // READY is printed, for FLOOD_MS): it must answer, keep its table bounded, say it samples,
    // and show the newest record once the flood is over.
    await page.goto(`${base}/ui/audit`);
    await page.waitForFunction(() => document.getElementById("audit-live").textContent.startsWith("Live"));
    // The longest wait between two animation frames: a frozen page draws none.
    await page.evaluate(() => {
      window.frameGaps = [];
      let last = performance.now();
      const frame = (t) => { window.frameGaps.push(t - last); last = t; requestAnimationFrame(frame); };
      requestAnimationFrame(frame);
      // A click handler of the page's own: when it ran.
      const button = document.querySelector("form.filters button[type=submit]");
      button.addEventListener("click", (e) => { e.preventDefault(); window.clickedAt = performance.now(); });
    });
    // As long as e2e_ui.rs's FLOOD.
    const flood = 5000;
    console.log("READY");
    const started = Date.now();
    const roundTrips = [];
    const clicks = [];
    let maxRows = 0;
    while (Date.now() - started < flood) {
      const t0 = Date.now();
      const rows = await page.evaluate(() => document.querySelectorAll("#audit-requests tbody tr").length);
      roundTrips.push(Date.now() - t0);
      maxRows = Math.max(maxRows, rows);
      if (roundTrips.length % 5 === 0) {
        const c0 = Date.now();
        await page.click("form.filters button[type=submit]");
        await page.waitForFunction(() => window.clickedAt !== undefined);
        clicks.push(Date.now() - c0);
        await page.evaluate(() => { delete window.clickedAt; });
      }
      const note = await page.evaluate(() => { const r = document.getElementById("audit-rate"); return r.hidden ? "" : r.textContent; });
      if (note) result.samplingNote = note;
      // Halfway through, what the page looks like.
      if (note && !result.floodShot && Date.now() - started > flood / 2) { await shot(page, "audit-flood"); result.floodShot = true; }
      await new Promise((r) => setTimeout(r, 100));
    }
    const sorted = (a) => [...a].sort((x, y) => x - y);
    const pct = (a, p) => sorted(a)[Math.min(a.length - 1, Math.floor(a.length * p))];
    const gaps = await page.evaluate(() => window.frameGaps.splice(0));
    result.flood = {
      roundTrips: roundTrips.length, roundTripMedianMs: pct(roundTrips, 0.5), roundTripMaxMs: Math.max(...roundTrips),
      clicks: clicks.length, clickMaxMs: Math.max(...clicks),
      frames: gaps.length, frameGapP95Ms: Math.round(pct(gaps, 0.95)), frameGapMaxMs: Math.round(Math.max(...gaps)),
      maxRows,
    };
    result.liveState = await page.locator("#audit-live").innerText();
    // Once the flood is over (the newest record stays the newest for a second), the page shows
    // that record.
    const newestSeq = () => fetch(`${base}/api/audit?order=desc&limit=1`, { headers: { authorization: `Bearer ${token}` } })
      .then((r) => r.json()).then((j) => j.records[0].seq);
    let newest = await newestSeq();
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = await newestSeq();
      if (now === newest) break;
      newest = now;
    }
    result.newest = newest;
    await page.waitForFunction((seq) => Number(document.querySelector("#audit-requests tbody tr")?.dataset.seq) >= seq, newest, { timeout: 10_000 });
    result.topRow = Number(await page.locator("#audit-requests tbody tr").first().getAttribute("data-seq"));
    result.rowsAfter = await page.locator("#audit-requests tbody tr").count();
    // And stops saying it samples.
    await page.waitForFunction(() => document.getElementById("audit-rate").hidden, null, { timeout: 10_000 });
    result.calmState = await page.locator("#audit-live").innerText();
  } else if (step === "builder") {
    // The builder's other controls on the policy the `build` step saved.
    await page.goto(`${base}/ui/policies/crm`);
    result.axe = {};
    // The tabs follow the arrow keys; each panel is checked while it is shown.
    await page.focus("#tab-build");
    const tabState = () => page.evaluate(() => ({
      focused: document.activeElement.id,
      selected: [...document.querySelectorAll('#builder [role="tab"]')].filter((t) => t.getAttribute("aria-selected") === "true").map((t) => t.id),
      shown: [...document.querySelectorAll('#builder [role="tabpanel"]')].filter((p) => !p.hidden).map((p) => p.id),
    }));
    await page.keyboard.press("ArrowRight");
    result.arrowRight = await tabState();
    result.axe["/ui/policies/crm (raw tab)"] = await axe(page);
    await page.keyboard.press("ArrowLeft");
    result.arrowLeft = await tabState();
    // Every Destructive tool held, in one action.
    result.destructiveRows = await page.locator('#builder-tools tbody tr[data-risk="destructive"]').count();
    await page.selectOption("#bulk-class", "destructive");
    await page.selectOption("#bulk-action", "hold");
    await page.click("#bulk-apply");
    result.bulkApplied = await page.locator("#bulk-apply").innerText();
    ({ diff: result.bulkDiff, saved: result.bulkSaved } = await reviewAndSave(page));
    result.bulkText = await page.inputValue("#raw-text");
    // A condition on an argument picked from the tool's input schema, and a tool hidden.
    const row = (t) => page.locator(`#builder-tools tr[data-tool="${t}"]`);
    const reads = row("findManyCompanies");
    await reads.locator("[data-field=action]").selectOption("allow");
    await reads.locator("details summary").click();
    result.schemaArguments = await reads.locator("[data-field=cond-path] option").allInnerTexts();
    await reads.locator("[data-field=cond-path]").selectOption("args.limit");
    await reads.locator("[data-field=cond-op]").selectOption("gt");
    await reads.locator("[data-field=cond-value]").fill("50");
    await reads.locator("[data-field=cond-reason]").fill("At most 50 companies at once.");
    await row("findManyPeople").locator("[data-field=action]").selectOption("hide");
    ({ diff: result.conditionDiff, saved: result.conditionSaved } = await reviewAndSave(page));
    // The simulator: the decision, what the agent would read, the counters it would reserve.
    await page.click("#tab-sim");
    const simulate = async (tool, args) => {
      await page.evaluate(() => document.getElementById("sim-result").replaceChildren());
      await page.fill("#sim-tool", tool);
      await page.fill("#sim-args", JSON.stringify(args));
      await page.click("#sim-run");
      await page.locator("#sim-result dd").first().waitFor();
      return page.evaluate(() => Object.fromEntries([...document.querySelectorAll("#sim-result dt")].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
    };
    result.simDenied = await simulate("findManyCompanies", { limit: 60 });
    result.simAllowed = await simulate("findManyCompanies", { limit: 10 });
    result.simLimited = await simulate("createOneCompany", { requestBody: { name: "Acme" } });
    result.axe["/ui/policies/crm (simulator tab)"] = await axe(page);
    await shot(page, "policy-simulator-limit");
  } else if (step === "viewer") {
    // A viewer reads every page, and no control that changes anything is there.
    result.who = await page.locator(".who span").first().innerText();
    result.absent = {
      "/ui": await counts(page, "/ui", ["details.kill", "form[action='/ui/kill-switches']"]),
      "/ui/approvals": await counts(page, "/ui/approvals", ["#pending[data-may-decide=true]", "button:has-text('Approve')"]),
      "/ui/policies/crm": await counts(page, "/ui/policies/crm", ["#review-build", "#review-raw", "#save"]),
      "/ui/pins/fast/add": await counts(page, "/ui/pins/fast/add", ["form[action$='/approve']", "button:has-text('Approve')"]),
      "/ui/grants": await counts(page, "/ui/grants", ["#create-grant", "form[action$='/expiry']", "button:has-text('Revoke')", "button:has-text('Rotate')"]),
    };
    result.pinShown = await page.goto(`${base}/ui/pins/fast/add`).then((r) => r.status());
    // Made by hand with the session's own CSRF token, a change is still refused.
    result.forged = await page.evaluate(async () => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const res = await fetch("/ui/kill-switches", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-csrf-token": csrf },
        body: "action=engage&scope=global&reason=viewer&confirm=yes",
      });
      return { status: res.status, text: (await res.text()).replace(/<[^>]*>/g, " ") };
    });
  } else if (step === "pins") {
    // The changed tool waits on the Pins page; its page shows both versions side by side.
    await page.goto(`${base}/ui/pins`);
    result.waiting = await page.locator("#pins tbody tr").allInnerTexts();
    await shot(page, "pins");
    await page.locator("#pins tbody tr[data-tool=add] th a").click();
    await page.waitForURL(`${base}/ui/pins/fast/add`);
    result.removed = await page.locator("#pin-diff td.del").allInnerTexts();
    result.added = await page.locator("#pin-diff td.add").allInnerTexts();
    await shot(page, "pin");
    result.axe = { "/ui/pins": [], "/ui/pins/fast/add": await axe(page) };
    await page.getByRole("button", { name: "Approve this version" }).click();
    await page.waitForURL(/approved=/);
    result.approved = await page.locator(".notice.ok").innerText();
    result.stillWaiting = await page.locator("#pins tbody tr[data-tool=add]").count();
    result.approvedBy = await page.locator("#pins-approved tbody tr").first().innerText();
    result.axe["/ui/pins"] = await axe(page);
  } else if (step === "grants") {
    // A grant made in the page: its token once, with a client configuration to copy.
    await page.goto(`${base}/ui/grants`);
    await page.fill("#g-label", "ui-agent");
    await page.fill("#g-agent", "ui-bot");
    await page.fill("#g-tags", "browser, test");
    await page.selectOption("#g-expires", "30d");
    await page.locator("#create-grant input[name=servers][value=crm]").check();
    await page.getByRole("button", { name: "Create and show its token" }).click();
    await page.locator("#grant-token").waitFor();
    result.token = await page.locator("#grant-token").innerText();
    result.snippet = JSON.parse(await page.locator("#grant-snippet").innerText());
    result.bridge = await page.locator("#grant-bridge").innerText();
    await page.getByRole("button", { name: "Copy the token" }).click();
    await page.waitForFunction(() => document.getElementById("copy-state").textContent !== "");
    result.copied = await page.locator("#copy-state").innerText();
    result.axe = { "/ui/grants (token)": await axe(page) };
    await shot(page, "grant-created");
    await page.goto(`${base}/ui/grants`);
    result.listed = await page.locator("#grants tbody tr[data-grant=ui-agent]").innerText();
    result.tokenShownAgain = (await page.content()).includes(result.token);
    result.axe["/ui/grants"] = await axe(page);
  } else if (step === "grant-policy") {
    // The grant's own policy, built like a server's: from the Grants page to its builder.
    await page.goto(`${base}/ui/grants`);
    await page.locator("#grants tr[data-grant=ui-agent] .policies a", { hasText: "crm" }).click();
    await page.waitForURL(/\/ui\/policies\/crm\?grant=ui-agent/);
    result.title = await page.locator("h1").innerText();
    result.before = await page.locator("main .notice").allInnerTexts();
    const row = page.locator('#builder-tools tr[data-tool="findManyCompanies"]');
    await row.locator("[data-field=action]").selectOption("deny");
    await row.locator("[data-field=reason]").fill("Not for this agent.");
    ({ diff: result.diff, saved: result.saved } = await reviewAndSave(page));
    result.own = await page.locator("#policy-owner").innerText();
    result.forget = await page.locator("form[action*='/forget']").count();
    result.axe = { "/ui/policies/crm?grant=ui-agent": await axe(page) };
    await shot(page, "policy-grant");
  } else if (step === "expire" || step === "renew") {
    // The grant's expiry changed after its creation: now (it stops working), then in 90 days.
    await page.goto(`${base}/ui/grants`);
    const row = page.locator("#grants tbody tr[data-grant=ui-agent]");
    result.before = await row.locator("td").nth(3).innerText();
    const form = row.locator("form[action$='/expiry']");
    await form.getByLabel("New expiry").selectOption(step === "expire" ? "0s" : "90d");
    await form.getByRole("button", { name: "Set expiry" }).click();
    await page.waitForURL(/expiry=ui-agent/);
    result.notice = await page.locator(".notice.ok").innerText();
    const after = page.locator("#grants tbody tr[data-grant=ui-agent]");
    result.status = await after.locator(".badge").innerText();
    result.expires = await after.locator("td").nth(3).innerText();
    if (step === "renew") {
      result.axe = { "/ui/grants (expiry)": await axe(page) };
      await shot(page, "grants");
    }
  } else if (step === "revoke") {
    await page.goto(`${base}/ui/grants`);
    const row = page.locator("#grants tbody tr[data-grant=ui-agent]");
    const revoke = row.locator("form[action$='/revoke']");
    await revoke.locator("input[name=confirm]").check();
    await revoke.getByRole("button", { name: "Revoke" }).click();
    await page.waitForURL(/revoked=/);
    result.notice = await page.locator(".notice.ok").innerText();
    result.status = await page.locator("#grants tbody tr[data-grant=ui-agent] .badge").innerText();
  } else if (step === "once") {
    // The demo's sign-in link: it signs in, once.
    const first = await page.goto(token);
    result.firstUrl = page.url();
    result.firstStatus = first.status();
    result.who = await page.locator(".who span").first().innerText();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/ui\/login/);
    const again = await page.goto(token);
    result.againStatus = again.status();
    result.againText = await page.locator("main").innerText();
    const overview = await page.goto(`${base}/ui`);
    result.afterwardsUrl = page.url();
    result.afterwardsStatus = overview.status();
  } else if (step === "guard") {
    // A form posted from another site is refused, and the kill switch stays off.
    const evil = await context.newPage();
    await evil.setContent(`<form id="f" method="post" action="${base}/ui/kill-switches">
      <input name="action" value="engage"><input name="scope" value="global">
      <input name="reason" value="pwned"><input name="confirm" value="yes"></form>`);
    const [response] = await Promise.all([
      evil.waitForResponse((r) => r.url().startsWith(`${base}/ui/kill-switches`)),
      evil.evaluate(() => document.getElementById("f").submit()),
    ]);
    result.crossSiteStatus = response.status();
    // axe-core on every page.
    result.axe = {};
    // The overview once the catalogue is read and calls were made, its kill switch form open.
    await page.goto(`${base}/ui`);
    await page.locator("details.kill summary").click();
    await shot(page, "overview");
    for (const path of ["/ui", "/ui/catalogue", "/ui/catalogue/crm/deleteOneCompany", "/ui/policies", "/ui/policies/crm", "/ui/approvals", "/ui/audit", "/ui/audit/verify", "/ui/pins", "/ui/pins/crm/deleteOneCompany", "/ui/grants"]) {
      await page.goto(`${base}${path}`);
      result.axe[path] = await axe(page);
    }
    // A record's full view, reached from the audit page.
    await page.goto(`${base}/ui/audit`);
    await page.locator("#audit-requests tbody tr a[href^='/ui/audit/requests/']").first().click();
    await page.waitForURL(/\/ui\/audit\/requests\/\d+$/);
    result.recordPath = new URL(page.url()).pathname;
    result.axe["/ui/audit/requests/<seq>"] = await axe(page);
    // The keyboard: the first Tab reaches the skip link, which moves focus to the main content.
    await page.goto(`${base}/ui/catalogue`);
    await page.keyboard.press("Tab");
    result.firstTab = await page.evaluate(() => ({ text: document.activeElement.textContent, href: document.activeElement.getAttribute("href") }));
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.activeElement.id === "main");
    result.afterSkip = await page.evaluate(() => document.activeElement.tagName.toLowerCase() + "#" + document.activeElement.id);
    // Signed out, the sign-in page.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/ui\/login/);
    result.axe["/ui/login"] = await axe(page);
  } else {
    throw new Error(`unknown step ${step}`);
  }
  result.pageErrors = errors;
} catch (e) {
  result.error = String(e && e.stack || e);
  result.pageErrors = errors;
  try { await shot(page, `failure-${step}`); } catch {}
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`RESULT ${JSON.stringify(result)}`);

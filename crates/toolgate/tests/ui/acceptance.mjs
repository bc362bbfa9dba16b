// The web UI's acceptance scenarios in a real browser (Debian's Chromium driven by playwright-core),
// against a running toolgate. Started by tests/e2e_ui.rs, one step per run:
//
//   node acceptance.mjs <step> <admin base URL> <admin token> [screenshot dir]
//
// Prints progress lines and, last, one line `RESULT <json>` that the Rust test asserts on. The
// `approve` step prints `READY` once the approvals page is open and listening, so the test can make
// the held call only then (the row must arrive without a reload).
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
  bypassCSP: step === "guard",
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

try {
  await signIn(page);
  if (step === "build") {
    result.signedIn = (await page.locator(".who").innerText()).includes("admin");
    await shot(page, "overview");
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
    await row("deleteOneCompany").locator("[data-field=action]").selectOption("hold");
    await row("deleteOneCompany").locator("[data-field=timeout]").fill("5m");
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
    await shot(page, "approvals");
    await row.locator("input[name=note]").fill("Looks right.");
    await row.getByRole("button", { name: "Approve" }).click();
    await page.waitForURL(/done=approve/);
    result.history = await page.locator("#history tbody tr").first().innerText();
    // The approved call's decision reaches the open audit page without a reload.
    const allowed = audit.locator("#audit-requests tbody tr").filter({ hasText: "deleteOneCompany" }).filter({ hasText: "allow" });
    await allowed.first().waitFor({ timeout: 20_000 });
    result.auditLive = await allowed.first().innerText();
    const admin = audit.locator("#audit-admin tbody tr").filter({ hasText: "approval.approve" });
    await admin.first().waitFor({ timeout: 20_000 });
    result.adminLive = await admin.first().innerText();
    await shot(audit, "audit");
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
    for (const path of ["/ui", "/ui/catalogue", "/ui/catalogue/crm/deleteOneCompany", "/ui/policies/crm", "/ui/approvals", "/ui/audit"]) {
      await page.goto(`${base}${path}`);
      result.axe[path] = await axe(page);
    }
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

// toolgate web UI: the live parts, in plain JavaScript (no build step, no dependency).
// Pages work without it; it adds local times, live approvals and audit, and the policy builder.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

// Every <time data-ms> gets its local time as a tooltip.
function localTimes(root) {
  for (const t of root.querySelectorAll("time[data-ms]")) {
    const d = new Date(Number(t.dataset.ms));
    t.title = d.toLocaleString();
    t.dateTime = d.toISOString();
  }
}

// A table cell holding text (never HTML).
function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

function ago(ms) {
  const d = Math.round((Date.now() - ms) / 1000);
  const abs = Math.abs(d);
  const t = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.floor(abs / 60)} min` : abs < 86400 ? `${Math.floor(abs / 3600)} h` : `${Math.floor(abs / 86400)} d`;
  return d >= 0 ? `${t} ago` : `in ${t}`;
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  for (const init of Object.values(window.toolgatePages || {})) init();
});

window.toolgatePages = window.toolgatePages || {};

// Copy buttons (`data-copy="#id"`): the element's text to the clipboard, else selected for the
// reader to copy.
window.toolgatePages.copy = () => {
  const state = document.getElementById("copy-state");
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent);
        if (state) state.textContent = "Copied.";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(source);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        if (state) state.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
      }
    });
  }
};

// Catalogue: narrow the table as the search box is typed into.
window.toolgatePages.catalogue = () => {
  const input = document.querySelector("input[data-live-filter]");
  if (!input) return;
  const table = document.querySelector(input.dataset.liveFilter);
  const shown = document.getElementById("tools-shown");
  input.addEventListener("input", () => {
    const q = input.value.trim().toLowerCase();
    let n = 0;
    for (const tr of table.tBodies[0].rows) {
      const hit = !q || tr.dataset.search.includes(q);
      tr.hidden = !hit;
      if (hit) n++;
    }
    if (shown) shown.textContent = String(n);
  });
};

// Approvals: rows arrive, change and leave as the approvals stream says.
window.toolgatePages.approvals = () => {
  const table = document.getElementById("pending");
  if (!table) return;
  const live = document.getElementById("approvals-live");
  const empty = document.getElementById("pending-empty");
  const history = document.getElementById("history");
  const mayDecide = table.dataset.mayDecide === "true";
  const body = table.tBodies[0];
  const refreshEmpty = () => { empty.hidden = body.rows.length > 0; };

  function form(id, csrf) {
    const f = document.createElement("form");
    f.method = "post";
    f.action = `/ui/approvals/${encodeURIComponent(id)}/approve`;
    const hidden = document.createElement("input");
    hidden.type = "hidden"; hidden.name = "_csrf"; hidden.value = csrf;
    const label = document.createElement("label");
    label.htmlFor = `note-${id}`; label.textContent = "Note";
    const note = document.createElement("input");
    note.id = `note-${id}`; note.name = "note";
    const actions = document.createElement("div");
    actions.className = "actions";
    const approve = document.createElement("button");
    approve.type = "submit"; approve.className = "primary"; approve.textContent = "Approve";
    const deny = document.createElement("button");
    deny.type = "submit"; deny.className = "danger"; deny.textContent = "Deny";
    deny.formAction = `/ui/approvals/${encodeURIComponent(id)}/deny`;
    actions.append(approve, deny);
    f.append(hidden, label, note, actions);
    return f;
  }

  function pendingRow(a) {
    const tr = document.createElement("tr");
    tr.dataset.id = a.id;
    tr.className = "new-row";
    const tool = cell("");
    tool.append(document.createTextNode(`${a.binding.server} / `));
    const strong = document.createElement("strong");
    strong.className = "tool"; strong.textContent = a.binding.tool;
    const idLine = document.createElement("div");
    idLine.className = "muted"; idLine.textContent = a.id;
    tool.append(strong, idLine);
    const args = cell("");
    if (a.arguments == null) {
      const s = document.createElement("span"); s.className = "muted"; s.textContent = "(not kept)"; args.append(s);
    } else {
      const pre = document.createElement("pre"); pre.className = "json"; pre.textContent = JSON.stringify(a.arguments, null, 2); args.append(pre);
    }
    const rule = cell(""); const code = document.createElement("code"); code.textContent = a.rule; rule.append(code);
    const left = cell(ago(a.expires_at_ms)); left.dataset.expires = a.expires_at_ms;
    tr.append(tool, cell(`${a.binding.agent} · ${a.binding.grant ?? "—"}`), args, rule, left);
    if (mayDecide) { const td = cell(""); td.append(form(a.id, csrfToken())); tr.append(td); }
    return tr;
  }

  function historyRow(a) {
    const tr = document.createElement("tr");
    tr.dataset.id = a.id; tr.className = "new-row";
    tr.append(cell(`${a.binding.server} / ${a.binding.tool}`), cell(`${a.binding.agent} · ${a.binding.grant ?? "—"}`),
      cell(a.status), cell(a.decided_by ?? "—"), cell(a.note ?? ""), cell(ago(a.decided_at_ms ?? a.expires_at_ms)));
    return tr;
  }

  // From the change the page was drawn at: what changed since (a call going ahead, another
  // approver's decision) arrives too. On a reconnect the browser resumes from the last event.
  const since = table.dataset.since;
  const es = new EventSource(since ? `/ui/approvals/stream?after=${encodeURIComponent(since)}` : "/ui/approvals/stream");
  es.onopen = () => { live.textContent = "Live: new requests appear here as they arrive."; };
  es.onerror = () => { live.textContent = "Live updates interrupted; reconnecting…"; };
  es.addEventListener("approval", (ev) => {
    const a = JSON.parse(ev.data);
    const row = body.querySelector(`tr[data-id="${CSS.escape(a.id)}"]`);
    if (a.status === "pending" && a.expires_at_ms > Date.now()) {
      if (!row) body.prepend(pendingRow(a));
    } else {
      if (row) row.remove();
      const h = history.tBodies[0];
      h.querySelector(`tr[data-id="${CSS.escape(a.id)}"]`)?.remove();
      h.prepend(historyRow(a));
    }
    refreshEmpty();
  });
  setInterval(() => {
    for (const td of body.querySelectorAll("td[data-expires]")) td.textContent = ago(Number(td.dataset.expires));
  }, 1000);
  refreshEmpty();
};

// Audit: new records arrive over the audit stream. Rows are added once per animation frame, in
// one DOM change, and the table keeps the newest MAX_ROWS, so a thousand decisions a second never
// freeze the page. The server sends at most 200 records per half second (the newest) and says
// what it left out; the page then samples, and says so with the rate it shows and the rate that
// arrives ("showing 400 of 1,000 records a second"), counted over the last two seconds. Each
// stream starts after the newest record its table was drawn with (`data-since`), so records
// written while the page loaded arrive too (at most 200 of them, the newest; it says so).
window.toolgatePages.audit = () => {
  const MAX_ROWS = 300;
  // A burst bigger than this is drawn without the highlight (an animation per row costs paint).
  const FLASH_MAX = 20;
  const number = new Intl.NumberFormat("en");
  function follow(stateId, tableId, render) {
    const state = document.getElementById(stateId);
    const table = document.getElementById(tableId);
    if (!state || !table || !state.dataset.src) return;
    const rate = document.getElementById(state.dataset.rate || "");
    const body = table.tBodies[0];
    let queue = [];
    let scheduled = false;
    let connected = false;
    // Per second: records that arrived or were left out, rows shown, records left out (by the
    // server, or dropped here before they were drawn); the last two seconds are kept.
    let tick = { seen: 0, shown: 0, dropped: 0 };
    let ticks = [];
    let sampledTicks = 0;
    // Records written while the page loaded that the stream's first read left out, and for how
    // many more seconds the page says so.
    let missedOnLoad = 0;
    let missedTicks = 0;
    const say = (text) => { if (state.textContent !== text) state.textContent = text; };
    const flush = () => {
      scheduled = false;
      const batch = queue.splice(0);
      const flash = batch.length <= FLASH_MAX;
      const rows = document.createDocumentFragment();
      for (let i = batch.length - 1; i >= 0; i--) {
        const tr = render(batch[i]);
        if (flash) tr.classList.add("new-row");
        rows.append(tr);
      }
      body.prepend(rows);
      while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
      tick.shown += batch.length;
    };
    setInterval(() => {
      ticks = [...ticks.slice(-1), tick];
      tick = { seen: 0, shown: 0, dropped: 0 };
      const perSecond = (key) => ticks.reduce((a, t) => a + t[key], 0) / ticks.length;
      const seen = perSecond("seen");
      const shown = perSecond("shown");
      // The note stays up for three seconds after the last record left out.
      sampledTicks = perSecond("dropped") > 0 ? 3 : Math.max(0, sampledTicks - 1);
      missedTicks = Math.max(0, missedTicks - 1);
      if (!connected) return;
      if (sampledTicks > 0) {
        say("Live, sampled: more records arrive than the page can show; the export has them all.");
        if (rate) {
          rate.hidden = false;
          rate.textContent = `Sampling: showing ${number.format(Math.round(shown))} of ${number.format(Math.round(seen))} records a second (the newest).`;
        }
      } else if (missedTicks > 0) {
        say(`Live: up to ${number.format(missedOnLoad)} records written while the page loaded are not shown (the newest are); the export has them all.`);
        if (rate) rate.hidden = true;
      } else {
        say("Live: new records appear at the top.");
        if (rate) rate.hidden = true;
      }
    }, 1000);
    const since = table.dataset.since;
    const src = new URL(state.dataset.src, location.href);
    if (since) src.searchParams.set("after", since);
    const es = new EventSource(src);
    es.onopen = () => { connected = true; say("Live: new records appear at the top."); };
    es.onerror = () => { connected = false; say("Live updates interrupted; reconnecting…"); };
    es.addEventListener("record", (ev) => {
      tick.seen += 1;
      queue.push(JSON.parse(ev.data));
      if (queue.length > MAX_ROWS) {
        tick.dropped += queue.length - MAX_ROWS;
        queue = queue.slice(-MAX_ROWS);
      }
      if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
    });
    es.addEventListener("skipped", (ev) => {
      const gap = JSON.parse(ev.data);
      const n = Math.max(0, gap.before - gap.after - 1);
      // Left out of what was written while the page loaded: said once, not counted as a rate.
      // The gap spans sequence numbers, records the filters leave out included: an upper bound.
      if (gap.replay) { missedOnLoad = n; missedTicks = 6; return; }
      tick.seen += n;
      tick.dropped += n;
    });
  }
  function link(stream, seq) {
    const td = document.createElement("td");
    const a = document.createElement("a");
    a.href = `/ui/audit/${stream}/${seq}`; a.textContent = String(seq);
    td.append(a);
    return td;
  }
  follow("audit-live", "audit-requests", (r) => {
    const tr = document.createElement("tr");
    tr.dataset.seq = r.seq;
    const decision = cell("");
    const badge = document.createElement("span");
    const cls = { allow: "out-allowed", rate_limited: "out-limited", approval_required: "out-held", hidden: "out-hidden" }[r.decision] || "out-denied";
    badge.className = `badge ${cls}`; badge.textContent = r.decision;
    decision.append(badge);
    const rule = cell(""); const code = document.createElement("code"); code.textContent = r.rule ?? ""; rule.append(code);
    tr.append(link("requests", r.seq), cell(ago(r.time_ms)), cell(r.agent), cell(`${r.server} / ${r.tool ?? r.method}`), decision, rule);
    return tr;
  });
  follow("admin-live", "audit-admin", (r) => {
    const tr = document.createElement("tr");
    tr.dataset.seq = r.seq;
    tr.append(link("admin", r.seq), cell(ago(r.time_ms)), cell(r.actor), cell(r.action), cell(r.target));
    return tr;
  });
};

// Policy builder: the page holds the document; each control rewrites its tool's entry; "Review"
// asks the server for the text (comments kept), the validator's verdict and the diff; "Save"
// sends that text with the version the page was built from.
window.toolgatePages.policy = () => {
  const root = document.getElementById("builder");
  if (!root) return;
  const server = root.dataset.server;
  const base = `/ui/policies/${encodeURIComponent(server)}`;
  // `?grant=<label>` when the page edits a grant's own policy.
  const query = root.dataset.query || "";
  const original = JSON.parse(document.getElementById("policy-doc").textContent || "null") || {};
  const doc = structuredClone(original);
  const $ = (id) => document.getElementById(id);
  let candidate = null; // the last checked text

  async function post(path, body) {
    const res = await fetch(base + path + query, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrfToken() },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { json = { error: { message: text.replace(/<[^>]*>/g, " ").trim() } }; }
    return { ok: res.ok, status: res.status, json };
  }

  // Tabs (keyboard: arrows move between them).
  const tabs = [...root.querySelectorAll('[role="tab"]')];
  const tablist = root.querySelector('[role="tablist"]');
  if (tablist) {
    tablist.hidden = false;
    const select = (tab) => {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        $(t.getAttribute("aria-controls")).hidden = !on;
      }
    };
    tabs.forEach((t, i) => {
      t.addEventListener("click", () => select(t));
      t.addEventListener("keydown", (e) => {
        const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
        if (d) { const n = tabs[(i + d + tabs.length) % tabs.length]; select(n); n.focus(); }
      });
    });
    select(tabs[0]);
  }

  // --- the builder's controls -------------------------------------------------------------
  const field = (tr, name) => tr.querySelector(`[data-field="${name}"]`);
  function showDetails(tr) {
    const action = field(tr, "action").value;
    for (const el of tr.querySelectorAll("[data-when]")) el.hidden = !el.dataset.when.split(" ").includes(action);
  }
  function typed(v) {
    const t = v.trim();
    if (t === "true" || t === "false") return t === "true";
    if (t !== "" && !isNaN(Number(t))) return Number(t);
    return t;
  }
  function apply(tr) {
    const tool = tr.dataset.tool;
    const action = field(tr, "action").value;
    doc.tools = doc.tools || {};
    const before = original.tools && original.tools[tool];
    const hidden = (original.hide || []).includes(tool);
    const setHidden = (on) => {
      const rest = (doc.hide || []).filter((h) => h !== tool);
      if (on) rest.push(tool);
      if (rest.length > 0 || doc.hide !== undefined && original.hide !== undefined) doc.hide = rest;
      else delete doc.hide;
    };
    setHidden(false);
    if (action === "keep") {
      if (before === undefined) delete doc.tools[tool]; else doc.tools[tool] = structuredClone(before);
      setHidden(hidden);
      return;
    }
    const entry = structuredClone(before || {});
    for (const k of ["action", "reason", "on_deny", "approval", "limits", "rate_limit"]) delete entry[k];
    if (action === "hide") { setHidden(true); if (before === undefined) delete doc.tools[tool]; return; }
    if (action === "deny") {
      entry.action = "deny";
      entry.reason = field(tr, "reason").value.trim() || (before && (before.reason || before.on_deny)) || `${tool} is not allowed.`;
    }
    if (action === "hold") {
      // The mode and timeout chosen here; what a person wrote besides (hold_max, notify) stays.
      const kept = (before && before.approval) || {};
      const mode = field(tr, "mode").value;
      entry.action = "require_approval";
      entry.approval = { ...kept, mode, timeout: field(tr, "timeout").value.trim() || kept.timeout || "10m" };
      if (mode === "hold" && kept.mode === undefined) delete entry.approval.mode;
    }
    if (action === "limit") {
      const counter = field(tr, "counter").value.trim() || `${tool}_rate`;
      entry.limits = [{ counter, window: field(tr, "window").value, max: Number(field(tr, "max").value) || 1, scope: field(tr, "scope").value }];
    }
    const path = field(tr, "cond-path");
    if (path && path.value && action !== "deny") {
      const op = field(tr, "cond-op").value;
      const cond = { path: path.value, op };
      const value = field(tr, "cond-value").value;
      if (op !== "exists" || value.trim()) cond.value = typed(value);
      const rule = { conditions: [cond] };
      const why = field(tr, "cond-reason").value.trim();
      if (why) rule.on_deny = why;
      entry.deny_if = [...((before && before.deny_if) || []), rule];
    }
    doc.tools[tool] = entry;
  }
  const rows = [...root.querySelectorAll("#builder-tools tbody tr")];
  for (const tr of rows) {
    tr.addEventListener("change", () => { showDetails(tr); apply(tr); });
    tr.addEventListener("input", () => apply(tr));
    showDetails(tr);
  }
  // all_tools: a limit on every call, a condition on any call's arguments.
  function applyAll() {
    const before = original.all_tools;
    const all = structuredClone(before || {});
    const mode = $("all-limit").value;
    if (mode !== "keep") { delete all.limits; delete all.rate_limit; }
    if (mode === "limit") {
      all.limits = [{ counter: "all_tools_rate", window: $("all-window").value, max: Number($("all-max").value) || 1, scope: $("all-scope").value }];
    }
    const path = $("all-cond-path").value.trim();
    if (path) {
      const op = $("all-cond-op").value;
      const cond = { path, op };
      const value = $("all-cond-value").value;
      if (op !== "exists" || value.trim()) cond.value = typed(value);
      const rule = { conditions: [cond] };
      const why = $("all-cond-reason").value.trim();
      if (why) rule.on_deny = why;
      all.deny_if = [...((before && before.deny_if) || []), rule];
    }
    if (Object.keys(all).length > 0 || before !== undefined) doc.all_tools = all; else delete doc.all_tools;
  }
  $("b-all").addEventListener("change", applyAll);
  $("b-all").addEventListener("input", applyAll);
  $("b-default").addEventListener("change", (e) => { doc.default = e.target.value; });
  $("b-hide").addEventListener("input", (e) => {
    const listed = e.target.value.split("\n").map((s) => s.trim()).filter(Boolean);
    doc.hide = listed;
    if (listed.length === 0 && original.hide === undefined) delete doc.hide;
  });
  $("bulk-apply").addEventListener("click", () => {
    const risk = $("bulk-class").value;
    const action = $("bulk-action").value;
    let n = 0;
    for (const tr of rows.filter((r) => r.dataset.risk === risk)) {
      field(tr, "action").value = action; showDetails(tr); apply(tr); n++;
    }
    $("bulk-apply").textContent = `Applied to ${n} tools`;
  });
  const search = $("b-search");
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    for (const tr of rows) tr.hidden = q !== "" && !tr.dataset.tool.toLowerCase().includes(q);
  };
  search.addEventListener("input", filter);
  filter();

  // --- raw text, diagnostics at their line -------------------------------------------------
  function showDiagnostics(target, text, diagnostics, message) {
    target.replaceChildren();
    if (!diagnostics || diagnostics.length === 0) {
      if (message) { const p = document.createElement("p"); p.className = "notice error"; p.textContent = message; target.append(p); }
      return;
    }
    const head = document.createElement("p");
    head.className = "notice error"; head.setAttribute("role", "alert");
    head.textContent = `${diagnostics.length} error${diagnostics.length === 1 ? "" : "s"}: nothing was saved.`;
    target.append(head);
    const lines = text.split("\n");
    const byLine = new Map();
    for (const d of diagnostics) { const l = d.line || 1; if (!byLine.has(l)) byLine.set(l, []); byLine.get(l).push(d); }
    const ol = document.createElement("ol");
    ol.className = "lines";
    for (const [line, ds] of [...byLine.entries()].sort((a, b) => a[0] - b[0])) {
      for (let l = Math.max(1, line - 1); l <= Math.min(lines.length, line); l++) {
        const li = document.createElement("li");
        li.value = l;
        const code = document.createElement("code"); code.textContent = lines[l - 1]; li.append(code);
        if (l === line) {
          li.className = "bad-line";
          for (const d of ds) {
            const msg = document.createElement("div");
            msg.className = "diag";
            msg.textContent = `line ${d.line}, column ${d.col}: ${d.message}${d.help ? ` (help: ${d.help})` : ""}`;
            msg.dataset.line = d.line; msg.dataset.col = d.col;
            li.append(msg);
          }
        }
        ol.append(li);
      }
    }
    target.append(ol);
  }
  const raw = $("raw-text");
  $("raw-check").addEventListener("click", async () => {
    const r = await post("/check", { text: raw.value });
    const out = $("raw-diagnostics");
    raw.setAttribute("aria-invalid", String(!r.json.valid));
    if (r.json.valid) { out.replaceChildren(); const p = document.createElement("p"); p.className = "notice ok"; p.textContent = "Valid."; out.append(p); candidate = r.json.text; }
    else showDiagnostics(out, raw.value, r.json.diagnostics, r.json.message || r.json.error?.message);
  });

  // --- review, diff, save -------------------------------------------------------------------
  async function review(body) {
    const r = await post("/check", body);
    const section = $("review");
    section.hidden = false;
    const diagnostics = $("review-diagnostics");
    const pre = $("review-diff");
    pre.replaceChildren();
    $("save-result").replaceChildren();
    if (!r.ok) { showDiagnostics(diagnostics, "", [], r.json.error?.message || "cannot check"); $("save").disabled = true; return; }
    candidate = r.json.text;
    if (r.json.valid) diagnostics.replaceChildren(); else showDiagnostics(diagnostics, r.json.text, r.json.diagnostics, r.json.message);
    for (const [op, line] of r.json.diff) {
      if (op === " ") continue;
      const span = document.createElement("span");
      span.className = op === "+" ? "add" : "del";
      span.textContent = `${op} ${line}`;
      pre.append(span);
    }
    if (!r.json.changed) pre.textContent = "Nothing changes.";
    $("save").disabled = !r.json.valid || !r.json.changed;
    $("review-h").focus();
  }
  $("review-build")?.addEventListener("click", () => review({ document: doc }));
  $("review-raw")?.addEventListener("click", () => review({ text: raw.value }));
  $("review-cancel")?.addEventListener("click", () => { $("review").hidden = true; });
  $("save")?.addEventListener("click", async () => {
    $("save").disabled = true;
    const r = await post("/save", { text: candidate, version: root.dataset.version });
    const out = $("save-result");
    out.replaceChildren();
    const p = document.createElement("p");
    if (r.ok) {
      location.assign(`${base}${query ? `${query}&` : "?"}saved=${encodeURIComponent(r.json.version)}`);
      return;
    }
    p.className = "notice error"; p.setAttribute("role", "alert");
    p.textContent = r.json.error?.message || `saving failed (${r.status})`;
    out.append(p);
    if (r.json.error?.diagnostics) showDiagnostics($("review-diagnostics"), candidate, r.json.error.diagnostics, null);
  });

  // --- simulator ----------------------------------------------------------------------------
  $("sim-run").addEventListener("click", async () => {
    const body = { tool: $("sim-tool").value, args: $("sim-args").value, agent: $("sim-agent").value, grant: $("sim-grant").value };
    if (candidate) body.text = candidate;
    const r = await post("/simulate", body);
    const out = $("sim-result");
    out.replaceChildren();
    if (r.json.error) { const p = document.createElement("p"); p.className = "notice error"; p.textContent = r.json.error.message || r.json.error; out.append(p); return; }
    const dl = document.createElement("dl");
    const add = (k, v) => { const dt = document.createElement("dt"); dt.textContent = k; const dd = document.createElement("dd"); dd.textContent = v; dl.append(dt, dd); };
    add("Decision", r.json.decision);
    add("Rule", r.json.rule ?? "(none: allowed)");
    add("The agent reads", r.json.agent_sees);
    add("Counters it would reserve", r.json.reserve.length ? r.json.reserve.map((c) => `${c.counter}: ${c.amount} of ${c.max} per ${c.window} (${c.scope} ${c.subject})`).join("; ") : "none");
    add("Decided by", `the policy ${r.json.policy}`);
    out.append(dl);
  });
  const focus = root.dataset.focus;
  if (focus) rows.find((r) => r.dataset.tool === focus)?.querySelector("select")?.focus();
};

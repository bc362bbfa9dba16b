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

  const es = new EventSource("/ui/approvals/stream");
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

// Audit: new records arrive over the audit stream. Rows are added once per animation frame and
// the table keeps the newest MAX_ROWS, so a thousand decisions a second never freeze the page;
// when the server leaves records out (it sends at most 200 per half second) the page says so.
window.toolgatePages.audit = () => {
  const MAX_ROWS = 300;
  function follow(stateId, tableId, render) {
    const state = document.getElementById(stateId);
    const table = document.getElementById(tableId);
    if (!state || !table || !state.dataset.src) return;
    const body = table.tBodies[0];
    let queue = [];
    let skipped = 0;
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      const rows = queue.splice(0).map(render);
      for (const tr of rows) body.prepend(tr);
      while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
      state.textContent = skipped > 0
        ? `Live, sampled: ${skipped} records came too fast to show; the export has them all.`
        : "Live: new records appear at the top.";
    };
    const es = new EventSource(state.dataset.src);
    es.onopen = () => { state.textContent = "Live: new records appear at the top."; };
    es.onerror = () => { state.textContent = "Live updates interrupted; reconnecting…"; };
    es.addEventListener("record", (ev) => {
      queue.push(JSON.parse(ev.data));
      if (queue.length > MAX_ROWS) { skipped += queue.length - MAX_ROWS; queue = queue.slice(-MAX_ROWS); }
      if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
    });
    es.addEventListener("skipped", (ev) => {
      const gap = JSON.parse(ev.data);
      skipped += Math.max(0, gap.before - gap.after - 1);
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
    tr.className = "new-row"; tr.dataset.seq = r.seq;
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
    tr.className = "new-row"; tr.dataset.seq = r.seq;
    tr.append(link("admin", r.seq), cell(ago(r.time_ms)), cell(r.actor), cell(r.action), cell(r.target));
    return tr;
  });
};

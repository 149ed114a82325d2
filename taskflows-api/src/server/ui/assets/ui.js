// taskflows web UI: live rows, search and filters, batch actions, the log viewer.
// Written for the page's strict Content-Security-Policy: no inline script, no eval, and text is
// only ever set with textContent, never parsed as markup.
"use strict";

(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Forms that ask first (delete).
  document.addEventListener("submit", (ev) => {
    const q = ev.target.getAttribute("data-confirm");
    if (q && !window.confirm(q)) ev.preventDefault();
  });

  // ---- control buttons (dashboard batch, service page) -------------------------------------
  async function control(action, names, button) {
    const results = $("#results");
    if (button) button.disabled = true;
    if (results) results.replaceChildren(el("li", "pending", action + " " + names.join(", ") + "…"));
    try {
      const r = await fetch("/ui/actions", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf() },
        body: JSON.stringify({ action: action, names: names }),
      });
      if (r.status === 401) { window.location.assign("/ui/login"); return; }
      if (!r.ok) {
        const text = await r.text();
        if (results) results.replaceChildren(el("li", "bad", action + ": " + text.trim()));
        return;
      }
      const body = await r.json();
      if (results) {
        results.replaceChildren(...body.results.map((o) => {
          const li = el("li", o.ok ? "ok" : "bad");
          li.dataset.name = o.name;
          li.append(el("strong", "", o.name), document.createTextNode(": " + o.message));
          return li;
        }));
      }
    } catch (e) {
      if (results) results.replaceChildren(el("li", "bad", action + ": " + e));
    } finally {
      if (button) button.disabled = false;
      updatePicked();
    }
  }

  // ---- the dashboard ---------------------------------------------------------------------
  const table = $("#services");
  const tbody = table ? table.tBodies[0] : null;

  function rowOf(name) {
    return tbody ? tbody.querySelector('tr[data-name="' + CSS.escape(name) + '"]') : null;
  }

  function fill(tr, r) {
    tr.dataset.state = r.state;
    tr.dataset.failed = String(r.failed);
    tr.dataset.timer = String(r.timer);
    const cells = tr.cells;
    const name = cells[1];
    name.replaceChildren();
    const a = el("a", "", r.name);
    a.href = "/ui/services/" + encodeURIComponent(r.name);
    name.append(a, el("div", "desc", r.description));
    const badge = el("span", "badge " + r.tone, r.state);
    cells[2].replaceChildren(badge, document.createTextNode(" "), el("span", "sub", r.sub));
    cells[3].textContent = r.last;
    cells[4].textContent = r.result;
    cells[5].textContent = r.next;
    cells[6].textContent = r.schedule;
  }

  function newRow(r) {
    const tr = document.createElement("tr");
    tr.dataset.name = r.name;
    const pick = el("td", "pick");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.setAttribute("aria-label", "select " + r.name);
    pick.append(box);
    tr.append(pick, el("td", "name"), el("td", "state"), el("td", "last"), el("td", "result"), el("td", "next"), el("td", "schedule"));
    fill(tr, r);
    return tr;
  }

  function upsert(r) {
    const tr = rowOf(r.name);
    if (tr) { fill(tr, r); return; }
    const rows = Array.from(tbody.rows);
    const after = rows.find((x) => x.dataset.name > r.name);
    tbody.insertBefore(newRow(r), after || null);
  }

  function summary() {
    const rows = Array.from(tbody.rows);
    const running = rows.filter((r) => r.querySelector(".badge.run")).length;
    const failed = rows.filter((r) => r.dataset.failed === "true").length;
    const s = $("#summary");
    if (s) s.textContent = rows.length + " services · " + running + " running · " + failed + " failed";
  }

  function visible(tr) {
    const q = ($("#search").value || "").trim().toLowerCase();
    const state = $("#state").value;
    const failedOnly = $("#failed-only").checked;
    if (q && !tr.textContent.toLowerCase().includes(q)) return false;
    if (failedOnly && tr.dataset.failed !== "true") return false;
    const st = tr.dataset.state;
    if (state === "running" && !tr.querySelector(".badge.run")) return false;
    if (state === "inactive" && !(st === "inactive" || st === "failed")) return false;
    if (state === "failed" && st !== "failed") return false;
    if (state === "timer" && tr.dataset.timer !== "true") return false;
    return true;
  }

  function applyFilters() {
    for (const tr of tbody.rows) tr.hidden = !visible(tr);
    updatePicked();
  }

  function picked() {
    return Array.from(tbody.rows).filter((tr) => !tr.hidden && tr.cells[0].firstChild.checked).map((tr) => tr.dataset.name);
  }

  function updatePicked() {
    if (!tbody) return;
    const names = picked();
    const p = $("#picked");
    if (p) p.textContent = names.length + " selected";
    for (const b of $$("#batch button[data-action]")) b.disabled = names.length === 0;
  }

  let retry = 2000;
  function connect() {
    const live = $("#live");
    const source = new EventSource("/ui/events");
    source.addEventListener("all", (ev) => {
      const rows = JSON.parse(ev.data);
      const names = new Set(rows.map((r) => r.name));
      for (const tr of Array.from(tbody.rows)) if (!names.has(tr.dataset.name)) tr.remove();
      rows.forEach(upsert);
      summary();
      applyFilters();
      live.dataset.state = "live";
      live.textContent = "Live";
    });
    source.addEventListener("rows", (ev) => {
      const change = JSON.parse(ev.data);
      change.rows.forEach(upsert);
      for (const n of change.removed) { const tr = rowOf(n); if (tr) tr.remove(); }
      summary();
      applyFilters();
      live.dataset.updated = String(Date.now());
    });
    source.addEventListener("open", () => { retry = 2000; });
    source.onerror = () => {
      live.dataset.state = "reconnecting";
      live.textContent = "Reconnecting to live updates…";
      if (source.readyState === EventSource.CLOSED) {
        // Refused (logged out, too many live pages) or the server went away: try again later,
        // waiting longer each time, and go to the login page when the session is over.
        setTimeout(() => fetch("/ui/events", { credentials: "same-origin" }).then((r) => {
          if (r.body) r.body.cancel();
          if (r.status === 401) window.location.assign("/ui/login"); else connect();
        }, () => connect()), retry);
        retry = Math.min(retry * 2, 60000);
      }
    };
  }

  if (tbody) {
    $("#search").addEventListener("input", applyFilters);
    $("#search").addEventListener("change", applyFilters);
    $("#state").addEventListener("change", applyFilters);
    $("#failed-only").addEventListener("change", applyFilters);
    tbody.addEventListener("change", updatePicked);
    $("#pick-all").addEventListener("change", (ev) => {
      for (const tr of tbody.rows) if (!tr.hidden) tr.cells[0].firstChild.checked = ev.target.checked;
      updatePicked();
    });
    for (const b of $$("#batch button[data-action]")) {
      b.addEventListener("click", () => control(b.dataset.action, picked(), b));
    }
    applyFilters();
    connect();
  }

  // Service page: its own buttons.
  for (const b of $$(".batch.single button[data-action]")) {
    b.addEventListener("click", () => control(b.dataset.action, [b.dataset.name], b));
  }

  // ---- the log viewer --------------------------------------------------------------------
  const log = $("#log");
  if (log) {
    const search = $("#log-search");
    const level = $("#level");
    const paused = $("#paused");
    let stick = true;

    const shows = (line) => {
      const q = (search.value || "").trim().toLowerCase();
      return Number(line.dataset.p) <= Number(level.value) && (!q || line.textContent.toLowerCase().includes(q));
    };
    const filter = () => { for (const line of log.children) line.hidden = !shows(line); };
    const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 8;
    const toBottom = () => { log.scrollTop = log.scrollHeight; stick = true; paused.hidden = true; };

    search.addEventListener("input", filter);
    level.addEventListener("change", filter);
    log.addEventListener("scroll", () => {
      stick = atBottom();
      if (stick) paused.hidden = true;
    });
    $("#resume").addEventListener("click", toBottom);
    toBottom();

    let source = null;
    const follow = $("#follow");
    const start = () => {
      if (source || log.dataset.follow !== "true") return;
      source = new EventSource("/ui/services/" + encodeURIComponent(log.dataset.name) + "/logs/stream");
      source.onmessage = (ev) => {
        const l = JSON.parse(ev.data);
        const line = el("div", "line");
        if (l.error) { line.classList.add("bad"); line.dataset.p = "3"; line.textContent = l.error; }
        else {
          line.dataset.p = String(l.p);
          line.append(el("span", "t", l.t), document.createTextNode(" "), el("span", "m", l.m));
        }
        line.hidden = !shows(line);
        log.append(line);
        const none = $("#no-lines");
        if (none) none.remove();
        // Keep the viewer bounded.
        while (log.children.length > 20000) log.firstChild.remove();
        if (stick) log.scrollTop = log.scrollHeight; else paused.hidden = false;
      };
    };
    const stop = () => { if (source) { source.close(); source = null; } };
    if (follow) {
      follow.addEventListener("change", () => (follow.checked ? start() : stop()));
      if (follow.checked) start();
    }
  }
})();

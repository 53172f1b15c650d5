// Tether UI: runs, live run timelines and the approvals inbox, over the /v1 API.
//
// Plain JS modules, no build step, no third-party code. Every string from the API goes
// into the page as text (dom.js), never as HTML: payloads are untrusted model and tool
// output.

import {
  $, asText, el, fmtTime, jsonText, runLink, setError, show, shown, statusBadge,
} from "/ui/dom.js";
import {
  ApiError, TERMINAL, api, errorText, followRun, hooks, key,
} from "/ui/api.js";
import { Timeline } from "/ui/timeline.js";

const PAGE_SIZE = 25;

// -- views and routing --------------------------------------------------------------------

let current = null; // the active view's teardown, if any

function route() {
  if (current) current();
  current = null;
  for (const view of document.querySelectorAll(".view")) show(view, false);
  if (!key.get()) {
    needKey();
    return;
  }
  show($("nav"), true);
  show($("forget-key"), true);
  const hash = location.hash.replace(/^#/, "") || "/runs";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll("#nav a")) a.classList.remove("active");
  if (parts[0] === "runs" && parts[1]) {
    $("nav-runs").classList.add("active");
    current = runView(parts[1]);
  } else if (parts[0] === "approvals") {
    $("nav-approvals").classList.add("active");
    current = approvalsView(params.get("run"));
  } else {
    $("nav-runs").classList.add("active");
    current = runsView();
  }
}

function needKey(message) {
  if (current) current();
  current = null;
  key.clear();
  $("run-filters").reset(); // a new key is a new view of the runs
  for (const view of document.querySelectorAll(".view")) show(view, false);
  show($("nav"), false);
  show($("forget-key"), false);
  show($("view-key"), true);
  setError($("key-error"), message ? `Key rejected: ${message}` : "");
  $("key-input").focus();
}

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = $("key-input").value.trim();
  if (!value) return;
  key.set(value);
  try {
    await api("GET", "/v1/runs?limit=1");
  } catch (err) {
    // 401 already sent us back here; a 403 is a key without runs:read, still usable
    // for approvals, so it is kept.
    if (err instanceof ApiError && err.status === 401) return;
    if (!(err instanceof ApiError && err.status === 403)) {
      setError($("key-error"), errorText(err));
      return;
    }
  }
  $("key-input").value = "";
  setError($("key-error"), "");
  route();
  countApprovals();
});

$("forget-key").addEventListener("click", () => {
  key.clear();
  location.hash = "#/runs";
  needKey();
});

window.addEventListener("hashchange", route);

// -- runs list ----------------------------------------------------------------------------

function runsView() {
  show($("view-runs"), true);
  const cursors = [null]; // cursor of each page seen, for "first page"
  let page = 0;
  let timer = null;
  let alive = true;

  function query() {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    const status = $("filter-status").value;
    const agent = $("filter-agent").value.trim();
    const tenant = $("filter-tenant").value.trim();
    if (status) params.set("status", status);
    if (agent) params.set("agent", agent);
    if (tenant) params.set("tenant", tenant);
    if (cursors[page]) params.set("cursor", cursors[page]);
    return params.toString();
  }

  async function load() {
    let data;
    try {
      data = await api("GET", `/v1/runs?${query()}`);
    } catch (err) {
      if (alive) setError($("runs-error"), errorText(err));
      return;
    }
    if (!alive) return;
    setError($("runs-error"), "");
    const body = $("runs-body");
    body.replaceChildren(
      ...data.runs.map((run) =>
        el(
          "tr",
          { "data-run-id": run.run_id },
          el("td", { class: "mono" }, runLink(run.run_id)),
          el("td", { text: run.agent }),
          el("td", { text: run.tenant || "" }),
          el("td", {}, statusBadge(run.status)),
          el("td", { class: "muted", text: run.reason || "" }),
          el("td", { text: fmtTime(run.created_at) }),
          el("td", { text: fmtTime(run.updated_at) }),
        ),
      ),
    );
    show($("runs-empty"), data.runs.length === 0);
    cursors.length = page + 1;
    if (data.next_cursor) cursors.push(data.next_cursor);
    $("runs-next").disabled = !data.next_cursor;
    $("runs-first").disabled = page === 0;
  }

  const onFilter = (event) => {
    event.preventDefault();
    cursors.length = 1;
    page = 0;
    load();
  };
  const onNext = () => {
    if (cursors[page + 1]) {
      page += 1;
      load();
    }
  };
  const onFirst = () => {
    page = 0;
    load();
  };
  $("run-filters").addEventListener("submit", onFilter);
  $("runs-refresh").addEventListener("click", load);
  $("runs-next").addEventListener("click", onNext);
  $("runs-first").addEventListener("click", onFirst);
  load();
  // The first page follows new runs and status changes; later pages hold still.
  timer = setInterval(() => {
    if (page === 0 && !document.hidden) load();
  }, 4000);

  return () => {
    alive = false;
    clearInterval(timer);
    $("run-filters").removeEventListener("submit", onFilter);
    $("runs-refresh").removeEventListener("click", load);
    $("runs-next").removeEventListener("click", onNext);
    $("runs-first").removeEventListener("click", onFirst);
  };
}

// -- run page -----------------------------------------------------------------------------

function runView(runId) {
  show($("view-run"), true);
  $("run-id-crumb").textContent = runId;
  $("run-agent").textContent = "";
  $("run-status").replaceChildren();
  $("run-meta").replaceChildren();
  $("timeline").replaceChildren();
  $("child-tree").replaceChildren();
  show($("children"), false);
  show($("run-parent"), false);
  show($("pending-banner"), false);
  show($("live-text"), false);
  show($("run-cancel"), false);
  setError($("run-error"), "");

  const timeline = new Timeline($("timeline"), $("run-totals"));
  let run = null;
  let seen = null; // status and reason of the last run.status event shown
  let alive = true;
  let childTimer = null;

  function showRun(next) {
    run = next;
    $("run-agent").textContent = run.agent;
    // The summary row keeps the last reason it had; the timeline knows this status's own.
    setStatus(run.status, seen && seen.status === run.status ? seen.reason : run.reason);
    const meta = [
      ["Run", run.run_id],
      ["Agent version", run.agent_version],
      ["Tenant", run.tenant || "—"],
      ["Created", fmtTime(run.created_at)],
      ["Updated", fmtTime(run.updated_at)],
    ];
    $("run-meta").replaceChildren(
      ...meta.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { class: "mono", text: v })]),
    );
    if (run.parent_run_id) {
      $("run-parent").replaceChildren("Child of ", runLink(run.parent_run_id));
      show($("run-parent"), true);
    }
  }

  function setStatus(status, reason) {
    const badge = statusBadge(status);
    badge.id = "run-status-badge";
    const parts = [badge];
    if (reason) parts.push(el("span", { class: "muted reason", text: ` ${reason}` }));
    $("run-status").replaceChildren(...parts);
    show($("run-cancel"), !TERMINAL.has(status));
    if (run) run.status = status;
  }

  async function loadChildren() {
    // Runs whose parent_run_id is this run, and theirs: a tree built from the runs list
    // (the server may also narrow it with ?parent_run_id=).
    const all = [];
    let cursor = null;
    try {
      for (let pages = 0; pages < 5; pages += 1) {
        const params = new URLSearchParams({ limit: "200", parent_run_id: runId });
        if (cursor) params.set("cursor", cursor);
        const data = await api("GET", `/v1/runs?${params}`);
        all.push(...data.runs);
        cursor = data.next_cursor;
        if (!cursor) break;
      }
    } catch (_) {
      return;
    }
    if (!alive) return;
    const byParent = new Map();
    for (const r of all) {
      if (!r.parent_run_id) continue;
      if (!byParent.has(r.parent_run_id)) byParent.set(r.parent_run_id, []);
      byParent.get(r.parent_run_id).push(r);
    }
    const branch = (parentId, depth) =>
      (byParent.get(parentId) || [])
        .sort((a, b) => a.created_at - b.created_at)
        .map((child) => {
          const kids = depth < 8 ? branch(child.run_id, depth + 1) : [];
          return el(
            "li",
            { "data-run-id": child.run_id },
            runLink(child.run_id),
            " ",
            el("span", { class: "muted", text: child.agent }),
            " ",
            statusBadge(child.status),
            kids.length ? el("ul", {}, kids) : null,
          );
        });
    const items = branch(runId, 0);
    $("child-tree").replaceChildren(...items);
    show($("children"), items.length > 0);
  }

  const stream = followRun(runId, {
    event(rec) {
      timeline.add(rec);
      if (rec.type === "run.status") {
        seen = { status: rec.data.status, reason: rec.data.reason || null };
        setStatus(seen.status, seen.reason);
      }
      if (rec.type === "run.finished") {
        seen = { status: rec.data.status, reason: null };
        setStatus(rec.data.status, null);
      }
      if (rec.type === "model.completed") show($("live-text"), false);
      showPending(timeline.pending());
    },
    delta(d) {
      const box = $("live-text");
      if (box.hidden) box.textContent = "";
      box.append(document.createTextNode(typeof d.text === "string" ? d.text : ""));
      show(box, true);
    },
    end(info) {
      if (info && info.status && !(seen && seen.status === info.status)) {
        setStatus(info.status, null);
      }
    },
    run(next) {
      showRun(next);
    },
    connected(on) {
      show($("live"), on);
    },
    error(message) {
      setError($("run-error"), message);
    },
  });

  function showPending(pending) {
    const banner = $("pending-banner");
    if (!pending.length) {
      show(banner, false);
      return;
    }
    banner.replaceChildren(
      el("strong", { text: `Waiting for approval: ${pending.map((p) => p.tool).join(", ")}` }),
      " ",
      el("a", {
        href: `#/approvals?run=${encodeURIComponent(runId)}`,
        id: "open-inbox",
        text: "Open in the approvals inbox",
      }),
    );
    show(banner, true);
  }

  const onCancel = async () => {
    const reason = window.prompt("Cancel this run? Reason (optional):", "");
    if (reason === null) return;
    try {
      showRun(await api("POST", `/v1/runs/${encodeURIComponent(runId)}/cancel`,
        reason ? { reason } : {}));
      stream.nudge();
    } catch (err) {
      setError($("run-error"), errorText(err));
    }
  };
  $("run-cancel").addEventListener("click", onCancel);

  api("GET", `/v1/runs/${encodeURIComponent(runId)}`)
    .then((r) => alive && showRun(r))
    .catch((err) => alive && setError($("run-error"), errorText(err)));
  loadChildren();
  childTimer = setInterval(() => {
    if (!document.hidden && run && !TERMINAL.has(run.status)) loadChildren();
  }, 5000);

  return () => {
    alive = false;
    stream.stop();
    clearInterval(childTimer);
    $("run-cancel").removeEventListener("click", onCancel);
  };
}

// -- approvals inbox ----------------------------------------------------------------------

function approvalsView(onlyRun) {
  show($("view-approvals"), true);
  const list = $("approvals-list");
  list.replaceChildren();
  setError($("approvals-error"), "");
  const filter = $("approvals-filter");
  if (onlyRun) {
    filter.replaceChildren(`Showing requests of run ${onlyRun} only. `,
      el("a", { href: "#/approvals", text: "Show all" }));
  }
  show(filter, Boolean(onlyRun));
  const cards = new Map(); // "run/approval" -> card
  let alive = true;

  async function load() {
    let data;
    try {
      data = await api("GET", "/v1/approvals");
    } catch (err) {
      if (alive) setError($("approvals-error"), errorText(err));
      return;
    }
    if (!alive) return;
    setError($("approvals-error"), "");
    const items = data.approvals.filter((a) => !onlyRun || a.run_id === onlyRun);
    const seen = new Set();
    for (const item of items) {
      const id = `${item.run_id}/${item.approval_id}`;
      seen.add(id);
      if (!cards.has(id)) {
        const card = approvalCard(item);
        cards.set(id, card);
        list.append(card);
      }
    }
    // Decided elsewhere (CLI, another tab, expiry): say so instead of vanishing mid-edit.
    for (const [id, card] of cards) {
      if (!seen.has(id) && !card.classList.contains("done")) {
        card.classList.add("done", "gone");
        card.querySelector(".outcome").textContent = "No longer pending.";
        for (const b of card.querySelectorAll("button, textarea, input")) b.disabled = true;
      }
    }
    show($("approvals-empty"), items.length === 0);
    showCount(data.approvals.length);
  }

  load();
  const timer = setInterval(() => {
    if (!document.hidden) load();
  }, 3000);
  return () => {
    alive = false;
    clearInterval(timer);
  };
}

function approvalCard(item) {
  const original = jsonText(shown(item.arguments || {}), true);
  const args = el("textarea", {
    class: "args", rows: Math.min(16, original.split("\n").length + 1), spellcheck: "false",
    "aria-label": "Arguments (JSON)",
  });
  args.value = original;
  const reason = el("input", {
    type: "text", class: "reason", placeholder: "Reason",
    "aria-label": "Reason",
  });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const outcome = el("p", { class: "outcome" });
  const approve = el("button", { type: "button", class: "approve", text: "Approve" });
  const edited = el("button", { type: "button", class: "approve-edits", text: "Approve with edits" });
  const deny = el("button", { type: "button", class: "deny danger", text: "Deny" });
  const buttons = [approve, edited, deny];

  const field = (label, value, cls) =>
    value === null || value === undefined || value === ""
      ? null
      : el("div", { class: "field" }, el("span", { class: "k", text: label }),
        el("pre", { class: cls || "value" }, asText(value, true)));

  const card = el(
    "article",
    { class: "approval", "data-run-id": item.run_id, "data-approval-id": item.approval_id },
    el("header", {},
      el("strong", {}, el("code", {}, item.tool)), " on ", runLink(item.run_id), " ",
      el("span", { class: "muted", text: `${item.agent} · ${item.approval_id}` })),
    el("p", { class: "why" }, "Needs approval: ", asText(item.reason),
      item.rule ? el("span", { class: "rule", text: ` [rule ${item.rule}]` }) : null),
    el("p", { class: "muted" },
      `requested ${fmtTime(item.requested_at)}`,
      item.expires_at ? ` · expires ${fmtTime(item.expires_at)}` : ""),
    field("What it will do", item.preview, "value preview"),
    field("Task", item.task, "value task"),
    field("Model's last reasoning", item.reasoning, "value reasoning"),
    el("div", { class: "field" }, el("span", { class: "k", text: "Arguments (edit, then Approve with edits)" }), args),
    el("div", { class: "decide" }, reason, ...buttons),
    error,
    outcome,
  );

  async function decide(decision, withEdits) {
    setError(error, "");
    const body = { decision };
    if (withEdits) {
      let parsed;
      try {
        parsed = JSON.parse(args.value);
      } catch (err) {
        setError(error, `The arguments are not valid JSON: ${err.message}`);
        return;
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        setError(error, "The arguments must be a JSON object.");
        return;
      }
      if (JSON.stringify(parsed).includes('"[sealed]"')) {
        // The page never holds a sealed value, so it cannot send one back unchanged.
        setError(error, "Sealed values cannot be edited here: approve as proposed, or deny.");
        return;
      }
      body.arguments = parsed;
    }
    if (reason.value.trim()) body.reason = reason.value.trim();
    for (const b of buttons) b.disabled = true;
    try {
      const run = await api(
        "POST",
        `/v1/approvals/${encodeURIComponent(item.run_id)}/${encodeURIComponent(item.approval_id)}`,
        body,
      );
      card.classList.add("done");
      countApprovals();
      args.disabled = true;
      reason.disabled = true;
      const verdict = decision === "approve" ? (withEdits ? "Approved with edits" : "Approved") : "Denied";
      outcome.replaceChildren(`${verdict}. Run is now `, statusBadge(run.status), " — ",
        runLink(item.run_id, "open the run"));
    } catch (err) {
      for (const b of buttons) b.disabled = false;
      setError(error, errorText(err));
    }
  }

  approve.addEventListener("click", () => decide("approve", false));
  edited.addEventListener("click", () => decide("approve", true));
  deny.addEventListener("click", () => decide("deny", false));
  return card;
}

// -- the pending-approvals count in the nav -----------------------------------------------

async function countApprovals() {
  if (!key.get() || document.hidden) return;
  try {
    const data = await api("GET", "/v1/approvals");
    showCount(data.approvals.length);
  } catch (_) {
    showCount(0);
  }
}

function showCount(n) {
  $("approval-count").textContent = String(n);
  show($("approval-count"), n > 0);
}

hooks.unauthorized = needKey;
route();
countApprovals();
setInterval(countApprovals, 5000);

// Tether UI: runs, live run timelines and the approvals inbox, over the /v1 API.
//
// Plain JS, no build step, no third-party code. Two rules hold everywhere:
// - Every string from the API goes into the DOM as text (textContent, or el() below),
//   never as HTML: event payloads are model and tool output, so untrusted.
// - Every request carries the key as "Authorization: Bearer"; EventSource cannot send
//   headers, so the event stream is read with fetch() and parsed here.
"use strict";

(() => {
  const KEY_NAME = "tether.apiKey";
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);
  const PARKED = new Set(["waiting", "escalated"]);
  const PAGE_SIZE = 25;

  const $ = (id) => document.getElementById(id);

  // -- DOM helpers: text only ---------------------------------------------------------------

  /** An element with attributes and children; strings become text nodes, never markup. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function setError(node, message) {
    node.textContent = message || "";
    show(node, Boolean(message));
  }

  // -- formatting ---------------------------------------------------------------------------

  /** A stored value as displayed: sealed and redacted markers never show their contents. */
  function shown(value) {
    if (Array.isArray(value)) return value.map(shown);
    if (value && typeof value === "object") {
      const keys = Object.keys(value);
      if ("$sealed" in value && keys.every((k) => k === "$sealed" || k === "kid")) return "[sealed]";
      if ("$redacted" in value && keys.length === 1) return "[redacted]";
      const out = {};
      for (const k of keys) out[k] = shown(value[k]);
      return out;
    }
    return value;
  }

  /** Text for any stored value: strings as they are, the rest as JSON. */
  function asText(value, pretty) {
    const v = shown(value);
    if (typeof v === "string") return v;
    if (v === undefined) return "";
    return pretty ? JSON.stringify(v, null, 2) : JSON.stringify(v);
  }

  function callText(name, args) {
    const parts = Object.entries(shown(args || {})).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    return `${name}(${parts.join(", ")})`;
  }

  function fmtTime(ts) {
    if (typeof ts !== "number") return "";
    const d = new Date(ts * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function fmtMs(ms) {
    if (typeof ms !== "number") return "";
    return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(2)} s`;
  }

  function fmtUsd(usd) {
    if (typeof usd !== "number") return "";
    return usd === 0 ? "$0" : `$${usd.toFixed(usd < 0.01 ? 6 : 4)}`;
  }

  function fmtRatio(cached, input) {
    return input > 0 ? `${((100 * cached) / input).toFixed(1)}%` : "n/a";
  }

  function num(n) {
    return (n || 0).toLocaleString("en-US");
  }

  function statusBadge(status) {
    return el("span", { class: `status s-${status}`, text: status || "?" });
  }

  function runLink(runId, label) {
    return el("a", { href: `#/runs/${encodeURIComponent(runId)}`, text: label || runId });
  }

  // -- the key and the API ------------------------------------------------------------------

  const key = {
    get: () => sessionStorage.getItem(KEY_NAME),
    set: (value) => sessionStorage.setItem(KEY_NAME, value),
    clear: () => sessionStorage.removeItem(KEY_NAME),
  };

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function authHeaders(extra) {
    return Object.assign({ Authorization: `Bearer ${key.get() || ""}` }, extra || {});
  }

  /** Calls the API; a JSON error body becomes an ApiError; a 401 asks for a key again. */
  async function api(method, path, body) {
    const init = { method, headers: authHeaders({ Accept: "application/json" }) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "network", `The server could not be reached (${err.message}).`);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      const detail = data && !data.error && data.detail ? asText(data.detail) : "";
      let message = error.message || detail || `${response.status} ${response.statusText}`;
      // Field-level details (a refused edit names the argument and what is wrong with it).
      if (Array.isArray(error.details)) {
        const lines = error.details.slice(0, 8).map((d) =>
          d && typeof d === "object" && "msg" in d
            ? `${Array.isArray(d.loc) ? d.loc.join(".") : ""}: ${asText(d.msg)}`
            : asText(d));
        if (lines.length) message += `\n${lines.join("\n")}`;
      }
      const err = new ApiError(response.status, error.code || `http_${response.status}`, message);
      if (response.status === 401) needKey(err.message);
      throw err;
    }
    return data;
  }

  function errorText(err) {
    if (err instanceof ApiError) return `${err.status || "no response"} ${err.code}: ${err.message}`;
    return String(err && err.message ? err.message : err);
  }

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

  // -- the event stream ---------------------------------------------------------------------

  /**
   * Follows a run's events over SSE read with fetch(): replays what is stored, then live
   * events; reconnects with Last-Event-ID after a drop or an overflow, so nothing is lost;
   * after the server's `end` on a parked run, polls the run and reconnects when it moves.
   */
  function followRun(runId, handlers) {
    let lastSeq = 0;
    let stopped = false;
    let controller = null;
    let backoff = 500;
    let pollTimer = null;

    function parseFrame(frame) {
      const out = { event: "message", data: [], id: null };
      for (const line of frame.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") out.event = value;
        else if (field === "data") out.data.push(value);
        else if (field === "id") out.id = value;
      }
      return { event: out.event, id: out.id, data: out.data.join("\n") };
    }

    /** Handles one frame; returns "end" or "overflow" when the server is done with us. */
    function dispatch(frame) {
      if (!frame.data && frame.event === "message") return null;
      let data;
      try {
        data = JSON.parse(frame.data);
      } catch (_) {
        return null;
      }
      if (frame.event === "delta") {
        handlers.delta(data);
        return null;
      }
      if (frame.event === "end") {
        handlers.end(data);
        return "end";
      }
      if (frame.event === "overflow") {
        if (typeof data.resume_after === "number") lastSeq = Math.max(lastSeq, data.resume_after);
        return "overflow";
      }
      const seq = typeof data.seq === "number" ? data.seq : Number(frame.id);
      if (!(seq > lastSeq)) return null; // already shown (a replay overlap)
      lastSeq = seq;
      handlers.event(data);
      return null;
    }

    async function connect() {
      if (stopped) return;
      clearTimeout(pollTimer);
      controller = new AbortController();
      const headers = authHeaders({ Accept: "text/event-stream" });
      if (lastSeq > 0) headers["Last-Event-ID"] = String(lastSeq);
      let outcome = null;
      try {
        const response = await fetch(
          `/v1/runs/${encodeURIComponent(runId)}/events?deltas=1`,
          { headers, signal: controller.signal, cache: "no-store" },
        );
        if (!response.ok) {
          let message = `${response.status} ${response.statusText}`;
          try {
            const body = await response.json();
            if (body && body.error) message = body.error.message;
          } catch (_) {
            // not JSON: keep the status line
          }
          if (response.status === 401) {
            needKey(message);
            return;
          }
          handlers.error(`The event stream failed: ${message}`);
          if (response.status >= 400 && response.status < 500) return; // retrying won't help
          throw new Error(message);
        }
        handlers.connected(true);
        backoff = 500;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        let pendingCR = false;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          let text = decoder.decode(value, { stream: true });
          if (pendingCR) text = `\r${text}`;
          pendingCR = text.endsWith("\r");
          if (pendingCR) text = text.slice(0, -1);
          buffer += text.replace(/\r\n?/g, "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            outcome = dispatch(parseFrame(frame));
            if (outcome) break;
          }
          if (outcome) {
            controller.abort();
            break;
          }
        }
      } catch (err) {
        if (stopped) return;
        if (err && err.name !== "AbortError") handlers.connected(false);
      }
      if (stopped) return;
      handlers.connected(false);
      if (outcome === "end") {
        pollTimer = setTimeout(poll, 1500);
      } else {
        // Dropped or overflowed: resume after the last event we hold.
        const wait = outcome === "overflow" ? 0 : backoff;
        backoff = Math.min(backoff * 2, 10000);
        pollTimer = setTimeout(connect, wait);
      }
    }

    /** After `end`: a parked run may resume (approval, signal); a terminal one may not. */
    async function poll() {
      if (stopped) return;
      try {
        const run = await api("GET", `/v1/runs/${encodeURIComponent(runId)}`);
        handlers.run(run);
        if (run.last_seq > lastSeq || !(TERMINAL.has(run.status) || PARKED.has(run.status))) {
          connect();
          return;
        }
        if (TERMINAL.has(run.status)) return;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return;
      }
      pollTimer = setTimeout(poll, 1500);
    }

    connect();
    return {
      stop() {
        stopped = true;
        clearTimeout(pollTimer);
        if (controller) controller.abort();
      },
      /** Look again now (after a decision made from this page). */
      nudge() {
        if (!stopped && pollTimer) {
          clearTimeout(pollTimer);
          poll();
        }
      },
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

  /** The run's events drawn as steps, with per-step and per-run numbers. */
  class Timeline {
    constructor(root, totalsNode) {
      this.root = root;
      this.totalsNode = totalsNode;
      this.steps = new Map();
      this.calls = new Map(); // call_id -> proposed arguments
      this.approvals = new Map(); // approval id -> {tool, row, decided}
      this.totals = {
        modelCalls: 0, toolCalls: 0, input: 0, cached: 0, output: 0, cost: 0,
        latency: 0, finished: null,
      };
      this.renderTotals();
    }

    step(n) {
      let s = this.steps.get(n);
      if (s) return s;
      const stats = el("span", { class: "step-stats" });
      const list = el("div", { class: "events" });
      const node = el(
        "section",
        { class: "step", "data-step": n },
        el("h3", {}, el("span", { text: `Step ${n}` }), stats),
        list,
      );
      s = { node, list, stats, latency: 0, input: 0, cached: 0, output: 0, cost: 0, model: 0 };
      this.steps.set(n, s);
      // Steps arrive in order; the guard keeps the page right if one ever does not.
      const later = [...this.steps.entries()].filter(([k]) => k > n).sort((a, b) => a[0] - b[0]);
      if (later.length) this.root.insertBefore(node, later[0][1].node);
      else this.root.append(node);
      return s;
    }

    renderStep(s) {
      const parts = [];
      if (s.latency) parts.push(`latency ${fmtMs(s.latency)}`);
      if (s.model) {
        parts.push(`${num(s.input)} in · ${num(s.cached)} cached · ${num(s.output)} out`);
        parts.push(`cache ${fmtRatio(s.cached, s.input)}`);
      }
      if (s.cost) parts.push(fmtUsd(s.cost));
      s.stats.textContent = parts.join(" · ");
    }

    renderTotals() {
      const t = this.totals;
      const f = t.finished;
      const input = f ? f.usage.input_tokens || 0 : t.input;
      const cached = f ? f.usage.cached_input_tokens || 0 : t.cached;
      const output = f ? f.usage.output_tokens || 0 : t.output;
      const cost = f && typeof f.cost_usd === "number" ? f.cost_usd : t.cost;
      const rows = [
        ["Model calls", num(f ? f.model_calls : t.modelCalls)],
        ["Tool calls", num(f ? f.tool_calls : t.toolCalls)],
        ["Tokens", `${num(input)} in · ${num(cached)} cached · ${num(output)} out`],
        ["Prefix-cache ratio", fmtRatio(cached, input)],
        ["Cost", fmtUsd(cost) || "$0"],
        ["Time in model and tools", fmtMs(t.latency) || "0 ms"],
      ];
      this.totalsNode.replaceChildren(
        ...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]),
      );
    }

    pending() {
      return [...this.approvals.values()].filter((a) => !a.decided);
    }

    row(rec, kind, label, ...body) {
      const node = el(
        "div",
        { class: `ev ${kind}`, "data-seq": rec.seq, "data-type": rec.type },
        el("span", { class: "seq", title: fmtTime(rec.ts), text: `#${rec.seq}` }),
        el("span", { class: "label", text: label }),
        el("div", { class: "body" }, ...body),
      );
      this.step(rec.step).list.append(node);
      return node;
    }

    add(rec) {
      const d = rec.data || {};
      const s = this.step(rec.step);
      const meta = (...parts) => el("span", { class: "meta", text: parts.filter(Boolean).join(" · ") });
      const pre = (value, cls) => el("pre", { class: cls || "value" }, asText(value, true));
      switch (rec.type) {
        case "run.created": {
          this.row(
            rec, "k-run", "run",
            el("div", {}, `Agent ${d.agent} `, meta(`version ${d.agent_version}`,
              d.tenant && `tenant ${d.tenant}`, d.parent_run_id && `parent ${d.parent_run_id}`)),
            el("div", { class: "field" }, el("span", { class: "k", text: "input (prompt)" }),
              pre(d.input, "value prompt")),
          );
          break;
        }
        case "model.completed": {
          const r = d.response || {};
          const u = r.usage || {};
          const input = u.input_tokens || 0;
          const cached = u.cached_input_tokens || 0;
          const output = u.output_tokens || 0;
          const calls = (r.tool_calls || []).map((c) => {
            this.calls.set(c.id, c.arguments || {});
            return el(
              "div",
              { class: "proposed" },
              "→ ",
              el("code", {}, callText(c.name, c.arguments)),
              " ",
              meta(`[${c.id}]`),
              c.invalid_arguments != null
                ? el("div", { class: "error" }, `invalid arguments: ${asText(c.invalid_arguments)}`)
                : null,
            );
          });
          const completion = r.text != null && r.text !== ""
            ? pre(r.text, "value completion")
            : calls.length ? null : el("span", { class: "muted", text: "(empty reply)" });
          this.row(
            rec, "k-model", "model",
            meta(
              r.model, `call ${d.call}`, d.attempt > 1 && `attempt ${d.attempt}`,
              `${num(input)} in · ${num(cached)} cached · ${num(output)} out`,
              `cache ${fmtRatio(cached, input)}`, `latency ${fmtMs(d.latency_ms || 0)}`,
              d.cost_usd != null && fmtUsd(d.cost_usd), `finish ${r.finish_reason}`,
              d.prefix_hash && `prefix ${String(d.prefix_hash).slice(0, 8)}`,
            ),
            completion,
            calls,
          );
          s.model += 1;
          s.input += input;
          s.cached += cached;
          s.output += output;
          s.cost += d.cost_usd || 0;
          s.latency += d.latency_ms || 0;
          const t = this.totals;
          t.modelCalls += 1;
          t.input += input;
          t.cached += cached;
          t.output += output;
          t.cost += d.cost_usd || 0;
          t.latency += d.latency_ms || 0;
          break;
        }
        case "model.failed":
          this.row(
            rec, d.will_retry ? "k-warn" : "k-bad", "model",
            `${d.will_retry ? "↻" : "✘"} ${d.model} attempt ${d.attempt} failed `,
            el("strong", { text: `[${d.error_code}] ` }), asText(d.message),
            d.will_retry ? meta(`retrying${d.retry_after ? ` after ${d.retry_after} s` : ""}`) : null,
          );
          break;
        case "model.rejected":
          this.row(rec, "k-warn", "model", `⚠ reply rejected: ${asText(d.reason)}`,
            d.hint ? meta(asText(d.hint)) : null);
          break;
        case "prefix.changed":
          this.row(rec, "k-warn", "prefix",
            `prompt prefix changed (${(d.changed || []).join(", ")}): cache miss`);
          break;
        case "tool.started":
          // What executes: the validated (maybe edited) arguments, not the proposal.
          this.calls.set(d.call_id, d.arguments || {});
          this.row(rec, "k-tool", "write", el("code", {}, callText(d.tool, d.arguments)), " started ",
            meta(`[${d.call_id}]`, `idempotency key ${d.idempotency_key}`));
          break;
        case "tool.completed": {
          const args = this.calls.get(d.call_id);
          this.row(
            rec, "k-ok", "tool",
            el("div", {}, el("strong", { text: `✓ ${d.tool}` }), " ",
              meta(`[${d.call_id}]`, `attempt ${d.attempt || 1}`, `latency ${fmtMs(d.duration_ms || 0)}`)),
            args ? el("div", { class: "field" }, el("span", { class: "k", text: "arguments" }), pre(args)) : null,
            el("div", { class: "field" }, el("span", { class: "k", text: "result" }),
              pre(d.result, "value result")),
          );
          s.latency += d.duration_ms || 0;
          this.totals.latency += d.duration_ms || 0;
          this.totals.toolCalls += 1;
          break;
        }
        case "tool.failed": {
          const e = d.error || {};
          const args = this.calls.get(d.call_id);
          this.row(
            rec, d.will_retry ? "k-warn" : "k-bad", "tool",
            el("div", {}, el("strong", { text: `${d.will_retry ? "↻" : "✘"} ${d.tool} [${e.error_code}] ` }),
              asText(e.message), " ",
              meta(`[${d.call_id}]`, `attempt ${d.attempt || 1}`, `latency ${fmtMs(d.duration_ms || 0)}`,
                d.will_retry && "retrying")),
            e.hint ? el("div", { class: "muted" }, `hint: ${asText(e.hint)}`) : null,
            args ? el("div", { class: "field" }, el("span", { class: "k", text: "arguments" }), pre(args)) : null,
            e.details ? el("div", { class: "field" }, el("span", { class: "k", text: "details" }), pre(e.details)) : null,
          );
          s.latency += d.duration_ms || 0;
          this.totals.latency += d.duration_ms || 0;
          if (!d.will_retry) this.totals.toolCalls += 1;
          break;
        }
        case "policy.decided":
          this.row(
            rec, d.action === "deny" ? "k-bad" : d.action === "allow" ? "k-dim" : "k-warn", "policy",
            el("strong", { text: `${d.action} ${d.tool}` }), `: ${asText(d.reason)}`,
            d.rule ? el("span", { class: "rule", text: ` [rule ${d.rule}]` }) : null, " ",
            meta(d.source),
          );
          break;
        case "approval.requested": {
          const id = d.approval_id || d.call_id;
          const node = this.row(
            rec, "k-warn approval-request", "approve",
            el("div", {}, el("code", {}, callText(d.tool, d.arguments)),
              " needs approval: ", asText(d.reason),
              d.rule ? el("span", { class: "rule", text: ` [rule ${d.rule}]` }) : null, " ",
              meta(`[${id}]`, d.expires_at && `expires ${fmtTime(d.expires_at)}`)),
            el("span", { class: "approval-state", text: "waiting for a decision" }),
          );
          this.approvals.set(id, { tool: d.tool, node, decided: false });
          break;
        }
        case "approval.decided": {
          const id = d.approval_id || d.call_id;
          const ok = Boolean(d.approved);
          this.row(
            rec, ok ? "k-ok" : "k-bad", "approve",
            el("strong", { text: `approval ${id} ${ok ? "approved" : "denied"} by ${d.by}` }),
            d.reason ? `: ${asText(d.reason)}` : "",
            d.arguments != null
              ? el("div", { class: "field" }, el("span", { class: "k", text: "edited arguments" }), pre(d.arguments))
              : null,
          );
          if (ok && d.arguments != null) this.calls.set(d.call_id, d.arguments);
          const request = this.approvals.get(id);
          if (request) {
            request.decided = true;
            const state = request.node.querySelector(".approval-state");
            if (state) state.textContent = ok ? "approved" : "denied";
            request.node.classList.add("decided");
          }
          break;
        }
        case "budget.warned":
          this.row(rec, "k-warn", "budget", `⚠ ${d.dimension} at ${d.used} of ${d.limit}`,
            d.degraded_to ? `; switching to ${d.degraded_to}` : "");
          break;
        case "run.escalated":
          this.row(
            rec, "k-warn", "escalate",
            el("strong", { text: `⚠ ${asText(d.reason)}` }), " ", meta(d.source),
            d.suggested_next_step ? el("div", {}, `suggested: ${asText(d.suggested_next_step)}`) : null,
            d.context ? el("div", { class: "field" }, el("span", { class: "k", text: "context" }), pre(d.context)) : null,
          );
          break;
        case "injection.flagged":
          this.row(rec, "k-warn", "inject",
            `⚠ ${d.tool} result looks like a prompt injection: ${(d.patterns || []).join(", ")} `,
            meta(`[${d.call_id}]`));
          break;
        case "signal.received":
          this.row(rec, "k-signal", "signal", `⚑ ${d.name}${d.by ? ` by ${d.by}` : ""} `,
            d.payload != null ? el("code", {}, asText(d.payload)) : null);
          break;
        case "output.rejected":
          this.row(rec, "k-warn", "output", `⚠ answer failed its schema (repair ${d.attempt}): `,
            pre(d.errors));
          break;
        case "effect.recorded":
          this.row(rec, "k-dim", "effect", `${d.kind} = ${asText(d.value)}`);
          break;
        case "transition":
          this.row(rec, "k-dim", "next", `→ ${d.to}`);
          break;
        case "run.status":
          this.row(rec, "k-dim", "status", `${d.previous} → `, statusBadge(d.status),
            d.reason ? meta(asText(d.reason)) : null);
          break;
        case "run.finished": {
          this.totals.finished = d;
          const body = [el("strong", {}, statusBadge(d.status))];
          if (d.status === "completed") {
            body.push(el("div", { class: "field" }, el("span", { class: "k", text: "output" }),
              pre(d.output, "value output")));
          } else if (d.error) {
            body.push(el("div", { class: "error" },
              `[${d.error.error_code}] ${asText(d.error.message)}`));
            if (d.error.details) body.push(pre(d.error.details));
          }
          this.row(rec, d.status === "completed" ? "k-ok finished" : "k-bad finished", "end", ...body);
          break;
        }
        default:
          this.row(rec, "k-dim", rec.type, asText(d));
      }
      this.renderStep(s);
      this.renderTotals();
    }
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
    const original = JSON.stringify(shown(item.arguments || {}), null, 2);
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

  route();
  countApprovals();
  setInterval(countApprovals, 5000);
})();

// The API client: the key (kept in sessionStorage), JSON calls, and the event stream.
//
// Every request carries the key as "Authorization: Bearer". EventSource cannot send
// headers, so the event stream is read with fetch() and its frames parsed here.

import { asText } from "/ui/dom.js";

const KEY_NAME = "tether.apiKey";
export const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const PARKED = new Set(["waiting", "escalated"]);

/** What the app does when the server refuses the key (401): ask for another. */
export const hooks = { unauthorized: (_message) => {} };

// -- the key and the API ------------------------------------------------------------------

export const key = {
  get: () => sessionStorage.getItem(KEY_NAME),
  set: (value) => sessionStorage.setItem(KEY_NAME, value),
  clear: () => sessionStorage.removeItem(KEY_NAME),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function authHeaders(extra) {
  return Object.assign({ Authorization: `Bearer ${key.get() || ""}` }, extra || {});
}

/** Calls the API; a JSON error body becomes an ApiError; a 401 asks for a key again. */
export async function api(method, path, body) {
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
    if (response.status === 401) hooks.unauthorized(err.message);
    throw err;
  }
  return data;
}

export function errorText(err) {
  if (err instanceof ApiError) return `${err.status || "no response"} ${err.code}: ${err.message}`;
  return String(err && err.message ? err.message : err);
}

// -- the event stream ---------------------------------------------------------------------

/**
 * Follows a run's events over SSE read with fetch(): replays what is stored, then live
 * events; reconnects with Last-Event-ID after a drop or an overflow, so nothing is lost;
 * after the server's `end` on a parked run, polls the run and reconnects when it moves.
 */
export function followRun(runId, handlers) {
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
          hooks.unauthorized(message);
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

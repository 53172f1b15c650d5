// Text-only DOM helpers and formatting for the Tether UI.
//
// Every string from the API goes into the page through el()/append() as a text node,
// never as HTML: event payloads are model and tool output, so untrusted.

export const $ = (id) => document.getElementById(id);

// -- DOM helpers: text only ---------------------------------------------------------------

/** An element with attributes and children; strings become text nodes, never markup. */
export function el(tag, attrs, ...children) {
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

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

export function setError(node, message) {
  node.textContent = message || "";
  show(node, Boolean(message));
}

// -- formatting ---------------------------------------------------------------------------

/** A stored value as displayed: sealed and redacted markers never show their contents. */
export function shown(value) {
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

// Characters a page would act on or not show: controls, bidi overrides and isolates,
// zero-width spaces and joiners, tag characters. Shown as \uXXXX escapes, so a person
// reads "\u202e4321-8765", not the "5678-1234" a bidi override would display.
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u2064\u2066-\u206f\u3164\ufeff\ufff9-\ufffb]|\udb40[\udc00-\udc7f]/g;

/** ``text`` with every invisible or control character as a visible \uXXXX escape. */
export function visible(text) {
  return text.replace(INVISIBLE, (ch) =>
    Array.from({ length: ch.length }, (_, i) =>
      "\\u" + ch.charCodeAt(i).toString(16).padStart(4, "0")).join(""));
}

/** JSON of a value with invisible characters escaped (JSON.parse gives the value back). */
export function jsonText(value, pretty) {
  return visible(pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value));
}

/** Text for any stored value: strings as they are, the rest as JSON. */
export function asText(value, pretty) {
  const v = shown(value);
  if (typeof v === "string") return visible(v);
  if (v === undefined) return "";
  return jsonText(v, pretty);
}

export function callText(name, args) {
  const parts = Object.entries(shown(args || {})).map(([k, v]) => `${k}=${jsonText(v)}`);
  return `${visible(String(name))}(${parts.join(", ")})`;
}

export function fmtTime(ts) {
  if (typeof ts !== "number") return "";
  const d = new Date(ts * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtMs(ms) {
  if (typeof ms !== "number") return "";
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function fmtUsd(usd) {
  if (typeof usd !== "number") return "";
  return usd === 0 ? "$0" : `$${usd.toFixed(usd < 0.01 ? 6 : 4)}`;
}

export function fmtRatio(cached, input) {
  return input > 0 ? `${((100 * cached) / input).toFixed(1)}%` : "n/a";
}

export function num(n) {
  return (n || 0).toLocaleString("en-US");
}

export function statusBadge(status) {
  return el("span", { class: `status s-${status}`, text: status || "?" });
}

export function runLink(runId, label) {
  return el("a", { href: `#/runs/${encodeURIComponent(runId)}`, text: label || runId });
}

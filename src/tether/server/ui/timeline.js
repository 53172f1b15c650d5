// A run's timeline: its events drawn as steps, with per-step and per-run numbers.

import {
  asText, callText, el, fmtMs, fmtRatio, fmtTime, fmtUsd, num, statusBadge,
} from "/ui/dom.js";

/** The run's events drawn as steps, with per-step and per-run numbers. */
export class Timeline {
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
      case "breaker.changed":
        this.row(rec, d.current === "closed" ? "k-ok" : "k-warn", "breaker",
          `circuit of ${d.key} ${d.previous} → ${d.current}: ${asText(d.reason)}`);
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

// Events: the live tail (filters, pause, at most MAX_ROWS rows), the bus state, and traces.

import { get } from "../api.js";
import { clear, fill, h, json, pill, showError, table, when } from "../dom.js";
import { on } from "../stream.js";

export const MAX_ROWS = 1000;

function glob(pattern, value) {
  if (!pattern) return true;
  const re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "i");
  return pattern.includes("*") ? re.test(value) : value.toLowerCase().includes(pattern.toLowerCase());
}

export default {
  title: "Events",
  async render(root) {
    const stats = h("div", { class: "stats card", "aria-label": "Bus state" }, h("span", { class: "muted" }, "waiting for the bus state…"));
    const type = h("input", { type: "search", placeholder: "type (globs: tool_*)", "aria-label": "Filter by type" });
    const source = h("input", { type: "search", placeholder: "source", "aria-label": "Filter by source" });
    const priority = h("select", { "aria-label": "Filter by priority" },
      ["", "high", "normal", "low"].map((p) => h("option", { value: p }, p || "any priority")));
    const pause = h("button", { type: "button", "aria-pressed": "false" }, "Pause");
    const counter = h("span", { class: "muted", "data-counter": "" });
    const body = h("tbody");
    const trace = h("div", { "aria-live": "polite" });
    root.append(h("h2", {}, "Events"), stats,
      h("div", { class: "row" }, type, source, priority, pause, counter),
      h("div", { class: "table-wrap" }, h("table", { class: "tail" },
        h("thead", {}, h("tr", {}, ["seq", "time", "type", "source", "priority", "payload"].map((n) => h("th", { scope: "col" }, n)))), body)),
      trace);
    let paused = false;
    let held = [];
    let dropped = 0;
    const seen = new Set();

    const matches = (e) => glob(type.value.trim(), e.event_type) && glob(source.value.trim(), e.source)
      && (!priority.value || e.priority === priority.value);
    const count = () => {
      counter.textContent = `${body.rows.length} shown${dropped ? `, ${dropped} older dropped` : ""}${held.length ? `, ${held.length} new while paused` : ""}`;
    };
    const row = (e) => h("tr", { tabindex: "0", "data-event": e.id, "data-type": e.event_type,
      onclick: () => openTrace(e), onkeydown: (k) => { if (k.key === "Enter") openTrace(e); } },
    h("td", {}, e.seq ?? ""), h("td", { class: "when" }, when(e.timestamp)), h("td", {}, e.event_type),
    h("td", { class: "src" }, e.source), h("td", {}, pill(e.priority)),
    h("td", { class: "data" }, e.payload ? JSON.stringify(e.payload).slice(0, 160) : h("span", { class: "muted" }, "(no payload)")));
    const add = (events) => {
      const fresh = events.filter((e) => !seen.has(e.id) && matches(e));
      for (const e of fresh) seen.add(e.id);
      if (!fresh.length) return;
      const frag = document.createDocumentFragment();
      for (let i = fresh.length - 1; i >= 0; i -= 1) frag.append(row(fresh[i]));
      body.prepend(frag);
      while (body.rows.length > MAX_ROWS) { seen.delete(body.lastChild.dataset.event); body.lastChild.remove(); dropped += 1; }
      count();
      window.amanTail = { rows: body.rows.length, dropped };
    };
    const openTrace = async (e) => {
      fill(trace, h("h3", {}, `Trace ${e.metadata?.trace_id || ""}`));
      try {
        const found = await get(`/events/trace/${encodeURIComponent(e.metadata.trace_id)}`);
        const types = new Map((found.events || []).map((x) => [x.id, x.event_type]));
        trace.append(h("div", { "data-trace": e.metadata.trace_id },
          table(["time", "event", "step", "handler", "detail"], (found.steps || []).map((st) => h("tr", {},
            h("td", {}, when(st.ts_ms)), h("td", {}, types.get(st.event_id) || st.event_id.slice(-8)),
            h("td", {}, pill(st.step, st.step === "done" || st.step === "handler_ok" ? "ok" : st.step)),
            h("td", {}, st.handler || ""), h("td", { class: "data" }, st.detail ? JSON.stringify(st.detail).slice(0, 200) : "")))),
          h("details", {}, h("summary", {}, "raw trace"), h("pre", {}, json(found)))));
        trace.scrollIntoView({ block: "nearest" });
      } catch (err) { showError(trace, err); }
    };
    const refilter = async () => {
      clear(body); seen.clear(); dropped = 0;
      try { add((await get("/events/recent", { limit: 200 })).items.reverse()); } catch (err) { showError(root, err); }
      count();
    };
    for (const input of [type, source, priority]) input.addEventListener("change", refilter);
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.textContent = paused ? "Resume" : "Pause";
      pause.setAttribute("aria-pressed", String(paused));
      if (!paused) { add(held); held = []; count(); }
    });
    const stops = [
      on("event:processed", (e) => {
        if (paused) { held.push(e); if (held.length > MAX_ROWS) held.shift(); count(); } else add([e]);
      }),
      on("metrics:updated", (m) => {
        const depth = Object.values(m.queue_depth || {}).reduce((a, b) => a + b, 0);
        fill(stats, 
          h("span", {}, "queue ", h("b", { "data-stat": "queue" }, `${depth} / ${m.queue_capacity}`)),
          h("span", {}, "backpressure ", pill(m.backpressure_level, m.backpressure_level === "normal" ? "ok" : "error")),
          h("span", {}, "published ", h("b", {}, m.published)), h("span", {}, "delivered ", h("b", {}, m.throughput)),
          h("span", {}, "DLQ ", h("b", {}, m.dlq_depth)), h("span", {}, "in flight ", h("b", {}, m.inflight)));
      }),
    ];
    await refilter();
    return () => stops.forEach((stop) => stop());
  },
};

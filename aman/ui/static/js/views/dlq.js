// DLQ: parked deliveries with reason and attempts; retry, discard (confirmed), bulk retry.

import { get, post } from "../api.js";
import { confirmAction } from "../confirm.js";
import { clear, h, json, pill, showError, table, toast, when } from "../dom.js";
import { on } from "../stream.js";

export default {
  title: "DLQ",
  async render(root) {
    const status = h("select", { "aria-label": "Status" }, ["active", "retrying", "resolved", "discarded", "archived"].map((s) => h("option", { value: s }, s)));
    const reason = h("input", { type: "search", placeholder: "reason", "aria-label": "Filter by reason" });
    const source = h("input", { type: "search", placeholder: "source", "aria-label": "Filter by source" });
    const bulk = h("button", { type: "button" }, "Retry all shown");
    const body = h("div");
    root.append(h("h2", {}, "Dead-letter queue"), h("div", { class: "row" }, status, reason, source, bulk), body);
    let items = [];
    const act = async (entry, action, button) => {
      const text = action === "retry"
        ? `Retry the delivery of ${entry.event_type} to ${entry.handler}?`
        : `Discard the parked ${entry.event_type} for ${entry.handler}? It will not be delivered.`;
      if (!(await confirmAction(text, { label: action === "retry" ? "Retry" : "Discard" }))) return;
      try {
        const result = await post(`/dlq/${encodeURIComponent(entry.id)}/${action}`, {}, { confirm: true });
        toast(`${action === "retry" ? "Retried" : "Discarded"}: now ${result.status}.`);
        await draw();
      } catch (err) { showError(button.closest("tr") ? body : body, err); }
    };
    const draw = async () => {
      try {
        items = (await get("/dlq", { status: status.value, reason: reason.value.trim(), source: source.value.trim(), limit: 200 })).items;
        clear(body);
        if (!items.length) { body.append(h("p", { class: "muted", "data-empty": "" }, "Nothing parked.")); return; }
        body.append(table(["event", "handler", "reason", "attempts", "parked", ""], items.map((e) => h("tr", { "data-entry": e.id },
          h("td", {}, e.event_type, h("div", { class: "muted" }, e.source), h("details", {}, h("summary", {}, "event"), h("pre", {}, json(e.event)))),
          h("td", {}, e.handler), h("td", {}, e.reason), h("td", {}, `${e.attempts} + ${e.manual_retries} manual`, " ", pill(e.status)),
          h("td", {}, when(e.enqueued_at_ms)),
          h("td", {}, h("div", { class: "row" },
            h("button", { type: "button", "data-action": "retry", onclick: (ev) => act(e, "retry", ev.currentTarget) }, "Retry"),
            h("button", { type: "button", class: "danger", "data-action": "discard", onclick: (ev) => act(e, "discard", ev.currentTarget) }, "Discard")))))));
      } catch (err) { showError(body, err); }
    };
    bulk.addEventListener("click", async () => {
      if (!items.length || !(await confirmAction(`Retry all ${items.length} entries shown?`, { label: "Retry all" }))) return;
      let ok = 0;
      for (const e of items) {
        try { await post(`/dlq/${encodeURIComponent(e.id)}/retry`, {}, { confirm: true }); ok += 1; } catch (err) { showError(body, err); }
      }
      toast(`Retried ${ok} of ${items.length}.`);
      await draw();
    });
    for (const input of [status, reason, source]) input.addEventListener("change", draw);
    const stop = on("event:processed", (e) => { if (e.event_type.startsWith("dlq")) draw(); });
    await draw();
    return stop;
  },
};

// Workflows: definitions (with load errors), instances by state, an instance's history;
// retry and cancel (both confirmed).

import { get, post } from "../api.js";
import { confirmAction } from "../confirm.js";
import { clear, fill, h, json, pill, showError, table, toast, when } from "../dom.js";
import { onEvents } from "../stream.js";

export default {
  title: "Workflows",
  async render(root) {
    const defs = h("div");
    const state = h("input", { type: "search", placeholder: "state", "aria-label": "Instances in state" });
    const instances = h("div");
    const detail = h("div", { "aria-live": "polite" });
    root.append(h("h2", {}, "Workflows"), defs, h("h3", {}, "Instances"), h("div", { class: "row" }, state), instances, detail);
    const act = async (i, action) => {
      if (!(await confirmAction(`${action === "retry" ? "Retry" : "Cancel"} instance ${i.id} of ${i.workflow_name}?`, { label: action === "retry" ? "Retry" : "Cancel instance" }))) return;
      try { await post(`/workflow-instance/${encodeURIComponent(i.id)}/${action}`, {}, { confirm: true }); toast(`${action} sent.`); await drawInstances(); } catch (err) { showError(instances, err); }
    };
    const open = async (i) => {
      try {
        const full = await get(`/workflow-instance/${encodeURIComponent(i.id)}`);
        fill(detail, h("h3", {}, `Instance ${i.id}`), table(["at", "from", "to", "reason"], (full.history || []).map((x) => h("tr", {},
          h("td", {}, when(x.at)), h("td", {}, x.from), h("td", {}, x.to), h("td", {}, x.reason || x.event_type || "")))),
        h("details", {}, h("summary", {}, "data"), h("pre", {}, json(full.data))));
      } catch (err) { showError(detail, err); }
    };
    const drawInstances = async () => {
      try {
        const items = (await get("/workflow-instances", { state: state.value.trim(), limit: 100 })).items;
        fill(instances, items.length ? table(["instance", "workflow", "state", ""], items.map((i) => h("tr", {},
          h("td", {}, h("a", { href: "#/workflows", onclick: (e) => { e.preventDefault(); open(i); } }, i.id.slice(-12))),
          h("td", {}, i.workflow_name), h("td", {}, pill(i.current_state), " ", h("span", { class: "muted" }, i.status || "")),
          h("td", {}, h("div", { class: "row" },
            h("button", { type: "button", onclick: () => act(i, "retry") }, "Retry"),
            h("button", { type: "button", class: "danger", onclick: () => act(i, "cancel") }, "Cancel"))))))
          : h("p", { class: "muted" }, "No instances."));
      } catch (err) { showError(instances, err); }
    };
    try {
      const items = (await get("/workflows")).items;
      fill(defs, table(["workflow", "states", "status"], items.map((d) => h("tr", {},
        h("td", {}, h("strong", {}, d.name), h("div", { class: "muted" }, d.description || "")),
        h("td", { class: "muted" }, (d.states || []).map((s) => (typeof s === "string" ? s : s.name)).join(", ")),
        h("td", {}, pill(d.status, d.status === "loaded" ? "ok" : "error"), d.error ? h("div", { class: "error" }, typeof d.error === "string" ? d.error : d.error.message) : null)))));
    } catch (err) { showError(defs, err); }
    state.addEventListener("change", drawInstances);
    await drawInstances();
    return onEvents((e) => e.event_type === "workflow_state_changed", drawInstances);
  },
};

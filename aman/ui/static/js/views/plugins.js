// Plugins: enable/disable (disable confirmed) and the pages they contribute.

import { get, post } from "../api.js";
import { confirmAction } from "../confirm.js";
import { clear, fill, h, pill, showError, table } from "../dom.js";
import { onEvents } from "../stream.js";

const changed = () => window.dispatchEvent(new CustomEvent("aman:plugins-changed"));

export default {
  title: "Plugins",
  async render(root) {
    const body = h("div");
    root.append(h("h2", {}, "Plugins"), body);
    const draw = async () => {
      try {
        const items = (await get("/plugins")).items;
        fill(body, items.length ? table(["plugin", "state", "contributes", ""], items.map((p) => h("tr", { "data-plugin": p.name },
          h("td", {}, h("strong", {}, p.name), " ", h("span", { class: "muted" }, p.version || ""), h("div", { class: "muted" }, p.description || "")),
          h("td", {}, pill(p.state, p.state === "enabled" ? "ok" : p.state === "failed" ? "error" : ""), p.error ? h("div", { class: "error" }, p.error) : null),
          h("td", { class: "muted" }, [`${p.routes.length} routes`, `${p.tools.length} tools`, `${p.sources.length} sources`].join(", "),
            p.pages.map((page) => h("div", {}, h("a", { href: page.path || "#/plugins" }, page.label || page.id)))),
          h("td", {}, p.state === "enabled"
            ? h("button", { type: "button", class: "danger", onclick: async () => {
              if (!(await confirmAction(`Disable ${p.name}? Its routes, tools and sources stop.`, { label: "Disable" }))) return;
              try { await post(`/plugin/${encodeURIComponent(p.name)}/disable`, {}, { confirm: true }); changed(); await draw(); } catch (err) { showError(body, err); }
            } }, "Disable")
            : h("button", { type: "button", onclick: async () => {
              try { await post(`/plugin/${encodeURIComponent(p.name)}/enable`, {}); changed(); await draw(); } catch (err) { showError(body, err); }
            } }, "Enable")))))
          : h("p", { class: "muted" }, "No plugins."));
      } catch (err) { showError(body, err); }
    };
    await draw();
    return onEvents((e) => e.event_type === "plugin:state_changed", draw);
  },
};

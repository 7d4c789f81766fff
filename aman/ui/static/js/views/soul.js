// Soul: the active soul, edited in place (validation errors shown where they happen), versions.

import { get, post } from "../api.js";
import { clear, fill, h, showError, table, toast, when } from "../dom.js";

export default {
  title: "Soul",
  async render(root) {
    const info = h("div", { class: "muted" });
    const area = h("textarea", { rows: 18, "aria-label": "Soul content", spellcheck: "false" });
    const save = h("button", { class: "primary", type: "submit" }, "Save");
    const errors = h("div");
    const form = h("form", {}, area, errors, h("div", { class: "row" }, save));
    const versions = h("div");
    root.append(h("h2", {}, "Soul"), info, form, h("h3", {}, "Versions"), versions);
    const draw = async () => {
      try {
        const [i, raw, v] = await Promise.all([get("/soul/info"), get("/soul/raw"), get("/soul/versions", { limit: 20 })]);
        fill(info, `${i.name} · ${i.path} · changed ${when(i.last_changed)}`);
        area.value = raw.content;
        fill(versions, table(["when", "hash", "by"], (v.items || []).map((x) => h("tr", {},
          h("td", {}, when(x.created_at_ms || x.created_at)), h("td", {}, h("code", {}, (x.hash || "").slice(0, 12))), h("td", {}, x.operator || x.origin || "")))));
      } catch (err) { showError(root, err); }
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clear(errors);
      try { await post("/soul/update", { content: area.value }); toast("Soul saved."); await draw(); } catch (err) { showError(errors, err); }
    });
    await draw();
  },
};

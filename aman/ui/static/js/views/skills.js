// Skills: search, enable/disable, versions and rollback (confirmed).

import { get, post } from "../api.js";
import { confirmAction } from "../confirm.js";
import { clear, fill, h, pill, showError, table, toast, when } from "../dom.js";
import { onEvents } from "../stream.js";

export default {
  title: "Skills",
  async render(root) {
    const search = h("input", { type: "search", placeholder: "Search skills", "aria-label": "Search skills", class: "grow" });
    const body = h("div");
    const detail = h("div", { "aria-live": "polite" });
    root.append(h("h2", {}, "Skills"), h("div", { class: "row" }, search), body, detail);
    const versions = async (s) => {
      try {
        const v = await get(`/skill/${encodeURIComponent(s.name)}/versions`);
        fill(detail, h("h3", {}, `Versions of ${s.name}`), table(["version", "hash", "seen", ""], v.items.map((x) => h("tr", {},
          h("td", {}, x.version || ""), h("td", {}, h("code", {}, (x.hash || "").slice(0, 12))), h("td", {}, when(x.seen_at_ms || x.created_at_ms || x.first_seen_ms)),
          h("td", {}, x.current ? pill("current", "ok") : h("button", { type: "button", onclick: async () => {
            if (!(await confirmAction(`Roll ${s.name} back to ${x.version || x.hash.slice(0, 12)}? The skill file is rewritten.`, { label: "Roll back" }))) return;
            try { await post(`/skill/${encodeURIComponent(s.name)}/rollback`, { hash: x.hash }, { confirm: true }); toast(`${s.name} rolled back.`); await draw(); await versions(s); } catch (err) { showError(detail, err); }
          } }, "Roll back"))))));
      } catch (err) { showError(detail, err); }
    };
    const draw = async () => {
      try {
        const q = search.value.trim();
        let items = (await get("/skills")).items;
        if (q) {
          const hits = new Set((await get("/skills/search", { q, limit: 100 })).items.map((x) => x.name));
          items = items.filter((s) => hits.has(s.name));
        }
        fill(body, items.length ? table(["skill", "kind", "status", ""], items.map((s) => h("tr", { "data-skill": s.name },
          h("td", {}, h("strong", {}, s.name), " ", s.version ? h("span", { class: "muted" }, s.version) : null, h("div", { class: "muted" }, s.description)),
          h("td", {}, s.kind), h("td", {}, pill(s.enabled ? "enabled" : "disabled", s.enabled ? "ok" : "error"), " ", ["loaded", "ok"].includes(s.status) || !s.status ? null : pill(s.status),
            s.error ? h("div", { class: "error" }, s.error.message) : null),
          h("td", {}, h("div", { class: "row" },
            h("button", { type: "button", onclick: async () => {
              try { await post(`/skill/${encodeURIComponent(s.name)}/${s.enabled ? "disable" : "enable"}`, {}); await draw(); } catch (err) { showError(body, err); }
            } }, s.enabled ? "Disable" : "Enable"),
            h("button", { type: "button", onclick: () => versions(s) }, "Versions"))))))
          : h("p", { class: "muted" }, q ? "No skill matches." : "No skills."));
      } catch (err) { showError(body, err); }
    };
    search.addEventListener("change", draw);
    await draw();
    return onEvents((e) => e.event_type === "skill_loaded" || e.event_type === "skill_reloaded", draw);
  },
};

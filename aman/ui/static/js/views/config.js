// Config: where things are, and a form for the live keys applied through POST /config/set.

import { api, get, post } from "../api.js";
import { confirmAction } from "../confirm.js";
import { clear, fill, h, json, showError, toast } from "../dom.js";
import { onEvents } from "../stream.js";

function parse(text) {
  try { return JSON.parse(text); } catch { return text; }
}

function shown(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export default {
  title: "Config",
  async render(root) {
    const form = h("div", { class: "form-grid" });
    const info = h("div");
    root.append(h("h2", {}, "Config"),
      h("p", { class: "muted" }, "Live keys change at once and are kept across restarts; every other setting needs an edit of the config file and a restart."),
      form, h("h3", {}, "Settings in force"), info);
    const draw = async () => {
      try {
        const live = await get("/config/live-keys");
        clear(form);
        for (const k of live.keys) {
          const input = h("input", { value: shown(k.value), "aria-label": k.key, "data-key": k.key, class: "grow" });
          const apply = h("button", { type: "button", "data-action": "apply" }, "Apply");
          const cell = h("div", { class: "row" }, apply,
            h("button", { type: "button", "data-action": "unset", title: "Back to the file's value", onclick: async () => {
              if (!(await confirmAction(`Drop the live value of ${k.key} and go back to the config file's value?`))) return;
              try { await post("/config/unset", { keys: [k.key] }, { confirm: true }); toast(`${k.key} reset.`); await draw(); } catch (err) { showError(form, err); }
            } }, "Unset"));
          apply.addEventListener("click", async () => {
            const value = parse(input.value);
            if (!(await confirmAction(`Set ${k.key} to ${shown(value)}?`, { label: "Apply" }))) return;
            try {
              await api("POST", "/config/set", { changes: { [k.key]: value } }, { confirm: true });
              toast(`${k.key} = ${shown(value)}`);
              await draw();
            } catch (err) { showError(form.parentElement, err); }
          });
          input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); apply.click(); } });
          form.append(h("label", { for: "" }, h("code", {}, k.key)), input, cell,
            h("div", { class: "desc" }, k.takes_effect, k.pinned_by ? ` · pinned by ${k.pinned_by}` : ""));
        }
        const [runtime, inForce] = await Promise.all([get("/runtime/config"), get("/config/effective")]);
        fill(info, h("p", { class: "muted" }, `Override file: ${live.override_file}. Secrets are shown as ***.`),
          h("pre", { "data-runtime": "" }, json(runtime)),
          ...Object.entries(inForce.settings).map(([section, values]) => h("details", { "data-section": section },
            h("summary", {}, section), h("pre", {}, json(values)))));
      } catch (err) { showError(root, err); }
    };
    await draw();
    // A change made elsewhere shows at once, unless the operator is typing in the form.
    return onEvents((e) => e.event_type === "config_changed" && !form.contains(document.activeElement), draw);
  },
};

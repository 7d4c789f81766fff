// Approvals: every pending tool approval across sessions, answered from here.

import { get, post } from "../api.js";
import { clear, h, pill, showError, table, toast, when } from "../dom.js";
import { on } from "../stream.js";

export function answerButtons(p, { session = true, after } = {}) {
  const answer = async (approved, remember, button) => {
    const row = button.closest("[data-auth]") || button.parentElement;
    try {
      await post("/tool-auth/respond", { auth_id: p.auth_id, approved, ...(remember ? { remember } : {}) });
      toast(approved ? `Approved ${p.tool_name}.` : `Denied ${p.tool_name}.`);
      if (after) after();
    } catch (err) { showError(row, err); }
  };
  const buttons = [
    h("button", { type: "button", class: "primary", "data-answer": "approve", onclick: (e) => answer(true, null, e.currentTarget) }, "Approve"),
    h("button", { type: "button", class: "danger", "data-answer": "deny", onclick: (e) => answer(false, null, e.currentTarget) }, "Deny"),
  ];
  if (session && p.sensitivity !== "high" && p.session_id) {
    buttons.push(h("button", { type: "button", "data-answer": "session", onclick: (e) => answer(true, "session", e.currentTarget) }, "Approve for this session"));
  }
  return buttons;
}

export default {
  title: "Approvals",
  async render(root) {
    const body = h("div");
    root.append(h("h2", {}, "Approvals"), h("p", { class: "muted" }, "Tool calls waiting for a person, oldest first."), body);
    const draw = async () => {
      try {
        const items = (await get("/tool-auth/pending")).items;
        clear(body);
        if (!items.length) { body.append(h("p", { class: "muted", "data-empty": "" }, "Nothing is waiting.")); return; }
        body.append(table(["tool", "session", "arguments", "expires", ""], items.map((p) => h("tr", { "data-auth": p.auth_id },
          h("td", {}, h("strong", {}, p.tool_name), " ", pill(p.sensitivity), h("div", { class: "muted" }, `code ${p.code}`)),
          h("td", {}, p.session_id ? h("a", { href: `#/chat/${encodeURIComponent(p.session_id)}` }, p.agent_id || p.session_id) : "—"),
          h("td", {}, h("code", {}, p.arguments_summary)),
          h("td", {}, when(p.expires_at)),
          h("td", {}, h("div", { class: "row" }, answerButtons(p, { after: draw })))))));
      } catch (err) { showError(body, err); }
    };
    const stop = on("event:processed", (event) => {
      if (event.event_type === "tool_auth_required" || event.event_type === "tool_auth_resolved") draw();
    });
    await draw();
    return stop;
  },
};

// Chat: sessions (search, new with an agent picker), the conversation with streamed tokens,
// Stop, Retry, Edit, tool calls as cards and approvals inline.

import { api, get, post } from "../api.js";
import { confirmAction } from "../confirm.js";
import { clear, fill, h, json, pill, showError, toast, when } from "../dom.js";
import { render as markdown } from "../markdown.js";
import { EventStream, on } from "../stream.js";
import { answerButtons } from "./approvals.js";

const REFRESH_TYPES = new Set(["agent:reply_ready", "agent:reply_interrupted", "llm_error",
  "message_received", "message_edited", "workflow_state_changed", "agent:reply_stream_done",
  "tool_auth_resolved", "session:closed"]);

// What this tab has drawn of each streamed reply (the last few), for the console benchmark.
const STREAMED = new Map();
function streamed(messageId, delta) {
  STREAMED.set(messageId, (STREAMED.get(messageId) || "") + delta);
  if (STREAMED.size > 20) STREAMED.delete(STREAMED.keys().next().value);
}
window.amanStreamed = STREAMED;

function sessionLink(s, current) {
  return h("li", {}, h("a", { href: `#/chat/${encodeURIComponent(s.id)}`, "data-session": s.id,
    "aria-current": s.id === current ? "page" : undefined },
  h("div", { class: "title" }, s.title || `session ${s.id.slice(-6)}`),
  h("div", { class: "muted" }, `${s.agent_id} · `, pill(s.state), ` · ${when(s.last_active_at)}`)));
}

function toolCard(call) {
  const card = h("details", { class: "tool", "data-call": call.call_id || call.id || "" },
    h("summary", {}, h("strong", {}, call.tool || call.name), " ",
      pill(call.status || "running", call.status || "pending")));
  card.append(h("div", { class: "muted" }, "arguments"), h("pre", {}, json(call.arguments || {})));
  if (call.output !== undefined && call.output !== null) {
    card.append(h("div", { class: "muted" }, "output"),
      h("pre", {}, typeof call.output === "string" ? call.output : json(call.output)));
  }
  if (call.reason) card.append(h("div", { class: "muted" }, call.reason));
  return card;
}

function stepCards(steps) {
  const cards = [];
  for (const step of steps || []) {
    const byId = new Map((step.results || []).map((r) => [r.call_id, r]));
    for (const c of step.calls || []) {
      const r = byId.get(c.id) || {};
      cards.push(toolCard({ ...c, tool: c.name, status: r.status, output: r.output, reason: r.reason }));
    }
  }
  return cards;
}

export default {
  title: "Chat",
  async render(root, [sessionId]) {
    const list = h("ul", { "aria-label": "Sessions" });
    const search = h("input", { type: "search", placeholder: "Search sessions", "aria-label": "Search sessions", class: "grow" });
    const agentPicker = h("select", { "aria-label": "Agent" });
    const newButton = h("button", { class: "primary", type: "button" }, "New");
    const side = h("section", { class: "sessions", "aria-label": "Sessions" },
      h("h2", {}, "Chat"), h("div", { class: "row" }, agentPicker, newButton), h("div", { class: "row" }, search), list);
    const pane = h("section", { class: "conversation", "aria-label": "Conversation" });
    const layout = h("div", { class: `chat${sessionId ? " has-session" : ""}` }, side, pane);
    root.append(layout);
    let sessions = [];
    const stops = [];

    const drawList = () => {
      const q = search.value.trim().toLowerCase();
      fill(list, ...sessions
        .filter((s) => !q || `${s.title} ${s.agent_id} ${s.id} ${s.state}`.toLowerCase().includes(q))
        .map((s) => sessionLink(s, sessionId)));
      if (!list.children.length) list.append(h("li", { class: "muted" }, q ? "No match." : "No sessions yet."));
    };
    const loadList = async () => {
      try {
        sessions = (await get("/chat/sessions", { limit: 100 })).items;
        drawList();
      } catch (err) { showError(side, err); }
    };
    search.addEventListener("input", drawList);
    get("/agents").then((agents) => {
      for (const item of agents.items) {
        const a = item.descriptor || item;
        if (a.enabled === false) continue;
        agentPicker.append(h("option", { value: a.agent_id }, a.display_name || a.agent_id));
      }
    }).catch((err) => showError(side, err));
    newButton.addEventListener("click", async () => {
      try {
        const created = await post("/chat/session/create", { agent_id: agentPicker.value || undefined });
        location.hash = `#/chat/${encodeURIComponent(created.id)}`;
      } catch (err) { showError(side, err); }
    });
    let listTimer = null;
    stops.push(on("event:processed", (event) => {
      if (event.source === "chat:session" || event.event_type === "workflow_state_changed") {
        clearTimeout(listTimer);
        listTimer = setTimeout(loadList, 300);
      }
    }));
    await loadList();
    if (sessionId) stops.push(await conversation(pane, sessionId, loadList));
    else pane.append(h("p", { class: "muted" }, "Pick a session, or start a new one."));
    return () => { clearTimeout(listTimer); stops.forEach((stop) => stop()); };
  },
};

async function conversation(pane, id, onChange) {
  const header = h("div", { class: "row" });
  const messagesEl = h("div", { class: "messages", "aria-live": "polite" });
  const approvalsEl = h("div", { class: "approvals" });
  const input = h("textarea", { rows: 2, placeholder: "Message (Enter sends, Shift+Enter for a new line)", "aria-label": "Message" });
  const send = h("button", { class: "primary", type: "submit" }, "Send");
  const stop = h("button", { type: "button", "data-action": "stop" }, "Stop");
  const retry = h("button", { type: "button", "data-action": "retry" }, "Retry");
  const showAll = h("input", { type: "checkbox", id: "show-superseded" });
  const composer = h("form", { class: "composer" }, input, send, stop, retry);
  pane.append(header, h("div", { class: "row muted" }, showAll, h("label", { for: "show-superseded" }, "show superseded replies")),
    messagesEl, approvalsEl, composer);
  const live = new Map();  // message_id -> {el, text, last index}
  const cards = new Map(); // call_id -> card element
  let current = null;
  let previous = new Map();  // streaming text kept across a refresh (the store lags up to 1 s)

  let editing = false;  // an open editor is never redrawn away by a late update
  const refresh = async ({ force = false } = {}) => {
    if (editing && !force) return;
    try {
      current = await get(`/chat/session/${encodeURIComponent(id)}/state`);
      let shown = current.messages;
      if (showAll.checked) shown = (await get(`/chat/session/${encodeURIComponent(id)}/history`, { all: true, limit: 500 })).items;
      fill(header, h("h2", { class: "grow" }, current.title || `session ${id.slice(-6)}`),
        h("span", { class: "muted" }, current.agent_id), pill(current.state),
        h("button", { type: "button", class: "danger", onclick: closeSession, disabled: current.state === "closed" }, "Close"));
      previous = new Map([...live].map(([key, v]) => [key, { text: v.body.textContent, index: v.index }]));
      live.clear();
      cards.clear();
      fill(messagesEl, ...shown.map(messageEl));
      const busy = current.state === "processing" || current.state === "retrying";
      stop.disabled = !busy;
      retry.disabled = busy || current.state === "closed";
      send.disabled = current.state === "closed";
    } catch (err) { showError(pane, err); }
  };

  const messageEl = (m) => {
    const body = h("div", { class: "body" });
    const kept = m.status === "streaming" ? previous.get(m.id) : null;
    const keep = kept && kept.text.length >= m.content.length;
    if (m.status === "streaming") body.textContent = keep ? kept.text : m.content;
    else body.append(markdown(m.content));
    const meta = h("div", { class: "meta" }, h("strong", {}, m.role), pill(m.status), when(m.created_at));
    if (m.role === "user" && m.status !== "superseded") {
      meta.append(h("button", { type: "button", "data-action": "edit", onclick: () => edit(m, el) }, "Edit"));
    }
    const el = h("article", { class: `msg ${m.role}${m.status === "superseded" ? " muted" : ""}`, "data-message": m.id, "data-status": m.status },
      meta, stepCards(m.tool_steps), body);
    if (m.error) el.append(h("div", { class: "error" }, m.error.message, m.error.hint ? h("div", { class: "muted" }, m.error.hint) : null));
    if (m.status === "streaming") live.set(m.id, { el, body, index: keep ? kept.index : -1 });
    return el;
  };

  const edit = (m, el) => {
    const area = h("textarea", { rows: 3, "aria-label": "New text" }, m.content);
    const save = h("button", { class: "primary", type: "submit" }, "Save and regenerate");
    const done = () => { editing = false; return refresh({ force: true }); };
    const form = h("form", {}, area, h("div", { class: "row" }, save, h("button", { type: "button", onclick: done }, "Cancel")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await post(`/chat/session/${encodeURIComponent(id)}/edit`, { message_id: m.id, new_text: area.value });
        await done();
      } catch (err) { showError(form, err); }
    });
    editing = true;
    el.replaceWith(form);
    area.focus();
  };

  const streamingMessage = (messageId) => {
    let entry = live.get(messageId);
    if (!entry) {
      const el = messageEl({ id: messageId, role: "assistant", status: "streaming", content: "", created_at: Date.now() });
      messagesEl.append(el);
      entry = live.get(messageId);
    }
    return entry;
  };

  const onEvent = (name, event) => {
    if (name !== "event:processed" || !event.payload) return;
    const p = event.payload;
    const type = event.event_type;
    if (type === "agent:reply_chunk") {
      const entry = streamingMessage(p.message_id);
      if (p.index <= entry.index) return;
      entry.index = p.index;
      entry.body.append(document.createTextNode(p.delta));
      streamed(p.message_id, p.delta);
      stop.disabled = false;
      return;
    }
    if (type === "agent:reply_stream_start") { streamingMessage(p.message_id); stop.disabled = false; return; }
    if (type === "llm_tool_call") {
      const card = toolCard({ call_id: p.call_id, tool: p.tool, arguments: p.arguments });
      card.open = true;
      cards.set(p.call_id, card);
      streamingMessage(p.message_id).body.before(card);
      return;
    }
    if (type === "llm_tool_result") {
      const card = toolCard({ call_id: p.call_id, tool: p.tool, status: p.status, output: p.output, reason: p.reason });
      const old = cards.get(p.call_id);
      if (old) old.replaceWith(card);
      cards.set(p.call_id, card);
      return;
    }
    if (type === "tool_auth_required") { drawApprovals(); return; }
    if (REFRESH_TYPES.has(type)) {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => { refresh(); drawApprovals(); onChange(); }, 150);
    }
  };
  let refreshTimer = null;

  const drawApprovals = async () => {
    try {
      const pending = (await get("/tool-auth/pending")).items.filter((p) => p.session_id === id);
      fill(approvalsEl, ...pending.map((p) => h("div", { class: "approval", role: "group", "aria-label": `Approve ${p.tool_name}`, "data-auth": p.auth_id },
        h("div", {}, h("strong", {}, p.tool_name), " ", pill(p.sensitivity), " wants to run ", h("code", {}, p.arguments_summary)),
        h("div", { class: "row" }, answerButtons(p, { session: true, after: drawApprovals })))));
    } catch (err) { showError(approvalsEl, err); }
  };

  const closeSession = async () => {
    if (!(await confirmAction("Close this session? It stays readable but takes no new messages."))) return;
    try { await post(`/chat/session/${encodeURIComponent(id)}/close`, {}); await refresh(); } catch (err) { showError(pane, err); }
  };

  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    try {
      await post(`/chat/session/${encodeURIComponent(id)}/send`, { text });
      input.value = "";
      await refresh();
    } catch (err) { showError(composer.parentElement, err); }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); composer.requestSubmit(); }
  });
  stop.addEventListener("click", async () => {
    try {
      const answer = await post(`/chat/session/${encodeURIComponent(id)}/stop`, {});
      toast(answer.stopped ? "Stopped." : "Nothing was running.");
      await refresh();
    } catch (err) { showError(pane, err); }
  });
  retry.addEventListener("click", async () => {
    try { await post(`/chat/session/${encodeURIComponent(id)}/retry`, {}); await refresh(); } catch (err) { showError(pane, err); }
  });
  showAll.addEventListener("change", refresh);

  const stream = new EventStream(`/chat/session/${encodeURIComponent(id)}/stream`, {
    onMessage: onEvent,
    onState: (connected) => { if (connected) { refresh(); drawApprovals(); } },
  });
  await refresh();
  stream.start();
  input.focus();
  return () => { stream.stop(); clearTimeout(refreshTimer); };
}

// The shell: sign-in, navigation, the global stream with its banner, and the view router.

import { api, get, post, session } from "./api.js";
import { clear, h, showError } from "./dom.js";
import { on, onEvents, startGlobal } from "./stream.js";
import approvals from "./views/approvals.js";
import chat from "./views/chat.js";
import config from "./views/config.js";
import cron from "./views/cron.js";
import dlq from "./views/dlq.js";
import events from "./views/events.js";
import plugins from "./views/plugins.js";
import skills from "./views/skills.js";
import soul from "./views/soul.js";
import status from "./views/status.js";
import workflows from "./views/workflows.js";

const VIEWS = { chat, approvals, events, dlq, workflows, cron, skills, soul, plugins, status, config };
const main = document.getElementById("view");
let cleanup = null;
let signingIn = null;

function buildNav() {
  const list = document.getElementById("nav-list");
  clear(list);
  for (const [name, view] of Object.entries(VIEWS)) {
    list.append(h("li", {}, h("a", { href: `#/${name}`, "data-view": name }, view.title)));
  }
  get("/ui/pages").then((pages) => {
    const plugins = clear(document.getElementById("nav-plugins"));
    for (const page of pages.items || []) {
      const href = page.path || `#/plugins/${encodeURIComponent(page.plugin)}`;
      plugins.append(h("li", {}, h("a", { href, "data-plugin-page": page.id }, page.label || page.id)));
    }
  }).catch(() => {});
}

function route() {
  const parts = (location.hash || "#/chat").slice(2).split("/").map(decodeURIComponent);
  const name = VIEWS[parts[0]] ? parts[0] : "chat";
  for (const link of document.querySelectorAll("#nav-list a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.getElementById("nav").classList.remove("open");
  document.getElementById("menu").setAttribute("aria-expanded", "false");
  if (cleanup) { try { cleanup(); } catch (err) { console.error(err); } }
  cleanup = null;
  clear(main);
  main.dataset.view = name;
  delete main.dataset.loaded;
  document.title = `${VIEWS[name].title} · aman`;
  try {
    const result = VIEWS[name].render(main, parts.slice(1));
    Promise.resolve(result).then((fn) => {
      if (typeof fn === "function") cleanup = fn;
      main.dataset.loaded = name;  // the view's first data is on screen
    })
      .catch((err) => showError(main, err));
  } catch (err) {
    showError(main, err);
  }
}

function connection(connected, detail) {
  const conn = document.getElementById("conn");
  conn.textContent = connected ? "live" : "disconnected";
  conn.className = `conn ${connected ? "up" : "down"}`;
  document.getElementById("banner").hidden = connected;
  document.body.dataset.connected = connected ? "yes" : "no";
  if (connected) window.dispatchEvent(new CustomEvent("aman:reconnected"));
  if (detail && detail.error) console.warn("event stream:", detail.error.message);
}

function signIn(message) {
  if (signingIn) return signingIn;
  const dialog = document.getElementById("signin-dialog");
  const form = document.getElementById("signin-form");
  const error = document.getElementById("signin-error");
  const input = document.getElementById("signin-token");
  error.hidden = !message;
  error.textContent = message || "";
  signingIn = new Promise((resolve) => {
    const submit = async (event) => {
      event.preventDefault();
      try {
        const answer = await post("/ui/session", { token: input.value });
        session.csrf = answer.csrf;
        input.value = "";
        form.removeEventListener("submit", submit);
        dialog.close();
        signingIn = null;
        resolve(answer);
      } catch (err) {
        error.hidden = false;
        error.textContent = err.hint ? `${err.message}. ${err.hint}` : err.message;
        input.select();
      }
    };
    form.addEventListener("submit", submit);
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    dialog.showModal();
    input.focus();
  });
  return signingIn;
}

async function start() {
  const info = await get("/ui/session").catch(() => ({ auth_required: false, signed_in: true }));
  session.authRequired = info.auth_required;
  session.csrf = info.csrf || null;
  if (info.auth_required && !info.signed_in) Object.assign(info, await signIn());
  document.getElementById("who").textContent = info.name && info.name !== "api" ? info.name : "";
  const logout = document.getElementById("logout");
  logout.hidden = !session.authRequired;
  logout.addEventListener("click", async () => {
    await post("/ui/logout").catch(() => {});
    session.csrf = null;
    location.reload();
  });
  document.getElementById("menu").addEventListener("click", (event) => {
    const nav = document.getElementById("nav");
    const open = nav.classList.toggle("open");
    event.currentTarget.setAttribute("aria-expanded", String(open));
    if (open) nav.querySelector("a").focus();
  });
  window.addEventListener("aman:unauthorized", () => {
    if (session.authRequired) signIn("The session ended: sign in again.").then(() => route());
  });
  on("notification:updated", (data) => {
    const badge = document.getElementById("unread");
    badge.textContent = String(data.unread_count);
    badge.hidden = !data.unread_count;
  });
  buildNav();
  window.addEventListener("aman:plugins-changed", buildNav);
  onEvents((e) => e.event_type === "plugin:state_changed", buildNav);
  startGlobal(connection);
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "yes";
}

window.aman = { api };  // for the console's own tests and curious operators
start().catch((err) => showError(main, err));

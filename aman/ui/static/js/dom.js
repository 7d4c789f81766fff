// DOM helpers. Text always goes in as text nodes: nothing here parses HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// Replace an element's children (null and false are skipped, strings become text).
export function fill(el, ...children) {
  return append(clear(el), children);
}

export function pill(text, kind = text) {
  return h("span", { class: `pill ${kind || ""}` }, text);
}

export function when(ms) {
  if (ms === null || ms === undefined) return "";
  const date = new Date(typeof ms === "number" ? ms : Date.parse(ms));
  if (Number.isNaN(date.getTime())) return String(ms);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}

export function table(headers, rows) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows)));
}

export function toast(message, bad = false) {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast${bad ? " bad" : ""}`, role: bad ? "alert" : "status" }, message);
  box.append(el);
  setTimeout(() => el.remove(), bad ? 8000 : 3500);
}

// An API error as the server gave it: its message, its hint, and the code.
export function errorBox(err) {
  const box = h("div", { class: "error-box", role: "alert" },
    h("div", { class: "error" }, err.message || String(err)));
  if (err.hint) box.append(h("div", { class: "hint" }, err.hint));
  if (err.code) box.append(h("div", { class: "muted" }, `${err.status || ""} ${err.code}`));
  return box;
}

export function showError(target, err) {
  if (target) {
    target.querySelectorAll(":scope > .error-box").forEach((el) => el.remove());
    target.prepend(errorBox(err));
  } else {
    toast(`${err.message}${err.hint ? ` (${err.hint})` : ""}`, true);
  }
}

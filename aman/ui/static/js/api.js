// Every call to the daemon: same origin, the session cookie, the CSRF header for unsafe methods,
// the operator's name and, for destructive actions, x-aman-confirm after the confirm dialog.

const OPERATOR_KEY = "aman.operator";
export const session = { csrf: null, authRequired: false };

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "http_error";
    this.hint = err.hint || "";
    this.requestId = err.request_id || "";
  }
}

export function operator() {
  return localStorage.getItem(OPERATOR_KEY) || "";
}

export function setOperator(name) {
  if (name) localStorage.setItem(OPERATOR_KEY, name.trim());
}

export function headers(method, extra = {}) {
  const out = { ...extra };
  if (!["GET", "HEAD"].includes(method)) {
    if (session.csrf) out["x-aman-csrf"] = session.csrf;
    if (operator()) out["x-aman-operator"] = operator();
  }
  return out;
}

export async function api(method, path, body, { confirm = false, query } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const extra = {};
  if (body !== undefined) extra["content-type"] = "application/json";
  if (confirm) extra["x-aman-confirm"] = "yes";
  let response;
  try {
    response = await fetch(url, {
      method, credentials: "same-origin", headers: headers(method, extra),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw Object.assign(new ApiError(0, { error: {
      code: "unreachable", message: `the daemon did not answer ${method} ${path}`,
      hint: "Is it running? The page reconnects by itself when it is back." } }), { cause: err });
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401) window.dispatchEvent(new CustomEvent("aman:unauthorized", { detail: error }));
    throw error;
  }
  return data;
}

export const get = (path, query) => api("GET", path, undefined, { query });
export const post = (path, body = {}, options = {}) => api("POST", path, body, options);

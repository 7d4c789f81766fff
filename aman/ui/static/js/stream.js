// Server-sent events read with fetch, so a reconnect after the daemon restarts sends
// Last-Event-ID (a new EventSource would not) and the replay fills the gap.

export class EventStream {
  constructor(url, { onMessage, onState } = {}) {
    this.url = url;
    this.onMessage = onMessage || (() => {});
    this.onState = onState || (() => {});
    this.lastId = null;
    this.stopped = false;
    this.controller = null;
    this.delay = 250;
    this.connected = false;
  }

  start() {
    this.stopped = false;
    this.loop();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  setState(connected, detail) {
    if (this.connected !== connected || detail) this.onState(connected, detail);
    this.connected = connected;
  }

  async loop() {
    while (!this.stopped) {
      this.controller = new AbortController();
      try {
        const headers = { accept: "text/event-stream" };
        if (this.lastId !== null) headers["last-event-id"] = this.lastId;
        const response = await fetch(this.url, { headers, credentials: "same-origin",
                                                 signal: this.controller.signal, cache: "no-store" });
        if (!response.ok) {
          const body = await response.json().catch(() => null);
          this.setState(false, { status: response.status, error: body && body.error });
          if (response.status === 401) window.dispatchEvent(new CustomEvent("aman:unauthorized"));
          if (response.status === 404) return;  // the thing streamed is gone
        } else {
          this.delay = 250;
          this.setState(true);
          await this.read(response.body.getReader());
        }
      } catch (err) {
        if (this.stopped) return;
      }
      if (this.stopped) return;
      this.setState(false);
      await new Promise((resolve) => setTimeout(resolve, this.delay));
      this.delay = Math.min(this.delay * 2, 4000);
    }
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        this.dispatch(block);
      }
    }
  }

  dispatch(block) {
    let event = "message";
    const data = [];
    let id = null;
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (id !== null) this.lastId = id;
    if (!data.length) return;
    let parsed;
    try { parsed = JSON.parse(data.join("\n")); } catch { parsed = data.join("\n"); }
    this.onMessage(event, parsed, id);
  }
}

// The one global stream: views subscribe to its messages by SSE event name.
const listeners = new Map();
let globalStream = null;

export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}

export function startGlobal(onState) {
  if (globalStream) globalStream.stop();
  globalStream = new EventStream("/events/stream", {
    onMessage: (name, data, id) => {
      for (const fn of listeners.get(name) || []) fn(data, id);
      for (const fn of listeners.get("*") || []) fn(name, data, id);
    },
    onState,
  }).start();
  return globalStream;
}

export function stopGlobal() {
  if (globalStream) globalStream.stop();
  globalStream = null;
}

// Redraw on matching events, at most once per `delay` ms (a burst causes one redraw).
export function onEvents(matches, redraw, delay = 400) {
  let timer = null;
  const stop = on("event:processed", (event) => {
    if (!matches(event) || timer) return;
    timer = setTimeout(() => { timer = null; redraw(); }, delay);
  });
  return () => { clearTimeout(timer); stop(); };
}

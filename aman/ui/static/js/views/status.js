// Status: boot phases and timings, capabilities, the LLM provider, sources and IM channels,
// notifications (mark read, dismiss) and the audit log with its chain check.

import { get, post } from "../api.js";
import { clear, fill, h, json, pill, showError, table, toast, when } from "../dom.js";
import { on, onEvents } from "../stream.js";

async function optional(path, query) {
  try { return await get(path, query); } catch (err) { return { error: err }; }
}

function section(title, ...children) {
  return h("section", { class: "card", "aria-label": title }, h("h3", {}, title), ...children);
}

export default {
  title: "Status",
  async render(root) {
    const parts = {
      runtime: h("div"), llm: h("div"), capabilities: h("div"), sources: h("div"),
      notifications: h("div"), audit: h("div"),
    };
    root.append(h("h2", {}, "Status"),
      section("Runtime", parts.runtime), section("LLM provider", parts.llm),
      section("Notifications", parts.notifications), section("Capabilities", parts.capabilities),
      section("Sources and IM channels", parts.sources), section("Audit log", parts.audit));

    const drawRuntime = async () => {
      const s = await optional("/runtime/status");
      if (s.error) return showError(clear(parts.runtime), s.error);
      fill(parts.runtime, 
        h("div", { class: "row" }, pill(s.state), h("span", {}, `phase ${s.phase} (${s.phase_name})`), h("span", {}, `version ${s.version}`),
          h("span", {}, `up ${Math.round(s.uptime_sec)} s`), h("span", {}, `boot #${s.boot_count}`)),
        s.failure ? h("div", { class: "error" }, `${s.failure.step}: ${s.failure.error}`) : null,
        table(["phase", "status", "took", "steps"], s.phases.map((p) => h("tr", {},
          h("td", {}, `${p.phase} ${p.name}`), h("td", {}, pill(p.status, p.status === "done" ? "ok" : p.status)),
          h("td", {}, p.duration_ms === null ? "" : `${Math.round(p.duration_ms)} ms`),
          h("td", { class: "muted" }, p.steps.map((st) => `${st.name} ${st.duration_ms === null || st.duration_ms === undefined ? "" : `${Math.round(st.duration_ms)} ms`}`).join(", "))))));
    };
    const drawLlm = async () => {
      const r = await fetch("/health/llm", { credentials: "same-origin" });
      const b = await r.json().catch(() => ({}));
      const e = b.error;
      fill(parts.llm, h("div", { class: "row" }, pill(r.ok ? "healthy" : "unhealthy"), h("span", {}, b.provider ? `${b.provider} (${b.kind}, ${b.model || "?"})` : "")),
        e ? h("div", {}, e.message, h("div", { class: "muted" }, e.hint)) : null);
    };
    const drawCapabilities = async () => {
      const c = await optional("/capabilities");
      if (c.error) return showError(clear(parts.capabilities), c.error);
      const rows = [];
      for (const [name, entries] of Object.entries(c)) {
        for (const e of entries) rows.push(h("tr", {}, h("td", {}, name), h("td", {}, `${e.plugin} ${e.version}`), h("td", {}, pill(e.status, e.status === "healthy" ? "ok" : "error"))));
      }
      fill(parts.capabilities, rows.length ? table(["capability", "by", "health"], rows) : h("p", { class: "muted" }, "None."));
    };
    const drawSources = async () => {
      const s = await optional("/event-sources");
      if (s.error) return showError(clear(parts.sources), s.error);
      const items = s.items || [];
      fill(parts.sources, items.length ? table(["source", "type", "state", "health"], items.map((x) => h("tr", {},
        h("td", {}, x.id), h("td", {}, x.type), h("td", {}, pill(x.state)), h("td", {}, typeof x.health === "object" ? h("code", {}, JSON.stringify(x.health)) : String(x.health ?? "")))))
        : h("p", { class: "muted" }, "No sources."));
    };
    const drawNotifications = async () => {
      const n = await optional("/notifications", { limit: 50 });
      if (n.error) return showError(clear(parts.notifications), n.error);
      const act = async (id, action) => {
        try { await post(`/notifications/${encodeURIComponent(id)}/${action}`, {}); await drawNotifications(); } catch (err) { showError(parts.notifications, err); }
      };
      fill(parts.notifications, 
        h("div", { class: "row" }, h("button", { type: "button", onclick: async () => {
          try { const r = await post("/notifications/dismiss-all", {}); toast(`Dismissed ${r.dismissed}.`); await drawNotifications(); } catch (err) { showError(parts.notifications, err); }
        } }, "Dismiss all")),
        n.items.length ? table(["", "notification", "when", ""], n.items.map((x) => h("tr", { "data-notification": x.id },
          h("td", {}, pill(x.severity, x.severity === "critical" || x.severity === "error" ? "error" : x.severity)),
          h("td", {}, h("strong", {}, x.title), h("div", {}, x.message), x.read ? null : h("span", { class: "pill pending" }, "unread")),
          h("td", {}, when(x.created_at_ms)),
          h("td", {}, h("div", { class: "row" },
            x.read ? null : h("button", { type: "button", onclick: () => act(x.id, "ack") }, "Mark read"),
            x.dismissible ? h("button", { type: "button", onclick: () => act(x.id, "dismiss") }, "Dismiss") : null)))))
          : h("p", { class: "muted" }, "No notifications."));
    };
    const drawAudit = async () => {
      const a = await optional("/audit-log", { limit: 50 });
      if (a.error) return showError(clear(parts.audit), a.error);
      const result = h("span", { "aria-live": "polite" });
      fill(parts.audit, 
        h("div", { class: "row" }, h("button", { type: "button", "data-action": "verify", onclick: async () => {
          try {
            const v = await get("/audit-log/verify");
            fill(result, v.ok ? pill(`chain intact: ${v.checked} records`, "ok") : pill(`broken at ${v.first_broken.id}: ${v.first_broken.reason}`, "error"));
          } catch (err) { showError(parts.audit, err); }
        } }, "Verify chain"), result),
        table(["when", "operator", "action", "target", "outcome"], a.items.map((r) => h("tr", {},
          h("td", {}, when(r.ts_ms)), h("td", {}, r.operator), h("td", {}, r.action), h("td", {}, r.target), h("td", {}, pill(r.outcome)),
        ))));
    };
    const all = () => Promise.all([drawRuntime(), drawLlm(), drawCapabilities(), drawSources(), drawNotifications(), drawAudit()]
      .map((p) => p.catch((err) => showError(root, err))));
    await all();
    let phase = null;
    const stops = [
      on("notification:updated", () => drawNotifications().catch(() => {})),
      on("runtime:updated", (r) => {
        const now = `${r.phase}/${r.ready}`;
        if (phase !== null && phase !== now) drawRuntime().catch(() => {});
        phase = now;
      }),
      onEvents((e) => e.event_type.startsWith("capability") || e.event_type === "plugin:state_changed", () => drawCapabilities().catch(() => {})),
      onEvents((e) => e.event_type.startsWith("llm.backend"), () => drawLlm().catch(() => {})),
    ];
    return () => stops.forEach((stop) => stop());
  },
};

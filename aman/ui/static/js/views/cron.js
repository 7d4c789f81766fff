// Cron: jobs with their next run, enable/disable, run now, and each job's run history.

import { get, post } from "../api.js";
import { clear, fill, h, pill, showError, table, toast, when } from "../dom.js";
import { onEvents } from "../stream.js";

export default {
  title: "Cron",
  async render(root) {
    const body = h("div");
    const runs = h("div", { "aria-live": "polite" });
    root.append(h("h2", {}, "Cron"), body, runs);
    const showRuns = async (job) => {
      try {
        const items = (await get(`/cron/${encodeURIComponent(job.id)}/runs`, { limit: 50 })).items;
        fill(runs, h("h3", {}, `Runs of ${job.id}`), items.length
          ? table(["scheduled", "fired", "outcome", "note"], items.map((r) => h("tr", { "data-run": r.seq },
            h("td", {}, when(r.scheduled_at)), h("td", {}, when(r.fired_at)), h("td", {}, pill(r.outcome)),
            h("td", {}, r.error || r.note || (r.count > 1 ? `${r.count} runs` : "")))))
          : h("p", { class: "muted" }, "No runs yet."));
      } catch (err) { showError(runs, err); }
    };
    const draw = async () => {
      try {
        const items = (await get("/cron")).items;
        clear(body);
        if (!items.length) { body.append(h("p", { class: "muted" }, "No cron jobs. Add them in the config (cron.jobs) or with POST /cron/add.")); return; }
        body.append(table(["job", "schedule", "next run", "last run", ""], items.map((j) => h("tr", { "data-job": j.id },
          h("td", {}, h("strong", {}, j.id), h("div", { class: "muted" }, j.event_type)),
          h("td", {}, h("code", {}, j.expression), h("div", { class: "muted" }, j.timezone)),
          h("td", {}, j.enabled ? when(j.next_run_at) : pill("disabled", "error")),
          h("td", {}, when(j.last_run_at), " ", j.last_outcome ? pill(j.last_outcome) : ""),
          h("td", {}, h("div", { class: "row" },
            h("button", { type: "button", "data-action": "run", onclick: async () => {
              try { const r = await post(`/cron/${encodeURIComponent(j.id)}/run`, {}); toast(`Ran ${j.id}: ${r.run.outcome}.`); await draw(); await showRuns(j); } catch (err) { showError(body, err); }
            } }, "Run now"),
            h("button", { type: "button", "data-action": "toggle", onclick: async () => {
              try { await post(`/cron/${encodeURIComponent(j.id)}/update`, { enabled: !j.enabled }); await draw(); } catch (err) { showError(body, err); }
            } }, j.enabled ? "Disable" : "Enable"),
            h("button", { type: "button", "data-action": "runs", onclick: () => showRuns(j) }, "History")))))));
      } catch (err) { showError(body, err); }
    };
    await draw();
    const timer = setInterval(draw, 30000);  // next-run times move with the clock
    const stop = onEvents((e) => e.source.startsWith("cron:") || e.event_type === "cron.failed", draw);
    return () => { clearInterval(timer); stop(); };
  },
};

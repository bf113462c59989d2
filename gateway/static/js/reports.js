// The supervisor's KPI panel in the console (GET /api/v1/reports/kpis):
// headline numbers, conversations and first response per day as inline SVG
// charts, a period picker and a CSV export. It shows itself whenever the
// console shows its Operations panel (supervisors and admins only) and uses
// the console's signed-in session.

import { ApiError, api } from "./api.js";
import { barChart, lineChart } from "./charts.js";
import { h, store } from "./util.js";

const SESSION_KEY = "switchboard.console";
const DAY_MS = 86_400_000;
const PERIODS = [
  { value: "today", label: "Today", days: 1 },
  { value: "7d", label: "Last 7 days", days: 7 },
  { value: "30d", label: "Last 30 days", days: 30 },
];

const state = { period: "7d", range: null, report: null, loading: null, panel: null };

function token() {
  return store.get(SESSION_KEY)?.token || null;
}

/** since/until of a period choice, as UTC instants (days are UTC days). */
export function periodRange(choice, now = new Date()) {
  const spec = PERIODS.find((p) => p.value === choice) || PERIODS[1];
  const end = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS + DAY_MS);
  const start = new Date(end.getTime() - spec.days * DAY_MS);
  return { since: start.toISOString(), until: end.toISOString() };
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  const s = Number(value);
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}

function number(value, digits = 0) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function tile(name, key, value, hint) {
  return h("div", { class: "kpi-tile", dataset: { kpi: key } },
    h("div", { class: "kpi-value" }, value),
    h("div", { class: "kpi-name" }, name),
    hint ? h("div", { class: "kpi-hint" }, hint) : null);
}

function days(range) {
  const out = [];
  for (let t = new Date(range.since).getTime(); t < new Date(range.until).getTime(); t += DAY_MS) {
    const iso = new Date(t).toISOString().slice(0, 10);
    out.push({ label: iso, short: iso.slice(5) });
  }
  return out;
}

function render() {
  const panel = state.panel;
  const body = panel.querySelector(".kpi-body");
  const r = state.report;
  if (!r) return;
  const sla = r.sla.succeeded + r.sla.noncompliant;
  const answeredRate = r.surveys?.response_rate;
  body.replaceChildren(
    h("div", { class: "kpi-tiles" },
      tile("Conversations", "conversations", String(r.conversations),
        r.transfers ? `${r.transfers} transferred` : null),
      tile("First response", "first_response", seconds(r.first_response_seconds.median),
        `p90 ${seconds(r.first_response_seconds.p90)}`),
      tile("Resolution", "resolution", seconds(r.resolution_seconds.median),
        `p90 ${seconds(r.resolution_seconds.p90)}`),
      tile("Abandoned", "abandoned", String(r.abandoned)),
      tile("CSAT", "csat", number(r.csat.average, 1),
        `${plural(r.csat.responses, "answer")}${answeredRate != null ? ` · ${Math.round(answeredRate * 100)}%` : ""}`),
      tile("NPS", "nps", number(r.nps.score), plural(r.nps.responses, "answer")),
      tile("SLA met", "sla", sla ? `${Math.round((100 * r.sla.succeeded) / sla)}%` : "–",
        `${r.sla.noncompliant} missed`)),
    chart("Conversations per day", "kpi-chart-volume", barChart(perDay(r, (d) => d.conversations, (d) => d.abandoned, 0), {
      label: "Conversations per day; the darker part was abandoned", partLabel: "abandoned",
    })),
    chart("First response per day (median)", "kpi-chart-first", lineChart(perDay(r, (d) => d.first_response_seconds.median, null, null), {
      label: "Median first response per day", format: seconds,
    })),
    queueTable(r.by_queue || {}));
}

function queueTable(byQueue) {
  const names = Object.keys(byQueue);
  if (!names.length) return null;
  return h("table", { class: "ops-table kpi-queues", id: "kpi-queues", "aria-label": "KPIs per queue" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Queue"),
      h("th", { scope: "col", title: "Conversations" }, "Conv."),
      h("th", { scope: "col", title: "Median first response" }, "First"),
      h("th", { scope: "col", title: "Abandoned" }, "Aband."),
      h("th", { scope: "col", title: "CSAT average" }, "CSAT"))),
    h("tbody", {}, names.map((name) => {
      const q = byQueue[name];
      return h("tr", { dataset: { queue: name } },
        h("th", { scope: "row" }, name),
        h("td", { class: "n conversations" }, String(q.conversations)),
        h("td", { class: "n first" }, seconds(q.first_response_seconds.median)),
        h("td", { class: "n abandoned" }, String(q.abandoned)),
        h("td", { class: "n csat" }, number(q.csat.average, 1)));
    })));
}

function perDay(r, value, part, empty) {
  return days(state.range).map((d) => {
    const kpis = r.by_day?.[d.label];
    return { ...d, value: kpis ? value(kpis) : empty, part: kpis && part ? part(kpis) : 0 };
  });
}

function chart(name, id, svgEl) {
  svgEl.id = id;
  return h("figure", { class: "kpi-chart" }, h("figcaption", {}, name), svgEl);
}

async function load() {
  const tok = token();
  if (!tok || !state.panel) return;
  const range = periodRange(state.period);
  const status = state.panel.querySelector(".kpi-status");
  status.textContent = "Loading…";
  const query = new URLSearchParams(range).toString();
  const request = api(`/reports/kpis?${query}`, { token: tok });
  state.loading = request;
  try {
    const report = await request;
    if (state.loading !== request) return; // a newer choice won
    state.report = report;
    state.range = range;
    status.textContent = "";
    render();
  } catch (err) {
    status.textContent = err instanceof ApiError ? err.message : "Could not load the KPIs.";
  }
}

async function exportCsv() {
  const tok = token();
  if (!tok) return;
  const query = new URLSearchParams(periodRange(state.period)).toString();
  const reply = await fetch(`/api/v1/reports/kpis?${query}`, {
    headers: { Accept: "text/csv", Authorization: `Bearer ${tok}` },
  });
  if (!reply.ok) return;
  const url = URL.createObjectURL(await reply.blob());
  const link = h("a", { href: url, download: `kpis-${state.period}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function build(ops) {
  const select = h("select", { id: "kpi-period", class: "kpi-period", "aria-label": "KPI period" },
    PERIODS.map((p) => h("option", { value: p.value, selected: p.value === state.period }, p.label)));
  select.addEventListener("change", () => {
    state.period = select.value;
    load();
  });
  const panel = h("section", { class: "kpis", id: "kpis", "aria-labelledby": "kpis-title" },
    h("link", { rel: "stylesheet", href: "/static/css/reports.css" }),
    h("h2", { class: "section-title", id: "kpis-title" }, "KPIs",
      h("span", { class: "kpi-actions" },
        select,
        h("button", { class: "btn btn-sm", type: "button", id: "kpi-refresh", onclick: load }, "Refresh"),
        h("button", { class: "btn btn-sm", type: "button", id: "kpi-export", onclick: exportCsv }, "CSV"))),
    h("p", { class: "kpi-status", role: "status" }),
    h("div", { class: "kpi-body" }));
  ops.after(panel);
  return panel;
}

function sync(ops) {
  const visible = !ops.hidden;
  if (visible && !state.panel) state.panel = build(ops);
  if (!state.panel) return;
  const wasHidden = state.panel.hidden;
  state.panel.hidden = !visible;
  if (visible && (wasHidden || !state.report)) load();
  if (!visible) state.report = null;
}

function start() {
  const ops = document.getElementById("ops");
  if (!ops) return;
  new MutationObserver(() => sync(ops)).observe(ops, { attributes: true, attributeFilter: ["hidden"] });
  sync(ops);
}

start();

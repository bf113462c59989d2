// Bots in the console: the hand-off on an offer card (which bot, why, its
// summary and the context it collected) and, for supervisors, a small Bots
// panel under Operations (GET /api/v1/reports/bots: held now, containment,
// hand-offs by reason).
//
// Like the other console add-ons it follows the console rather than being
// called by it: it watches the offers list and the Operations panel and reads
// the console's state (window.__switchboard.state). Everything that came from
// a bot or a customer goes in as text, never as HTML.

import { ApiError, api } from "./api.js";
import { h, store } from "./util.js";
import { consoleState as state } from "./console_state.js";

const SESSION_KEY = "switchboard.console";
const REASONS = {
  bot: "handed over by the bot",
  timeout: "the bot did not answer in time",
  error: "the bot failed",
  customer_request: "the customer asked for a person",
};
const MAX_CONTEXT_KEYS = 8;

function show(value) {
  if (value === null || value === undefined) return "–";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

// -- the hand-off on offer cards ----------------------------------------------------

export function handoffBlock(handoff) {
  const reason = REASONS[handoff.reason] || handoff.reason || "";
  const entries = Object.entries(handoff.context || {}).slice(0, MAX_CONTEXT_KEYS);
  return h("div", { class: "offer-handoff", "aria-label": "Hand-off from a bot", dataset: { reason: handoff.reason || "" } },
    h("div", { class: "offer-handoff-from" },
      h("strong", {}, `From bot ${handoff.from || "?"}`), reason ? ` · ${reason}` : ""),
    handoff.summary ? h("div", { class: "offer-handoff-summary" }, handoff.summary) : null,
    entries.length
      ? h("dl", { class: "offer-handoff-context" },
        entries.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, show(v))]))
      : null);
}

function decorateOffer(li) {
  if (!(li instanceof HTMLElement) || li.querySelector(".offer-handoff")) return;
  const offer = state()?.offers.get(li.dataset.offer);
  const handoff = offer?.frame?.context?.handoff;
  if (!handoff) return;
  const block = handoffBlock(handoff);
  const meta = li.querySelector(".offer-meta");
  if (meta) meta.after(block);
  else li.append(block);
  const name = li.querySelector(".offer-name");
  if (name) li.setAttribute("aria-label", `Offer: ${name.textContent}, from bot ${handoff.from}`);
}

// -- the supervisors' Bots panel -------------------------------------------------------

const panel = { el: null, loading: null, loaded: false };

async function loadReport() {
  const tok = store.get(SESSION_KEY)?.token;
  if (!tok || !panel.el) return;
  const status = panel.el.querySelector(".bots-status");
  const request = api("/reports/bots", { token: tok });
  panel.loading = request;
  try {
    const report = await request;
    if (panel.loading !== request) return;
    status.textContent = "";
    panel.loaded = true;
    renderReport(report);
  } catch (err) {
    status.textContent = err instanceof ApiError ? err.message : "Could not load the bots.";
  }
}

function renderReport(report) {
  const body = panel.el.querySelector(".bots-body");
  if (!report.bots.length) {
    body.replaceChildren(h("p", { class: "muted" }, "No bots are configured."));
    return;
  }
  const pct = report.containment === null ? "–" : `${Math.round(report.containment * 100)}%`;
  const reasons = Object.entries(report.handoffs || {});
  body.replaceChildren(
    h("ul", { class: "bots-held" },
      report.bots.map((name) => h("li", {}, h("strong", {}, name), ` holds ${report.held_now[name] || 0}`))),
    h("p", { class: "bots-containment" },
      `Containment: ${pct} (${report.closed_by_bot} of ${report.taken} closed by a bot)`),
    h("p", { class: "bots-reasons" },
      reasons.length
        ? `Hand-offs: ${reasons.map(([r, n]) => `${REASONS[r] || r} ${n}`).join(" · ")}`
        : "No hand-offs yet."));
}

function buildPanel(ops) {
  const el = h("section", { class: "bots-panel", id: "bots-panel", "aria-labelledby": "bots-title" },
    h("h2", { class: "section-title", id: "bots-title" }, "Bots",
      h("button", { class: "btn btn-sm", type: "button", id: "bots-refresh", onclick: loadReport }, "Refresh")),
    h("p", { class: "bots-status", role: "status" }),
    h("div", { class: "bots-body" }));
  ops.after(el);
  return el;
}

function syncPanel(ops) {
  const visible = !ops.hidden;
  if (visible && !panel.el) panel.el = buildPanel(ops);
  if (!panel.el) return;
  const wasHidden = panel.el.hidden;
  panel.el.hidden = !visible;
  if (visible && (wasHidden || !panel.loaded)) loadReport();
}

// -- wiring ------------------------------------------------------------------------------

function wire() {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/css/bots.css" }));
  const offers = document.getElementById("offers");
  if (offers) {
    new MutationObserver((changes) => {
      for (const change of changes) for (const node of change.addedNodes) decorateOffer(node);
    }).observe(offers, { childList: true });
  }
  const ops = document.getElementById("ops");
  if (ops) {
    new MutationObserver(() => syncPanel(ops)).observe(ops, { attributes: true, attributeFilter: ["hidden"] });
    syncPanel(ops);
  }
}

wire();
window.__bots = { reload: loadReport };

// Cases in the console: "Open case" on a conversation (one click, the title
// pre-filled from its subject or first message) and a case panel beside it
// (number, status, priority, entitlement, timeline; add a note, resolve,
// reactivate).
//
// Like guidance.js it follows the console rather than being called by it:
// it reads the console's state (window.__switchboard.state) and watches the
// context pane, which the console re-renders on every selection and status
// change. Everything user-supplied goes in as text, never as HTML.

import { ApiError, api } from "./api.js";
import { dateTime, h, labelize } from "./util.js";
import { consoleState as state, consoleToken as token } from "./console_state.js";

const $ = (id) => document.getElementById(id);
const TIMELINE_LIMIT = 50;

/** The conversation in the middle (ours, or a queued one being previewed). */
function selectedConv() {
  const S = state();
  if (!S) return null;
  if (S.preview?.conv) return { id: S.preview.conv.id, wire: S.preview.conv, messages: S.preview.messages || [] };
  const c = S.selected && S.convs.get(S.selected);
  if (!c) return null;
  return { id: c.id, wire: c.wire, messages: [...c.messages.values()].sort((a, b) => a.seq - b.seq) };
}

function toast(text, kind = "error") {
  const t = h("div", { class: `toast ${kind}` }, text);
  $("toasts")?.append(t);
  setTimeout(() => t.remove(), 7000);
}

/** The title a new case gets: the subject, else the first line the customer wrote. */
export function suggestedTitle(wire, messages) {
  if (wire?.subject && wire.subject.trim()) return wire.subject.trim().slice(0, 200);
  const first = (messages || []).find((m) => m.sender?.role === "customer" && (m.text || "").trim());
  const line = first ? first.text.split("\n").find((l) => l.trim()) : "";
  return (line || "").trim().replace(/\s+/g, " ").slice(0, 200) || "Conversation";
}

// -- the panel ------------------------------------------------------------------------

const panel = h("section", { class: "case-panel", id: "case-panel", "aria-labelledby": "case-title", hidden: true });
const openBtn = h("button", { class: "btn", type: "button", id: "open-case-btn", hidden: true, onclick: () => openCase() }, "Open case");
let shownFor = null; // conversation id the panel shows
let loadSeq = 0;

function place() {
  const context = $("context");
  if (context && panel.parentNode !== context.parentNode) context.before(panel);
  const actions = document.querySelector(".conv-actions");
  if (actions && openBtn.parentNode !== actions) actions.prepend(openBtn);
}

async function load({ quiet = false } = {}) {
  const mine = ++loadSeq;
  const conv = selectedConv();
  if (!conv || !token()) {
    shownFor = null;
    panel.hidden = true;
    openBtn.hidden = true;
    return;
  }
  try {
    const wire = await api(`/conversations/${encodeURIComponent(conv.id)}`, { token: token() });
    if (mine !== loadSeq) return;
    shownFor = conv.id;
    if (!wire.case_id) {
      openBtn.hidden = false;
      panel.hidden = true;
      panel.replaceChildren();
      return;
    }
    openBtn.hidden = true;
    const id = encodeURIComponent(wire.case_id);
    const [kase, page] = await Promise.all([
      api(`/cases/${id}`, { token: token() }),
      api(`/cases/${id}/timeline?limit=${TIMELINE_LIMIT}`, { token: token() }),
    ]);
    if (mine !== loadSeq) return;
    render(kase, page.items || []);
  } catch (err) {
    if (mine !== loadSeq) return;
    if (!quiet && !(err instanceof ApiError && err.status === 404)) toast(`Couldn't load the case: ${err.message}`);
    panel.hidden = true;
  }
}

async function openCase() {
  const conv = selectedConv();
  if (!conv) return;
  openBtn.disabled = true;
  try {
    const kase = await api("/cases", {
      method: "POST",
      token: token(),
      body: { conversation_id: conv.id, title: suggestedTitle(conv.wire, conv.messages) },
    });
    toast(`Opened ${kase.number}`, "ok");
    for (const warning of kase.warnings || []) toast(warning);
    await load();
  } catch (err) {
    toast(`Couldn't open a case: ${err.message}`);
  } finally {
    openBtn.disabled = false;
  }
}

function entitlementText(e) {
  if (!e) return "None";
  const unit = e.kind === "hours" ? "hours" : "cases";
  const state = e.state && e.state !== "active" ? ` (${labelize(e.state)})` : "";
  return `${e.name}: ${e.remaining} ${unit} left${state}`;
}

function itemText(item) {
  switch (item.kind) {
    case "message":
      return `${item.sender?.name || labelize(item.sender?.role || "")}: ${item.text}`;
    case "note":
    case "phone_call":
    case "task":
      return `${labelize(item.kind)}: ${item.text}${item.minutes ? ` (${item.minutes} min${item.billable ? ", billable" : ""})` : ""}`;
    case "status_change": {
      const to = item.status ? ` → ${labelize(item.status)}${item.status_reason ? ` (${labelize(item.status_reason)})` : ""}` : "";
      return `${labelize(item.event || "changed")}${to}`;
    }
    case "sla":
      return `SLA ${item.kpi}: ${labelize(item.status)}`;
    default:
      return labelize(item.kind);
  }
}

function render(kase, items) {
  const active = kase.status === "active";
  const facts = h("dl", { class: "case-facts" },
    h("dt", {}, "Status"), h("dd", { class: `case-status ${kase.status}` }, `${labelize(kase.status)} · ${labelize(kase.status_reason)}`),
    h("dt", {}, "Priority"), h("dd", {}, labelize(kase.priority)),
    h("dt", {}, "Entitlement"), h("dd", { class: `case-entitlement ${kase.entitlement?.state || ""}` }, entitlementText(kase.entitlement)),
    h("dt", {}, "Billable"), h("dd", {}, `${kase.billable_minutes} min`),
    kase.stage ? [h("dt", {}, "Stage"), h("dd", {}, labelize(kase.stage))] : null,
    kase.resolution ? [h("dt", {}, "Resolution"), h("dd", {}, kase.resolution)] : null,
  );
  const timeline = h("ol", { class: "case-timeline", "aria-label": "Case timeline" },
    items.map((item) => h("li", { class: `case-item ${item.kind}` },
      h("span", { class: "when" }, dateTime(item.at)), h("span", { class: "what" }, itemText(item)))));
  const note = h("input", { class: "input", name: "text", placeholder: active ? "Add a note or the resolution…" : "Add a note…", "aria-label": "Note or resolution" });
  const act = (path, body, done) => async (e) => {
    e.preventDefault();
    try {
      await api(`/cases/${encodeURIComponent(kase.id)}${path}`, { method: "POST", token: token(), body: body() });
      if (done) toast(done, "ok");
      await load();
    } catch (err) {
      toast(err.message);
    }
  };
  const buttons = h("div", { class: "case-actions" },
    h("button", { class: "btn btn-sm", type: "button", onclick: act("/activities", () => ({ kind: "note", text: note.value.trim() })) }, "Add note"),
    active
      ? h("button", { class: "btn btn-sm btn-primary", type: "button", id: "case-resolve", onclick: act("/resolve", () => ({ resolution: note.value.trim() }), `Resolved ${kase.number}`) }, "Resolve")
      : kase.status_reason !== "merged"
        ? h("button", { class: "btn btn-sm", type: "button", id: "case-reactivate", onclick: act("/reactivate", () => ({}), `Reactivated ${kase.number}`) }, "Reactivate")
        : null);
  panel.replaceChildren(
    h("h2", { class: "section-title", id: "case-title" },
      h("span", { class: "case-number" }, kase.number), " ", h("span", { class: "case-name" }, kase.title)),
    facts,
    h("form", { class: "case-form", onsubmit: (e) => e.preventDefault() }, note, buttons),
    h("h3", { class: "ops-sub" }, "Timeline"),
    timeline,
  );
  panel.hidden = false;
}

// -- wiring ---------------------------------------------------------------------------

function wire() {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/css/cases.css" }));
  place();
  const context = $("context");
  if (context) new MutationObserver(() => { place(); load({ quiet: true }); }).observe(context, { childList: true });
}

wire();
window.__cases = { reload: () => load(), shownFor: () => shownFor };

// The widget's configured pre-chat survey and proactive invitations.
//
// GET /api/v1/webchat/config says which survey fields to ask ([webchat.prechat],
// or the widget's own in [[webchat.widgets]] when the page names one:
// /chat?widget=shop) and whether proactive rules exist. With fields configured, they replace
// the built-in topic question and are sent as the session's `prechat`
// answers, typed as the server checks them (numbers as numbers, yes/no as
// true/false). With proactive rules, the widget asks
// POST /api/v1/webchat/proactive after a while on the page; an invitation
// is shown above the form, and its answer is reported (accepted/declined).
// A chat started from an accepted invitation carries context.proactive.

import { api } from "./api.js";
import { h, store } from "./util.js";

const ASK_AFTER_S = [5, 15, 30, 60, 120]; // seconds on the page when the server is asked
const VISITS_KEY = "switchboard.visits";
const ANSWERED_KEY = "switchboard.invitation";
const loadedAt = Date.now();

let config = { prechat: { fields: [] }, proactive: { enabled: false } };
let inputs = []; // [{field, input}]
let acceptedRule = null;

/** The widget's id from the page (?widget=shop), or null for the default widget. */
export function widgetId() {
  return new URLSearchParams(location.search).get("widget") || null;
}

/**
 * Fetch the widget config and render the survey; safe to call once at start.
 * `onError(message)` is told when the widget named by the page does not exist.
 */
export async function setupPrechat({ form, before, builtInTopic, onInvitationAccepted, onError }) {
  const widget = widgetId();
  try {
    config = await api(`/webchat/config${widget ? `?widget=${encodeURIComponent(widget)}` : ""}`);
  } catch (err) {
    if (err.code === "unknown_widget") onError?.(err.message);
    return; // otherwise the built-in form still works
  }
  const fields = config.prechat?.fields || [];
  if (fields.length || config.proactive?.enabled) {
    document.head.append(h("link", { rel: "stylesheet", href: "/static/css/prechat.css" }));
  }
  if (fields.length) {
    builtInTopic.hidden = true;
    builtInTopic.querySelector("select")?.removeAttribute("required");
    inputs = fields.map((field) => ({ field, input: control(field) }));
    for (const { field, input } of inputs) {
      const label = h("label", { for: input.id }, field.label,
        field.required ? "" : h("span", { class: "hint" }, " optional"));
      const wrapper = h("div", { class: "field prechat-field", dataset: { field: field.name } },
        field.type === "boolean" ? [input, label] : [label, input]);
      form.insertBefore(wrapper, before);
    }
  }
  if (config.proactive?.enabled) scheduleInvitations(form, onInvitationAccepted);
}

/** Whether a configured survey replaces the built-in topic question. */
export function surveyActive() {
  return inputs.length > 0;
}

function control(field) {
  const id = `pcf-${field.name}`;
  if (field.type === "choice") {
    return h("select", { class: "input", id, name: field.name },
      h("option", { value: "" }, "Choose…"),
      field.choices.map((c) => h("option", { value: c }, c)));
  }
  if (field.type === "boolean") return h("input", { type: "checkbox", id, name: field.name });
  return h("input", {
    class: "input", id, name: field.name,
    type: field.type === "email" ? "email" : field.type === "number" ? "number" : "text",
    maxlength: field.max_length,
  });
}

/**
 * The answers, typed for the server, or null after marking what is wrong.
 * `fieldError(input, message)` is the form's own error display.
 */
export function surveyAnswers(fieldError) {
  const answers = {};
  let first = null;
  for (const { field, input } of inputs) {
    let message = "";
    if (field.type === "boolean") {
      answers[field.name] = input.checked;
    } else {
      const raw = input.value.trim();
      if (!raw) {
        if (field.required) message = `Please fill in “${field.label}”.`;
      } else if (field.type === "number") {
        const n = Number(raw);
        if (Number.isFinite(n)) answers[field.name] = n;
        else message = "Please enter a number.";
      } else if (field.type === "email" && input.validity.typeMismatch) {
        message = "That doesn't look like an email address.";
      } else {
        answers[field.name] = raw;
      }
    }
    fieldError(input, message);
    if (message && !first) first = input;
  }
  first?.focus();
  return first ? null : answers;
}

/** Session context from an accepted invitation: {proactive: rule} or {}. */
export function invitationContext() {
  return acceptedRule ? { proactive: acceptedRule } : {};
}

// -- proactive ------------------------------------------------------------------

function countVisit() {
  try {
    const visits = Number(localStorage.getItem(VISITS_KEY) || "0") + 1;
    localStorage.setItem(VISITS_KEY, String(visits));
    return visits;
  } catch {
    return undefined;
  }
}

function pageFacts(visits) {
  const q = new URLSearchParams(location.search);
  const embedded = window.parent !== window;
  const variables = {};
  for (const [key, value] of q) if (key.startsWith("ctx.")) variables[key.slice(4)] = value;
  return {
    page_url: q.get("page") || (embedded && document.referrer) || location.href,
    seconds_on_page: Math.round((Date.now() - loadedAt) / 1000),
    ...(visits !== undefined ? { visits } : {}),
    ...(navigator.language ? { language: navigator.language.slice(0, 20) } : {}),
    variables,
  };
}

function scheduleInvitations(form, onAccepted) {
  if (store.get(ANSWERED_KEY)) return; // one invitation per browser session
  const visits = countVisit();
  let step = 0;
  const next = () => {
    if (step >= ASK_AFTER_S.length) return;
    const wait = ASK_AFTER_S[step] * 1000 - (Date.now() - loadedAt);
    step += 1;
    setTimeout(ask, Math.max(0, wait));
  };
  const ask = async () => {
    if (form.closest("[hidden]") || store.get(ANSWERED_KEY)) return; // chatting already
    try {
      const reply = await api("/webchat/proactive", { method: "POST", body: pageFacts(visits) });
      if (reply.invitation) return showInvitation(form, reply.invitation, onAccepted);
    } catch {
      /* no invitation this time */
    }
    next();
  };
  next();
}

function showInvitation(form, invitation, onAccepted) {
  const answer = async (outcome) => {
    banner.remove();
    store.set(ANSWERED_KEY, { rule: invitation.rule, outcome });
    if (outcome === "accepted") {
      acceptedRule = invitation.rule;
      onAccepted?.(invitation);
    }
    try {
      await api(`/webchat/proactive/${encodeURIComponent(invitation.rule)}/${outcome}`, {
        method: "POST",
      });
    } catch {
      /* counting is best effort */
    }
  };
  const banner = h("div", { class: "invitation", role: "dialog", "aria-label": "Chat invitation" },
    h("p", {}, invitation.message),
    h("div", { class: "invitation-actions" },
      h("button", { class: "btn btn-primary", type: "button", onclick: () => answer("accepted") },
        "Chat now"),
      h("button", { class: "btn", type: "button", onclick: () => answer("declined") },
        "No thanks")));
  form.parentElement.insertBefore(banner, form.parentElement.firstChild);
}

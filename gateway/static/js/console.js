// The agent console (/).
//
// Sign in with POST /api/v1/auth/token (token kept in sessionStorage), then
// one websocket, /ws/agent, carries everything live: offers, assignments,
// messages of the conversations assigned to us, typing, sentiment, status.
// The waiting queue and the context pane come from the HTTP API.
//
// Nothing lost, nothing doubled: each conversation keeps its messages by
// message_id and the highest seq held with no gap below it; a reconnect says
// hello with after_seq = {conversation_id: that seq}, and messages sent but
// not acknowledged are sent again with the same client_msg_id.

import { ApiError, api } from "./api.js";
import { LiveSocket } from "./live.js";
import { ago, bytes, clock, dateTime, h, initials, labelize, store, uuid } from "./util.js";

const KEY = "switchboard.console";
const QUEUE_REFRESH_MS = 5000;
const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 4000;
const THEIR_TYPING_TTL_MS = 8000;
const DEFAULT_OFFER_S = 30;

const $ = (id) => document.getElementById(id);
const el = {
  login: $("login"), loginForm: $("login-form"), loginError: $("login-error"), loginSubmit: $("login-submit"),
  app: $("app"), conn: $("conn-state"), presence: $("presence"), presenceDot: $("presence-dot"),
  meName: $("me-name"), meAvatar: $("me-avatar"),
  offersSection: $("offers-section"), offers: $("offers"), offersCount: $("offers-count"),
  mine: $("mine"), mineCount: $("mine-count"), mineEmpty: $("mine-empty"),
  queue: $("queue"), queueCount: $("queue-count"), queueEmpty: $("queue-empty"),
  placeholder: $("placeholder"), conversation: $("conversation"), convName: $("conv-name"),
  convSub: $("conv-sub"), convMood: $("conv-mood"), take: $("take-btn"), transfer: $("transfer-btn"),
  close: $("close-btn"), transcript: $("transcript"), typing: $("typing"), composer: $("composer"),
  reply: $("reply"), closedNote: $("closed-note"), context: $("context"),
  dialog: $("dialog"), dialogTitle: $("dialog-title"), dialogBody: $("dialog-body"), dialogOk: $("dialog-ok"),
  toasts: $("toasts"), announcer: $("announcer"),
  ops: $("ops"), opsAge: $("ops-age"), opsAlertsBlock: $("ops-alerts-block"), opsAlerts: $("ops-alerts"),
  opsAlertsCount: $("ops-alerts-count"), opsQueues: document.querySelector("#ops-queues tbody"),
  opsAgents: $("ops-agents"), opsAgentsCount: $("ops-agents-count"),
};

/** The whole console state; exposed on window.__switchboard for tests. */
const S = {
  auth: null, // {token, user}
  agentId: null,
  presence: "available",
  convs: new Map(), // id -> Conv (assigned to us, or closed and not dismissed)
  selected: null, // conversation id shown in the middle
  preview: null, // {conv, messages} of a queued conversation being looked at
  offers: new Map(), // offer_id -> {frame, deadline, li}
  queue: [],
  knownQueues: new Set(["default"]),
  taking: null, // conversation id of a Take in flight
  wantSelected: null, // selection to restore after a reload
  wantPresence: null, // presence chosen while disconnected
  role: null, // "agent", "supervisor", "admin" or "bot", from the welcome
  ops: null, // the last `operations` frame: {queues, agents}, and when it came
  opsAt: 0,
  alerts: [], // sentiment alerts, newest first: {conversation_id, kind, message, rolling, at, name}
  alerted: new Set(), // conversation ids with an alert, marked in the lists
};
let socket = null;
let queueTimer = null;
let tickTimer = null;
const loadedAt = Date.now();

// -- conversations ------------------------------------------------------------

function conv(id, wire) {
  let c = S.convs.get(id);
  if (!c) {
    c = {
      id, wire: wire || { id, customer: {}, channel: "webchat", status: "assigned" },
      messages: new Map(), lastSeq: 0, unread: 0, pending: new Map(), els: new Map(),
      sentiment: new Map(), rolling: null, typing: null, context: null, draft: "",
    };
    S.convs.set(id, c);
  } else if (wire) {
    c.wire = { ...c.wire, ...wire };
  }
  if (c.wire.queue) S.knownQueues.add(c.wire.queue);
  if (c.wire.sentiment != null && c.rolling == null) c.rolling = rollingOf(c.wire.sentiment);
  return c;
}

/** The customer's rolling score from a number, {rolling|score|value: n}, or
 * the sentiment state {customer: {value, count, history}, agent: {...}}. */
function rollingOf(value) {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (value && typeof value === "object") {
    if (value.customer !== undefined) return rollingOf(value.customer);
    for (const k of ["rolling", "score", "value"]) if (value[k] != null) return rollingOf(value[k]);
  }
  return null;
}

function sortedMessages(c) {
  return [...c.messages.values()].sort((a, b) => a.seq - b.seq);
}

function advance(c) {
  const seqs = new Set([...c.messages.values()].map((m) => m.seq));
  while (seqs.has(c.lastSeq + 1)) c.lastSeq += 1;
}

function customerName(wire) {
  const cu = wire?.customer || {};
  return cu.name || cu.email || cu.phone || "Visitor";
}

// -- frames -------------------------------------------------------------------

function onFrame(frame) {
  window.dispatchEvent(new CustomEvent("switchboard:frame", { detail: frame })); // for add-on modules
  switch (frame.type) {
    case "welcome": return onWelcome(frame);
    case "message": return onMessage(frame);
    case "ack": return onAck(frame);
    case "status": return onStatus(frame);
    case "assigned": return onAssigned(frame);
    case "offer": return onOffer(frame);
    case "offer_revoked": return onOfferRevoked(frame);
    case "typing": return onTyping(frame);
    case "sentiment": return onSentiment(frame);
    case "presence": return setPresence(frame.status);
    case "operations": return onOperations(frame);
    case "sentiment_alert": return onSentimentAlert(frame);
    case "error": return onError(frame);
    default: return undefined; // pong, and frames newer than this page
  }
}

function onWelcome(frame) {
  S.agentId = frame.agent_id;
  S.role = frame.role || S.auth.user?.role || "agent";
  renderOpsVisibility();
  if (isSupervisor()) loadOps();
  if (S.wantPresence && S.wantPresence !== frame.presence) {
    // Chosen while the connection was down: tell the server now.
    socket.send({ type: "presence", status: S.wantPresence });
  } else {
    setPresence(frame.presence);
  }
  S.wantPresence = null;
  const current = new Set();
  for (const wire of frame.conversations || []) {
    current.add(wire.id);
    conv(wire.id, wire);
  }
  // Conversations we held before a drop but the server no longer lists as
  // ours were closed or transferred meanwhile: ask what became of them.
  for (const c of S.convs.values()) {
    if (!current.has(c.id) && c.wire.status === "assigned") reconcile(c);
  }
  for (const c of S.convs.values()) resendPending(c);
  if (S.wantSelected && S.convs.has(S.wantSelected)) select(S.wantSelected);
  else if (!S.selected && S.convs.size) select(sortedConvs()[0].id);
  S.wantSelected = null;
  renderMine();
  refreshQueue();
}

async function reconcile(c) {
  try {
    const wire = await api(`/conversations/${encodeURIComponent(c.id)}`, { token: S.auth.token });
    if (wire.status === "assigned" && wire.assigned_agent_id === S.agentId) return;
    if (wire.status === "closed") {
      c.wire = { ...c.wire, ...wire };
    } else {
      drop(c.id, `${customerName(c.wire)} was moved to the ${wire.queue || "default"} queue.`);
      return;
    }
  } catch (err) {
    if (handleAuth(err)) return;
    drop(c.id, `${customerName(c.wire)} is no longer assigned to you.`);
    return;
  }
  renderMine();
  if (S.selected === c.id) renderHeader();
}

function onMessage(m) {
  const c = S.convs.get(m.conversation_id);
  if (!c) {
    if (S.preview?.conv.id === m.conversation_id) addPreviewMessage(m);
    return;
  }
  if (c.messages.has(m.message_id)) return;
  c.messages.set(m.message_id, m);
  // Scored before it reached us (e.g. while it waited in the queue).
  if (m.sentiment?.score != null && !c.sentiment.has(m.message_id)) c.sentiment.set(m.message_id, m.sentiment);
  advance(c);
  if (m.sender?.role === "customer") {
    c.typing = null;
    const seen = S.selected === c.id && !document.hidden;
    if (!seen && Date.parse(m.created_at) >= loadedAt - 5000) c.unread += 1;
    if (S.selected !== c.id || document.hidden) announce(`New message from ${m.sender.name || customerName(c.wire)}: ${m.text}`);
  }
  if (S.selected === c.id) {
    insertMessage(c, m, true);
    renderTyping();
  }
  renderMine();
  updateTitle();
}

function onAck(ack) {
  for (const c of S.convs.values()) {
    const p = c.pending.get(ack.client_msg_id);
    if (!p) continue;
    c.pending.delete(ack.client_msg_id);
    c.els.get(`p:${ack.client_msg_id}`)?.remove();
    c.els.delete(`p:${ack.client_msg_id}`);
    onMessage({
      type: "message", conversation_id: c.id, message_id: ack.message_id, seq: ack.seq,
      sender: { role: "agent", name: S.auth.user?.display_name || S.auth.user?.username },
      text: p.text, created_at: p.created_at,
    });
    return;
  }
}

function onStatus(frame) {
  const c = S.convs.get(frame.conversation_id);
  if (c) {
    const before = c.wire.status;
    c.wire = { ...c.wire, status: frame.status, ...(frame.queue ? { queue: frame.queue } : {}) };
    if (frame.status === "queued" && before === "assigned") {
      drop(c.id, `${customerName(c.wire)} was transferred to the ${frame.queue || "default"} queue.`);
    } else if (frame.status === "closed" && before !== "closed") {
      c.typing = null;
      toast(`Conversation with ${customerName(c.wire)} closed.`);
    }
    renderMine();
    if (S.selected === c.id) {
      renderHeader();
      renderComposer();
      renderTyping();
      loadContext(c.id);
    }
  }
  refreshQueue();
}

function onAssigned(frame) {
  const c = conv(frame.conversation_id, frame.conversation || { status: "assigned" });
  c.wire.status = "assigned";
  for (const [id, o] of S.offers) if (o.frame.conversation_id === c.id) removeOffer(id);
  if (S.preview?.conv.id === c.id) S.preview = null;
  if (!S.selected || S.selected === c.id || S.taking === c.id) select(c.id);
  else toast(`New conversation: ${customerName(c.wire)}`);
  renderMine();
  refreshQueue();
}

function onTyping(frame) {
  const c = S.convs.get(frame.conversation_id);
  if (!c || frame.sender?.role === "agent") return;
  c.typing = frame.active ? { name: frame.sender?.name, until: Date.now() + THEIR_TYPING_TTL_MS } : null;
  if (S.selected === c.id) renderTyping();
}

function onSentiment(frame) {
  const c = S.convs.get(frame.conversation_id);
  if (!c) return;
  if (frame.message_id) c.sentiment.set(frame.message_id, { score: frame.score, label: frame.label });
  const rolling = rollingOf(frame.rolling);
  if (rolling != null) c.rolling = rolling;
  if (S.selected === c.id) {
    const li = c.els.get(frame.message_id);
    if (li) renderSentimentBadge(li, c.sentiment.get(frame.message_id));
    renderHeader();
  }
  renderMine();
}

function onError(err) {
  // An error about a message we sent: show it on that message.
  for (const c of S.convs.values()) {
    const p = c.pending.get(err.ref);
    if (!p) continue;
    if (err.code === "storage_unavailable") {
      setTimeout(() => resendPending(c), 2000);
      return;
    }
    if (err.code === "rate_limited") {
      setTimeout(() => resendPending(c), 1500);
      return;
    }
    c.pending.delete(err.ref);
    const li = c.els.get(`p:${err.ref}`);
    if (li) {
      li.classList.replace("pending", "failed");
      const edit = h("button", { type: "button", onclick: () => {
        el.reply.value = p.text;
        li.remove();
        el.reply.focus();
      } }, "Edit");
      li.querySelector(".state").replaceChildren(`Not sent: ${friendly(err)} `, edit);
    } else {
      toast(friendly(err), true);
    }
    return;
  }
  // The server refuses a message for a conversation it has not attached to
  // this connection yet (a Take racing its "assigned" frame) without naming
  // the message: try the pending ones again shortly, a few times.
  if (err.code === "not_assigned" && err.ref == null) {
    let retried = false;
    for (const c of S.convs.values()) {
      for (const p of c.pending.values()) {
        p.tries = (p.tries || 0) + 1;
        if (p.tries <= 3) retried = true;
      }
      if (retried) setTimeout(() => resendPending(c), 1000);
    }
    if (retried) return;
  }
  // An error about an offer we answered.
  const offer = S.offers.get(err.ref);
  if (offer) {
    removeOffer(err.ref);
    toast(err.code === "unknown_offer" ? "That offer is no longer available." : friendly(err), true);
    return;
  }
  toast(friendly(err), true);
}

function friendly(err) {
  switch (err.code) {
    case "text_too_long": {
      const limit = /limit is (\d+)/.exec(err.message || "")?.[1];
      return `the message is too long${limit ? ` (limit ${Number(limit).toLocaleString()} characters)` : ""}.`;
    }
    case "conversation_closed": return "the conversation is closed.";
    case "not_assigned": return "this conversation isn't assigned to you.";
    case "unknown_offer": return "that offer is no longer available.";
    case "rate_limited": return "too many actions at once; slow down a little.";
    case "already_assigned": return "someone else already took this conversation.";
    default: return err.message || "something went wrong.";
  }
}

// -- offers -------------------------------------------------------------------

function onOffer(frame) {
  const now = Date.now();
  let deadline = Date.parse(frame.expires_at);
  // Guard against a browser clock far off the server's: trust the default
  // offer length from when the offer arrived instead.
  if (!Number.isFinite(deadline) || deadline <= now || deadline - now > 10 * 60_000) {
    deadline = now + DEFAULT_OFFER_S * 1000;
  }
  const total = Math.max(1000, deadline - now);
  const ctx = frame.context || {};
  const customer = ctx.customer || {};
  const prechat = ctx.prechat || {};
  const name = customer.name || customer.email || customer.phone || "Visitor";
  const countdown = h("span", { class: "offer-countdown", "aria-label": "Time left" });
  const bar = h("i");
  const accept = h("button", { class: "btn btn-ok btn-sm", type: "button", onclick: () => answerOffer(frame.offer_id, true) }, "Accept");
  const reject = h("button", { class: "btn btn-sm", type: "button", onclick: () => answerOffer(frame.offer_id, false) }, "Reject");
  const topic = prechat.topic || prechat.question;
  const mood = rollingOf(ctx.sentiment);
  const li = h("li", { class: "offer", dataset: { offer: frame.offer_id }, "aria-label": `Offer: ${name}` },
    h("div", { class: "offer-top" },
      h("span", { class: "offer-name" }, name), channelBadge(frame.channel), countdown),
    h("div", { class: "offer-meta" },
      `Queue: ${frame.queue || "default"}`, topic ? ` · ${topic}` : "",
      mood != null ? ` · mood ${fmtScore(mood)}` : ""),
    h("div", { class: "offer-bar", "aria-hidden": "true" }, bar),
    h("div", { class: "offer-actions" }, accept, reject));
  const previous = S.offers.get(frame.offer_id);
  previous?.li.remove();
  S.offers.set(frame.offer_id, { frame, deadline, total, li, countdown, bar, accept, reject });
  el.offers.append(li);
  tickOffers();
  renderOffersHeader();
  renderQueue();
  announce(`New conversation offered: ${name}. Accept with Alt+A.`);
  updateTitle();
}

function tickOffers() {
  const now = Date.now();
  for (const [id, o] of S.offers) {
    const left = Math.max(0, o.deadline - now);
    const secs = Math.ceil(left / 1000);
    o.countdown.textContent = left > 0 ? `${secs}s` : "Expired";
    o.countdown.classList.toggle("urgent", secs <= 10);
    o.bar.style.width = `${(100 * left) / o.total}%`;
    if (left <= 0 && !o.expired) {
      o.expired = true;
      o.li.classList.add("done");
      o.accept.disabled = o.reject.disabled = true;
      setTimeout(() => removeOffer(id), 1500);
    }
  }
}

function answerOffer(offerId, yes) {
  const o = S.offers.get(offerId);
  if (!o || o.answered) return;
  const frame = yes ? { type: "accept", offer_id: offerId } : { type: "reject", offer_id: offerId, reason: "declined" };
  if (!socket?.send(frame)) {
    toast("Not connected; try again in a moment.", true);
    return;
  }
  o.answered = true;
  o.accept.disabled = o.reject.disabled = true;
  if (yes) {
    o.accept.textContent = "Accepting…";
  } else {
    removeOffer(offerId);
  }
}

function onOfferRevoked(frame) {
  const o = S.offers.get(frame.offer_id);
  if (!o) return;
  const why = {
    timeout: "timed out", taken: "was taken by someone else", cancelled: "was cancelled",
    unavailable: "was withdrawn while you were unavailable",
  }[frame.reason] || "was withdrawn";
  if (!o.answered || frame.reason === "taken") toast(`The offer for ${o.li.querySelector(".offer-name").textContent} ${why}.`);
  removeOffer(frame.offer_id);
  refreshQueue();
}

function removeOffer(offerId) {
  const o = S.offers.get(offerId);
  if (!o) return;
  o.li.remove();
  S.offers.delete(offerId);
  renderOffersHeader();
  renderQueue();
  updateTitle();
}

function renderOffersHeader() {
  el.offersSection.hidden = S.offers.size === 0;
  el.offersCount.textContent = S.offers.size ? `(${S.offers.size})` : "";
}

// -- presence -----------------------------------------------------------------

function setPresence(status) {
  if (!status) return;
  S.presence = status;
  el.presence.value = status;
  el.presenceDot.className = `dot presence-${status}`;
}

// -- operations (supervisors and admins) -----------------------------------------

function isSupervisor() {
  return S.role === "supervisor" || S.role === "admin";
}

function renderOpsVisibility() {
  el.ops.hidden = !isSupervisor();
}

/** The first picture over HTTP; `operations` frames come only on changes. */
async function loadOps() {
  try {
    const [q, a] = await Promise.all([
      api("/queues", { token: S.auth.token }), api("/agents", { token: S.auth.token })]);
    if (S.opsAt) return; // a live frame came first: it is newer
    onOperations({ type: "operations", queues: q.queues || {}, agents: a.agents || {} });
  } catch (err) {
    handleAuth(err);
  }
}

function onOperations(frame) {
  const before = S.ops ? queueTotals(S.ops.queues) : null;
  S.ops = { queues: frame.queues || {}, agents: frame.agents || {} };
  S.opsAt = Date.now();
  for (const name of Object.keys(S.ops.queues)) S.knownQueues.add(name);
  renderOps();
  // The waiting list follows the queues without waiting for the next poll.
  if (before !== queueTotals(S.ops.queues)) refreshQueue();
}

function queueTotals(queues) {
  return Object.values(queues || {}).map((q) => `${q.name}:${q.waiting}:${q.offered}`).join(",");
}

function fmtWait(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function longestNow(q) {
  // The snapshot's longest wait, aged since it arrived, while someone waits.
  return q.waiting > 0 ? q.longest_wait + (Date.now() - S.opsAt) / 1000 : 0;
}

function renderOps() {
  if (!S.ops || el.ops.hidden) return;
  const queues = Object.values(S.ops.queues).sort((a, b) =>
    (a.name === "default") - (b.name === "default") || a.name.localeCompare(b.name));
  el.opsQueues.replaceChildren(...(queues.length ? queues.map((q) => {
    const wait = longestNow(q);
    return h("tr", { class: q.waiting ? (wait >= 120 ? "late" : "busy") : "", dataset: { queue: q.name } },
      h("th", { scope: "row" }, q.name),
      h("td", { class: "n waiting" }, String(q.waiting)),
      h("td", { class: "n offered" }, String(q.offered)),
      h("td", { class: "n longest" }, q.waiting ? fmtWait(wait) : "–"));
  }) : [h("tr", {}, h("td", { colspan: "4", class: "empty-note" }, "No queues."))]));
  const agents = Object.values(S.ops.agents).sort((a, b) =>
    (b.connected - a.connected) || String(a.name).localeCompare(String(b.name)));
  el.opsAgents.replaceChildren(...agents.map(agentRow));
  el.opsAgentsCount.textContent = `(${agents.filter((a) => a.connected).length} online)`;
  el.opsAge.textContent = "live";
}

function agentRow(a) {
  const load = a.load || {};
  const cap = a.capacity || {};
  const used = Object.values(load).reduce((x, y) => x + y, 0);
  // Load against capacity on the channels in use (all channels share one
  // limit by default, so show the tightest one when idle).
  const busy = Object.entries(load).filter(([, n]) => n > 0);
  const limits = Object.values(cap).filter((n) => n != null);
  const parts = busy.length
    ? busy.map(([ch, n]) => `${ch} ${n}/${cap[ch] ?? "∞"}`)
    : [`0/${limits.length ? Math.min(...limits) : "∞"}`];
  if (a.units != null) parts.push(`units ${a.units_used}/${a.units}`);
  const ratio = busy.length
    ? Math.max(...busy.map(([ch, n]) => (cap[ch] ? n / cap[ch] : 0)))
    : 0;
  const offers = (a.open_offers || []).length;
  const presence = a.connected ? a.presence : "offline";
  return h("li", { class: `ops-agent${a.connected ? "" : " gone"}`, dataset: { agent: a.agent_id } },
    h("span", { class: `dot presence-${presence}`, title: labelize(presence), "aria-hidden": "true" }),
    h("div", { class: "ops-agent-main" },
      h("div", { class: "ops-agent-top" },
        h("span", { class: "ops-agent-name" }, a.agent_id === S.agentId ? `${a.name} (you)` : a.name),
        offers ? h("span", { class: "badge status-offered" }, `${offers} offer${offers > 1 ? "s" : ""}`) : null,
        h("span", { class: "ops-load", title: "Load / capacity" }, parts.join(" · "))),
      h("div", { class: "ops-agent-sub" },
        h("span", { class: "presence-label" }, labelize(presence)),
        h("span", { class: "ops-bar", "aria-hidden": "true" },
          h("i", { style: `width:${Math.round(Math.min(1, ratio) * 100)}%`, class: ratio >= 1 ? "full" : "" })))));
}

function onSentimentAlert(frame) {
  const id = frame.conversation_id;
  const alert = {
    conversation_id: id, kind: frame.kind, message: frame.message, rolling: rollingOf(frame.rolling),
    action: frame.action, at: new Date().toISOString(), name: knownName(id),
  };
  S.alerts = [alert, ...S.alerts.filter((a) => !(a.conversation_id === id && a.kind === frame.kind))].slice(0, 20);
  S.alerted.add(id);
  if (!alert.name) lookUpName(alert);
  announce(`Sentiment alert: ${alert.name || "a customer"}: ${frame.message}`);
  renderAlerts();
  renderQueue();
  renderMine();
}

function knownName(id) {
  const c = S.convs.get(id);
  if (c) return customerName(c.wire);
  const q = S.queue.find((x) => x.id === id);
  return q ? customerName(q) : null;
}

async function lookUpName(alert) {
  try {
    const wire = await api(`/conversations/${encodeURIComponent(alert.conversation_id)}`, { token: S.auth.token });
    alert.name = customerName(wire);
    renderAlerts();
  } catch (err) {
    handleAuth(err);
  }
}

function renderAlerts() {
  el.opsAlertsBlock.hidden = S.alerts.length === 0;
  el.opsAlertsCount.textContent = S.alerts.length ? `(${S.alerts.length})` : "";
  el.opsAlerts.replaceChildren(...S.alerts.map((a) => {
    const action = a.action && a.action.kind && a.action.kind !== "none"
      ? ` · ${labelize(a.action.kind)}${a.action.queue ? ` → ${a.action.queue}` : a.action.by ? ` +${a.action.by}` : ""}` : "";
    return h("li", {}, h("button", {
      class: "ops-alert", type: "button", dataset: { conversation: a.conversation_id },
      "aria-current": S.selected === a.conversation_id ? "true" : "false",
      title: "Show this conversation", onclick: () => openConversation(a.conversation_id),
    },
      h("span", { class: "ops-alert-top" },
        h("span", { class: "ops-alert-name" }, a.name || "Customer"),
        a.rolling != null ? h("span", { class: "senti senti-negative" }, fmtScore(a.rolling)) : null,
        h("time", { datetime: a.at }, clock(a.at))),
      h("span", { class: "ops-alert-msg" }, `${labelize(a.kind || "alert")}: ${a.message || ""}${action}`)));
  }));
}

/** Show a conversation from anywhere (an alert): mine, or a preview. */
async function openConversation(id) {
  if (S.convs.has(id)) {
    select(id);
  } else {
    try {
      const wire = await api(`/conversations/${encodeURIComponent(id)}`, { token: S.auth.token });
      await previewQueued(wire);
    } catch (err) {
      if (!handleAuth(err)) toast(`Couldn't open it: ${err.message}`, true);
      return;
    }
  }
  renderAlerts();
  const item = document.querySelector(`.list [data-conversation="${CSS.escape(id)}"]`);
  if (item) {
    item.scrollIntoView({ block: "nearest" });
    item.classList.remove("flash");
    void item.offsetWidth; // restart the animation
    item.classList.add("flash");
  }
}

// -- queue --------------------------------------------------------------------

async function refreshQueue() {
  if (!S.auth) return;
  clearTimeout(queueTimer);
  queueTimer = setTimeout(refreshQueue, QUEUE_REFRESH_MS);
  try {
    const data = await api("/conversations?status=queued,offered", { token: S.auth.token });
    S.queue = data.conversations || [];
    for (const q of S.queue) if (q.queue) S.knownQueues.add(q.queue);
    renderQueue();
  } catch (err) {
    handleAuth(err);
  }
}

async function take(id) {
  S.taking = id; // the "assigned" frame may come before the HTTP reply
  try {
    const wire = await api(`/conversations/${encodeURIComponent(id)}/assign`, { method: "POST", token: S.auth.token });
    S.queue = S.queue.filter((q) => q.id !== id);
    renderQueue();
    conv(id, wire);
    if (S.preview?.conv.id === id) S.preview = null;
    select(id);
    renderMine();
  } catch (err) {
    if (handleAuth(err)) return;
    if (err.status === 409) toast(`Someone else already took this conversation.`, true);
    else if (err.status === 404) toast("That conversation is no longer waiting.", true);
    else toast(`Couldn't take it: ${err.message}`, true);
    if (S.preview?.conv.id === id) S.preview = null;
    if (S.selected === id && !S.convs.has(id)) showPlaceholder();
    refreshQueue();
  } finally {
    if (S.taking === id) S.taking = null;
  }
}

// -- selection ----------------------------------------------------------------

function sortedConvs() {
  const last = (c) => {
    let t = Date.parse(c.wire.created_at || 0) || 0;
    for (const m of c.messages.values()) t = Math.max(t, Date.parse(m.created_at) || 0);
    return t;
  };
  return [...S.convs.values()].sort((a, b) =>
    (a.wire.status === "closed") - (b.wire.status === "closed") || last(b) - last(a));
}

function select(id) {
  stopTyping();
  const prev = S.convs.get(S.selected);
  if (prev) prev.draft = el.reply.value;
  S.selected = id;
  S.preview = null;
  store.set(KEY, { ...S.auth, selected: id });
  const c = S.convs.get(id);
  if (!c) return;
  c.unread = 0;
  showConversation();
  el.transcript.replaceChildren();
  for (const m of sortedMessages(c)) insertMessage(c, m, false);
  for (const [cid, p] of c.pending) renderPending(c, cid, p);
  el.reply.value = c.draft;
  renderHeader();
  renderComposer();
  renderTyping();
  renderMine();
  renderQueue();
  updateTitle();
  scrollDown(true);
  loadContext(id);
  if (c.wire.status !== "closed") el.reply.focus();
}

async function previewQueued(wire) {
  stopTyping();
  const prev = S.convs.get(S.selected);
  if (prev) prev.draft = el.reply.value;
  S.selected = wire.id;
  S.preview = { conv: wire, messages: new Map() };
  showConversation();
  el.transcript.replaceChildren();
  renderHeader();
  renderComposer();
  renderTyping();
  renderMine();
  renderQueue();
  loadContext(wire.id);
  try {
    const data = await api(`/conversations/${encodeURIComponent(wire.id)}/messages`, { token: S.auth.token });
    for (const m of data.messages || []) addPreviewMessage(m);
  } catch (err) {
    if (!handleAuth(err)) toast(`Couldn't load the transcript: ${err.message}`, true);
  }
}

function addPreviewMessage(m) {
  const p = S.preview;
  if (!p || p.messages.has(m.message_id)) return;
  p.messages.set(m.message_id, m);
  el.transcript.append(messageEl(m, null));
  scrollDown(false);
}

function showConversation() {
  el.placeholder.hidden = true;
  el.conversation.hidden = false;
}

function showPlaceholder() {
  S.selected = null;
  S.preview = null;
  el.placeholder.hidden = false;
  el.conversation.hidden = true;
  el.context.replaceChildren(h("p", { class: "empty-note" }, "Customer details appear here."));
  renderMine();
  renderQueue();
}

function drop(id, message) {
  S.convs.delete(id);
  if (message) toast(message);
  if (S.selected === id) {
    const next = sortedConvs()[0];
    if (next) select(next.id);
    else showPlaceholder();
  }
  renderMine();
  updateTitle();
}

function moveSelection(delta) {
  const list = sortedConvs();
  if (!list.length) return;
  const i = list.findIndex((c) => c.id === S.selected);
  const next = list[(i + delta + list.length) % list.length];
  select(next.id);
}

// -- rendering: lists -----------------------------------------------------------

function channelBadge(channel) {
  const ch = String(channel || "webchat");
  return h("span", { class: `badge ch ch-${ch.replace(/[^a-z]/gi, "")}` }, ch);
}

function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

function fmtScore(x) {
  const n = Number(x);
  if (!Number.isFinite(n)) return "";
  return `${n > 0 ? "+" : n < 0 ? "−" : ""}${Math.abs(n).toFixed(2)}`;
}

function moodClass(score) {
  if (score == null) return "";
  return score >= 0.05 ? "senti-positive" : score <= -0.05 ? "senti-negative" : "senti-neutral";
}

function renderMine() {
  const list = sortedConvs();
  el.mine.replaceChildren(...list.map((c) => {
    const msgs = sortedMessages(c);
    const last = msgs.at(-1);
    const closed = c.wire.status === "closed";
    const name = customerName(c.wire);
    const li = h("li", {
      class: `item${c.unread ? " unread" : ""}${closed ? " closed" : ""}${S.alerted.has(c.id) ? " alerted" : ""}`,
      "aria-current": S.selected === c.id ? "true" : "false",
      tabindex: "0", dataset: { conversation: c.id },
      onclick: () => select(c.id),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(c.id); } },
    },
      h("div", { class: "avatar sm", "aria-hidden": "true", style: `background:${hue(c.wire.customer?.id || c.id)}` }, initials(name)),
      h("div", { class: "item-main" },
        h("div", { class: "item-top" },
          h("span", { class: "item-name" }, name),
          c.rolling != null ? h("span", { class: `mood-dot ${moodClass(c.rolling)}`, title: `Mood ${fmtScore(c.rolling)}` }) : null,
          h("span", { class: "item-time" }, last ? clock(last.created_at) : "")),
        h("div", { class: "item-sub" },
          channelBadge(c.wire.channel),
          closed ? statusBadge("closed") : null,
          h("span", { class: "preview" }, last ? `${last.sender?.role === "agent" ? "You: " : ""}${last.text}` : "No messages yet"))),
      c.unread ? h("span", { class: "unread-count", "aria-label": `${c.unread} unread` }, String(c.unread)) : null,
      closed ? h("button", { class: "dismiss", type: "button", title: "Remove from list", "aria-label": `Remove ${name} from list`,
        onclick: (e) => { e.stopPropagation(); drop(c.id); } }, "×") : null);
    return li;
  }));
  const open = list.filter((c) => c.wire.status !== "closed").length;
  el.mineCount.textContent = list.length ? `(${open})` : "";
  el.mineEmpty.hidden = list.length > 0;
}

/** The open offer made to me for a conversation, if any. */
function myOfferFor(conversationId) {
  for (const [id, o] of S.offers) if (o.frame.conversation_id === conversationId && !o.expired) return id;
  return null;
}

function renderQueue() {
  el.queue.replaceChildren(...S.queue.map((q) => {
    const name = customerName(q);
    const topic = q.prechat?.topic || q.subject || "";
    const mineOffer = myOfferFor(q.id);
    // Offered: ringing at an agent right now (at me: Accept it here too);
    // taking it by hand withdraws the offer from whoever it rings at.
    const status = mineOffer ? h("span", { class: "badge status-offered", title: "Offered to you: see Incoming" }, "for you")
      : q.status === "offered" ? h("span", { class: "badge status-offered", title: "Ringing at an agent now" }, "offered")
      : h("span", { class: "badge status-queued", title: "Waiting for an available agent" }, "queued");
    const button = mineOffer
      ? h("button", { class: "btn btn-sm btn-ok take", type: "button", "aria-label": `Accept conversation with ${name}`,
        onclick: (e) => { e.stopPropagation(); answerOffer(mineOffer, true); } }, "Accept")
      : h("button", { class: "btn btn-sm take", type: "button", "aria-label": `Take conversation with ${name}`,
        title: q.status === "offered" ? "Take it by hand: the offer ringing at another agent is withdrawn" : "Take it by hand",
        onclick: (e) => { e.stopPropagation(); take(q.id); } }, "Take");
    return h("li", {
      class: `item${S.alerted.has(q.id) ? " alerted" : ""}`, tabindex: "0",
      dataset: { conversation: q.id, status: mineOffer ? "offered-to-me" : q.status },
      "aria-current": S.selected === q.id ? "true" : "false",
      onclick: () => previewQueued(q),
      onkeydown: (e) => { if (e.key === "Enter") previewQueued(q); },
    },
      h("div", { class: "avatar sm", "aria-hidden": "true", style: `background:${hue(q.customer?.id || q.id)}` }, initials(name)),
      h("div", { class: "item-main" },
        h("div", { class: "item-top" },
          h("span", { class: "item-name" }, name),
          h("span", { class: "item-time", title: `Waiting since ${dateTime(q.created_at)}` }, ago(q.created_at))),
        h("div", { class: "item-sub" }, channelBadge(q.channel), status,
          h("span", { class: "preview" }, [q.queue && q.queue !== "default" ? q.queue : null, topic].filter(Boolean).join(" · ")))),
      button);
  }));
  el.queueCount.textContent = S.queue.length ? `(${S.queue.length})` : "";
  el.queueEmpty.hidden = S.queue.length > 0;
}

const AVATAR_COLOURS = ["#3b6fd4", "#2f9468", "#b0563a", "#8a56c2", "#c2417a", "#2b8a9e", "#9a7b1f", "#5a6b8c"];

/** A stable avatar colour per customer. */
function hue(seed) {
  let x = 2166136261;
  for (const ch of String(seed)) x = Math.imul(x ^ ch.charCodeAt(0), 16777619) >>> 0;
  return AVATAR_COLOURS[x % AVATAR_COLOURS.length];
}

// -- rendering: the conversation ----------------------------------------------

function current() {
  return S.preview ? null : S.convs.get(S.selected);
}

function renderHeader() {
  const c = current();
  const wire = c ? c.wire : S.preview?.conv;
  if (!wire) return;
  el.convName.textContent = customerName(wire);
  const cu = wire.customer || {};
  el.convSub.replaceChildren(channelBadge(wire.channel), statusBadge(wire.status),
    h("span", {}, `Queue: ${wire.queue || "default"}`),
    ...(cu.email ? [h("span", {}, cu.email)] : []));
  const rolling = c?.rolling;
  el.convMood.replaceChildren(...(rolling != null ? [
    h("span", {}, "Mood"),
    h("span", { class: `senti ${moodClass(rolling)}`, title: "Rolling sentiment of the customer's messages", dataset: { rolling: rolling } },
      fmtScore(rolling)),
  ] : []));
  const preview = !c;
  el.take.hidden = !preview || !["queued", "offered"].includes(wire.status);
  el.transfer.hidden = preview || wire.status === "closed";
  el.close.hidden = preview || wire.status === "closed";
}

function renderComposer() {
  const c = current();
  const open = c && c.wire.status !== "closed";
  el.composer.hidden = !open;
  el.closedNote.hidden = !!open;
  el.closedNote.textContent = c ? "This conversation is closed." : "Take this conversation to reply.";
}

function renderTyping() {
  const c = current();
  const t = c?.typing;
  if (!t || t.until < Date.now() || c.wire.status === "closed") {
    el.typing.hidden = true;
    return;
  }
  el.typing.replaceChildren(`${t.name || customerName(c.wire)} is typing `,
    h("span", { class: "typing-dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")));
  el.typing.hidden = false;
}

function messageEl(m, c) {
  const role = ["customer", "agent", "bot", "system"].includes(m.sender?.role) ? m.sender.role : "system";
  const mine = role === "agent" && c && m.sender?.name === (S.auth.user?.display_name || S.auth.user?.username);
  const who = role === "customer" ? m.sender?.name || "Customer" : m.sender?.name || labelize(role);
  const li = h("li", { class: `msg msg-${role}`, dataset: { seq: m.seq, id: m.message_id } },
    role === "system" ? null : h("div", { class: "msg-head" },
      h("span", { class: "who" }, mine ? "You" : who),
      role === "bot" ? h("span", { class: "badge" }, "bot") : null,
      h("time", { datetime: m.created_at, title: dateTime(m.created_at) }, clock(m.created_at))),
    h("div", { class: "bubble" }, m.text),
    attachmentsEl(m.attachments));
  const s = c?.sentiment.get(m.message_id) || (m.sentiment?.score != null ? m.sentiment : null);
  if (s) renderSentimentBadge(li, s);
  return li;
}

/** What came with a message (MMS pictures, email files): name, type and size.
 * The gateway keeps a description, not the bytes, so there is nothing to open. */
function attachmentsEl(list) {
  if (!Array.isArray(list) || !list.length) return null;
  return h("ul", { class: "attachments", "aria-label": "Attachments" },
    ...list.map((a) => h("li", { class: "attachment", title: a.content_type || "" },
      h("span", { class: "attachment-name" }, a.filename || a.content_type || "attachment"),
      h("span", { class: "attachment-meta" },
        [a.content_type, bytes(a.size)].filter(Boolean).join(" · ")))));
}

function renderSentimentBadge(li, s) {
  if (!li.classList.contains("msg-customer")) return;
  li.querySelector(".senti")?.remove();
  const label = String(s.label || "").toLowerCase();
  const cls = ["positive", "negative", "neutral"].includes(label) ? `senti-${label}` : moodClass(s.score);
  li.querySelector(".msg-head")?.append(
    h("span", { class: `senti ${cls}`, title: `Sentiment ${Number(s.score).toFixed(3)}` },
      `${fmtScore(s.score)} ${label}`.trim()));
}

function insertMessage(c, m, live) {
  let li = c.els.get(m.message_id);
  if (!li) {
    li = messageEl(m, c);
    c.els.set(m.message_id, li);
  }
  const after = [...el.transcript.children].find(
    (x) => x.classList.contains("pending") || x.classList.contains("failed") || Number(x.dataset.seq) > m.seq);
  el.transcript.insertBefore(li, after || null);
  if (live) scrollDown(m.sender?.role === "agent");
}

function renderPending(c, clientId, p) {
  let li = c.els.get(`p:${clientId}`);
  if (!li) {
    li = h("li", { class: "msg msg-agent pending", dataset: { client: clientId } },
      h("div", { class: "msg-head" }, h("span", { class: "who" }, "You")),
      h("div", { class: "bubble" }, p.text),
      h("div", { class: "state" }, "Sending…"));
    c.els.set(`p:${clientId}`, li);
  }
  el.transcript.append(li);
  scrollDown(true);
}

function scrollDown(force) {
  const t = el.transcript;
  const near = t.scrollHeight - t.scrollTop - t.clientHeight < 150;
  if (force || near) requestAnimationFrame(() => { t.scrollTop = t.scrollHeight; });
}

// -- context pane -------------------------------------------------------------

async function loadContext(id) {
  try {
    const ctx = await api(`/conversations/${encodeURIComponent(id)}/context`, { token: S.auth.token });
    if (S.selected !== id) return;
    const c = S.convs.get(id);
    if (c) c.context = ctx;
    renderContext(ctx);
  } catch (err) {
    if (handleAuth(err) || S.selected !== id) return;
    el.context.replaceChildren(h("p", { class: "empty-note" }, `Couldn't load the context: ${err.message}`));
  }
}

function kv(obj) {
  const entries = Object.entries(obj || {}).filter(([, v]) => v !== null && v !== undefined && v !== "");
  if (!entries.length) return null;
  return h("dl", { class: "kv" }, entries.flatMap(([k, v]) => [
    h("dt", {}, labelize(k)),
    h("dd", {}, valueEl(v)),
  ]));
}

function valueEl(v) {
  if (typeof v === "string" && /^https?:\/\//i.test(v)) {
    return h("a", { href: v, target: "_blank", rel: "noopener noreferrer" }, v);
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function section(title, body, id) {
  return h("section", { class: "ctx-section", "aria-label": title, id },
    h("h4", {}, title), body || h("p", { class: "empty-note" }, "Nothing yet."));
}

function actorName(actor, ctx) {
  if (!actor) return "";
  if (actor === S.agentId) return "you";
  if (actor === ctx.customer?.id) return "customer";
  if (actor === "router" || actor === "system") return actor;
  return "agent";
}

function renderContext(ctx) {
  const cu = ctx.customer || {};
  const name = cu.name || cu.email || cu.phone || "Visitor";
  const contact = kv({ name: cu.name, email: cu.email, phone: cu.phone });
  const recent = (ctx.recent_conversations || []).map((r) =>
    h("li", {}, h("span", { class: "when" }, dateTime(r.created_at)), channelBadge(r.channel),
      h("span", {}, r.subject || r.prechat?.topic || r.status)));
  const timeline = (ctx.timeline || []).map((e) => {
    const extra = e.data?.queue && e.type !== "created" ? ` → ${e.data.queue}` : "";
    const who = actorName(e.actor, ctx);
    return h("li", {}, h("span", { class: "when" }, dateTime(e.created_at)),
      h("span", {}, `${labelize(e.type)}${extra}${who ? ` by ${who}` : ""}`));
  });
  el.context.replaceChildren(
    h("div", { class: "ctx-customer" },
      h("div", { class: "avatar lg", "aria-hidden": "true", style: `background:${hue(cu.id || name)}` }, initials(name)),
      h("div", {}, h("h3", {}, name), h("div", { class: "sub" }, cu.email || cu.phone || ""))),
    section("Customer", contact, "ctx-customer"),
    section("Pre-chat answers", kv(ctx.prechat), "ctx-prechat"),
    section("Page context", kv(ctx.context), "ctx-page"),
    section("Recent conversations", recent.length ? h("ul", { class: "ctx-list" }, recent) : null, "ctx-recent"),
    section("Timeline", timeline.length ? h("ul", { class: "ctx-list timeline" }, timeline) : null, "ctx-timeline"),
  );
}

// -- sending ------------------------------------------------------------------

function sendReply(event) {
  event?.preventDefault();
  const c = current();
  const text = el.reply.value.trim();
  if (!c || !text || c.wire.status === "closed") return;
  const clientId = uuid();
  const p = { text, created_at: new Date().toISOString() };
  c.pending.set(clientId, p);
  renderPending(c, clientId, p);
  el.reply.value = "";
  c.draft = "";
  stopTyping();
  socket.send({ type: "message", conversation_id: c.id, client_msg_id: clientId, text });
}

function resendPending(c) {
  for (const [clientId, p] of c.pending) {
    if (!socket?.send({ type: "message", conversation_id: c.id, client_msg_id: clientId, text: p.text })) return;
  }
}

let typingSentAt = 0;
let typingConv = null;
let typingIdle = null;

function onReplyInput() {
  const c = current();
  if (!c || c.wire.status === "closed") return;
  const now = Date.now();
  if (el.reply.value.trim() && (now - typingSentAt > TYPING_REPEAT_MS || typingConv !== c.id)) {
    if (socket?.send({ type: "typing", conversation_id: c.id, active: true })) {
      typingSentAt = now;
      typingConv = c.id;
    }
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typingIdle);
  const c = S.convs.get(typingConv);
  if (typingSentAt && c && c.wire.status !== "closed") {
    socket?.send({ type: "typing", conversation_id: typingConv, active: false });
  }
  typingSentAt = 0;
  typingConv = null;
}

// -- dialogs ------------------------------------------------------------------

/** Show the dialog; resolves with the form's values on OK, null on cancel. */
function ask(title, body, okLabel, danger = false) {
  el.dialogTitle.textContent = title;
  el.dialogBody.replaceChildren(...body);
  el.dialogOk.textContent = okLabel;
  el.dialogOk.className = danger ? "btn btn-danger" : "btn btn-primary";
  el.dialog.returnValue = "";
  el.dialog.showModal();
  el.dialogBody.querySelector("input, textarea")?.focus();
  return new Promise((resolve) => {
    el.dialog.addEventListener("close", () => {
      if (el.dialog.returnValue !== "ok") return resolve(null);
      const values = {};
      for (const input of el.dialogBody.querySelectorAll("[name]")) values[input.name] = input.value.trim();
      resolve(values);
    }, { once: true });
  });
}

async function transferCurrent() {
  const c = current();
  if (!c) return;
  const options = [...S.knownQueues].sort().map((q) => h("option", { value: q }));
  const values = await ask("Transfer conversation", [
    h("p", {}, `Move ${customerName(c.wire)} to another queue. The next available agent there picks it up.`),
    h("div", { class: "field" }, h("label", { for: "transfer-queue" }, "Queue"),
      h("input", { class: "input", id: "transfer-queue", name: "queue", list: "queue-names", required: true, maxlength: "100", autocomplete: "off" }),
      h("datalist", { id: "queue-names" }, options)),
    h("div", { class: "field" }, h("label", { for: "transfer-note" }, "Note for the next agent ", h("span", { class: "hint" }, "optional")),
      h("textarea", { class: "input", id: "transfer-note", name: "note", rows: "2", maxlength: "2000" })),
  ], "Transfer");
  if (!values?.queue) return;
  if (!socket?.send({ type: "transfer", conversation_id: c.id, queue: values.queue, ...(values.note ? { note: values.note } : {}) })) {
    toast("Not connected; try again in a moment.", true);
  }
}

async function closeCurrent() {
  const c = current();
  if (!c) return;
  const ok = await ask("Close conversation?", [
    h("p", {}, `The conversation with ${customerName(c.wire)} will end. If they write again, a new conversation starts.`),
  ], "Close conversation", true);
  if (!ok) return;
  if (!socket?.send({ type: "close", conversation_id: c.id })) {
    toast("Not connected; try again in a moment.", true);
  }
}

function showShortcuts() {
  const rows = [
    ["Enter", "Send the reply"], ["Shift+Enter", "New line in the reply"],
    ["Alt+↑ / Alt+↓", "Previous / next conversation"], ["Alt+A", "Accept the oldest offer"],
    ["Alt+R", "Reject the oldest offer"], ["Alt+Q", "Refresh the waiting queue"], ["Esc", "Close a dialog"],
  ];
  ask("Keyboard shortcuts", [h("div", { class: "shortcuts" }, rows.flatMap(([k, v]) => [h("kbd", {}, k), h("span", {}, v)]))], "OK");
}

// -- small things -------------------------------------------------------------

function toast(text, error = false) {
  const t = h("div", { class: `toast${error ? " error" : ""}` }, text);
  el.toasts.append(t);
  setTimeout(() => t.remove(), error ? 7000 : 4500);
}

function announce(text) {
  el.announcer.textContent = text;
}

function updateTitle() {
  let unread = 0;
  for (const c of S.convs.values()) unread += c.unread;
  const n = unread + S.offers.size;
  document.title = `${n ? `(${n}) ` : ""}Switchboard console`;
}

function showConn(state) {
  const text = { online: "Connected", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline" }[state] || state;
  el.conn.dataset.state = state;
  el.conn.replaceChildren(h("span", { class: "dot", "aria-hidden": "true" }), text);
}

/** A 401 means the sign-in ran out: back to the login form. */
function handleAuth(err) {
  if (err instanceof ApiError && err.status === 401) {
    logout("Your session has expired. Please sign in again.");
    return true;
  }
  return false;
}

// -- sign in and out ----------------------------------------------------------

async function login(event) {
  event.preventDefault();
  el.loginError.hidden = true;
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) {
    showLoginError("Enter your username and password.");
    return;
  }
  el.loginSubmit.disabled = true;
  el.loginSubmit.textContent = "Signing in…";
  try {
    const data = await api("/auth/token", { method: "POST", body: { username, password } });
    S.auth = { token: data.access_token, user: data.user || { username } };
    store.set(KEY, S.auth);
    $("password").value = "";
    start();
  } catch (err) {
    showLoginError(err.status === 401 ? "Wrong username or password." :
      err.status === 429 ? "Too many attempts. Wait a moment and try again." :
      err.code === "network" ? err.message : `Sign-in failed: ${err.message}`);
  } finally {
    el.loginSubmit.disabled = false;
    el.loginSubmit.textContent = "Sign in";
  }
}

function showLoginError(text) {
  el.loginError.textContent = text;
  el.loginError.hidden = false;
  $("password").focus();
}

function start() {
  el.login.hidden = true;
  el.app.hidden = false;
  const user = S.auth.user || {};
  const name = user.display_name || user.username || "Agent";
  el.meName.textContent = name;
  el.meAvatar.textContent = initials(name);
  socket = new LiveSocket("/ws/agent", {
    hello: () => {
      const after = {};
      for (const c of S.convs.values()) if (c.lastSeq > 0) after[c.id] = c.lastSeq;
      return { type: "hello", token: S.auth.token, after_seq: after };
    },
    onFrame,
    onState: showConn,
    onFatal: () => logout("Your session has expired. Please sign in again."),
  });
  window.__switchboard = {
    receive: onFrame,
    socket,
    state: S,
    get sent() { return socket.sent; },
  };
  socket.start();
  let ticks = 0;
  tickTimer = setInterval(() => {
    tickOffers();
    renderTyping();
    if (++ticks % 4 === 0) renderOps(); // ages the longest waits
  }, 250);
  clearInterval(start.ages);
  start.ages = setInterval(renderQueue, 30_000); // keep the "waiting for" times fresh
  refreshQueue();
}

function logout(message) {
  socket?.stop();
  socket = null;
  clearTimeout(queueTimer);
  clearInterval(tickTimer);
  store.remove(KEY);
  S.auth = null;
  S.convs.clear();
  S.offers.clear();
  el.offers.replaceChildren();
  S.role = null;
  S.ops = null;
  S.opsAt = 0;
  S.alerts = [];
  S.alerted.clear();
  renderAlerts();
  renderOpsVisibility();
  clearInterval(start.ages);
  S.queue = [];
  showPlaceholder();
  renderOffersHeader();
  el.app.hidden = true;
  el.login.hidden = false;
  if (message) {
    el.loginError.textContent = message;
    el.loginError.className = "alert alert-info";
    el.loginError.hidden = false;
  }
  $("username").focus();
}

// -- wiring -------------------------------------------------------------------

el.loginForm.addEventListener("submit", (e) => {
  el.loginError.className = "alert";
  login(e);
});
$("logout").addEventListener("click", () => logout(null));
$("shortcuts-btn").addEventListener("click", showShortcuts);
$("queue-refresh").addEventListener("click", refreshQueue);
el.presence.addEventListener("change", () => {
  const status = el.presence.value;
  if (!socket?.send({ type: "presence", status })) {
    S.wantPresence = status;
    toast("Not connected; your status will be set when the connection is back.", true);
  }
  setPresence(status);
});
el.composer.addEventListener("submit", sendReply);
el.reply.addEventListener("input", onReplyInput);
el.reply.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) sendReply(e);
});
el.take.addEventListener("click", () => S.preview && take(S.preview.conv.id));
el.transfer.addEventListener("click", transferCurrent);
el.close.addEventListener("click", closeCurrent);
document.addEventListener("keydown", (e) => {
  if (!S.auth || el.dialog.open || !e.altKey || e.ctrlKey || e.metaKey) return;
  const first = [...S.offers.keys()][0];
  if (e.key === "ArrowUp") moveSelection(-1);
  else if (e.key === "ArrowDown") moveSelection(1);
  else if (e.code === "KeyA" && first) answerOffer(first, true);
  else if (e.code === "KeyR" && first) answerOffer(first, false);
  else if (e.code === "KeyQ") refreshQueue();
  else return;
  e.preventDefault();
});
document.addEventListener("visibilitychange", () => {
  const c = current();
  if (!document.hidden && c && c.unread) {
    c.unread = 0;
    renderMine();
    updateTitle();
  }
});

const saved = store.get(KEY);
if (saved?.token) {
  S.auth = { token: saved.token, user: saved.user };
  S.wantSelected = saved.selected; // reselected once the welcome lists it
  start();
} else {
  el.login.hidden = false;
  $("username").focus();
}

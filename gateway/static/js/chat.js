// The visitor web-chat widget (/chat).
//
// Pre-chat form -> POST /api/v1/webchat/sessions -> WS /ws/visitor.
// The token, the transcript and the messages not yet acknowledged live in
// sessionStorage, so a reload (or a dropped connection) resumes the same
// conversation: the hello carries after_seq = the last seq we hold with no
// gap below it, and un-acked messages are sent again with the same
// client_msg_id (the server acks a repeat without storing it twice).

import { api } from "./api.js";
import { LiveSocket } from "./live.js";
import { clock, h, store, uuid } from "./util.js";
import { clearSurvey, onSurveyFrame } from "./survey.js";
import { invitationContext, setupPrechat, surveyActive, surveyAnswers, widgetId } from "./prechat.js";
import { chatStarted, setupDeflection } from "./deflect.js";

const KEY = "switchboard.chat";
const TYPING_REPEAT_MS = 3000; // re-announce "typing" at most this often
const TYPING_IDLE_MS = 4000; // ...and say "stopped" after this long idle
const THEIR_TYPING_TTL_MS = 8000; // hide their indicator if no update comes

const $ = (id) => document.getElementById(id);
const el = {
  prechat: $("prechat"), form: $("prechat-form"), formError: $("prechat-error"),
  submit: $("pc-submit"), chat: $("chat"), transcript: $("transcript"), typing: $("typing"),
  notice: $("notice"), ended: $("ended"), composer: $("composer"), input: $("message"),
  status: $("status-line"), conn: $("conn"), newChat: $("new-chat"),
};

/** Everything that survives a reload. */
let state = null;
const rendered = new Map(); // message_id -> <li>
const pendingEls = new Map(); // client_msg_id -> <li>
let socket = null;

// -- persistence --------------------------------------------------------------

function save() {
  store.set(KEY, state);
}

function advanceLastSeq() {
  const seqs = new Set(state.messages.map((m) => m.seq));
  while (seqs.has(state.lastSeq + 1)) state.lastSeq += 1;
}

// -- pre-chat -----------------------------------------------------------------

function prefill() {
  const q = new URLSearchParams(location.search);
  const last = store.get(`${KEY}.me`) || {};
  $("pc-name").value = q.get("name") || last.name || "";
  $("pc-email").value = q.get("email") || last.email || "";
  const topic = q.get("topic");
  if (topic) $("pc-topic").value = topic;
}

/** What the agent sees as "page context": where the visitor is and on what. */
function pageContext() {
  const q = new URLSearchParams(location.search);
  const embedded = window.parent !== window;
  const context = {
    page_url: q.get("page") || (embedded && document.referrer) || location.href,
    referrer: document.referrer || undefined,
    browser: browserName(navigator.userAgent),
    language: navigator.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    screen: `${screen.width}x${screen.height}`,
  };
  // Custom variables from the embedding page: /chat?ctx.plan=pro&ctx.order=123
  for (const [key, value] of q) if (key.startsWith("ctx.")) context[key.slice(4)] = value;
  return context;
}

/** "Safari 17 on macOS": what an agent needs, not the whole user agent string. */
function browserName(ua) {
  const version = (re) => re.exec(ua)?.[1];
  const browser =
    version(/Edg\/(\d+)/) ? `Edge ${version(/Edg\/(\d+)/)}` :
    version(/OPR\/(\d+)/) ? `Opera ${version(/OPR\/(\d+)/)}` :
    version(/Firefox\/(\d+)/) ? `Firefox ${version(/Firefox\/(\d+)/)}` :
    version(/Chrome\/(\d+)/) ? `Chrome ${version(/Chrome\/(\d+)/)}` :
    version(/Version\/(\d+).*Safari/) ? `Safari ${version(/Version\/(\d+).*Safari/)}` : "Unknown browser";
  const os = /Windows/.test(ua) ? "Windows" : /iPhone|iPad/.test(ua) ? "iOS" :
    /Mac OS X/.test(ua) ? "macOS" : /Android/.test(ua) ? "Android" : /CrOS/.test(ua) ? "ChromeOS" :
    /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

function fieldError(input, message) {
  input.setAttribute("aria-invalid", message ? "true" : "false");
  const id = `${input.id}-error`;
  $(id)?.remove();
  if (message) {
    input.after(h("div", { class: "field-error", id }, message));
    input.setAttribute("aria-describedby", id);
  } else {
    input.removeAttribute("aria-describedby");
  }
}

function validate() {
  const checks = [
    [$("pc-name"), (v) => (v.trim() ? "" : "Please tell us your name.")],
    [$("pc-email"), (v, i) => (!v.trim() ? "Please enter your email." :
      i.validity.typeMismatch ? "That doesn't look like an email address." : "")],
    [$("pc-topic"), (v) => (v || surveyActive() ? "" : "Please choose a topic.")],
  ];
  let first = null;
  for (const [input, check] of checks) {
    const message = check(input.value, input);
    fieldError(input, message);
    if (message && !first) first = input;
  }
  const surveyOk = !surveyActive() || surveyAnswers(fieldError) !== null;
  first?.focus();
  return !first && surveyOk;
}

// One key per chat started: a retry after a lost answer gets the same chat.
let sessionKey = null;

async function startChat(event) {
  event.preventDefault();
  el.formError.hidden = true;
  if (!validate()) return;
  const name = $("pc-name").value.trim();
  const email = $("pc-email").value.trim();
  const topicSelect = $("pc-topic");
  const question = $("pc-question").value.trim();
  el.submit.disabled = true;
  el.submit.textContent = "Connecting…";
  try {
    const session = await api("/webchat/sessions", {
      method: "POST",
      body: {
        name,
        email,
        language: navigator.language?.slice(0, 20),
        prechat: surveyActive() ? surveyAnswers(fieldError)
          : { topic: topicSelect.selectedOptions[0].textContent, ...(question ? { question } : {}) },
        context: { ...pageContext(), ...invitationContext() },
        ...(widgetId() ? { widget: widgetId() } : {}),
        session_key: (sessionKey ??= uuid()),
      },
    });
    sessionKey = null;
    store.set(`${KEY}.me`, { name, email });
    chatStarted();
    state = {
      token: session.visitor_token,
      conversationId: session.conversation_id,
      name,
      status: "queued",
      lastSeq: 0,
      messages: [],
      pending: [],
    };
    if (question) state.pending.push({ client_msg_id: uuid(), text: question, created_at: new Date().toISOString() });
    save();
    openChat();
  } catch (err) {
    el.formError.textContent = err.code === "invalid_field" && /email/i.test(err.message)
      ? "That email address doesn't look right. Please check it."
      : /^prechat\./.test(err.message || "") || err.code === "unknown_widget" ? err.message
      : err.status === 429 ? "Too many attempts. Please wait a moment and try again."
      : err.code === "network" ? err.message
      : "We couldn't start the chat just now. Please try again in a moment.";
    el.formError.hidden = false;
  } finally {
    el.submit.disabled = false;
    el.submit.textContent = "Start chat";
  }
}

// -- the chat -----------------------------------------------------------------

function openChat() {
  el.prechat.hidden = true;
  el.chat.hidden = false;
  el.transcript.replaceChildren();
  rendered.clear();
  pendingEls.clear();
  for (const m of state.messages) renderMessage(m, false);
  for (const p of state.pending) renderPending(p);
  setStatus(state.status);
  scrollDown(true);
  socket = new LiveSocket("/ws/visitor", {
    hello: () => ({ type: "hello", token: state.token, after_seq: state.lastSeq }),
    onFrame,
    onState: showConnection,
    onFatal: () => {
      // The token is no longer valid (expired, or the conversation is gone).
      const expired = state;
      resetToPrechat("Your previous chat session has expired. Please start a new chat.");
      if (expired) store.set(`${KEY}.me`, { name: expired.name, email: $("pc-email").value });
    },
  });
  window.__switchboard = { socket, receive: onFrame, get state() { return state; } };
  socket.start();
  el.input.focus();
}

function resetToPrechat(message) {
  clearSurvey();
  socket?.stop();
  socket = null;
  state = null;
  store.remove(KEY);
  el.chat.hidden = true;
  el.prechat.hidden = false;
  el.status.replaceChildren("We usually reply in a few minutes");
  el.conn.hidden = true;
  prefill();
  if (message) {
    el.formError.textContent = message;
    el.formError.className = "alert alert-info";
    el.formError.hidden = false;
  }
  $("pc-name").focus();
}

function showConnection(connState) {
  const text = { connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline" }[connState];
  el.conn.hidden = !text || connState === "connecting";
  el.conn.textContent = text || "";
}

const STATUS_TEXT = {
  queued: "Waiting for the next available agent…",
  offered: "Waiting for the next available agent…",
  assigned: "You're chatting with our team",
  closed: "This chat has ended",
};

function setStatus(status) {
  state.status = status;
  const agent = status === "assigned" ? lastAgentName() : null;
  el.status.dataset.status = status;
  el.status.replaceChildren(
    h("span", { class: "dot", "aria-hidden": "true" }),
    agent ? `You're chatting with ${agent}` : STATUS_TEXT[status] || status,
  );
  const closed = status === "closed";
  el.ended.hidden = !closed;
  el.composer.hidden = closed;
  if (closed) showTyping(null);
}

function lastAgentName() {
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const s = state.messages[i].sender;
    if (s?.role === "agent" && s.name) return s.name;
  }
  return null;
}

function onFrame(frame) {
  switch (frame.type) {
    case "welcome":
      if (frame.conversation_id !== state.conversationId) return;
      clearNotice();
      resendPending();
      break;
    case "status":
      setStatus(frame.status);
      save();
      break;
    case "message":
      addMessage(frame);
      break;
    case "ack":
      onAck(frame);
      break;
    case "typing":
      if (frame.sender?.role !== "customer") showTyping(frame.active ? frame.sender : null);
      break;
    case "error":
      if (!onSurveyFrame(frame, surveyContext())) onError(frame);
      break;
    case "survey":
    case "survey_recorded":
      onSurveyFrame(frame, surveyContext());
      break;
    default:
      break; // pong and anything newer than this page
  }
}

function surveyContext() {
  return { container: el.ended, send: (frame) => Boolean(socket?.send(frame)) };
}

function addMessage(m) {
  if (rendered.has(m.message_id)) return;
  const message = {
    message_id: m.message_id, seq: m.seq, sender: m.sender, text: m.text, created_at: m.created_at,
  };
  state.messages.push(message);
  state.messages.sort((a, b) => a.seq - b.seq);
  advanceLastSeq();
  save();
  renderMessage(message, true);
  if (m.sender?.role !== "customer") showTyping(null);
  if (m.sender?.role === "agent" && state.status === "assigned") setStatus("assigned");
}

function onAck(ack) {
  const i = state.pending.findIndex((p) => p.client_msg_id === ack.client_msg_id);
  if (i < 0) return;
  const [p] = state.pending.splice(i, 1);
  pendingEls.get(p.client_msg_id)?.remove();
  pendingEls.delete(p.client_msg_id);
  addMessage({
    message_id: ack.message_id, seq: ack.seq, text: p.text, created_at: p.created_at,
    sender: { role: "customer", name: state.name },
  });
  save();
}

function onError(err) {
  const pending = state.pending.find((p) => p.client_msg_id === err.ref);
  switch (err.code) {
    case "text_too_long": {
      const limit = /limit is (\d+)/.exec(err.message || "")?.[1];
      fail(pending, "Too long to send");
      notice(`That message is too long${limit ? ` (the limit is ${Number(limit).toLocaleString()} characters)` : ""}. Please shorten it and send it again.`);
      break;
    }
    case "empty_text":
      fail(pending, null);
      break;
    case "conversation_closed":
      fail(pending, "Not delivered");
      notice("This chat has ended, so your message wasn't delivered. You can start a new chat.");
      setStatus("closed");
      save();
      break;
    case "storage_unavailable":
      // Not stored; the same client_msg_id is safe to send again.
      setTimeout(resendPending, 2000);
      break;
    case "rate_limited":
      notice("You're sending messages very quickly. Please slow down a little.");
      setTimeout(resendPending, 1500);
      break;
    default:
      if (pending) fail(pending, "Not sent");
      notice(err.message ? `Something went wrong: ${err.message}` : "Something went wrong. Please try again.");
  }
}

/** Stop retrying a message the server refused; show it as failed (or drop it). */
function fail(pending, label) {
  if (!pending) return;
  state.pending = state.pending.filter((p) => p !== pending);
  save();
  const li = pendingEls.get(pending.client_msg_id);
  pendingEls.delete(pending.client_msg_id);
  if (!li) return;
  if (!label) {
    li.remove();
    return;
  }
  li.classList.remove("pending");
  li.classList.add("failed");
  const edit = h("button", { type: "button" }, "Edit");
  edit.addEventListener("click", () => {
    el.input.value = pending.text;
    li.remove();
    autosize();
    el.input.focus();
  });
  li.querySelector(".meta").replaceChildren(`${label} · `, edit);
}

function notice(text) {
  el.notice.textContent = text;
  el.notice.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(clearNotice, 10_000);
}

function clearNotice() {
  el.notice.hidden = true;
}

// -- rendering ----------------------------------------------------------------

function renderMessage(m, live) {
  const role = ["customer", "agent", "bot", "system"].includes(m.sender?.role) ? m.sender.role : "system";
  const who = role === "customer" ? "You" : m.sender?.name || (role === "bot" ? "Assistant" : "Support");
  const li = h("li", { class: `msg msg-${role}`, dataset: { seq: m.seq, id: m.message_id } },
    h("span", { class: "sr-only" }, `${who}: `),
    h("div", { class: "bubble" }, m.text),
    role === "system" ? null : h("div", { class: "meta", "aria-hidden": "true" },
      role === "customer" ? clock(m.created_at) : `${who} · ${clock(m.created_at)}`));
  rendered.set(m.message_id, li);
  // Keep seq order; un-acked messages stay at the bottom.
  const after = [...el.transcript.children].find(
    (c) => c.classList.contains("pending") || c.classList.contains("failed") || Number(c.dataset.seq) > m.seq);
  el.transcript.insertBefore(li, after || null);
  if (live) scrollDown(role === "customer");
}

function renderPending(p) {
  const li = h("li", { class: "msg msg-customer pending", dataset: { client: p.client_msg_id } },
    h("span", { class: "sr-only" }, "You (sending): "),
    h("div", { class: "bubble" }, p.text),
    h("div", { class: "meta" }, "Sending…"));
  pendingEls.set(p.client_msg_id, li);
  el.transcript.append(li);
  scrollDown(true);
}

function scrollDown(force) {
  const t = el.transcript;
  const nearBottom = t.scrollHeight - t.scrollTop - t.clientHeight < 120;
  if (force || nearBottom) requestAnimationFrame(() => { t.scrollTop = t.scrollHeight; });
}

function showTyping(sender) {
  clearTimeout(showTyping.timer);
  if (!sender) {
    el.typing.hidden = true;
    return;
  }
  el.typing.replaceChildren(`${sender.name || "Support"} is typing `,
    h("span", { class: "typing-dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")));
  el.typing.hidden = false;
  showTyping.timer = setTimeout(() => { el.typing.hidden = true; }, THEIR_TYPING_TTL_MS);
}

// -- sending ------------------------------------------------------------------

function send(event) {
  event?.preventDefault();
  const text = el.input.value.trim();
  if (!text || !state || state.status === "closed") return;
  const p = { client_msg_id: uuid(), text, created_at: new Date().toISOString() };
  state.pending.push(p);
  save();
  renderPending(p);
  el.input.value = "";
  autosize();
  stopTyping();
  socket.send({ type: "message", client_msg_id: p.client_msg_id, text: p.text });
}

function resendPending() {
  if (!state) return;
  for (const p of state.pending) {
    if (!socket?.send({ type: "message", client_msg_id: p.client_msg_id, text: p.text })) return;
  }
}

let typingSentAt = 0;
let typingIdle = null;

function onInput() {
  autosize();
  if (!state || state.status === "closed") return;
  const now = Date.now();
  if (el.input.value.trim() && now - typingSentAt > TYPING_REPEAT_MS) {
    if (socket?.send({ type: "typing", active: true })) typingSentAt = now;
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typingIdle);
  if (typingSentAt) socket?.send({ type: "typing", active: false });
  typingSentAt = 0;
}

function autosize() {
  el.input.style.height = "auto";
  el.input.style.height = `${Math.min(el.input.scrollHeight + 2, 140)}px`;
}

// -- start --------------------------------------------------------------------

el.form.addEventListener("submit", startChat);
el.composer.addEventListener("submit", send);
el.input.addEventListener("input", onInput);
el.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e);
});
el.newChat.addEventListener("click", () => resetToPrechat(null));

state = store.get(KEY);
if (state?.token && state.conversationId) {
  state.messages ||= [];
  state.pending ||= [];
  state.lastSeq ||= 0;
  openChat();
} else {
  state = null;
  prefill();
}
setupDeflection({ form: el.form, input: $("pc-question"), before: el.submit });
setupPrechat({
  form: el.form,
  before: $("pc-question").closest(".field"),
  builtInTopic: $("pc-topic").closest(".field"),
  onInvitationAccepted: () => $("pc-name").focus(),
  onError: (message) => {
    el.formError.textContent = message;
    el.formError.hidden = false;
  },
});

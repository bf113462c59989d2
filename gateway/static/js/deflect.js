// Help-center articles suggested before a chat starts (deflection).
//
// While the visitor writes "How can we help?", the widget asks
// GET /api/v1/kb/suggestions?q=... after a pause in typing and shows up to
// three published articles as links to the help center (/kb/{id}, a new
// tab). What they lead to is counted with POST /api/v1/kb/deflections:
// `shown` once a visit (the first time any appear), `clicked` for each
// article opened, and `chat_started` when the visitor starts the chat anyway
// after seeing them. Counting never gets in the way of the chat: its errors
// are ignored.

import { api } from "./api.js";
import { h } from "./util.js";

const DELAY_MS = 400; // after the last keystroke
const MIN_CHARS = 8; // "hi there" is not a question yet
const SHOWN_KEY = "switchboard.deflection.shown"; // this tab's visit saw suggestions

let box = null;
let list = null;
let timer = null;
let asked = 0; // answers to older questions are dropped

function count(event, articleId) {
  const body = articleId ? { event, article_id: articleId } : { event };
  return api("/kb/deflections", { method: "POST", body }).catch(() => {});
}

function language() {
  return new URLSearchParams(location.search).get("lang") || null;
}

function render(articles) {
  list.replaceChildren(...articles.map((a) => h("li", { class: "deflect-article" },
    h("a", {
      href: a.url, target: "_blank", rel: "noopener", dataset: { articleId: a.id },
      onclick: () => count("clicked", a.id),
    }, a.title),
    a.snippet ? h("p", { class: "deflect-snippet" }, a.snippet) : null)));
  box.hidden = !articles.length;
  if (articles.length && !sessionStorage.getItem(SHOWN_KEY)) {
    sessionStorage.setItem(SHOWN_KEY, "1");
    count("shown");
  }
}

async function suggest(text) {
  const mine = ++asked;
  if (text.trim().length < MIN_CHARS) {
    render([]);
    return;
  }
  const params = new URLSearchParams({ q: text.slice(-1000) });
  const lang = language();
  if (lang) params.set("language", lang);
  try {
    const found = await api(`/kb/suggestions?${params}`);
    if (mine === asked) render(found.articles || []);
  } catch {
    if (mine === asked) render([]); // rate-limited, portal off, offline: no suggestions
  }
}

/** Show suggestions under `input` (the pre-chat question), inserted before `before`. */
export function setupDeflection({ form, input, before }) {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/css/deflect.css" }));
  list = h("ul", { class: "deflect-list", "aria-labelledby": "deflect-title" });
  box = h("section", { class: "deflect", id: "deflect", "aria-live": "polite", hidden: true },
    h("p", { class: "deflect-title", id: "deflect-title" }, "These articles may answer it:"),
    list);
  form.insertBefore(box, before);
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => suggest(input.value), DELAY_MS);
  });
}

/** The chat is starting: counted when suggestions were shown in this visit. */
export function chatStarted() {
  clearTimeout(timer);
  asked += 1;
  if (box) box.hidden = true;
  if (sessionStorage.getItem(SHOWN_KEY)) {
    sessionStorage.removeItem(SHOWN_KEY); // the next chat is another visit
    count("chat_started");
  }
}

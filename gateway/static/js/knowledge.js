// Smart assist in the console: articles suggested for what the customer
// wrote (refreshed by the server's "suggestions" frame after every customer
// message), similar closed conversations, a knowledge-base search, and one
// click to send an article to the customer (as a link or as text).
//
// Like guidance.js it follows the console instead of being called by it: it
// reads window.__switchboard.state, watches the context pane (re-rendered on
// every selection), and hears frames through the "switchboard:frame" event
// console.js dispatches. Everything from the server goes in as text.

import { ApiError, api } from "./api.js";
import { barChart } from "./charts.js";
import { h } from "./util.js";
import { consoleState as state, consoleToken as token } from "./console_state.js";

const $ = (id) => document.getElementById(id);
const SEARCH_DELAY_MS = 200;

function selectedId() {
  const S = state();
  if (!S || S.preview || !S.selected || !S.convs.has(S.selected)) return null;
  return S.selected;
}

function toast(text, kind = "error") {
  const t = h("div", { class: `toast ${kind}` }, text);
  $("toasts")?.append(t);
  setTimeout(() => t.remove(), 6000);
}

const panel = h("section", {
  class: "kb-panel", id: "kb-panel", "aria-labelledby": "kb-title", hidden: true,
});
const searchBox = h("input", {
  class: "input kb-search", id: "kb-search", type: "search", maxlength: "300",
  placeholder: "Search the knowledge base", "aria-label": "Search the knowledge base",
});
const articlesList = h("ul", { class: "kb-articles", id: "kb-articles", "aria-live": "polite" });
const similarList = h("ul", { class: "kb-similar", id: "kb-similar" });
const similarBlock = h("div", { class: "kb-similar-block", hidden: true },
  h("h3", { class: "ops-sub" }, "Similar conversations"), similarList);
panel.append(
  h("h2", { class: "section-title", id: "kb-title" }, "Suggested articles"),
  searchBox, articlesList, similarBlock,
);

let shownFor = null;
let loadSeq = 0;
let searchTimer = null;
let lastSuggestions = { articles: [], similar: [] };

function placePanel() {
  const context = $("context");
  if (context && panel.parentNode !== context.parentNode) context.before(panel);
}

function articleItem(article) {
  const open = h("a", {
    class: "kb-title-link", href: `/kb/${encodeURIComponent(article.id)}`,
    target: "_blank", rel: "noopener",
  }, article.title);
  const canSend = Boolean(selectedId()) && isMine();
  return h("li", { class: "kb-article", dataset: { articleId: article.id } },
    open,
    article.snippet ? h("p", { class: "kb-snippet" }, article.snippet) : null,
    h("div", { class: "kb-actions" },
      h("button", {
        class: "btn btn-sm kb-send", type: "button", disabled: !canSend,
        onclick: () => sendArticle(article, "link"),
      }, "Send link"),
      h("button", {
        class: "btn btn-sm kb-send-text", type: "button", disabled: !canSend,
        onclick: () => sendArticle(article, "text"),
      }, "Send text"),
    ),
  );
}

function isMine() {
  const S = state();
  const c = S?.convs?.get(S.selected);
  const wire = c?.wire || c;
  if (!wire) return false;
  if (S.role === "supervisor" || S.role === "admin") return true;
  return !wire.assigned_agent_id || wire.assigned_agent_id === S.agentId;
}

function render(found, { searched = false } = {}) {
  const articles = found.articles || [];
  articlesList.replaceChildren(
    ...(articles.length
      ? articles.map(articleItem)
      : [h("li", { class: "empty-note" },
        searched ? "No published article matches." : "No suggestion yet.")]),
  );
  const similar = found.similar || [];
  similarBlock.hidden = searched || similar.length === 0;
  similarList.replaceChildren(...similar.map((s) => h("li", { class: "kb-similar-item" },
    h("span", {}, s.subject || `Conversation ${s.conversation_id.slice(-6)}`),
    s.case_id ? h("span", { class: "kb-case" }, ` · case ${s.case_id}`) : null,
    h("span", { class: "kb-score" }, ` · ${Math.round(s.score * 100)}%`),
  )));
}

async function load(id) {
  const mine = ++loadSeq;
  shownFor = id;
  searchBox.value = "";
  if (!id || !token()) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  try {
    const found = await api(`/conversations/${encodeURIComponent(id)}/suggestions`, { token: token() });
    if (mine !== loadSeq) return;
    lastSuggestions = found;
    render(found);
  } catch (err) {
    if (mine !== loadSeq) return;
    if (err instanceof ApiError && err.status === 404) {
      panel.hidden = true;
      return;
    }
    render({ articles: [], similar: [] });
  }
}

async function search(q) {
  const mine = ++loadSeq;
  if (!q.trim()) {
    render(lastSuggestions);
    return;
  }
  try {
    const found = await api(`/kb/search?${new URLSearchParams({ q, limit: "8" })}`);
    if (mine !== loadSeq) return;
    render(found, { searched: true });
  } catch {
    /* keep what is shown */
  }
}

async function sendArticle(article, mode) {
  const id = selectedId();
  if (!id) return;
  try {
    await api(`/conversations/${encodeURIComponent(id)}/articles`, {
      method: "POST", token: token(), body: { article_id: article.id, mode },
    });
    toast(`Sent “${article.title}”`, "info");
  } catch (err) {
    toast(err.message || "Could not send the article");
  }
}

function followSelection() {
  placePanel();
  const id = selectedId();
  if (id !== shownFor) load(id);
}

function onFrame(event) {
  const frame = event.detail;
  if (frame?.type !== "suggestions" || frame.conversation_id !== shownFor) return;
  lastSuggestions = frame;
  if (!searchBox.value.trim()) render(frame);
}

// -- topics (supervisors) --------------------------------------------------------

const DAY_MS = 86_400_000;
const topics = { panel: null, body: null, period: "7", loading: 0 };

function pct(x) {
  return `${Math.round((x || 0) * 100)}%`;
}

function trendText(t) {
  if (t.emerging) return "new";
  const sign = t.trend > 0 ? "+" : "";
  return `${sign}${Math.round(t.trend * 100)}%`;
}

function renderTopics(found) {
  const list = found.topics || [];
  if (!list.length) {
    topics.body.replaceChildren(h("p", { class: "empty-note" }, "No conversations in this period."));
    return;
  }
  const rows = list.map((t) => h("tr", { class: "kb-topic" },
    h("td", { class: "kb-topic-label", title: (t.terms || []).join(", ") }, t.label),
    h("td", { class: "num" }, String(t.conversations)),
    h("td", { class: "num" }, pct(t.share)),
    h("td", { class: `num trend ${t.trend > 0 ? "up" : t.trend < 0 ? "down" : ""}` }, trendText(t)),
    h("td", { class: "num kb-topic-csat", title: t.csat_responses ? `${t.csat_responses} answered` : "no survey answered" },
      t.csat == null ? "–" : t.csat.toFixed(1)),
    h("td", { class: "num kb-topic-sentiment" }, t.sentiment == null ? "–" : t.sentiment.toFixed(2)),
  ));
  const table = h("table", { class: "ops-table kb-topics", "aria-label": "Topics" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Topic"), h("th", { scope: "col" }, "Conv."),
      h("th", { scope: "col" }, "Share"), h("th", { scope: "col" }, "Trend"),
      h("th", { scope: "col", title: "Average CSAT (1-5) of answered surveys" }, "CSAT"),
      h("th", { scope: "col", title: "Average customer sentiment (-1 to 1)" }, "Sentiment"))),
    h("tbody", {}, rows));
  const chart = barChart(
    list.map((t) => ({ label: t.label, short: t.label.split(" / ")[0], value: t.conversations })),
    { label: "Conversations per topic" },
  );
  topics.body.replaceChildren(chart, table);
}

async function loadTopics() {
  const mine = ++topics.loading;
  const until = new Date(Date.now() + 60_000);
  const since = new Date(until.getTime() - Number(topics.period) * DAY_MS);
  const params = new URLSearchParams({ since: since.toISOString(), until: until.toISOString() });
  topics.body.replaceChildren(h("p", { class: "empty-note" }, "Clustering…"));
  try {
    const found = await api(`/insights/topics?${params}`, { token: token() });
    if (mine === topics.loading) renderTopics(found);
  } catch (err) {
    if (mine === topics.loading) {
      topics.body.replaceChildren(h("p", { class: "empty-note" }, err.message || "Could not load topics."));
    }
  }
}

function buildTopics(ops) {
  const select = h("select", { id: "kb-topics-period", "aria-label": "Topics period" },
    h("option", { value: "1" }, "Last day"),
    h("option", { value: "7", selected: true }, "Last 7 days"),
    h("option", { value: "30" }, "Last 30 days"));
  select.addEventListener("change", () => { topics.period = select.value; loadTopics(); });
  topics.body = h("div", { class: "kb-topics-body" });
  topics.panel = h("section", { class: "kb-topics-panel", id: "kb-topics-panel", "aria-labelledby": "kb-topics-title" },
    h("h2", { class: "section-title", id: "kb-topics-title" }, "Topics ",
      select,
      h("button", { class: "btn btn-sm", type: "button", id: "kb-topics-refresh", onclick: loadTopics }, "Refresh")),
    topics.body);
  ops.after(topics.panel);
}

function followOps(ops) {
  const visible = !ops.hidden;
  if (visible && !topics.panel) buildTopics(ops);
  if (!topics.panel) return;
  const wasHidden = topics.panel.hidden;
  topics.panel.hidden = !visible;
  if (visible && (wasHidden || !topics.body.childElementCount)) loadTopics();
}

function wire() {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/css/knowledge.css" }));
  placePanel();
  const context = $("context");
  if (context) new MutationObserver(followSelection).observe(context, { childList: true });
  window.addEventListener("switchboard:frame", onFrame);
  const ops = $("ops");
  if (ops) {
    new MutationObserver(() => followOps(ops)).observe(ops, { attributes: true, attributeFilter: ["hidden"] });
    followOps(ops);
  }
  searchBox.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search(searchBox.value), SEARCH_DELAY_MS);
  });
}

wire();
window.__knowledge = { reload: () => load(selectedId()), topics: () => loadTopics() };

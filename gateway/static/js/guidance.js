// Agent guidance in the console: the conversation's script beside it (steps,
// tick boxes, run buttons), canned responses searched from the composer by
// typing "/", and the take-over summary on offer cards.
//
// It follows the console rather than being called by it: it reads the
// console's state (window.__switchboard.state) and watches the elements the
// console re-renders (the context pane on every selection and status change,
// the offers list), so console.js needs no hooks beyond loading this module.
// Everything user-supplied goes in as text, never as HTML.

import { ApiError, api } from "./api.js";
import { h } from "./util.js";
import { consoleState as state, consoleToken as token } from "./console_state.js";

const $ = (id) => document.getElementById(id);
const SEARCH_DELAY_MS = 120;

/** The conversation shown in the middle if it is one of ours (not a preview). */
function selectedId() {
  const S = state();
  if (!S || S.preview || !S.selected || !S.convs.has(S.selected)) return null;
  return S.selected;
}

function toast(text) {
  const t = h("div", { class: "toast error" }, text);
  $("toasts")?.append(t);
  setTimeout(() => t.remove(), 7000);
}

function path(id) {
  return `/conversations/${encodeURIComponent(id)}`;
}

// -- the script panel -----------------------------------------------------------

const panel = h("section", { class: "script-panel", id: "script-panel", "aria-labelledby": "script-title", hidden: true });
let shownFor = null; // conversation id whose script the panel shows
let loadSeq = 0;

function placePanel() {
  const context = $("context");
  if (context && panel.parentNode !== context.parentNode) context.before(panel);
}

async function loadScript(id, { quiet = false } = {}) {
  const mine = ++loadSeq;
  if (!id || !token()) {
    shownFor = null;
    panel.hidden = true;
    panel.replaceChildren();
    return;
  }
  try {
    const [body, summary] = await Promise.all([
      api(`${path(id)}/script`, { token: token() }),
      api(`${path(id)}/summary`, { token: token() }).catch(() => null),
      macros === null ? loadMacros() : null,
    ]);
    if (mine !== loadSeq) return; // another selection came meanwhile
    shownFor = id;
    renderPanel(id, body.script, summary);
  } catch (err) {
    if (mine !== loadSeq) return;
    if (!quiet && !(err instanceof ApiError && err.status === 404)) toast(`Couldn't load the script: ${err.message}`);
    shownFor = null;
    panel.hidden = true;
  }
}

function renderPanel(id, script, summary) {
  const parts = [];
  if (script) {
    const steps = script.steps.map((step) => stepEl(id, step));
    parts.push(
      h("h2", { class: "section-title", id: "script-title" }, `Script: ${script.title}`,
        h("span", { class: "count script-progress", "aria-label": "Steps done" }, ` ${script.done}/${script.total}`)),
      h("ol", { class: "script-steps", "aria-label": "Script steps" }, steps));
  }
  const menu = macroMenu(id);
  if (menu) parts.push(menu);
  const summaryEl = summaryBlock(summary);
  if (summaryEl) parts.push(summaryEl);
  panel.replaceChildren(...parts);
  panel.hidden = parts.length === 0;
  if (!script) panel.setAttribute("aria-label", "Summary");
  else panel.removeAttribute("aria-label");
}

function stepEl(id, step) {
  const inputId = `script-step-${step.index}`;
  const who = step.done && step.done_by ? h("span", { class: "step-by" }, `done by ${step.done_by}`) : null;
  const li = h("li", { class: `script-step step-${step.kind}${step.done ? " done" : ""}`, dataset: { index: step.index } });
  if (step.kind === "macro") {
    const run = h("button", {
      class: "btn btn-sm", type: "button", disabled: step.done,
      "aria-label": `Run: ${step.text}`,
      onclick: () => markStep(id, step.index, true, run),
    }, step.done ? "Done" : "Run");
    const actions = (step.macro?.actions || []).join(", ");
    li.append(
      h("div", { class: "step-line" },
        h("span", { class: "step-text" }, step.text), run),
      h("div", { class: "step-meta" }, `Macro ${step.macro?.name || ""}${actions ? ` · ${actions}` : ""}`, who ? " · " : "", who));
    return li;
  }
  const box = h("input", {
    type: "checkbox", id: inputId, checked: step.done,
    onchange: () => markStep(id, step.index, box.checked, box),
  });
  li.append(h("div", { class: "step-line" }, box,
    h("label", { for: inputId, class: "step-text" }, step.text)));
  if (who) li.append(h("div", { class: "step-meta" }, who));
  return li;
}

async function markStep(id, index, done, control) {
  control.disabled = true;
  try {
    const body = await api(`${path(id)}/script/steps/${index}`, { method: "POST", body: { done }, token: token() });
    if (shownFor === id) {
      const summary = await api(`${path(id)}/summary`, { token: token() }).catch(() => null);
      if (shownFor === id) renderPanel(id, body.script, summary);
    }
  } catch (err) {
    control.disabled = false;
    if (control.type === "checkbox") control.checked = !done;
    toast(`That step didn't go through: ${err.message}`);
  }
}

let macros = null; // [{name, title, actions}] once loaded

async function loadMacros() {
  try {
    macros = (await api("/macros", { token: token() })).macros || [];
  } catch {
    macros = null;
  }
}

/** Any macro, run by hand: a menu and a Run button under the script. */
function macroMenu(id) {
  if (!macros?.length || state()?.convs.get(id)?.wire.status === "closed") return null;
  const select = h("select", { class: "input macro-select", id: "macro-select", "aria-label": "Macro" },
    macros.map((m) => h("option", { value: m.name }, m.title)));
  const run = h("button", { class: "btn btn-sm", type: "button", onclick: () => runMacro(id, select.value, run) }, "Run macro");
  return h("div", { class: "macro-menu" }, select, run);
}

async function runMacro(id, name, button) {
  button.disabled = true;
  try {
    await api(`${path(id)}/macros/${encodeURIComponent(name)}`, { method: "POST", body: {}, token: token() });
    if (shownFor === id) await loadScript(id, { quiet: true });
  } catch (err) {
    toast(`The macro didn't run: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

function summaryBlock(summary) {
  if (!summary || (!summary.asked?.length && !summary.done?.length)) return null;
  return h("div", { class: "summary-block", "aria-label": "Summary", id: "script-summary" },
    h("h3", { class: "ops-sub" }, "Summary"),
    summary.asked?.length ? h("div", { class: "summary-asked" }, h("strong", {}, "Asked: "),
      summary.asked.join(" ")) : null,
    summary.done?.length ? h("ul", { class: "summary-done" }, summary.done.map((d) => h("li", {}, d))) : null);
}

function followSelection() {
  placePanel();
  const id = selectedId();
  // The context pane re-renders on selection and on status changes (a
  // transfer can bring another script): reload either way.
  loadScript(id, { quiet: true });
}

// -- the summary on offer cards ---------------------------------------------------

function decorateOffer(li) {
  if (!(li instanceof HTMLElement) || li.querySelector(".offer-summary")) return;
  const offer = state()?.offers.get(li.dataset.offer);
  const summary = offer?.frame?.context?.summary;
  if (!summary) return;
  const asked = summary.asked || [];
  const done = summary.done || [];
  if (!asked.length && !done.length) return;
  const block = h("div", { class: "offer-summary", "aria-label": "Summary" },
    asked.length ? h("div", { class: "offer-asked" }, `Asked: ${asked.join(" ")}`) : null,
    done.length ? h("div", { class: "offer-done" }, `So far: ${done.join("; ")}`) : null);
  const bar = li.querySelector(".offer-bar");
  if (bar) bar.before(block);
  else li.append(block);
}

// -- canned responses from the composer --------------------------------------------

const picker = h("ul", { class: "canned-picker", id: "canned-picker", role: "listbox", "aria-label": "Canned responses", hidden: true });
let results = [];
let active = 0;
let searchTimer = null;
let searchSeq = 0;

function reply() {
  return $("reply");
}

function pickerOpen() {
  return !picker.hidden;
}

function closePicker() {
  picker.hidden = true;
  picker.replaceChildren();
  results = [];
  reply()?.removeAttribute("aria-activedescendant");
}

function onReplyInput() {
  const value = reply().value;
  if (!value.startsWith("/") || value.includes("\n")) {
    closePicker();
    return;
  }
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => search(value.slice(1)), SEARCH_DELAY_MS);
}

async function search(q) {
  const mine = ++searchSeq;
  const id = selectedId();
  const params = new URLSearchParams({ q, limit: "8" });
  if (id) params.set("conversation_id", id);
  try {
    const body = await api(`/canned?${params}`, { token: token() });
    if (mine !== searchSeq || !reply().value.startsWith("/")) return;
    results = body.canned || [];
    active = 0;
    renderPicker();
  } catch {
    closePicker();
  }
}

function renderPicker() {
  if (!results.length) {
    picker.replaceChildren(h("li", { class: "canned-empty" }, "No canned response matches."));
    picker.hidden = false;
    return;
  }
  picker.replaceChildren(...results.map((c, i) => h("li", {
    role: "option", id: `canned-${i}`, class: i === active ? "active" : "",
    "aria-selected": i === active ? "true" : "false", dataset: { name: c.name },
    onmousedown: (e) => { e.preventDefault(); choose(i); },
  }, h("span", { class: "canned-title" }, c.title), h("span", { class: "canned-text" }, c.rendered ?? c.text))));
  picker.hidden = false;
  reply().setAttribute("aria-activedescendant", `canned-${active}`);
}

function choose(i) {
  const c = results[i];
  if (!c) return;
  const box = reply();
  box.value = c.rendered ?? c.text;
  closePicker();
  box.focus();
  box.dispatchEvent(new Event("input", { bubbles: true }));
}

function onKeydown(e) {
  if (!pickerOpen() || e.target !== reply()) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    if (results.length) {
      active = (active + (e.key === "ArrowDown" ? 1 : results.length - 1)) % results.length;
      renderPicker();
    }
  } else if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey) {
    if (!results.length) return;
    choose(active);
  } else if (e.key === "Escape") {
    closePicker();
  } else {
    return;
  }
  // Before the console's own handler: Enter here picks, it does not send.
  e.preventDefault();
  e.stopImmediatePropagation();
}

// -- wiring ------------------------------------------------------------------------

function wire() {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/css/guidance.css" }));
  placePanel();
  const context = $("context");
  if (context) new MutationObserver(followSelection).observe(context, { childList: true });
  const offers = $("offers");
  if (offers) {
    new MutationObserver((changes) => {
      for (const change of changes) for (const node of change.addedNodes) decorateOffer(node);
    }).observe(offers, { childList: true });
    for (const li of offers.children) decorateOffer(li);
  }
  const composer = $("composer");
  if (composer) {
    composer.append(picker);
    reply().addEventListener("input", onReplyInput);
    reply().addEventListener("blur", () => setTimeout(closePicker, 150));
    reply().setAttribute("aria-controls", "canned-picker");
    document.addEventListener("keydown", onKeydown, true);
  }
}

wire();
// The console may have shown a conversation before this module ran (the
// page's first websocket frames can come in between the two modules).
followSelection();
window.__guidance = { reload: () => loadScript(selectedId()) };

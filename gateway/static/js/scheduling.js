// Scheduling in the console: "Book visit" on a conversation opens a panel
// beside it: pick the service and the days, see the best slots (earliest
// first, with the resources each would use), book one with a click; the
// conversation's appointments are listed under it with their status, and a
// scheduled one can be cancelled there. The booking links the conversation,
// its customer and its case, so the customer is told on their channel.
//
// Like cases.js it follows the console rather than being called by it: it
// reads window.__switchboard.state and watches the context pane. Everything
// user-supplied goes in as text, never as HTML.

import { api } from "./api.js";
import { dateTime, h, labelize } from "./util.js";
import { consoleState as state, consoleToken as token } from "./console_state.js";

const $ = (id) => document.getElementById(id);
const DAY = 86_400_000;

function selectedConv() {
  const S = state();
  if (!S) return null;
  if (S.preview?.conv) return S.preview.conv;
  const c = S.selected && S.convs.get(S.selected);
  return c ? c.wire : null;
}

function toast(text, kind = "error") {
  const t = h("div", { class: `toast ${kind}` }, text);
  $("toasts")?.append(t);
  setTimeout(() => t.remove(), 7000);
}

/** yyyy-mm-dd of a Date in the browser's zone (for <input type=date>). */
function isoDay(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

const panel = h("section", { class: "sched-panel", id: "sched-panel", "aria-labelledby": "sched-title", hidden: true });
const openBtn = h("button", { class: "btn", type: "button", id: "book-visit-btn", hidden: true, onclick: () => toggle() }, "Book visit");
let shownFor = null;
let open = false;
let resourceNames = new Map();

function place() {
  const context = $("context");
  if (context && panel.parentNode !== context.parentNode) context.before(panel);
  const actions = document.querySelector(".conv-actions");
  if (actions && openBtn.parentNode !== actions) actions.append(openBtn);
}

function follow() {
  const conv = selectedConv();
  openBtn.hidden = !conv || !token();
  if (!conv) {
    panel.hidden = true;
    shownFor = null;
    return;
  }
  if (conv.id !== shownFor) {
    shownFor = conv.id;
    open = false;
    panel.hidden = true;
  }
}

async function toggle() {
  open = !open;
  if (open) await render();
  else panel.hidden = true;
}

async function render() {
  const conv = selectedConv();
  if (!conv) return;
  let services = [];
  try {
    const [svc, res] = await Promise.all([
      api("/services", { token: token() }),
      api("/resources", { token: token() }),
    ]);
    services = svc.services || [];
    resourceNames = new Map((res.resources || []).map((r) => [r.id, r.name]));
  } catch (err) {
    toast(`Couldn't load services: ${err.message}`);
    return;
  }
  const pick = h("select", { class: "input", id: "sched-service", "aria-label": "Service" },
    services.map((s) => h("option", { value: s.id }, `${s.name} (${s.duration})`)));
  const today = new Date();
  const from = h("input", { class: "input", type: "date", id: "sched-from", "aria-label": "From", value: isoDay(new Date(today.getTime() + DAY)) });
  const until = h("input", { class: "input", type: "date", id: "sched-until", "aria-label": "Until", value: isoDay(new Date(today.getTime() + 8 * DAY)) });
  const slots = h("ul", { class: "sched-slots", id: "sched-slots", "aria-label": "Free slots" });
  const booked = h("ul", { class: "sched-booked", id: "sched-booked", "aria-label": "Appointments" });
  const find = h("button", { class: "btn btn-sm btn-primary", type: "submit", id: "sched-find", disabled: !services.length }, "Find slots");
  const form = h("form", {
    class: "sched-form",
    onsubmit: async (e) => {
      e.preventDefault();
      await search(conv, pick.value, from.value, until.value, slots, booked);
    },
  }, pick, from, until, find);
  panel.replaceChildren(
    h("h2", { class: "section-title", id: "sched-title" }, "Book a visit"),
    services.length ? form : h("p", { class: "empty-note" }, "No services are defined yet."),
    slots,
    h("h3", { class: "ops-sub" }, "Appointments"),
    booked,
  );
  panel.hidden = false;
  await listBooked(conv, booked);
}

async function search(conv, serviceId, fromDay, untilDay, slots, booked) {
  const start = new Date(`${fromDay}T00:00:00`);
  const end = new Date(new Date(`${untilDay}T00:00:00`).getTime() + DAY);
  const body = { service_id: serviceId, from: start.toISOString(), until: end.toISOString(), count: 8 };
  if (conv.customer?.id) body.customer_id = conv.customer.id;
  try {
    const found = await api("/schedule/search", { method: "POST", token: token(), body });
    slots.replaceChildren(...(found.slots.length
      ? found.slots.map((slot) => h("li", { class: "sched-slot" },
        h("span", { class: "when" }, `${dateTime(slot.start)} – ${dateTime(slot.end)}`),
        h("span", { class: "who" }, slot.resources.map((id) => resourceNames.get(id) || id).join(", ")),
        h("button", { class: "btn btn-sm", type: "button", onclick: () => book(conv, serviceId, slot, slots, booked) }, "Book")))
      : [h("li", { class: "empty-note" }, "No free time in those days.")]));
  } catch (err) {
    toast(err.message);
  }
}

async function book(conv, serviceId, slot, slots, booked) {
  const body = {
    service_id: serviceId,
    start: slot.start,
    resources: slot.resources,
    conversation_id: conv.id,
  };
  if (conv.customer?.id) body.customer_id = conv.customer.id;
  if (conv.case_id) body.case_id = conv.case_id;
  try {
    await api("/appointments", { method: "POST", token: token(), body });
    toast(`Booked for ${dateTime(slot.start)}`, "ok");
    slots.replaceChildren();
    await listBooked(conv, booked);
  } catch (err) {
    toast(err.status === 409 ? `Just taken: ${err.message}. Search again.` : err.message);
  }
}

async function listBooked(conv, booked) {
  try {
    const found = await api(`/appointments?conversation_id=${encodeURIComponent(conv.id)}`, { token: token() });
    booked.replaceChildren(...(found.appointments.length
      ? found.appointments.map((a) => h("li", { class: `sched-appointment ${a.status}` },
        h("span", { class: "when" }, dateTime(a.start)),
        h("span", { class: "status" }, labelize(a.status)),
        a.status === "scheduled"
          ? h("button", { class: "btn btn-sm", type: "button", onclick: () => cancel(conv, a, booked) }, "Cancel")
          : null))
      : [h("li", { class: "empty-note" }, "None yet.")]));
  } catch (err) {
    toast(`Couldn't list appointments: ${err.message}`);
  }
}

async function cancel(conv, appointment, booked) {
  try {
    await api(`/appointments/${encodeURIComponent(appointment.id)}/cancel`, { method: "POST", token: token() });
    toast("Cancelled", "ok");
    await listBooked(conv, booked);
  } catch (err) {
    toast(err.message);
  }
}

// -- the supervisors' day view -------------------------------------------------------
// Shown with the console's Operations panel (supervisors and admins): one row
// per resource with that day's appointments, in the browser's time zone.

const dayView = { panel: null, date: null, body: null };

function buildDayView(ops) {
  const date = h("input", { class: "input", type: "date", id: "sched-day", "aria-label": "Day", value: isoDay(new Date()), onchange: () => loadDay() });
  const body = h("tbody", {});
  const panel = h("section", { class: "sched-day", id: "sched-day-view", "aria-labelledby": "sched-day-title" },
    h("h2", { class: "section-title", id: "sched-day-title" }, "Appointments by resource ", date),
    h("table", { class: "ops-table", "aria-label": "Appointments by resource" },
      h("thead", {}, h("tr", {}, h("th", {}, "Resource"), h("th", {}, "Appointments"))), body));
  ops.after(panel);
  Object.assign(dayView, { panel, date, body });
  return panel;
}

async function loadDay() {
  if (!dayView.panel || !token()) return;
  const start = new Date(`${dayView.date.value}T00:00:00`);
  const end = new Date(start.getTime() + DAY);
  try {
    const [res, svc, found] = await Promise.all([
      api("/resources", { token: token() }),
      api("/services", { token: token() }),
      api(`/appointments?from=${encodeURIComponent(start.toISOString())}&until=${encodeURIComponent(end.toISOString())}`, { token: token() }),
    ]);
    const names = new Map((svc.services || []).map((x) => [x.id, x.name]));
    const byResource = new Map();
    for (const a of found.appointments || []) {
      if (a.status === "cancelled") continue;
      for (const rid of a.resources) {
        if (!byResource.has(rid)) byResource.set(rid, []);
        byResource.get(rid).push(a);
      }
    }
    const clockFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
    dayView.body.replaceChildren(...(res.resources || []).map((r) => h("tr", { class: "sched-day-row", dataset: { resource: r.id } },
      h("td", {}, r.name),
      h("td", {}, (byResource.get(r.id) || []).map((a) => h("span", { class: `sched-chip ${a.status}` },
        `${clockFmt.format(new Date(a.start))}–${clockFmt.format(new Date(a.end))} ${names.get(a.service_id) || ""} (${labelize(a.status)})`))))));
  } catch (err) {
    toast(`Couldn't load the day view: ${err.message}`);
  }
}

function syncDayView(ops) {
  if (ops.hidden) {
    if (dayView.panel) dayView.panel.hidden = true;
    return;
  }
  if (!dayView.panel) buildDayView(ops);
  dayView.panel.hidden = false;
  loadDay();
}

function wire() {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/css/scheduling.css" }));
  place();
  follow();
  const context = $("context");
  if (context) new MutationObserver(() => { place(); follow(); }).observe(context, { childList: true });
  const ops = $("ops");
  if (ops) {
    new MutationObserver(() => syncDayView(ops)).observe(ops, { attributes: true, attributeFilter: ["hidden"] });
    syncDayView(ops);
  }
}

wire();
window.__scheduling = { shownFor: () => shownFor, reloadDay: () => loadDay() };

// The survey card of the web chat widget: shown when the server sends a
// `survey` frame after the chat closed (again after a reconnect while it is
// unanswered); answered with a `survey_response` frame, which the server
// confirms with `survey_recorded` or refuses with a `bad_survey` error.

import { h } from "./util.js";

const QUESTIONS = {
  csat: { label: "How would you rate this chat?", low: 1, high: 5, lowText: "Poor", highText: "Excellent" },
  nps: { label: "How likely are you to recommend us to a friend?", low: 0, high: 10, lowText: "Not likely", highText: "Very likely" },
};

let card = null;

function styles() {
  if (document.querySelector("link[data-survey-css]")) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/static/css/survey.css", "data-survey-css": "1" }));
}

/** Remove the card (a new chat starts). */
export function clearSurvey() {
  card?.remove();
  card = null;
}

/**
 * Handle `survey`, `survey_recorded` and `bad_survey` frames.
 * @param frame the frame
 * @param ctx {container: Element the card goes in, send: (frame) => bool}
 * @returns true when the frame was a survey frame
 */
export function onSurveyFrame(frame, ctx) {
  if (frame.type === "survey") {
    show(frame, ctx);
    return true;
  }
  if (frame.type === "survey_recorded") {
    if (card) {
      card.classList.add("done");
      card.replaceChildren(h("p", { class: "survey-thanks", role: "status" }, "Thanks for your feedback!"));
    }
    return true;
  }
  if (frame.type === "error" && frame.code === "bad_survey") {
    const note = card?.querySelector(".survey-error");
    if (note) {
      note.textContent = frame.message || "Your answer could not be recorded.";
      note.hidden = false;
      card.querySelector("button[type=submit]").disabled = false;
    }
    return true;
  }
  return false;
}

function show(frame, ctx) {
  if (card && card.dataset.conversation === frame.conversation_id) return; // asked again after a reconnect
  clearSurvey();
  styles();
  const questions = (frame.questions || []).filter((q) => QUESTIONS[q]);
  const form = h("form", { class: "survey-form", novalidate: true });
  for (const q of questions) form.append(scale(q));
  form.append(
    h("label", { class: "survey-comment-label", for: "survey-comment" }, "Anything else you'd like to tell us? ", h("span", { class: "hint" }, "optional")),
    h("textarea", { class: "input", id: "survey-comment", name: "comment", rows: "2", maxlength: "2000" }),
    h("p", { class: "survey-error", role: "alert", hidden: true }),
    h("button", { class: "btn btn-primary", type: "submit" }, "Send feedback"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const answer = { type: "survey_response", conversation_id: frame.conversation_id };
    for (const q of questions) {
      const picked = form.querySelector(`input[name="${q}"]:checked`);
      if (picked) answer[q] = Number(picked.value);
    }
    const comment = form.querySelector("textarea").value.trim();
    if (comment) answer.comment = comment;
    const note = form.querySelector(".survey-error");
    if (!questions.some((q) => answer[q] !== undefined)) {
      note.textContent = "Please pick a score first.";
      note.hidden = false;
      return;
    }
    note.hidden = true;
    const button = form.querySelector("button[type=submit]");
    if (ctx.send(answer)) {
      button.disabled = true;
    } else {
      note.textContent = "Not connected; please try again in a moment.";
      note.hidden = false;
    }
  });
  card = h("section", { class: "survey-card", "aria-labelledby": "survey-title", dataset: { conversation: frame.conversation_id } },
    h("h2", { id: "survey-title" }, "How did we do?"),
    form);
  ctx.container.prepend(card);
}

function scale(q) {
  const spec = QUESTIONS[q];
  const choices = [];
  for (let n = spec.low; n <= spec.high; n++) {
    choices.push(h("label", { class: "survey-choice" },
      h("input", { type: "radio", name: q, value: String(n), "aria-label": `${n}` }),
      h("span", {}, String(n))));
  }
  return h("fieldset", { class: `survey-scale survey-${q}` },
    h("legend", {}, spec.label),
    h("div", { class: "survey-choices" }, choices),
    h("div", { class: "survey-ends", "aria-hidden": "true" }, h("span", {}, spec.lowText), h("span", {}, spec.highText)));
}

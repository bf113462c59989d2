"""Surveys, running: asking when a conversation closes and taking the answers.

The I/O shell around ``surveys/``. It listens to every status change
(``Services.status_listeners``); when a conversation closes on a channel the
``[surveys]`` config names (for its queue), it records the survey once (the
store's unique key holds that across nodes) and asks:

- web chat: a ``survey`` frame on the conversation's topic, which the
  visitor's socket (still open after the close) shows as a card, and again
  after a reconnect while unanswered; the answer is a ``survey_response``
  frame (``visitor_survey_response``);
- SMS: a text asking for a digit, sent by the channel runtime's SMS sender;
  the customer's next reply that is only a digit in range (within the
  answer window, with no open conversation) is taken by ``sms_reply`` before
  the channel runtime would open a new conversation for it;
- email: a mail with a signed link to a small page (``GET|POST /survey/{token}``).

Answers are judged by ``surveys.rules.check_answer``; a refusal is an error
with code ``bad_survey`` and nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from channels import (
    ChannelPayloadError,
    DeadLetter,
    InboundMessage,
    OutboundMessage,
    send_with_retry,
)
from channels.webhook import decode_form
from conversations import Conversation, ConversationStatus
from conversations.times import utcnow
from gateway.api import MAX_BODY, parse_body
from gateway.errors import BadRequest, NotFound
from gateway.frames import SurveyResponse, dumps
from gateway.hub import Event, conv_topic
from gateway.services import Services
from surveys.config import SurveysConfig
from surveys.errors import BadSurvey
from surveys.rules import (
    RANGES,
    Answer,
    check_answer,
    expires_at,
    parse_sms_answer,
    questions_for,
    sms_prompt,
)
from surveys.store import SurveyRecord, SurveyStore

if TYPE_CHECKING:
    from gateway.channel_runtime import ChannelRuntime
    from gateway.websocket_session import Session

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0
LINK_SECRET_KEY = "survey-link-secret"


class SurveysRuntime:
    """Start with ``await start()`` after the channel runtime; ``await stop()``
    before it."""

    def __init__(
        self, services: Services, config: SurveysConfig, channels: ChannelRuntime | None
    ) -> None:
        self.services = services
        self.config = config
        self.channels = channels
        self.store = SurveyStore(services.store.engines)
        self._tasks: set[asyncio.Task[None]] = set()
        self._secret = b""

    async def start(self) -> None:
        self._secret = (await self.services.store.secret(LINK_SECRET_KEY)).encode()
        self.services.status_listeners.append(self._on_status)
        if self.channels is not None:
            self.channels.intake_hooks.append(self.sms_reply)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.services.status_listeners.remove(self._on_status)
        if self.channels is not None:
            with contextlib.suppress(ValueError):
                self.channels.intake_hooks.remove(self.sms_reply)
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- asking ---------------------------------------------------------------

    def _on_status(self, conversation: Conversation) -> None:
        if conversation.status != ConversationStatus.CLOSED:
            return
        if not questions_for(self.config, conversation.channel, conversation.queue):
            return
        self._spawn(self._ask(conversation))

    async def _ask(self, conversation: Conversation) -> None:
        try:
            await self.ask(conversation)
        except Exception:
            log.exception("asking the survey of %s failed", conversation.id)

    async def ask(self, conversation: Conversation) -> SurveyRecord | None:
        """Ask the closed conversation's customer, once; None when it gets no
        survey or was asked already."""
        questions = questions_for(self.config, conversation.channel, conversation.queue)
        if not questions:
            return None
        now = utcnow()
        record = await self.store.ask(
            conversation_id=conversation.id,
            customer_id=conversation.customer.id,
            channel=conversation.channel,
            queue=conversation.queue,
            agent_id=conversation.assigned_agent_id,
            questions=questions,
            now=now,
            expires_at=expires_at(self.config, now),
        )
        if record is None:
            return None
        sent = True
        if record.channel == "webchat":
            self.services.hub.publish(
                Event(
                    conv_topic(record.conversation_id),
                    "frame",
                    dumps(record.to_frame()),
                    record.conversation_id,
                )
            )
        elif record.channel in ("sms", "email"):
            sent = await self._send(record, conversation)
        await self.services.store.add_event(
            record.conversation_id,
            "survey_asked",
            None,
            {"survey_id": record.id, "questions": list(record.questions), "sent": sent},
        )
        return record

    async def _send(self, record: SurveyRecord, conversation: Conversation) -> bool:
        """Text or mail the question through the channel's sender; False when
        it could not go out (logged; the survey then simply goes unanswered)."""
        channels = self.channels
        sender = None if channels is None else channels.senders.get(record.channel)  # type: ignore[call-overload]
        if channels is None or sender is None:
            log.info("survey %s not sent: %s is not configured", record.id, record.channel)
            return False
        recipient = await channels.deliveries.last_customer_address(conversation.id)
        recipient = recipient or conversation.context.get("channel_address")
        if not isinstance(recipient, str) or not recipient:
            log.info("survey %s not sent: the customer has no address", record.id)
            return False
        if record.channel == "sms":
            address = channels.identity("sms", recipient).value
            if await channels.deliveries.opted_out("sms", address):
                log.info("survey %s not sent: the customer opted out of SMS", record.id)
                return False
            text = sms_prompt(self.config, record.questions) or ""
            outbound = OutboundMessage("sms", recipient, text, record.id)
        else:
            outbound = OutboundMessage(
                "email",
                recipient,
                self._email_text(record),
                record.id,
                subject=self.config.email_subject,
            )
        outcome = await send_with_retry(sender, outbound, channels.config.retry)
        if isinstance(outcome, DeadLetter):
            log.warning("survey %s not sent: %s", record.id, outcome.reason)
            return False
        return True

    def _email_text(self, record: SurveyRecord) -> str:
        link = f"{self.services.settings.public_url}/survey/{self.link_token(record.id)}"
        return (
            "Thank you for contacting us. Would you tell us how we did?\n\n"
            f"It takes a few seconds: {link}\n"
        )

    # -- signed links -----------------------------------------------------------

    def link_token(self, survey_id: str) -> str:
        mac = hmac.new(self._secret, survey_id.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{survey_id}.{mac}"

    def survey_of_token(self, token: str) -> str | None:
        survey_id, _, mac = token.partition(".")
        expected = self.link_token(survey_id).partition(".")[2]
        if not survey_id or not hmac.compare_digest(mac.encode(), expected.encode()):
            return None
        return survey_id

    # -- answers ------------------------------------------------------------------

    async def pending_frame(self, conversation: Conversation) -> dict[str, Any] | None:
        """The ``survey`` frame again for a visitor who reconnects to a closed,
        asked and still unanswered conversation."""
        if conversation.status != ConversationStatus.CLOSED:
            return None
        record = await self.store.for_conversation(conversation.id)
        if record is None or record.channel != "webchat" or record.status != "asked":
            return None
        if utcnow() >= record.expires_at:
            return None
        return record.to_frame()

    async def answer(
        self,
        record: SurveyRecord | None,
        *,
        customer_id: str,
        csat: object = None,
        nps: object = None,
        comment: object = None,
        answer_ref: str | None = None,
    ) -> SurveyRecord:
        """Check and store an answer.

        Raises:
            BadSurvey: the rules refuse it (nothing is stored).
        """
        now = utcnow()
        checked = check_answer(
            None if record is None else record.rules_view(),
            customer_id=customer_id,
            csat=csat,
            nps=nps,
            comment=comment,
            now=now,
        )
        assert record is not None
        return await self._record(record, checked, answer_ref)

    async def _record(
        self, record: SurveyRecord, answer: Answer, answer_ref: str | None
    ) -> SurveyRecord:
        saved = await self.store.record(record, answer, now=utcnow(), answer_ref=answer_ref)
        await self.services.store.add_event(
            saved.conversation_id,
            "survey_answered",
            saved.customer_id,
            {"survey_id": saved.id, **answer.scores(), "comment": answer.comment is not None},
        )
        return saved

    async def sms_reply(self, customer_id: str, msg: InboundMessage) -> bool:
        """The channel runtime's intake hook: True when the message was (or,
        for a provider retry, had been) taken as a survey answer."""
        if msg.channel != "sms":
            return False
        if await self.store.answered_by_ref(msg.external_id) is not None:
            return True  # a retry of the answer already recorded
        record = await self.store.pending_for(customer_id, "sms", utcnow())
        if record is None:
            return False
        answer = parse_sms_answer(msg.text, record.questions)
        if answer is None:
            return False
        try:
            await self._record(record, answer, msg.external_id)
        except BadSurvey:
            return await self.store.answered_by_ref(msg.external_id) is not None
        return True


async def visitor_survey_response(session: Session, frame: SurveyResponse) -> None:
    """A web chat visitor's ``survey_response``: ``survey_recorded``, or an
    error frame with code ``bad_survey``."""
    runtime: SurveysRuntime | None = getattr(session.websocket.app.state, "surveys", None)
    principal = session.principal
    if runtime is None or principal is None or principal.conversation_id is None:
        session.error("bad_survey", "surveys are not enabled")
        return
    wanted = frame.conversation_id or principal.conversation_id
    try:
        if wanted != principal.conversation_id:
            raise BadSurvey("not_yours", "this survey belongs to another conversation")
        record = await runtime.store.for_conversation(wanted)
        await runtime.answer(
            record,
            customer_id=principal.id,
            csat=frame.csat,
            nps=frame.nps,
            comment=frame.comment,
        )
    except BadSurvey as exc:
        session.error("bad_survey", exc.message)
        return
    session.conn.send({"type": "survey_recorded", "conversation_id": wanted})


# -- the email survey page ---------------------------------------------------------


class PageAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    csat: Annotated[int, Field(strict=False)] | None = None
    nps: Annotated[int, Field(strict=False)] | None = None
    comment: Annotated[str, Field(max_length=4000)] | None = None


def _runtime(request: Request) -> SurveysRuntime:
    runtime: SurveysRuntime | None = getattr(request.app.state, "surveys", None)
    if runtime is None:
        raise NotFound("no such survey")
    return runtime


async def _page_survey(request: Request) -> tuple[SurveysRuntime, SurveyRecord]:
    runtime = _runtime(request)
    survey_id = runtime.survey_of_token(request.path_params["token"])
    record = None if survey_id is None else await runtime.store.get(survey_id)
    if record is None:
        raise NotFound("no such survey", code="not_found")
    return runtime, record


async def survey_page(request: Request) -> Response:
    """The survey a customer reached by the link in our mail.
    ---
    summary: Show a survey page
    tags: [surveys]
    parameters:
      - {name: token, in: path, required: true, schema: {type: string}}
    responses:
      200: {description: "an HTML form with the survey's questions"}
      404: {description: "the link is not valid"}
    """
    _, record = await _page_survey(request)
    if record.status != "asked":
        return _html("Thank you", "<p>We have your answer. Thank you!</p>")
    return _html("How did we do?", _form(record))


async def survey_submit(request: Request) -> Response:
    """Answer a survey from its page (form or JSON: ``csat``, ``nps``, ``comment``).
    ---
    summary: Answer a survey
    tags: [surveys]
    body: PageAnswer
    parameters:
      - {name: token, in: path, required: true, schema: {type: string}}
    responses:
      200: {description: "recorded: a thank-you page, or JSON for a JSON body"}
      400: {description: "bad_survey: out of range, twice, or not asked"}
      404: {description: "the link is not valid"}
    """
    runtime, record = await _page_survey(request)
    wants_json = request.headers.get("content-type", "").startswith("application/json")
    if wants_json:
        body = await parse_body(request, PageAnswer)
    else:
        try:
            form = decode_form(await request.body(), MAX_BODY)
            fields = {k: v for k, v in form.items() if v.strip() != ""}
            body = PageAnswer.model_validate(fields)
        except ChannelPayloadError as exc:
            raise BadRequest(str(exc), code="invalid_payload") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "body"
            raise BadRequest(f"{field}: {first['msg']}", code="bad_survey") from None
    try:
        await runtime.answer(
            record,
            customer_id=record.customer_id,
            csat=body.csat,
            nps=body.nps,
            comment=body.comment,
        )
    except BadSurvey as exc:
        if wants_json:
            raise BadRequest(exc.message, code="bad_survey") from None
        return _html("Not recorded", f"<p>{html.escape(exc.message)}</p>", status=400)
    if wants_json:
        return JSONResponse({"type": "survey_recorded", "conversation_id": record.conversation_id})
    return _html("Thank you", "<p>We have your answer. Thank you!</p>")


def _form(record: SurveyRecord) -> str:
    labels = {
        "csat": "How satisfied are you with the help you got?",
        "nps": "How likely are you to recommend us to a friend?",
    }
    parts = ['<form method="post">']
    for question in record.questions:
        low, high = RANGES[question]
        choices = "".join(
            f'<label class="choice"><input type="radio" name="{question}" value="{n}"'
            f"{' required' if question == record.questions[0] else ''}> {n}</label>"
            for n in range(low, high + 1)
        )
        parts.append(
            f"<fieldset><legend>{html.escape(labels[question])}</legend>{choices}</fieldset>"
        )
    parts.append(
        '<label for="comment">Anything else? (optional)</label>'
        '<textarea id="comment" name="comment" rows="3" maxlength="2000"></textarea>'
        '<button type="submit">Send</button></form>'
    )
    return "".join(parts)


def _html(title: str, body: str, status: int = 200) -> HTMLResponse:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="stylesheet" href="/static/css/base.css">'
        "<style>main{max-width:32rem;margin:2rem auto;padding:0 1rem;font-family:system-ui}"
        "fieldset{border:1px solid #ccd;border-radius:8px;margin:0 0 1rem}"
        ".choice{display:inline-block;margin:.25rem .5rem}textarea{width:100%}"
        "button{margin-top:1rem}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(page, status_code=status)


routes = [
    Route("/survey/{token}", survey_page, methods=["GET"]),
    Route("/survey/{token}", survey_submit, methods=["POST"]),
]

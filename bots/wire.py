"""What goes over the wire to and from bots: payloads, signatures, answers.

- Webhook bots receive ``{"conversation_id", "message", "customer",
  "context"}`` (plus ``"transfer"`` in the first call after a person
  transferred the conversation to the bot) signed with
  ``X-Switchboard-Signature: sha256=<hex>`` (HMAC-SHA256
  of the exact body bytes with the bot's secret) and may answer
  ``{"messages": [{"text"}], "handoff"?: {...}, "close"?: bool}``.
- Rasa bots receive ``{"sender": <conversation id>, "message": <text>}`` and
  answer a list of ``{"recipient_id", "text"?, "custom"?}``; a ``custom``
  holding ``{"handoff": {...}}`` hands off.
- A hand-off body (frame, HTTP, webhook or Rasa) is ``{"queue"?, "skills"?,
  "priority"?, "summary"?, "context"?}``.

Pure: bytes and dicts in, values out; ``BadAnswer`` for anything else.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bots.handoff import HandoffRequest, Skill

SIGNATURE_HEADER = "X-Switchboard-Signature"
MAX_TEXT = 4096
MAX_MESSAGES = 20


class BadAnswer(Exception):
    """A bot's answer is not JSON or not its protocol; the message says what came."""


# -- signing ----------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>`` over the exact body bytes."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """What a bot does on its side (and what the stand-ins do)."""
    return signature is not None and hmac.compare_digest(sign(secret, body), signature)


# -- hand-off bodies ----------------------------------------------------------------


class SkillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100)]
    level: Annotated[int, Field(ge=1, le=5)] = 1


def _named(value: Any) -> Any:
    """A skill is ``"name"`` (level 1) or ``{"name", "level"}``."""
    return {"name": value} if isinstance(value, str) else value


class HandoffBody(BaseModel):
    """The body of a hand-off, however it arrives."""

    model_config = ConfigDict(extra="forbid")
    queue: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    skills: (
        Annotated[list[Annotated[SkillBody, BeforeValidator(_named)]], Field(max_length=50)] | None
    ) = None
    priority: Annotated[int, Field(ge=-1000, le=1000)] | None = None
    summary: Annotated[str, Field(max_length=4000)] | None = None
    context: dict[str, Any] | None = None

    def request(self) -> HandoffRequest:
        skills = None
        if self.skills is not None:
            skills = tuple(Skill(s.name, s.level) for s in self.skills)
        return HandoffRequest(
            queue=self.queue,
            skills=skills,
            priority=self.priority,
            summary=self.summary,
            context=self.context or {},
        )


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "answer"
    return f"{where}: {first['msg']}"


def parse_handoff(data: Any) -> HandoffRequest:
    """A hand-off inside a bot's answer. Lenient where the HTTP body is
    strict: ``true`` is a plain hand-off and keys it does not know are
    dropped, so a bot is never failed over an extra field."""
    if data is True:
        data = {}
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k in HandoffBody.model_fields}
    try:
        return HandoffBody.model_validate(data).request()
    except ValidationError as exc:
        raise BadAnswer(f"hand-off {_first_error(exc)}") from None


# -- answers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """What a bot answered: texts to post, then perhaps a hand-off or a close."""

    texts: tuple[str, ...] = ()
    handoff: HandoffRequest | None = None
    close: bool = False


class _Text(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class _WebhookAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    messages: Annotated[list[_Text], Field(max_length=MAX_MESSAGES)] = Field(default_factory=list)
    handoff: Any = None
    close: bool = False


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        shown = body[:60].decode("utf-8", "replace")
        raise BadAnswer(f"the answer is not valid JSON: {shown!r}") from None


def parse_webhook_answer(body: bytes) -> Reply:
    """A webhook bot's answer; an empty body means "nothing now" (it may
    answer later over the HTTP API)."""
    if not body.strip():
        return Reply()
    data = _json(body)
    if not isinstance(data, dict):
        raise BadAnswer(f"expected a JSON object, got {type(data).__name__}")
    try:
        answer = _WebhookAnswer.model_validate(data)
    except ValidationError as exc:
        raise BadAnswer(_first_error(exc)) from None
    return Reply(
        texts=tuple(m.text for m in answer.messages),
        handoff=parse_handoff(answer.handoff) if answer.handoff is not None else None,
        close=answer.close,
    )


def parse_rasa_answer(body: bytes) -> Reply:
    """A Rasa REST channel answer: a list of ``{"recipient_id", "text"?,
    "custom"?, ...}``. Entries without text (images, buttons alone) are
    skipped; a ``custom.handoff`` hands off, ``custom.close`` closes."""
    data = _json(body)
    if not isinstance(data, list):
        raise BadAnswer(f"expected a JSON list of messages, got {type(data).__name__}")
    texts: list[str] = []
    handoff: HandoffRequest | None = None
    close = False
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise BadAnswer(f"[{index}]: expected an object, got {type(entry).__name__}")
        text = entry.get("text")
        if text is not None:
            if not isinstance(text, str):
                raise BadAnswer(f"[{index}].text: expected a string")
            if text.strip():
                texts.append(text[:MAX_TEXT])
        custom = entry.get("custom")
        if isinstance(custom, dict):
            if custom.get("handoff") is not None:
                handoff = parse_handoff(custom["handoff"])
            if custom.get("close") is True:
                close = True
    return Reply(texts=tuple(texts[:MAX_MESSAGES]), handoff=handoff, close=close)


# -- requests -----------------------------------------------------------------------


def webhook_payload(
    conversation_id: str,
    message: dict[str, Any],
    customer: dict[str, Any],
    context: dict[str, Any],
    transfer: dict[str, Any] | None = None,
) -> bytes:
    """The body of a call; ``transfer`` (``{"from", "note", "transcript"}``)
    only in the first call after a person transferred the conversation to
    the bot."""
    payload = {
        "conversation_id": conversation_id,
        "message": message,
        "customer": customer,
        "context": context,
    }
    if transfer is not None:
        payload["transfer"] = transfer
    return orjson.dumps(payload)


def rasa_payload(conversation_id: str, text: str) -> bytes:
    return orjson.dumps({"sender": conversation_id, "message": text})

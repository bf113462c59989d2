"""Websocket frames clients send, parsed and validated at the edge.

Every way a frame can be wrong maps to one stable error code, so a client can
tell a typo from a limit: ``invalid_json``, ``invalid_frame``,
``unknown_type``, ``missing_field``, ``invalid_field``, ``text_too_long``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from gateway.errors import GatewayError


class FrameError(GatewayError):
    def __init__(self, code: str, message: str, ref: Any = None) -> None:
        super().__init__(message, code=code)
        self.ref = ref

    def to_frame(self) -> dict[str, Any]:
        return {"type": "error", "code": self.code, "message": self.message, "ref": self.ref}


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


Id = Annotated[str, Field(min_length=1, max_length=100)]


class Hello(_Frame):
    type: Literal["hello"]
    token: str
    after_seq: int | dict[str, Annotated[int, Field(ge=0)]] | None = None


class MessageIn(_Frame):
    type: Literal["message"]
    client_msg_id: Id
    text: str
    conversation_id: Id | None = None


class Typing(_Frame):
    type: Literal["typing"]
    conversation_id: Id | None = None
    active: bool = True


class Ping(_Frame):
    type: Literal["ping"]


class PresenceIn(_Frame):
    type: Literal["presence"]
    status: Annotated[str, Field(min_length=1, max_length=40)]


class Accept(_Frame):
    type: Literal["accept"]
    offer_id: Id


class Reject(_Frame):
    type: Literal["reject"]
    offer_id: Id
    reason: Annotated[str, Field(max_length=500)] | None = None


class Transfer(_Frame):
    type: Literal["transfer"]
    conversation_id: Id
    queue: Id
    note: Annotated[str, Field(max_length=2000)] | None = None


class Close(_Frame):
    type: Literal["close"]
    conversation_id: Id


class SurveyResponse(_Frame):
    """A web chat visitor's survey answer; the scores are judged by
    ``surveys.rules`` so that any bad score is ``bad_survey``."""

    type: Literal["survey_response"]
    conversation_id: Id | None = None
    csat: Any = None
    nps: Any = None
    comment: Any = None


class Handoff(_Frame):
    """A bot hands the conversation to people (body: ``bots.HandoffBody``)."""

    type: Literal["handoff"]
    conversation_id: Id
    queue: Id | None = None
    skills: list[Any] | None = None
    priority: int | None = None
    summary: str | None = None
    context: dict[str, Any] | None = None


VisitorFrame = Annotated[MessageIn | Typing | Ping | SurveyResponse, Field(discriminator="type")]
AgentFrame = Annotated[
    MessageIn | Typing | Ping | PresenceIn | Accept | Reject | Transfer | Close | Handoff,
    Field(discriminator="type"),
]
_visitor = TypeAdapter[Any](VisitorFrame)
_agent = TypeAdapter[Any](AgentFrame)
_hello = TypeAdapter(Hello)

VISITOR_TYPES = ("message", "typing", "ping")
AGENT_TYPES = (*VISITOR_TYPES, "presence", "accept", "reject", "transfer", "close", "handoff")


def _load(raw: str) -> dict[str, Any]:
    if "\\u0000" in raw:  # PostgreSQL cannot store it; no field of ours has one
        raise FrameError("invalid_field", "the frame contains a NUL character (\\u0000)")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FrameError("invalid_json", "the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise FrameError("invalid_frame", "a frame must be a JSON object")
    return data


def _ref(data: dict[str, Any]) -> Any:
    ref = data.get("client_msg_id", data.get("offer_id"))
    return ref if isinstance(ref, str | int) else None


def _validate(adapter: TypeAdapter[Any], data: dict[str, Any], known: tuple[str, ...]) -> Any:
    kind = data.get("type")
    if kind not in known and kind != "hello":
        shown = kind if isinstance(kind, str) else None
        raise FrameError(
            "unknown_type",
            f"unknown frame type {shown!r}; expected one of {', '.join(known)}",
            _ref(data),
        )
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"][1:] or first["loc"])
        if first["type"] == "missing":
            raise FrameError(
                "missing_field", f"{kind} frame: field {field!r} is required", _ref(data)
            ) from None
        raise FrameError(
            "invalid_field", f"{kind} frame: field {field!r}: {first['msg']}", _ref(data)
        ) from None


def parse_hello(raw: str) -> Hello:
    data = _load(raw)
    if data.get("type") != "hello":
        raise FrameError("hello_expected", "the first frame must be a hello")
    try:
        return _hello.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise FrameError("invalid_field", f"hello frame: field {field!r}: {first['msg']}") from None


def parse_visitor_frame(raw: str) -> Any:
    return _validate(_visitor, _load(raw), (*VISITOR_TYPES, "survey_response"))


def parse_agent_frame(raw: str) -> Any:
    return _validate(_agent, _load(raw), AGENT_TYPES)


def check_text(frame: MessageIn, limit: int) -> str:
    text = frame.text
    if len(text) > limit:
        raise FrameError(
            "text_too_long",
            f"text is {len(text)} characters; the limit is {limit}",
            frame.client_msg_id,
        )
    if not text.strip():
        raise FrameError("empty_text", "text must not be empty", frame.client_msg_id)
    return text


def dumps(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()

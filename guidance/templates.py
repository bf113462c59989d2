"""Message templates: ``Hello {{ customer.first_name or "there" }}``.

A deliberately small language, parsed when the config loads so a typo fails
start-up with the key and column. A placeholder is a dotted name under one
of a few roots (``customer``, ``context``, ``prechat``, ``agent``,
``conversation``), optionally with a quoted fallback after ``or`` used when
the value is missing or empty. Nothing is evaluated: a name is looked up in
plain dictionaries, never as an attribute or code.

Values are escaped for where the text is shown: control characters go, the
length is capped, and on web chat, whose clients may render HTML,
``& < >`` become entities (quotes stay: a message is element text,
never an attribute, and O'Brien should read as O'Brien). Rendering is one
pass, so a customer named ``{{ context.secret }}`` stays that literal text.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from guidance.errors import TemplateError

ROOTS = frozenset({"customer", "context", "prechat", "agent", "conversation"})
MAX_VALUE_CHARS = 500
HTML_CHANNELS = frozenset({"webchat"})
"""Channels whose clients may put a message into a page as HTML (a site's own
widget may); email goes out as text/plain, SMS and social as plain text."""

_PLACEHOLDER = re.compile(
    r"""\{\{\s*
        (?P<name>[A-Za-z]\w*(?:\.[A-Za-z][\w-]*)*)
        \s*(?:or\s*(?P<fallback>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'))?
        \s*\}\}""",
    re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Escape(Enum):
    TEXT = "text"
    """Plain text (SMS, social): control characters removed, length capped."""
    HTML = "html"
    """Also HTML entities, for clients that may render the text as HTML."""

    @classmethod
    def for_channel(cls, channel: str) -> Escape:
        return cls.HTML if channel in HTML_CHANNELS else cls.TEXT


@dataclass(frozen=True, slots=True)
class _Slot:
    path: tuple[str, ...]
    fallback: str


Part = str | _Slot


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


@dataclass(frozen=True)
class Template:
    """A parsed template; ``Template.parse`` raises ``TemplateError``."""

    source: str
    parts: tuple[Part, ...]

    @classmethod
    def parse(cls, source: str) -> Template:
        parts: list[Part] = []
        pos = 0
        while True:
            start = source.find("{{", pos)
            if start < 0:
                parts.append(source[pos:])
                break
            parts.append(source[pos:start])
            match = _PLACEHOLDER.match(source, start)
            if match is None:
                end = source.find("}}", start)
                if end < 0:
                    raise TemplateError("'{{' is never closed with '}}'", start + 1)
                inner = source[start + 2 : end].strip()
                raise TemplateError(
                    f'expected a name like customer.name (optionally: or "fallback"),'
                    f" got {inner!r}",
                    start + 1,
                )
            path = tuple(match["name"].split("."))
            if path[0] not in ROOTS:
                raise TemplateError(
                    f"unknown name {path[0]!r}; expected one of {', '.join(sorted(ROOTS))}",
                    start + 1,
                )
            fallback = _unquote(match["fallback"]) if match["fallback"] else ""
            parts.append(_Slot(path, fallback))
            pos = match.end()
        return cls(source, tuple(p for p in parts if p != ""))

    @property
    def names(self) -> list[str]:
        return [".".join(p.path) for p in self.parts if isinstance(p, _Slot)]

    def render(self, values: Mapping[str, Any], escape: Escape = Escape.TEXT) -> str:
        """The text with every placeholder filled from ``values`` and escaped;
        the template's own text (from the operator's config) is kept as is."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = _lookup(values, part.path)
            text = _as_text(value)
            out.append(_clean(text, escape) if text.strip() else part.fallback)
        return "".join(out)


def _lookup(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    current: Any = values
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return None
        current = current[key]
    return current


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _clean(text: str, escape: Escape) -> str:
    text = _CONTROL.sub("", text)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    if escape is Escape.HTML:
        text = html.escape(text, quote=False)
    return text


def template_values(
    *,
    customer: Mapping[str, Any],
    context: Mapping[str, Any],
    prechat: Mapping[str, Any],
    agent_name: str | None,
    conversation: Mapping[str, Any],
) -> dict[str, Any]:
    """The namespace templates see. ``customer.first_name`` is the first word
    of the name."""
    name = customer.get("name") or ""
    first = name.split()[0] if isinstance(name, str) and name.split() else None
    return {
        "customer": {**customer, "first_name": first},
        "context": dict(context),
        "prechat": dict(prechat),
        "agent": {"name": agent_name, "first_name": (agent_name or "").split(" ")[0] or None},
        "conversation": dict(conversation),
    }

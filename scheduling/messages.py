"""What the customer reads about an appointment: confirmation, reminder,
moves and cancellations, with the time in the customer's own time zone.

Pure text; the gateway decides the channel. SMS texts stay short and say
how to cancel by reply (the keyword must not be a carrier opt-out word such
as STOP or CANCEL, or the carrier would unsubscribe the customer instead).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

import phonenumbers
from phonenumbers import timezone as phone_timezones

from scheduling.calendars import zone
from scheduling.errors import InvalidModel

Kind = str  # "confirmation" | "reminder" | "rescheduled" | "cancelled"


def pick_zone(candidates: Iterable[tuple[str, str | None]]) -> tuple[str, str]:
    """The customer's time zone: the first candidate ``(source, name)`` that
    names a known IANA zone, as ``(source, name)``; ``("default", "UTC")`` when
    none does. Callers list them best first (the booking's own zone, the one
    stored on the customer, their browser's, their phone number's, their
    calendar's, the server's);
    one that is missing or not a zone (a browser's guess) is passed over."""
    for source, name in candidates:
        if not name:
            continue
        try:
            zone(name)
        except InvalidModel:
            continue
        return source, name
    return "default", "UTC"


def phone_zone(number: str | None, at: datetime) -> str | None:
    """The time zone of a phone number, when every zone its country and area
    may be in shows the same time at ``at`` (an Italian mobile: Rome or the
    Vatican, so Europe/Rome; a Russian one: sixteen zones, so none)."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    zones = [z for z in phone_timezones.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    try:
        offsets = {at.astimezone(zone(z)).utcoffset() for z in zones}
    except InvalidModel:
        return None
    return zones[0] if len(offsets) == 1 else None


def local_time(start: datetime, end: datetime, tz_name: str) -> str:
    """``Tue 8 Dec 2026, 10:00-11:00 (Europe/Rome)`` in the customer's zone."""
    tz = zone(tz_name)
    a, b = start.astimezone(tz), end.astimezone(tz)
    day = f"{a:%a} {a.day} {a:%b %Y}"
    if a.date() == b.date():
        return f"{day}, {a:%H:%M}-{b:%H:%M} ({tz_name})"
    return f"{day} {a:%H:%M} to {b:%a} {b.day} {b:%b} {b:%H:%M} ({tz_name})"


def text_for(
    kind: Kind,
    service: str,
    start: datetime,
    end: datetime,
    tz_name: str,
    *,
    cancel_keyword: str | None,
) -> str:
    when = local_time(start, end, tz_name)
    how = f" Reply {cancel_keyword} to cancel." if cancel_keyword else ""
    if kind == "confirmation":
        return f"Your appointment ({service}) is booked for {when}.{how}"
    if kind == "reminder":
        return f"Reminder: your appointment ({service}) is on {when}.{how}"
    if kind == "rescheduled":
        return f"Your appointment ({service}) has moved to {when}.{how}"
    if kind == "cancelled":
        return f"Your appointment ({service}) on {when} is cancelled."
    raise ValueError(f"unknown message kind {kind!r}")


def is_cancel_reply(text: str, keyword: str) -> bool:
    """Whether an inbound text is the cancel keyword (any case, punctuation and
    spaces around ignored)."""
    cleaned = re.sub(r"[^\w ]+", "", text).strip().upper()
    return bool(keyword) and cleaned == keyword.strip().upper()

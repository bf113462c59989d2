"""The customer hears about their appointment: confirmation and reminder over
web chat, SMS and email (real SMTP out to a relay) with the time in their time
zone (the booking's, else the one stored on the customer, else their browser's,
else their resource's calendar's), and cancelling by SMS reply (from an open
conversation and with none open)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
import httpx
import pytest

from tests.conftest import PASSWORD
from tests.standins.graph_api import GraphStandin
from tests.standins.payloads import ACCOUNT_SID, PHONE_NUMBER_ID, twilio_sms
from tests.standins.smtp_sink import SmtpSink
from tests.standins.telegram_api import TelegramStandin
from tests.standins.twilio_api import TwilioStandin
from tests.support.channels import (
    AUTH_TOKEN,
    BOT_TOKEN,
    PAGE_TOKEN,
    SUPPORT,
    WHATSAPP_TOKEN,
    ChannelRig,
    channel_env,
    seeded_users,
)
from tests.support.clients import bearer, new_session, recv, token, visitor
from tests.support.server import Server

CONFIG = """
[scheduling]
reminder_before = "1h"
reminder_poll = "1s"

[[scheduling.calendars]]
name = "sydney"
timezone = "Australia/Sydney"
monday = ["00:00-24:00"]
tuesday = ["00:00-24:00"]
wednesday = ["00:00-24:00"]
thursday = ["00:00-24:00"]
friday = ["00:00-24:00"]
saturday = ["00:00-24:00"]
sunday = ["00:00-24:00"]
"""
WAIT = 20.0


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ChannelRig]:
    workdir: Path = tmp_path_factory.mktemp("scheduling-notify")
    async with AsyncExitStack() as stack:
        twilio = await stack.enter_async_context(TwilioStandin(ACCOUNT_SID, AUTH_TOKEN))
        graph = await stack.enter_async_context(
            GraphStandin(
                page_token=PAGE_TOKEN,
                whatsapp_token=WHATSAPP_TOKEN,
                phone_number_id=PHONE_NUMBER_ID,
            )
        )
        telegram = await stack.enter_async_context(TelegramStandin(BOT_TOKEN))
        relay = await stack.enter_async_context(SmtpSink())
        env = {**channel_env(twilio, graph, telegram, relay), **seeded_users()}
        server = Server(
            workdir, f"sqlite:///{workdir / 'switchboard.sqlite3'}", config=CONFIG, **env
        )
        await asyncio.to_thread(server.start)
        try:
            yield ChannelRig(server, twilio, graph, telegram, relay)
        finally:
            await asyncio.to_thread(server.stop)


def _api(rig: ChannelRig, user: str) -> dict[str, str]:
    return bearer(token(rig.http, user, PASSWORD))


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _setup(rig: ChannelRig, calendar: str = "24x7") -> tuple[str, str]:
    sam = _api(rig, "sam")
    resource = httpx.post(
        rig.http + "/api/v1/resources",
        json={
            "name": f"Tech {time.monotonic_ns()}",
            "kind": "person",
            "skills": {"fix": 3},
            "calendar": calendar,
        },
        headers=sam,
    )
    assert resource.status_code == 201, resource.text
    service = httpx.post(
        rig.http + "/api/v1/services",
        json={
            "name": "Boiler check",
            "duration": "30m",
            "requires": [{"kind": "person", "resource": resource.json()["id"]}],
        },
        headers=sam,
    )
    assert service.status_code == 201, service.text
    return str(resource.json()["id"]), str(service.json()["id"])


def _book(rig: ChannelRig, start: datetime, **fields: Any) -> dict[str, Any]:
    reply = httpx.post(
        rig.http + "/api/v1/appointments",
        json={"start": _z(start), **fields},
        headers=_api(rig, "alice"),
    )
    assert reply.status_code == 201, reply.text
    result: dict[str, Any] = reply.json()
    return result


def _local(moment: datetime, zone: str) -> str:
    """The start as the customer reads it, ``HH:MM`` (followed by ``-`` and the
    end, or by `` to `` and the next day's date when the visit crosses midnight)."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


async def _until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_web_chat_gets_confirmation_and_reminder_in_its_time_zone(
    rig: ChannelRig,
) -> None:
    resource, service = _setup(rig)
    session = new_session(rig.http, name="Wendy", email="wendy@example.com")
    ws, _ = await visitor(rig.server.ws, session["visitor_token"])
    # Due for its reminder (1 hour before) two seconds from now.
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1, seconds=2)
    booked = _book(
        rig,
        start,
        service_id=service,
        resources=[resource],
        conversation_id=session["conversation_id"],
        timezone="America/New_York",
    )
    texts = []
    async with asyncio.timeout(WAIT):
        while len(texts) < 2:
            frame = await recv(ws, WAIT)
            if frame.get("type") == "message" and frame["sender"]["role"] == "bot":
                texts.append(frame["text"])
    confirmation, reminder = texts
    local = _local(start, "America/New_York")
    assert confirmation.startswith("Your appointment (Boiler check) is booked for")
    assert local in confirmation and "(America/New_York)" in confirmation
    assert reminder.startswith("Reminder: your appointment (Boiler check)")
    assert local in reminder
    assert "Reply" not in confirmation  # cancelling by reply is for SMS
    await ws.close()
    got = httpx.get(
        f"{rig.http}/api/v1/appointments/{booked['id']}", headers=_api(rig, "alice")
    ).json()
    assert [n["kind"] for n in got["notifications"]] == ["confirmation", "reminder"]
    assert all(n["sent"] for n in got["notifications"])
    assert got["reminder_at"] is None  # claimed: it goes out once


async def test_sms_confirmation_reminder_and_cancel_by_reply(rig: ChannelRig) -> None:
    resource, service = _setup(rig)
    phone = "+393471234567"  # an Italian mobile: Europe/Rome, the calendar is in Sydney
    reply = await rig.post_twilio(
        twilio_sms("the boiler is cold", sid="SM" + "1" * 32, sender=phone)
    )
    assert reply.status_code == 200, reply.text
    (conversation,) = rig.conversations(phone=phone)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1, seconds=2)
    booked = _book(
        rig,
        start,
        service_id=service,
        resources=[resource],
        conversation_id=conversation["id"],
        customer_id=conversation["customer"]["id"],
    )

    def texts_to_phone() -> list[str]:
        return [r.form["Body"] for r in rig.twilio.received if r.form.get("To") == phone]

    await _until(lambda: len(texts_to_phone()) >= 2, "confirmation and reminder by SMS")
    confirmation, reminder = texts_to_phone()[:2]
    local = _local(start, "Europe/Rome")
    assert "is booked for" in confirmation and local in confirmation
    assert "(Europe/Rome)" in confirmation and "Reply C to cancel." in confirmation
    assert reminder.startswith("Reminder:") and local in reminder

    # The customer replies "c" in the open conversation: cancelled, and told so.
    reply = await rig.post_twilio(twilio_sms("c", sid="SM" + "2" * 32, sender=phone))
    assert reply.status_code == 200
    await _until(lambda: len(texts_to_phone()) >= 3, "the cancellation text")
    assert "is cancelled" in texts_to_phone()[2]
    got = httpx.get(
        f"{rig.http}/api/v1/appointments/{booked['id']}", headers=_api(rig, "alice")
    ).json()
    assert got["status"] == "cancelled"
    assert got["history"][-1]["by"] == f"customer:{conversation['customer']['id']}"

    # With the conversation closed, replying C still cancels the next one and
    # opens no new conversation.
    later = _book(
        rig,
        start + timedelta(days=2),
        service_id=service,
        resources=[resource],
        conversation_id=conversation["id"],
        customer_id=conversation["customer"]["id"],
        timezone="Europe/Rome",
    )
    await _until(lambda: len(texts_to_phone()) >= 4, "the second confirmation")
    closed = httpx.post(
        f"{rig.http}/api/v1/conversations/{conversation['id']}/close", headers=_api(rig, "sam")
    )
    assert closed.status_code == 200, closed.text
    reply = await rig.post_twilio(twilio_sms("C.", sid="SM" + "3" * 32, sender=phone))
    assert reply.status_code == 200

    def cancelled() -> bool:
        status = httpx.get(
            f"{rig.http}/api/v1/appointments/{later['id']}", headers=_api(rig, "alice")
        ).json()["status"]
        return bool(status == "cancelled")

    await _until(cancelled, "the cancel by reply with no open conversation")
    await _until(lambda: len(texts_to_phone()) >= 5, "the second cancellation text")
    assert "is cancelled" in texts_to_phone()[4]
    assert len(rig.conversations(phone=phone)) == 1


def _notices(rig: ChannelRig, appointment_id: str) -> list[dict[str, Any]]:
    got = httpx.get(
        f"{rig.http}/api/v1/appointments/{appointment_id}", headers=_api(rig, "alice")
    ).json()
    notices: list[dict[str, Any]] = got["notifications"]
    return notices


async def test_email_confirmation_and_reminder_in_the_customers_stored_zone(
    rig: ChannelRig,
) -> None:
    resource, service = _setup(rig, calendar="sydney")
    customer = "erin@customer.example"
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = f"Erin <{customer}>", SUPPORT, "Boiler"
    mail["Message-ID"] = make_msgid(domain="customer.example")
    mail.set_content("The boiler is cold, can someone come?\n")
    await aiosmtplib.send(
        mail,
        sender=customer,
        recipients=[SUPPORT],
        hostname="127.0.0.1",
        port=rig.server.smtp_port,
    )
    (conversation,) = rig.conversations(email=customer)
    customer_id = conversation["customer"]["id"]

    def mails() -> list[str]:
        return [
            m.message.get_body(("plain",)).get_content()
            for m in rig.relay.received
            if customer in m.rcpt_tos
        ]

    # No zone of the customer's known yet: their resource's calendar's.
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    first = _book(
        rig, later, service_id=service, resources=[resource], conversation_id=conversation["id"]
    )
    await _until(lambda: len(mails()) >= 1, "the first confirmation by email")
    assert "(Australia/Sydney)" in mails()[0]
    assert _local(later, "Australia/Sydney") in mails()[0]
    assert "Reply" not in mails()[0]  # cancelling by reply is for SMS

    # The agent stores the customer's zone; a bad one is refused, saying why.
    path = f"{rig.http}/api/v1/customers/{customer_id}"
    bad = httpx.patch(path, json={"timezone": "Mars/Base"}, headers=_api(rig, "alice"))
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["code"] == "unknown_timezone"
    assert "Mars/Base" in bad.json()["error"]["message"]
    missing = httpx.patch(path, json={}, headers=_api(rig, "alice"))
    assert missing.status_code == 400
    nobody = httpx.patch(
        f"{rig.http}/api/v1/customers/cus_nope", json={"timezone": "UTC"}, headers=_api(rig, "sam")
    )
    assert nobody.status_code == 404
    stored = httpx.patch(path, json={"timezone": "Asia/Tokyo"}, headers=_api(rig, "alice"))
    assert stored.status_code == 200, stored.text
    assert stored.json()["timezone"] == "Asia/Tokyo"
    assert httpx.get(path, headers=_api(rig, "sam")).json()["timezone"] == "Asia/Tokyo"

    # Due for its reminder (1 hour before) two seconds from now.
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1, seconds=2)
    booked = _book(
        rig, start, service_id=service, resources=[resource], conversation_id=conversation["id"]
    )
    await _until(lambda: len(mails()) >= 3, "confirmation and reminder by email")
    confirmation, reminder = mails()[1:3]
    local = _local(start, "Asia/Tokyo")
    assert confirmation.startswith("Your appointment (Boiler check) is booked for")
    assert local in confirmation and "(Asia/Tokyo)" in confirmation
    assert reminder.startswith("Reminder: your appointment (Boiler check)")
    assert local in reminder and "(Asia/Tokyo)" in reminder
    notices = _notices(rig, booked["id"])
    assert [(n["kind"], n["channel"], n["timezone_from"]) for n in notices] == [
        ("confirmation", "email", "customer"),
        ("reminder", "email", "customer"),
    ]
    assert _notices(rig, first["id"])[0]["timezone_from"] == "calendar"
    # Forgetting the zone is allowed too.
    cleared = httpx.patch(path, json={"timezone": None}, headers=_api(rig, "alice"))
    assert cleared.status_code == 200 and cleared.json()["timezone"] is None


async def test_web_chat_uses_the_browsers_zone_until_the_customer_has_one(
    rig: ChannelRig,
) -> None:
    resource, service = _setup(rig)
    session = new_session(
        rig.http, name="Lou", context={"timezone": "America/Los_Angeles", "page_url": "/help"}
    )
    ws, _ = await visitor(rig.server.ws, session["visitor_token"])

    async def next_notice() -> str:
        async with asyncio.timeout(WAIT):
            while True:
                frame = await recv(ws, WAIT)
                if frame.get("type") == "message" and frame["sender"]["role"] == "bot":
                    return str(frame["text"])

    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    booked = _book(
        rig,
        start,
        service_id=service,
        resources=[resource],
        conversation_id=session["conversation_id"],
    )
    confirmation = await next_notice()
    assert "(America/Los_Angeles)" in confirmation
    assert _local(start, "America/Los_Angeles") in confirmation
    customer_id = booked["customer_id"]
    stored = httpx.patch(
        f"{rig.http}/api/v1/customers/{customer_id}",
        json={"timezone": "Europe/Rome"},
        headers=_api(rig, "alice"),
    )
    assert stored.status_code == 200, stored.text
    moved_to = start + timedelta(hours=3)
    moved = httpx.post(
        f"{rig.http}/api/v1/appointments/{booked['id']}/reschedule",
        json={"start": _z(moved_to)},
        headers=_api(rig, "alice"),
    )
    assert moved.status_code == 200, moved.text
    notice = await next_notice()
    assert notice.startswith("Your appointment (Boiler check) has moved to")
    assert _local(moved_to, "Europe/Rome") in notice and "(Europe/Rome)" in notice
    await ws.close()
    assert [n["timezone_from"] for n in _notices(rig, booked["id"])] == ["browser", "customer"]

"""The customer hears about their appointment: confirmation and reminder over
web chat and SMS with the time in their time zone, and cancelling by SMS reply
(from an open conversation and with none open)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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


def _setup(rig: ChannelRig) -> tuple[str, str]:
    sam = _api(rig, "sam")
    resource = httpx.post(
        rig.http + "/api/v1/resources",
        json={"name": f"Tech {time.monotonic_ns()}", "kind": "person", "skills": {"fix": 3}},
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
    assert f"{local}-" in confirmation and "(America/New_York)" in confirmation
    assert reminder.startswith("Reminder: your appointment (Boiler check)")
    assert f"{local}-" in reminder
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
    phone = "+14155550177"
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
        timezone="Europe/Rome",
    )

    def texts_to_phone() -> list[str]:
        return [r.form["Body"] for r in rig.twilio.received if r.form.get("To") == phone]

    await _until(lambda: len(texts_to_phone()) >= 2, "confirmation and reminder by SMS")
    confirmation, reminder = texts_to_phone()[:2]
    local = _local(start, "Europe/Rome")
    assert "is booked for" in confirmation and f"{local}-" in confirmation
    assert "(Europe/Rome)" in confirmation and "Reply C to cancel." in confirmation
    assert reminder.startswith("Reminder:") and f"{local}-" in reminder

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

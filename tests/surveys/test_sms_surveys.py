"""SMS and email surveys end to end against the Twilio and SMTP stand-ins, on
SQLite and PostgreSQL.

Closing an SMS conversation texts the customer a question; the reply that is
only a digit in range is the answer, not a new conversation. Closing an email
conversation mails a link to a small survey page.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import pytest

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
from tests.support.clients import bearer
from tests.support.server import Server
from tests.support.services import scratch_postgres

# Two cores are shared by every server the tests run: be patient.
http_get = functools.partial(httpx.get, timeout=30.0)
http_post = functools.partial(httpx.post, timeout=30.0)

CONFIG = """
[surveys]
channels = ["webchat", "sms", "email"]
questions = ["csat", "nps"]
answer_window = "1h"
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def rig(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ChannelRig]:
    workdir = tmp_path_factory.mktemp(f"sms-surveys-{request.param}")
    async with AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{workdir / 'switchboard.sqlite3'}"
        else:
            url = stack.enter_context(scratch_postgres())
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
        server = Server(
            workdir,
            url,
            config=CONFIG,
            **channel_env(twilio, graph, telegram, relay),
            **seeded_users(),
        )
        await asyncio.to_thread(server.start)
        try:
            yield ChannelRig(server, twilio, graph, telegram, relay)
        finally:
            await asyncio.to_thread(server.stop)


def sid(n: int) -> str:
    return f"SM{n:032x}"


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := check()):
            await asyncio.sleep(0.05)
    return found


async def text_taken_and_closed(rig: ChannelRig, phone: str, n: int) -> str:
    """The customer texts in; alice takes and closes the conversation."""
    assert (await rig.post_twilio(twilio_sms("help", sid=sid(n), sender=phone))).status_code == 200
    (conversation,) = rig.conversations(phone=phone)
    cid = str(conversation["id"])
    ws = await rig.take(cid)
    closed = http_post(
        f"{rig.http}/api/v1/conversations/{cid}/close", headers=bearer(rig.token("alice"))
    )
    assert closed.status_code == 200, closed.text
    await ws.close()
    return cid


def texts_to(rig: ChannelRig, phone: str) -> list[str]:
    return [r.form["Body"] for r in rig.twilio.received if r.form.get("To") == phone]


def kpis(rig: ChannelRig, **params: str) -> dict[str, Any]:
    reply = http_get(
        rig.http + "/api/v1/reports/kpis", params=params, headers=bearer(rig.token("sam"))
    )
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def test_a_digit_reply_is_the_answer_and_opens_nothing(rig: ChannelRig):
    phone = "+14155550301"
    cid = await text_taken_and_closed(rig, phone, 1)
    (question,) = await eventually(lambda: texts_to(rig, phone))
    assert "digit from 1 (poor) to 5 (excellent)" in question

    assert (await rig.post_twilio(twilio_sms(" 4 ", sid=sid(2), sender=phone))).status_code == 200
    # Twilio delivers the same reply again: still one answer, no conversation.
    assert (await rig.post_twilio(twilio_sms(" 4 ", sid=sid(2), sender=phone))).status_code == 200
    (conversation,) = rig.conversations(phone=phone)
    assert conversation["id"] == cid and conversation["status"] == "closed"
    assert [m["text"] for m in rig.messages(cid)] == ["help"]
    report = kpis(rig, channel="sms")
    assert report["csat"]["responses"] >= 1
    assert report["by_channel"]["sms"]["surveys"]["answered"] >= 1

    # Answered: a later digit is an ordinary message in a new conversation.
    assert (await rig.post_twilio(twilio_sms("5", sid=sid(3), sender=phone))).status_code == 200
    newer = [c for c in rig.conversations(phone=phone) if c["id"] != cid]
    assert len(newer) == 1 and newer[0]["status"] != "closed"
    assert [m["text"] for m in rig.messages(newer[0]["id"])] == ["5"]


async def test_a_digit_out_of_range_or_words_are_a_new_conversation(rig: ChannelRig):
    phone = "+14155550302"
    cid = await text_taken_and_closed(rig, phone, 10)
    await eventually(lambda: texts_to(rig, phone))
    before = kpis(rig, channel="sms")["csat"]["responses"]

    assert (await rig.post_twilio(twilio_sms("7", sid=sid(11), sender=phone))).status_code == 200
    newer = [c for c in rig.conversations(phone=phone) if c["id"] != cid]
    assert len(newer) == 1
    assert [m["text"] for m in rig.messages(newer[0]["id"])] == ["7"]
    # With a conversation open again, even a digit in range belongs to it.
    assert (await rig.post_twilio(twilio_sms("3", sid=sid(12), sender=phone))).status_code == 200
    assert [m["text"] for m in rig.messages(newer[0]["id"])] == ["7", "3"]
    assert kpis(rig, channel="sms")["csat"]["responses"] == before


async def test_an_email_conversation_gets_a_link_to_a_survey_page(rig: ChannelRig):
    customer = "dora@customer.example"
    mail = EmailMessage()
    mail["From"] = f"Dora <{customer}>"
    mail["To"] = SUPPORT
    mail["Subject"] = "Invoice question"
    mail["Message-ID"] = "<q1@customer.example>"
    mail.set_content("Why is my invoice higher this month?")
    await aiosmtplib.send(
        mail, sender=customer, recipients=[SUPPORT], hostname="127.0.0.1", port=rig.server.smtp_port
    )
    (conversation,) = await eventually(lambda: rig.conversations(email=customer))
    cid = conversation["id"]
    ws = await rig.take(cid)
    await ws.close()
    alice = bearer(rig.token("alice"))
    assert http_post(f"{rig.http}/api/v1/conversations/{cid}/close", headers=alice).is_success

    def survey_mail() -> list[str]:
        return [
            m.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            for m in rig.relay.received
            if customer in m.rcpt_tos
        ]

    (text,) = await eventually(survey_mail)
    link = re.search(r"(http://\S+/survey/(\S+))", text)
    assert link is not None, text
    url, token = link.group(1), link.group(2)

    page = http_get(url)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'name="csat" value="5"' in page.text and 'name="nps" value="10"' in page.text

    # A forged token, or a score out of range: nothing recorded.
    survey_id = token.partition(".")[0]
    assert http_get(f"{rig.http}/survey/{survey_id}.{'0' * 32}").status_code == 404
    assert http_post(url, data={"csat": "9"}).status_code == 400
    bad_json = http_post(url, json={"nps": 11})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "bad_survey"

    done = http_post(url, data={"csat": "5", "nps": "9", "comment": "clear answer"})
    assert done.status_code == 200 and "Thank you" in done.text
    again = http_post(url, json={"csat": 1})
    assert again.status_code == 400 and again.json()["error"]["code"] == "bad_survey"
    report = kpis(rig, channel="email")
    assert report["csat"] == {"average": 5.0, "responses": 1}
    assert report["nps"] == {"score": 100.0, "responses": 1}

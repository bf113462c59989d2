"""The knowledge base through a running server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.support.clients import (
    agent,
    bearer,
    msg_id,
    recv_until,
    send,
    taken_session,
    token,
    visitor,
)
from tests.support.server import Server


@pytest.fixture(scope="module")
def tokens(server: Server) -> dict[str, dict[str, str]]:
    return {name: bearer(token(server.http, name, PASSWORD)) for name in ("alice", "sam", "ada")}


def word() -> str:
    """A made-up word no other article has, so tests sharing a server do not mix."""
    return "zq" + uuid.uuid4().hex[:8]


def create(server: Server, who: dict[str, str], **fields: Any) -> dict[str, Any]:
    reply = httpx.post(server.http + "/api/v1/articles", json=fields, headers=who)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def moved(
    server: Server, who: dict[str, str], article_id: str, to: str, **extra: Any
) -> httpx.Response:
    return httpx.post(
        server.http + f"/api/v1/articles/{article_id}/transition",
        json={"to": to, **extra},
        headers=who,
    )


def publish(
    server: Server, tokens: dict[str, dict[str, str]], article_id: str, **extra: Any
) -> dict[str, Any]:
    for to in ("in_review", "approved"):
        assert moved(server, tokens["sam"], article_id, to).status_code == 200
    reply = moved(server, tokens["sam"], article_id, "published", **extra)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def public_search(server: Server, q: str, **params: str) -> list[dict[str, Any]]:
    reply = httpx.get(server.http + "/api/v1/kb/search", params={"q": q, **params})
    assert reply.status_code == 200, reply.text
    return list(reply.json()["articles"])


def test_agents_write_supervisors_publish_and_illegal_moves_are_409(server, tokens):
    w = word()
    art = create(
        server,
        tokens["alice"],
        title=f"Block a lost card {w}",
        body="Open **Cards**, pick the card, press *Block*.",
        keywords=["Card", "card"],
    )
    assert art["status"] == "draft" and art["version"] == 1
    assert art["keywords"] == ["card"] and "<strong>Cards</strong>" in art["html"]
    aid = art["id"]

    illegal = moved(server, tokens["sam"], aid, "published")
    assert illegal.status_code == 409
    assert illegal.json()["error"]["code"] == "illegal_transition"
    assert "review" in illegal.json()["error"]["message"]
    assert httpx.get(server.http + f"/kb/{aid}").status_code == 404

    assert moved(server, tokens["alice"], aid, "in_review").json()["status"] == "in_review"
    assert moved(server, tokens["alice"], aid, "approved").status_code == 403
    assert moved(server, tokens["sam"], aid, "approved").json()["status"] == "approved"
    assert moved(server, tokens["alice"], aid, "published").status_code == 403
    assert httpx.get(server.http + f"/kb/{aid}").status_code == 404
    assert public_search(server, w) == []

    shown = moved(server, tokens["sam"], aid, "published").json()
    assert shown["status"] == "published" and shown["live"] and shown["published_version"] == 1
    page = httpx.get(server.http + f"/kb/{aid}")
    assert page.status_code == 200 and f"Block a lost card {w}" in page.text
    assert [a["id"] for a in public_search(server, w)] == [aid]
    again = moved(server, tokens["sam"], aid, "published")
    assert again.status_code == 409 and "already" in again.json()["error"]["message"]
    discard = moved(server, tokens["sam"], aid, "discarded")
    assert discard.status_code == 409


def test_editing_a_published_article_keeps_it_live_until_the_new_version_is(server, tokens):
    old, new = word(), word()
    aid = create(
        server, tokens["alice"], title=f"Refund times {old}", body="Refunds take five days."
    )["id"]
    publish(server, tokens, aid)

    edited = httpx.patch(
        server.http + f"/api/v1/articles/{aid}",
        json={"title": f"Refund times {new}", "body": "Refunds take 3 days."},
        headers=tokens["alice"],
    ).json()
    assert edited["status"] == "draft" and edited["version"] == 2
    assert edited["published_version"] == 1 and edited["live"] is True
    page = httpx.get(server.http + f"/kb/{aid}").text
    assert old in page and new not in page and "five days" in page
    assert [a["id"] for a in public_search(server, old)] == [aid]
    assert public_search(server, new) == []
    staff = httpx.get(
        server.http + "/api/v1/articles", params={"q": new}, headers=tokens["alice"]
    ).json()["articles"]
    assert [a["id"] for a in staff] == [aid] and staff[0]["status"] == "draft"

    versions = httpx.get(
        server.http + f"/api/v1/articles/{aid}/versions", headers=tokens["alice"]
    ).json()["versions"]
    assert [(v["number"], v["published"], v["working"]) for v in versions] == [
        (1, True, False),
        (2, False, True),
    ]
    change = httpx.get(
        server.http + f"/api/v1/articles/{aid}/diff",
        params={"from": 1, "to": 2},
        headers=tokens["alice"],
    ).json()["diff"]
    assert "-Refunds take five days." in change and "+Refunds take 3 days." in change

    publish(server, tokens, aid)
    page = httpx.get(server.http + f"/kb/{aid}").text
    assert new in page and "3 days" in page
    assert public_search(server, old) == []


def test_nothing_unpublished_leaks_through_portal_search_or_feedback(server, tokens):
    w = word()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    ids: dict[str, str] = {}
    for state in ("draft", "in_review", "approved", "scheduled", "archived", "discarded"):
        aid = create(server, tokens["alice"], title=f"{state} {w}", body=f"Body {w}.")["id"]
        ids[state] = aid
        if state in ("in_review", "approved", "scheduled", "archived"):
            moved(server, tokens["alice"], aid, "in_review")
        if state in ("approved", "scheduled", "archived"):
            moved(server, tokens["sam"], aid, "approved")
        if state == "scheduled":
            shown = moved(server, tokens["sam"], aid, "published", publish_at=later).json()
            assert shown["status"] == "scheduled" and shown["live"] is False
        if state == "archived":
            moved(server, tokens["sam"], aid, "published")
            assert moved(server, tokens["sam"], aid, "archived").status_code == 200
        if state == "discarded":
            assert moved(server, tokens["alice"], aid, "discarded").status_code == 200
    for state, aid in ids.items():
        assert httpx.get(server.http + f"/kb/{aid}").status_code == 404, state
        feedback = httpx.post(
            server.http + f"/api/v1/kb/articles/{aid}/feedback", json={"helpful": True}
        )
        assert feedback.status_code == 404, state
    assert public_search(server, w) == []
    portal = httpx.get(server.http + "/kb/", params={"q": w}).text
    assert 'class="article"' not in portal and "No article matches" in portal
    assert httpx.get(server.http + "/kb/art_nope").status_code == 404
    assert httpx.get(server.http + "/kb/" + "x" * 5000).status_code == 404
    staff = httpx.get(
        server.http + "/api/v1/articles", params={"q": w}, headers=tokens["sam"]
    ).json()["articles"]
    assert {a["id"] for a in staff} == {ids[s] for s in ids if s != "discarded"}
    # The staff API is for staff only.
    assert httpx.get(server.http + "/api/v1/articles", params={"q": w}).status_code == 401


def test_search_ranks_title_matches_first_and_filters(server, tokens):
    w = word()
    body_only = create(
        server,
        tokens["alice"],
        title="Fees overview",
        body=f"Our fees for cards, transfers and accounts. The {w} settings "
        "are explained elsewhere, with everything else.",
        product="cards",
    )["id"]
    in_title = create(
        server,
        tokens["alice"],
        title=f"Change the {w} limit",
        body=f"How to change the {w} limit of a card.",
        product="cards",
    )["id"]
    other_language = create(
        server,
        tokens["alice"],
        title=f"Massimale {w}",
        body=f"Il massimale {w}.",
        language="it",
        product="cards",
    )["id"]
    create(server, tokens["alice"], title="Unrelated", body="Nothing to see here.")
    for aid in (body_only, in_title, other_language):
        publish(server, tokens, aid)

    found = public_search(server, f"{w} limit")
    assert [a["id"] for a in found] == [in_title, other_language, body_only]
    assert found[0]["score"] > found[1]["score"] > found[2]["score"]
    assert {a["id"] for a in found} == {body_only, in_title, other_language}
    assert (
        "<mark>"
        in httpx.get(server.http + "/api/v1/kb/search", params={"q": w}).json()["articles"][0][
            "snippet_html"
        ]
    )
    assert [a["id"] for a in public_search(server, w, language="it")] == [other_language]
    assert public_search(server, w, product="loans") == []

    for nasty in [
        'NEAR("a" b) OR',
        '"',
        "*",
        "-",
        "AND OR NOT",
        "a" * 20_000,
        " ".join(f"w{i}" for i in range(2000)),
        "'; DROP TABLE articles; --",
    ]:
        assert isinstance(public_search(server, nasty), list)


def test_markdown_payloads_never_reach_the_page(server, tokens):
    w = word()
    body = (
        f"# Safe {w}\n\n<script>alert('x')</script>\n\n[click](javascript:alert(1))\n\n"
        "<img src=x onerror=alert(1)>\n\n![svg](data:image/svg+xml;base64,PHN2Zz4=)\n"
    )
    aid = create(server, tokens["alice"], title=f"Payloads {w}", body=body)["id"]
    publish(server, tokens, aid)
    page = httpx.get(server.http + f"/kb/{aid}")
    assert page.status_code == 200
    lowered = page.text.lower()
    assert "<script" not in lowered and 'href="javascript' not in lowered
    assert "<img src=x" not in lowered and 'src="data:' not in lowered
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_feedback_and_views_are_counted(server, tokens):
    aid = create(server, tokens["alice"], title=f"Counted {word()}", body="x")["id"]
    publish(server, tokens, aid)
    for _ in range(2):
        assert httpx.get(server.http + f"/kb/{aid}").status_code == 200
    assert (
        httpx.post(
            server.http + f"/api/v1/kb/articles/{aid}/feedback", json={"helpful": True}
        ).status_code
        == 200
    )
    form = httpx.post(server.http + f"/kb/{aid}/feedback", data={"helpful": "no"})
    assert form.status_code == 303 and form.headers["location"] == f"/kb/{aid}?thanks=1"
    assert (
        httpx.post(server.http + f"/kb/{aid}/feedback", data={"helpful": "maybe"}).status_code
        == 400
    )
    shown = httpx.get(server.http + f"/api/v1/articles/{aid}", headers=tokens["sam"]).json()
    assert (shown["views"], shown["helpful"], shown["not_helpful"]) == (2, 1, 1)


def test_translations_link_to_their_original(server, tokens):
    w = word()
    original = create(server, tokens["alice"], title=f"Original {w}", body="English.")["id"]
    french = create(
        server,
        tokens["alice"],
        title=f"Original FR {w}",
        body="Français.",
        language="fr",
        translation_of=original,
    )
    assert french["translation_of"] == original
    # A translation of the translation still links to the original.
    german = create(
        server,
        tokens["alice"],
        title=f"Original DE {w}",
        body="Deutsch.",
        language="de",
        translation_of=french["id"],
    )
    assert german["translation_of"] == original
    twice = httpx.post(
        server.http + "/api/v1/articles",
        headers=tokens["alice"],
        json={"title": "x", "body": "y", "language": "fr", "translation_of": original},
    )
    assert twice.status_code == 409
    shown = httpx.get(server.http + f"/api/v1/articles/{original}", headers=tokens["alice"])
    assert {t["language"] for t in shown.json()["translations"]} == {"fr", "de"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"title": "t", "body": "b", "extra": 1}, "invalid_field"),
        ({"body": "b"}, "missing_field"),
        ({"title": "", "body": "b"}, "invalid_field"),
        ({"title": "t", "body": "b", "language": "english!"}, "invalid_field"),
        ({"title": "t", "body": "b", "keywords": ["k"] * 31}, "invalid_field"),
        ({"title": "t" * 301, "body": "b"}, "invalid_field"),
        ({"title": "t", "body": "b", "translation_of": "art_nope"}, "not_found"),
    ],
)
def test_bad_article_bodies_are_refused_and_store_nothing(server, tokens, body, code):
    marker = word()
    if "title" in body and body["title"] == "t":
        body = {**body, "title": f"t {marker}"}
    reply = httpx.post(server.http + "/api/v1/articles", json=body, headers=tokens["alice"])
    assert reply.status_code in (400, 404) and reply.json()["error"]["code"] == code
    staff = httpx.get(
        server.http + "/api/v1/articles", params={"q": marker}, headers=tokens["alice"]
    ).json()["articles"]
    assert staff == []


def test_bad_transitions_and_edits(server, tokens):
    aid = create(server, tokens["alice"], title=f"Edits {word()}", body="b")["id"]
    for bad in ({"to": "expired"}, {"to": "nowhere"}, {}, {"to": "draft", "publish_at": "x"}):
        reply = (
            moved(server, tokens["sam"], aid, **bad)
            if "to" in bad
            else httpx.post(
                server.http + f"/api/v1/articles/{aid}/transition", json=bad, headers=tokens["sam"]
            )
        )
        assert reply.status_code == 400, (bad, reply.text)
    assert moved(server, tokens["sam"], "art_nope", "in_review").status_code == 404
    bad_json = httpx.post(
        server.http + f"/api/v1/articles/{aid}/transition", content=b"{", headers=tokens["sam"]
    )
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    assert (
        httpx.patch(
            server.http + f"/api/v1/articles/{aid}", json={"title": None}, headers=tokens["alice"]
        ).status_code
        == 400
    )
    moved(server, tokens["alice"], aid, "discarded")
    gone = httpx.patch(
        server.http + f"/api/v1/articles/{aid}", json={"body": "again"}, headers=tokens["alice"]
    )
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "not_editable"
    shown = httpx.get(server.http + f"/api/v1/articles/{aid}", headers=tokens["alice"]).json()
    assert shown["status"] == "discarded" and shown["body"] == "b"


async def test_suggestions_follow_the_customer_and_reach_the_agent(server, tokens):
    w = word()
    aid = create(
        server,
        tokens["alice"],
        title=f"Replace a {w} card",
        body=f"If your {w} card is damaged, order a replacement.",
    )["id"]
    publish(server, tokens, aid)
    # Unpublished articles about the same thing are never suggested.
    hidden = [
        create(server, tokens["alice"], title=f"{w} card broke draft", body=f"{w} card broke")["id"]
    ]
    in_review = create(server, tokens["alice"], title=f"{w} card broke review", body=f"{w} card")
    moved(server, tokens["alice"], in_review["id"], "in_review")
    hidden.append(in_review["id"])
    alice = tokens["alice"]["Authorization"].split()[1]

    # A conversation alice handled and closed, about the same thing.
    first = taken_session(server.http, alice, name="Earlier")
    v, _ = await visitor(server.ws, first["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text=f"my {w} card is broken")
    await recv_until(v, "ack")
    await v.close()
    closed = httpx.post(
        server.http + f"/api/v1/conversations/{first['conversation_id']}/close",
        headers=tokens["alice"],
    )
    assert closed.status_code == 200

    session = taken_session(server.http, alice, name="Now")
    cid = session["conversation_id"]
    a, _ = await agent(server.ws, alice)
    v, _ = await visitor(server.ws, session["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text=f"Hello, my {w} card broke")
    pushed = await recv_until(a, "suggestions", conversation_id=cid)
    assert pushed["articles"][0]["id"] == aid
    assert not {a["id"] for a in pushed["articles"]} & set(hidden)
    assert pushed["similar"][0]["conversation_id"] == first["conversation_id"]

    asked = httpx.get(
        server.http + f"/api/v1/conversations/{cid}/suggestions", headers=tokens["alice"]
    ).json()
    assert set(asked) == {"articles", "similar"}
    assert asked["articles"][0]["id"] == aid and asked["articles"][0]["score"] > 0
    assert not {a["id"] for a in asked["articles"]} & set(hidden)
    assert {"id", "title", "score"} <= set(asked["articles"][0])
    assert asked["similar"][0]["conversation_id"] == first["conversation_id"]
    assert "case_id" in asked["similar"][0]
    # The customer never sees suggestions.
    await send(v, type="ping")
    async with asyncio.timeout(5):
        while (frame := await recv_until(v, "pong", timeout=5)) is None:
            pass
    assert frame["type"] == "pong"

    # One click: the article goes to the customer and is linked to the conversation.
    sent = httpx.post(
        server.http + f"/api/v1/conversations/{cid}/articles",
        json={"article_id": aid},
        headers=tokens["alice"],
    )
    assert sent.status_code == 201, sent.text
    message = await recv_until(v, "message", sender={"role": "agent", "name": "alice"})
    assert f"/kb/{aid}" in message["text"] and w in message["text"]
    links = httpx.get(
        server.http + f"/api/v1/conversations/{cid}/articles", headers=tokens["alice"]
    ).json()["links"]
    assert [link["article_id"] for link in links] == [aid]
    draft = create(server, tokens["alice"], title="Not yet", body="x")["id"]
    for bad in ({}, {"article_id": aid, "mode": "carrier pigeon"}, {"article_id": aid, "x": 1}):
        reply = httpx.post(
            server.http + f"/api/v1/conversations/{cid}/articles", json=bad, headers=tokens["alice"]
        )
        assert reply.status_code == 400, (bad, reply.text)
    bob = bearer(token(server.http, "bob", PASSWORD))
    not_his = httpx.post(
        server.http + f"/api/v1/conversations/{cid}/articles", json={"article_id": aid}, headers=bob
    )
    assert not_his.status_code == 404
    assert (
        httpx.get(server.http + f"/api/v1/conversations/{cid}/suggestions", headers=bob).status_code
        == 404
    )
    links = httpx.get(
        server.http + f"/api/v1/conversations/{cid}/articles", headers=tokens["alice"]
    ).json()["links"]
    assert len(links) == 1  # nothing more was sent
    refused = httpx.post(
        server.http + f"/api/v1/conversations/{cid}/articles",
        json={"article_id": draft},
        headers=tokens["alice"],
    )
    assert refused.status_code == 409
    await asyncio.gather(a.close(), v.close())


async def test_topics_cluster_first_messages_with_share_and_trend(server, tokens):
    since = datetime.now(UTC)
    card, refund, password = word(), word(), word()
    texts = (
        [f"my {card} card was stolen {i}" for i in range(4)]
        + [f"{refund} refund for my order {i}" for i in range(4)]
        + [f"cannot reset {password} password {i}" for i in range(4)]
    )
    for text in texts:
        session = httpx.post(server.http + "/api/v1/webchat/sessions", json={}).json()
        v, _ = await visitor(server.ws, session["visitor_token"])
        await send(v, type="message", client_msg_id=msg_id(), text=text)
        await recv_until(v, "ack")
        await send(v, type="message", client_msg_id=msg_id(), text="hello? anyone?")
        await recv_until(v, "ack")
        await v.close()
    until = datetime.now(UTC) + timedelta(seconds=1)
    params = {"since": since.isoformat(), "until": until.isoformat(), "k": "3"}
    assert (
        httpx.get(
            server.http + "/api/v1/insights/topics", params=params, headers=tokens["alice"]
        ).status_code
        == 403
    )
    reply = httpx.get(server.http + "/api/v1/insights/topics", params=params, headers=tokens["sam"])
    assert reply.status_code == 200, reply.text
    topics = reply.json()["topics"]
    assert len(topics) == 3
    assert sorted(t["conversations"] for t in topics) == [4, 4, 4]
    assert abs(sum(t["share"] for t in topics) - 1) < 1e-3
    labels = " | ".join(t["label"] for t in topics)
    for w in (card, refund, password):
        assert w in labels
    for t in topics:
        assert set(t) >= {"label", "terms", "conversations", "share", "trend"}
        assert t["handle_seconds"] is None  # all still open
        assert t["sentiment"] is None or -1 <= t["sentiment"] <= 1
        assert len(t["examples"]) == 3 and all(e["conversation_id"] for e in t["examples"])
        # Earlier tests' conversations may fall into the card topic, nothing else.
        assert t["trend"] == (4 - t["previous"]) / max(t["previous"], 1)
        if card not in t["label"]:
            assert t["previous"] == 0 and t["trend"] == 4.0
    bad = httpx.get(
        server.http + "/api/v1/insights/topics",
        params={"since": "yesterday"},
        headers=tokens["sam"],
    )
    assert bad.status_code == 400


async def test_topics_carry_the_csat_of_their_answered_surveys(server, tokens):
    since = datetime.now(UTC)
    alice = tokens["alice"]["Authorization"].split()[1]
    happy, unhappy = word(), word()
    answers = {happy: [5, 4, None], unhappy: [1, 2, 2]}  # None: closed, never answered
    for marker, scores in answers.items():
        for i, score in enumerate(scores):
            session = taken_session(server.http, alice)
            cid = session["conversation_id"]
            v, _ = await visitor(server.ws, session["visitor_token"])
            text = f"{marker} {marker} problem with my {marker} thing {i}"
            await send(v, type="message", client_msg_id=msg_id(), text=text)
            await recv_until(v, "ack")
            closed = httpx.post(
                server.http + f"/api/v1/conversations/{cid}/close", headers=tokens["alice"]
            )
            assert closed.status_code == 200, closed.text
            await recv_until(v, "survey", conversation_id=cid)
            if score is not None:
                await send(v, type="survey_response", csat=score)
                await recv_until(v, "survey_recorded", conversation_id=cid)
            await v.close()
    until = datetime.now(UTC) + timedelta(seconds=1)
    params = {"since": since.isoformat(), "until": until.isoformat(), "k": "2"}
    reply = httpx.get(server.http + "/api/v1/insights/topics", params=params, headers=tokens["sam"])
    assert reply.status_code == 200, reply.text
    topics = {t["label"].split(" / ")[0]: t for t in reply.json()["topics"]}
    assert topics[happy]["csat"] == 4.5 and topics[happy]["csat_responses"] == 2
    assert topics[unhappy]["csat"] == 1.667 and topics[unhappy]["csat_responses"] == 3
    assert all(t["handle_seconds"] is not None for t in topics.values())


def widget_suggestions(server: Server, q: str, **params: str) -> list[dict[str, Any]]:
    reply = httpx.get(server.http + "/api/v1/kb/suggestions", params={"q": q, **params})
    assert reply.status_code == 200, reply.text
    return list(reply.json()["articles"])


def deflection(server: Server, **body: Any) -> httpx.Response:
    return httpx.post(server.http + "/api/v1/kb/deflections", json=body)


def test_the_widget_is_offered_live_articles_only_and_deflection_is_counted(server, tokens):
    since = datetime.now(UTC)
    w = word()
    live = create(server, tokens["alice"], title=f"Replace a {w} card", body=f"Order a {w} card.")
    publish(server, tokens, live["id"])
    italian = create(
        server, tokens["alice"], title=f"Carta {w}", body=f"La carta {w}.", language="it"
    )
    publish(server, tokens, italian["id"])
    hidden = {}
    for state in ("draft", "in_review", "scheduled", "archived"):
        aid = create(server, tokens["alice"], title=f"{w} card {state}", body=f"{w} card")["id"]
        hidden[state] = aid
        if state != "draft":
            moved(server, tokens["alice"], aid, "in_review")
        if state in ("scheduled", "archived"):
            moved(server, tokens["sam"], aid, "approved")
            later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            extra = {"publish_at": later} if state == "scheduled" else {}
            assert moved(server, tokens["sam"], aid, "published", **extra).status_code == 200
        if state == "archived":
            assert moved(server, tokens["sam"], aid, "archived").status_code == 200

    found = widget_suggestions(server, f"my {w} card is broken, what can I do?")
    assert not {a["id"] for a in found} & set(hidden.values())
    assert found[0]["id"] == live["id"] and found[0]["url"] == f"/kb/{live['id']}"
    assert set(found[0]) == {"id", "title", "snippet", "url"}
    assert [a["id"] for a in widget_suggestions(server, f"{w} carta", language="it")] == [
        italian["id"]
    ]
    assert widget_suggestions(server, "") == []
    assert len(widget_suggestions(server, f"{w} card", limit="50")) <= 5
    for nasty in ['NEAR("a" b) OR', "a" * 20_000, "'; DROP TABLE articles; --"]:
        assert isinstance(widget_suggestions(server, nasty), list)
    assert (
        httpx.get(server.http + "/api/v1/kb/suggestions", params={"limit": "x"}).status_code == 400
    )

    for body in ({"event": "shown"}, {"event": "clicked", "article_id": live["id"]}):
        assert deflection(server, **body).status_code == 200
    assert deflection(server, event="chat_started").status_code == 200
    assert deflection(server, event="shown").status_code == 200  # a visit that left it there
    assert deflection(server, event="clicked", article_id=hidden["draft"]).status_code == 404
    assert deflection(server, event="clicked", article_id=hidden["archived"]).status_code == 404
    for bad in ({"event": "clicked"}, {"event": "bought"}, {"event": "shown", "article_id": "x"}):
        reply = deflection(server, **bad)
        assert reply.status_code == 400 and reply.json()["error"]["code"], bad

    params = {
        "since": since.isoformat(),
        "until": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
    }
    url = server.http + "/api/v1/reports/deflection"
    assert httpx.get(url, params=params, headers=tokens["alice"]).status_code == 403
    report = httpx.get(url, params=params, headers=tokens["sam"]).json()
    assert (report["shown"], report["clicked"], report["chat_started"]) == (2, 1, 1)
    assert report["deflected"] == 1 and report["deflection_rate"] == 0.5
    assert report["articles"] == [{"id": live["id"], "title": live["title"], "clicks": 1}]
    bad = httpx.get(url, params={"since": "soon"}, headers=tokens["sam"])
    assert bad.status_code == 400

"""The authorization matrix: every HTTP route by every kind of caller.

Generated from the app's route table, so a route without a rule here fails:
whoever adds a route says who may call it. A caller the rule leaves out must
get 401 or 403 (never a 2xx, and not a 404 that would tell them whether the
thing exists); a caller it allows must get past authorization (any status
but 401 and 403). Bodies are empty and ids are real where the route needs
one (a conversation the visitor owns) and made up elsewhere, so the check is
about who, not what.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from gateway.app import create_app
from gateway.settings import Settings
from tests.support.clients import bearer, new_session, token
from tests.support.server import Server

PASSWORD = "correct horse battery"
ANONYMOUS, VISITOR, AGENT, SUPERVISOR, ADMIN, BOT = (
    "anonymous",
    "visitor",
    "agent",
    "supervisor",
    "admin",
    "bot",
)
CALLERS = (ANONYMOUS, VISITOR, AGENT, SUPERVISOR, ADMIN, BOT)
ANYONE = frozenset(CALLERS)
USERS = frozenset({AGENT, SUPERVISOR, ADMIN, BOT})
STAFF = frozenset({AGENT, SUPERVISOR, ADMIN})
MANAGERS = frozenset({SUPERVISOR, ADMIN})
ADMINS = frozenset({ADMIN})
CONVERSATION_READERS = USERS | {VISITOR}
SIGNED = frozenset({"signature"})
"""Routes whose callers prove themselves otherwise (a provider's signature,
an API key): no bearer token of any kind gets a 2xx."""
HOLDER = frozenset[str]()
"""Only whoever holds the conversation (a bot's hand-off); the test's
conversation is nobody's, so every caller is refused."""

# (method, path) -> who may call it.
RULES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/healthz"): ANYONE,
    ("GET", "/readyz"): ANYONE,
    ("GET", "/api/v1/openapi.json"): ANYONE,
    ("POST", "/api/v1/auth/token"): ANYONE,
    ("GET", "/api/v1/me"): USERS,
    ("POST", "/api/v1/webchat/sessions"): ANYONE,
    ("GET", "/api/v1/conversations"): USERS,
    ("GET", "/api/v1/conversations/{id}"): CONVERSATION_READERS,
    ("GET", "/api/v1/conversations/{id}/messages"): CONVERSATION_READERS,
    ("GET", "/api/v1/conversations/{id}/context"): USERS,
    ("POST", "/api/v1/conversations/{id}/assign"): USERS,
    # An agent or bot closes only what they hold; this one is nobody's.
    ("POST", "/api/v1/conversations/{id}/close"): MANAGERS | {VISITOR},
    ("GET", "/api/v1/queues"): STAFF,
    ("GET", "/api/v1/agents"): MANAGERS,
    ("GET", "/api/v1/cluster"): ADMINS,
    ("GET", "/api/v1/users"): MANAGERS,
    ("POST", "/api/v1/users"): ADMINS,
    ("PATCH", "/api/v1/users/{id}"): ADMINS,
    ("GET", "/api/v1/audit"): ADMINS,
    ("GET", "/api/v1/customers/{id}"): USERS,
    ("PATCH", "/api/v1/customers/{id}"): USERS,
    ("POST", "/api/v1/customers/{id}/merge"): MANAGERS,
    ("GET", "/api/v1/webchat/config"): ANYONE,
    ("POST", "/api/v1/webchat/proactive"): ANYONE,
    ("POST", "/api/v1/webchat/proactive/{rule}/{outcome}"): ANYONE,
    ("GET", "/api/v1/reports/proactive"): MANAGERS,
    # bots
    ("POST", "/api/v1/conversations/{id}/messages"): USERS,
    ("POST", "/api/v1/conversations/{id}/handoff"): HOLDER,
    ("GET", "/api/v1/reports/bots"): MANAGERS,
    # cases, entitlements, device alerts (bots may open and work cases)
    ("POST", "/api/v1/cases"): USERS,
    ("GET", "/api/v1/cases"): USERS,
    ("GET", "/api/v1/cases/{id}"): USERS,
    ("PATCH", "/api/v1/cases/{id}"): USERS,
    ("POST", "/api/v1/cases/{id}/resolve"): USERS,
    ("POST", "/api/v1/cases/{id}/cancel"): USERS,
    ("POST", "/api/v1/cases/{id}/reactivate"): USERS,
    ("POST", "/api/v1/cases/{id}/merge"): USERS,
    ("POST", "/api/v1/cases/{id}/conversations"): USERS,
    ("POST", "/api/v1/cases/{id}/activities"): USERS,
    ("GET", "/api/v1/cases/{id}/timeline"): USERS,
    ("POST", "/api/v1/entitlements"): STAFF,
    ("GET", "/api/v1/entitlements"): USERS,
    ("GET", "/api/v1/entitlements/{id}"): USERS,
    ("POST", "/api/v1/device-alerts"): SIGNED,
    ("GET", "/api/v1/device-alerts"): USERS,
    ("POST", "/api/v1/device-alerts/{id}/close"): USERS,
    # knowledge
    ("POST", "/api/v1/articles"): STAFF,
    ("GET", "/api/v1/articles"): USERS,
    ("GET", "/api/v1/articles/{id}"): USERS,
    ("PATCH", "/api/v1/articles/{id}"): STAFF,
    ("POST", "/api/v1/articles/{id}/transition"): USERS,
    ("GET", "/api/v1/articles/{id}/versions"): USERS,
    ("GET", "/api/v1/articles/{id}/diff"): USERS,
    ("GET", "/api/v1/kb/search"): ANYONE,
    ("POST", "/api/v1/kb/articles/{id}/feedback"): ANYONE,
    ("GET", "/api/v1/kb/suggestions"): ANYONE,
    ("POST", "/api/v1/kb/deflections"): ANYONE,
    ("GET", "/api/v1/reports/deflection"): MANAGERS,
    ("GET", "/api/v1/conversations/{id}/suggestions"): USERS,
    ("POST", "/api/v1/conversations/{id}/articles"): STAFF,
    ("GET", "/api/v1/conversations/{id}/articles"): USERS,
    ("GET", "/api/v1/insights/topics"): MANAGERS,
    ("GET", "/api/v1/insights/topics/latest"): MANAGERS,
    # scheduling
    ("POST", "/api/v1/resources"): MANAGERS,
    ("GET", "/api/v1/resources"): USERS,
    ("GET", "/api/v1/resources/{id}"): USERS,
    ("POST", "/api/v1/services"): MANAGERS,
    ("GET", "/api/v1/services"): USERS,
    ("GET", "/api/v1/services/{id}"): USERS,
    ("POST", "/api/v1/schedule/search"): USERS,
    ("POST", "/api/v1/appointments"): USERS,
    ("GET", "/api/v1/appointments"): USERS,
    ("GET", "/api/v1/appointments/{id}"): USERS,
    ("POST", "/api/v1/appointments/{id}/cancel"): USERS,
    ("POST", "/api/v1/appointments/{id}/transition"): USERS,
    ("POST", "/api/v1/appointments/{id}/reschedule"): USERS,
    # agent guidance
    ("GET", "/api/v1/conversations/{id}/script"): USERS,
    ("POST", "/api/v1/conversations/{id}/script/steps/{index}"): USERS,
    ("POST", "/api/v1/conversations/{id}/macros/{name}"): USERS,
    ("GET", "/api/v1/conversations/{id}/summary"): USERS,
    ("GET", "/api/v1/canned"): USERS,
    ("GET", "/api/v1/macros"): USERS,
    # reports
    ("GET", "/api/v1/reports/kpis"): MANAGERS,
    # webhooks
    ("POST", "/webhooks/twilio/sms"): SIGNED,
    ("POST", "/webhooks/twilio/status"): SIGNED,
    ("GET", "/webhooks/messenger"): SIGNED,
    ("POST", "/webhooks/messenger"): SIGNED,
    ("GET", "/webhooks/whatsapp"): SIGNED,
    ("POST", "/webhooks/whatsapp"): SIGNED,
    ("POST", "/webhooks/telegram"): SIGNED,
}
# Pages and files: public by design, checked by the browser tests.
PAGES = re.compile(r"^/($|chat$|static|kb(/|$)|survey/)")


def routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    found = []
    for route in app.routes:
        if isinstance(route, Route) and not PAGES.match(route.path):
            path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
            found += [(m, path) for m in sorted((route.methods or {"GET"}) - {"HEAD"})]
    return found


def test_every_route_has_a_rule() -> None:
    missing = [f"{m} {p}" for m, p in routes() if (m, p) not in RULES]
    assert not missing, "routes without an authorization rule:\n  " + "\n  ".join(missing)


@pytest.fixture(scope="module")
def callers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, dict[str, dict[str, str]]]]:
    workdir: Path = tmp_path_factory.mktemp("authz")
    # Channels configured, so each webhook checks its signature; outbound API
    # bases point nowhere (nothing is sent: no request gets that far).
    channels = {
        "SWITCHBOARD_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "SWITCHBOARD_TWILIO_AUTH_TOKEN": "twilio-token",
        "SWITCHBOARD_TWILIO_FROM": "+15550000000",
        "SWITCHBOARD_META_APP_SECRET": "meta-secret",
        "SWITCHBOARD_META_VERIFY_TOKEN": "verify-me",
        "SWITCHBOARD_META_PAGE_ACCESS_TOKEN": "page-token",
        "SWITCHBOARD_WHATSAPP_ACCESS_TOKEN": "wa-token",
        "SWITCHBOARD_WHATSAPP_PHONE_NUMBER_ID": "1000",
        "SWITCHBOARD_TELEGRAM_BOT_TOKEN": "1:telegram",
        "SWITCHBOARD_TELEGRAM_SECRET": "telegram-secret",
    }
    srv = Server(workdir, f"sqlite:///{workdir}/db.sqlite3", **channels)
    for name, role in (("alice", AGENT), ("sam", SUPERVISOR), ("ada", ADMIN), ("robo", BOT)):
        srv.add_user(name, PASSWORD, role)
    with srv:
        headers = {
            ANONYMOUS: {},
            AGENT: bearer(token(srv.http, "alice", PASSWORD)),
            SUPERVISOR: bearer(token(srv.http, "sam", PASSWORD)),
            ADMIN: bearer(token(srv.http, "ada", PASSWORD)),
            BOT: bearer(token(srv.http, "robo", PASSWORD)),
        }
        yield srv, headers


@pytest.mark.parametrize(("method", "path"), [r for r in routes() if r in RULES])
def test_only_the_callers_a_rule_allows_get_through(
    callers: tuple[Server, dict[str, dict[str, str]]], method: str, path: str
) -> None:
    srv, headers = callers
    allowed = RULES[(method, path)]
    made_up = f"zz{uuid.uuid4().hex[:10]}"
    wrong = []
    for who in CALLERS:
        # Each caller gets a conversation of its own, owned by the visitor:
        # a close or an assign by one caller must not change the next one's.
        session = new_session(srv.http, name="Vera")
        own = path.replace("/conversations/{id}", f"/conversations/{session['conversation_id']}")
        url = srv.http + re.sub(r"{\w+}", made_up, own.replace("{index}", "0"))
        auth = bearer(session["visitor_token"]) if who == VISITOR else headers[who]
        body = None if method == "GET" else b"{}"
        reply = httpx.request(method, url, headers=auth, content=body, timeout=10)
        denied = reply.status_code in (401, 403)
        if allowed == SIGNED:  # the body is checked with the signature: just no 2xx
            denied = not 200 <= reply.status_code < 300
        if (who in allowed) == denied:
            wrong.append(f"{who}: {reply.status_code} {reply.text[:120]}")
        assert reply.status_code < 500, f"{method} {path} as {who}: {reply.text[:300]}"
    assert not wrong, f"{method} {path} allows {sorted(allowed)}, but:\n  " + "\n  ".join(wrong)

"""The audit log, on SQLite and PostgreSQL: security-relevant actions done
over the API and the CLI, read back by an admin over ``GET /api/v1/audit``."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from audit import ACTIONS
from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import PASSWORD
from tests.support.clients import bearer, new_session, token
from tests.support.server import Server

# Every route that deletes, merges or exports, and what it records: a new one
# without an entry fails ``test_every_delete_merge_and_export_route_is_audited``.
AUDITED = {
    ("POST", "/api/v1/cases/{id}/merge"): "case_merged",
    ("POST", "/api/v1/customers/{id}/merge"): "customer_merged",
    ("GET", "/api/v1/reports/kpis"): "report_exported",  # with Accept: text/csv
}


def audit(server: Server, who: str = "ada", **params: Any) -> httpx.Response:
    return httpx.get(
        server.http + "/api/v1/audit",
        params=params,
        headers=bearer(token(server.http, who, PASSWORD)),
        timeout=30,
    )


def entries(server: Server, **params: Any) -> list[dict[str, Any]]:
    reply = audit(server, **params)
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()["entries"]
    return found


def test_account_changes_and_sign_ins_are_recorded_with_who_and_whom(server: Server) -> None:
    admin = bearer(token(server.http, "ada", PASSWORD))
    name = f"audited-{uuid.uuid4().hex[:8]}"
    created = httpx.post(
        server.http + "/api/v1/users",
        headers=admin,
        json={"username": name, "password": "first password", "role": "agent"},
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    signed_in = httpx.post(
        server.http + "/api/v1/auth/token",
        json={"username": name, "password": "first password"},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert signed_in.status_code == 200
    wrong = httpx.post(
        server.http + "/api/v1/auth/token", json={"username": name, "password": "guess"}
    )
    assert wrong.status_code == 401
    for change in (
        {"password": "second password"},
        {"role": "supervisor"},
        {"disabled": True},
        {"disabled": False},
    ):
        reply = httpx.patch(server.http + f"/api/v1/users/{user_id}", headers=admin, json=change)
        assert reply.status_code == 200, reply.text

    found = entries(server, subject=user_id)
    assert [e["action"] for e in reversed(found)] == [
        "user_created",
        "login_succeeded",
        "login_failed",
        "password_changed",
        "role_changed",
        "account_disabled",
        "account_enabled",
    ]
    by_action = {e["action"]: e for e in found}
    assert by_action["user_created"]["actor"]["name"] == "ada"
    assert by_action["role_changed"]["detail"] == {"from": "agent", "to": "supervisor"}
    assert by_action["login_succeeded"]["address"] == "198.51.100.7"
    assert by_action["login_failed"]["subject"]["name"] == name
    assert by_action["login_failed"]["detail"] == {"reason": "credentials"}
    for entry in found:
        assert entry["subject"] == {"type": "user", "id": user_id, "name": name}
        assert "password" not in str(entry["detail"]).lower()


def test_a_failed_sign_in_for_no_account_is_recorded_by_name(server: Server) -> None:
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    reply = httpx.post(
        server.http + "/api/v1/auth/token", json={"username": ghost, "password": "whatever"}
    )
    assert reply.status_code == 401
    failed = entries(server, action="login_failed", limit=50)
    assert any(e["subject"]["name"] == ghost and e["subject"]["id"] is None for e in failed)


def test_api_keys_made_and_revoked_on_the_cli_are_recorded(server: Server) -> None:
    name = f"key-{uuid.uuid4().hex[:8]}"
    assert server.cli("apikeys", "add", name).returncode == 0
    assert server.cli("apikeys", "revoke", name).returncode == 0
    keys = [
        e
        for e in entries(server, action="api_key_created,api_key_revoked", limit=100)
        if e["subject"]["name"] == name
    ]
    assert [e["action"] for e in keys] == ["api_key_revoked", "api_key_created"]
    assert all(e["actor"]["name"] == "cli" and e["subject"]["type"] == "api_key" for e in keys)
    assert keys[1]["subject"]["id"]


def test_a_kpi_export_is_recorded(server: Server) -> None:
    reply = httpx.get(
        server.http + "/api/v1/reports/kpis",
        headers={**bearer(token(server.http, "sam", PASSWORD)), "Accept": "text/csv"},
        timeout=30,
    )
    assert reply.status_code == 200
    (latest,) = entries(server, action="report_exported", limit=1)
    assert latest["actor"]["name"] == "sam" and latest["detail"]["report"] == "kpis"


def test_paging_back_with_before(server: Server) -> None:
    first = audit(server, limit=2).json()
    assert len(first["entries"]) == 2 and first["next_before"] == first["entries"][-1]["id"]
    older = entries(server, limit=2, before=first["next_before"])
    assert all(e["id"] < first["next_before"] for e in older)


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_only_admins_read_the_log(server: Server, who: str) -> None:
    reply = audit(server, who)
    assert reply.status_code == 403
    assert httpx.get(server.http + "/api/v1/audit").status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"action": "login_failed,drop_table"},
        {"limit": "0"},
        {"limit": "1e9"},
        {"before": "-1"},
        {"since": "yesterday"},
        {"until": "2026-13-45T00:00:00Z"},
    ],
)
def test_bad_queries_are_400_with_a_message(server: Server, params: dict[str, str]) -> None:
    reply = audit(server, **params)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_field" and reply.json()["error"]["message"]


def destructive_routes() -> list[tuple[str, str]]:
    """Routes that delete (DELETE), merge (``.../merge``) or export (a
    handler that answers ``text/csv``), read from the app's route table."""
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    found = []
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        exports = "text/csv" in inspect.getsource(route.endpoint)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            if method == "DELETE" or route.path.endswith("/merge") or exports:
                found.append((method, route.path))
    return found


def test_every_delete_merge_and_export_route_is_audited() -> None:
    found = destructive_routes()
    missing = [f"{m} {p}" for m, p in found if (m, p) not in AUDITED]
    assert not missing, "routes that delete, merge or export without an audit action:\n  " + (
        "\n  ".join(missing)
    )
    assert sorted(AUDITED) == sorted(found), "AUDITED names routes that are gone"
    assert set(AUDITED.values()) <= set(ACTIONS)


def new_case(server: Server, headers: dict[str, str], title: str) -> dict[str, Any]:
    reply = httpx.post(server.http + "/api/v1/cases", headers=headers, json={"title": title})
    assert reply.status_code == 201, reply.text
    case: dict[str, Any] = reply.json()
    return case


def test_a_case_merge_is_recorded_with_both_cases(server: Server) -> None:
    alice = bearer(token(server.http, "alice", PASSWORD))
    merged, survivor = new_case(server, alice, "printer jam"), new_case(server, alice, "printer")
    reply = httpx.post(
        server.http + f"/api/v1/cases/{merged['id']}/merge",
        headers=alice,
        json={"into": survivor["id"]},
    )
    assert reply.status_code == 200, reply.text
    (entry,) = entries(server, action="case_merged", subject=merged["id"])
    assert entry["actor"]["name"] == "alice"
    assert entry["subject"] == {"type": "case", "id": merged["id"], "name": merged["number"]}
    assert entry["detail"] == {"into": survivor["id"], "into_number": survivor["number"]}


def test_a_refused_case_merge_records_nothing(server: Server) -> None:
    alice = bearer(token(server.http, "alice", PASSWORD))
    case = new_case(server, alice, "alone")
    reply = httpx.post(
        server.http + f"/api/v1/cases/{case['id']}/merge", headers=alice, json={"into": case["id"]}
    )
    assert reply.status_code == 400
    assert entries(server, action="case_merged", subject=case["id"]) == []


def test_a_customer_merge_is_recorded_with_who_merged_what_into_what(server: Server) -> None:
    sam = bearer(token(server.http, "sam", PASSWORD))
    ids = []
    for _ in range(2):
        email = f"merge-{uuid.uuid4().hex[:8]}@example.com"
        session = new_session(server.http, name="Mia", email=email)
        conversation = httpx.get(
            server.http + f"/api/v1/conversations/{session['conversation_id']}", headers=sam
        )
        ids.append(conversation.json()["customer"]["id"])
    keep, other = ids
    reply = httpx.post(
        server.http + f"/api/v1/customers/{keep}/merge", headers=sam, json={"other_id": other}
    )
    assert reply.status_code == 200, reply.text
    (entry,) = entries(server, action="customer_merged", subject=other)
    assert entry["actor"]["name"] == "sam"
    assert entry["subject"]["type"] == "customer" and entry["detail"] == {"into": keep}
    again = httpx.post(
        server.http + f"/api/v1/customers/{keep}/merge", headers=sam, json={"other_id": other}
    )
    assert again.status_code == 409
    assert len(entries(server, action="customer_merged", subject=other)) == 1

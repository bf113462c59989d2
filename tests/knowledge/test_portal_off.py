"""The ``[knowledge]`` settings at work, in-process: portal off, scheduled topic runs."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_password
from gateway.settings import Settings


def test_portal_off_answers_404_to_the_public(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/db.sqlite3",
        secret_key="k" * 40,
        knowledge={"portal": False},
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/kb/").status_code == 404
        assert client.get("/kb/art_x").status_code == 404
        assert client.get("/api/v1/kb/search", params={"q": "card"}).status_code == 404
        assert client.get("/api/v1/articles", params={"q": "card"}).status_code == 401


def test_topics_run_on_a_schedule_and_are_stored(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/db.sqlite3",
        secret_key="k" * 40,
        knowledge={"topics_every": "1s"},
        users=[{"username": "sam", "role": "supervisor", "password_hash": hash_password("pw")}],
    )
    with TestClient(create_app(settings)) as client:
        tok = client.post("/api/v1/auth/token", json={"username": "sam", "password": "pw"})
        headers = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        deadline = time.monotonic() + 20
        while (
            latest := client.get("/api/v1/insights/topics/latest", headers=headers)
        ).status_code == 404:
            assert time.monotonic() < deadline, "no scheduled run within 20 s"
            time.sleep(0.1)
        assert latest.status_code == 200
        body = latest.json()
        assert body["topics"] == [] and body["run_id"].startswith("top_")

"""The egress clients against a real server on 127.0.0.1: what they refuse
before a byte is sent, and the limits on what comes back."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from egress import Policy, Refused, async_client, parse_network, sync_client
from egress.policy import Address
from tests.standins.http import HttpStandin

LOOPBACK = Policy(allow=(parse_network("127.0.0.1/32"),), max_bytes=1000, timeout=5)


class Target(HttpStandin):
    """Records every request it gets (path and Host)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        super().__init__(
            Starlette(
                routes=[
                    Route("/ok", self._ok),
                    Route("/big", self._big),
                    Route("/declared", self._declared),
                    Route("/drip", self._drip),
                    Route("/redirect", self._redirect),
                ]
            )
        )

    def _record(self, request: Request) -> None:
        self.seen.append((request.url.path, request.headers.get("host", "")))

    async def _ok(self, request: Request) -> Response:
        self._record(request)
        return PlainTextResponse("hello")

    async def _big(self, request: Request) -> Response:
        self._record(request)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b"x" * 100

        return StreamingResponse(chunks())  # chunked: no Content-Length to go by

    async def _declared(self, request: Request) -> Response:
        self._record(request)
        return PlainTextResponse("x" * 5000)

    async def _drip(self, request: Request) -> Response:
        self._record(request)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(50):
                yield b"."
                await asyncio.sleep(0.1)

        return StreamingResponse(chunks())

    async def _redirect(self, request: Request) -> Response:
        self._record(request)
        return RedirectResponse(request.query_params["to"], status_code=302)


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    async with Target() as standin:
        yield standin


async def fails(client: httpx.AsyncClient, url: str, match: str) -> None:
    with pytest.raises(httpx.HTTPError, match=match):
        await client.get(url)


async def test_loopback_is_refused_without_the_allow_list_and_nothing_is_sent(
    target: Target,
) -> None:
    async with async_client(Policy()) as client:
        await fails(client, f"https://127.0.0.1:{target.port}/ok", "loopback")
        await fails(client, f"{target.base_url}/ok", "loopback")
        await fails(client, f"https://localhost:{target.port}/ok", "loopback")
        await fails(client, f"https://[::ffff:127.0.0.1]:{target.port}/ok", "loopback")
        await fails(client, f"https://2130706433:{target.port}/ok", "loopback")  # 127.0.0.1
        await fails(client, "https://169.254.169.254/latest/meta-data/", "link-local")
        await fails(client, "http://169.254.169.254/latest/meta-data/", "link-local")
        await fails(client, "https://[fe80::1]/", "link-local")
        await fails(client, "file:///etc/passwd", "scheme")
        await fails(client, "gopher://127.0.0.1:70/", "scheme")
    assert target.seen == []


async def test_the_allow_list_lets_the_stand_in_through(target: Target) -> None:
    async with async_client(LOOPBACK) as client:
        reply = await client.get(f"{target.base_url}/ok")
    assert reply.text == "hello"
    assert target.seen == [("/ok", f"127.0.0.1:{target.port}")]


async def test_every_dns_answer_is_checked(target: Target) -> None:
    async def mixed(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("127.0.0.1")]

    async with async_client(Policy(), resolver=mixed) as client:
        await fails(client, f"https://rebind.example:{target.port}/ok", "127.0.0.1 is a non-public")
    assert target.seen == []


async def test_the_connection_goes_to_the_checked_answer(target: Target) -> None:
    """The name resolves nowhere but through the guard's resolver, so the
    request arriving proves the socket went to the address that was checked,
    not to a second lookup; the Host header still names the host."""
    lookups: list[str] = []

    async def once(host: str, port: int) -> list[Address]:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    async with async_client(LOOPBACK, resolver=once) as client:
        reply = await client.get(f"http://pinned.invalid:{target.port}/ok")
    assert reply.text == "hello"
    assert lookups == ["pinned.invalid"]
    assert target.seen == [("/ok", f"pinned.invalid:{target.port}")]


async def test_redirects_are_not_followed(target: Target) -> None:
    async with async_client(LOOPBACK) as client:
        reply = await client.get(
            f"{target.base_url}/redirect", params={"to": "http://169.254.169.254/latest/"}
        )
        assert reply.status_code == 302
        # A caller following it by hand goes through the guard again.
        await fails(client, reply.headers["location"], "169.254.169.254")


async def test_answers_over_the_size_limit_are_refused(target: Target) -> None:
    async with async_client(LOOPBACK) as client:
        await fails(client, f"{target.base_url}/big", "over the limit of 1000 bytes")
        await fails(client, f"{target.base_url}/declared", "over the limit of 1000 bytes")


async def test_an_answer_that_drips_past_the_time_limit_is_cut_off(target: Target) -> None:
    policy = Policy(allow=LOOPBACK.allow, timeout=1.0)
    async with async_client(policy) as client:
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx.TimeoutException):
            await client.get(f"{target.base_url}/drip")
    assert asyncio.get_running_loop().time() - started < 3


async def test_a_configured_literal_destination_needs_no_allow_list(target: Target) -> None:
    policy = Policy().for_destinations([f"{target.base_url}/ok"])
    async with async_client(policy) as client:
        assert (await client.get(f"{target.base_url}/ok")).text == "hello"
        # ... and grants nothing else: another port on the same address is refused.
        await fails(client, f"http://127.0.0.1:{target.port + 1}/ok", "loopback")


async def test_environment_proxies_are_ignored(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://169.254.169.254:3128")
    monkeypatch.setenv("ALL_PROXY", "http://169.254.169.254:3128")
    async with async_client(LOOPBACK) as client:
        assert (await client.get(f"{target.base_url}/ok")).text == "hello"


async def test_refusals_are_transport_errors_callers_already_handle() -> None:
    async with async_client(Policy()) as client:
        with pytest.raises(Refused) as info:
            await client.get("https://10.0.0.1/")
    assert isinstance(info.value, httpx.TransportError)
    assert info.value.request.url.host == "10.0.0.1"


async def test_the_blocking_client_guards_the_same_way(target: Target) -> None:
    def run() -> None:
        with sync_client(Policy()) as client, pytest.raises(Refused, match="loopback"):
            client.get(f"https://127.0.0.1:{target.port}/ok")
        with sync_client(LOOPBACK) as client:
            assert client.get(f"{target.base_url}/ok").text == "hello"
            with pytest.raises(Refused, match="over the limit"):
                client.get(f"{target.base_url}/big")

    await asyncio.to_thread(run)
    assert [path for path, _ in target.seen] == ["/ok", "/big"]

"""httpx clients that can only reach what the policy allows: the I/O half of the guard.

Every outgoing HTTP request of the server (bot webhooks and Rasa, provider
media, the Twilio, Graph and Telegram APIs) goes through a client made
here. The check sits where the socket is opened: the host is resolved once,
**every** answer is checked against the policy (one private answer among
public ones refuses the lot), and the connection is made to a checked
address, so a second, different DNS answer (rebinding) never gets a
connection. TLS still verifies the certificate for the host name.

Redirects are never followed by the client; a caller that follows them by
hand sends each hop through the same client, so each hop is checked. Proxies
from the environment are ignored (a proxy would connect on our behalf,
unchecked). Every response body is capped at ``max_bytes`` and every request
at ``timeout`` seconds from start to last byte.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

import anyio
import httpcore
import httpx

from egress.policy import Address, Policy

Resolver = Callable[[str, int], Awaitable[list[Address]]]
SyncResolver = Callable[[str, int], list[Address]]

_plain_http = contextvars.ContextVar("egress_plain_http", default=False)
"""Set for the request being sent: http to an origin the config does not name."""


class Refused(httpx.TransportError):
    """The guard refused a request: scheme, address, size or time. The message
    says which and how the operator could allow it."""


async def resolve(host: str, port: int) -> list[Address]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return _addresses(infos)


def resolve_sync(host: str, port: int) -> list[Address]:
    return _addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))


def _addresses(infos: Iterable[tuple[Any, ...]]) -> list[Address]:
    found: list[Address] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in found:
            found.append(ip)
    return found


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _checked(policy: Policy, host: str, port: int, addresses: list[Address]) -> list[Address]:
    if not addresses:
        raise Refused(f"{host!r} has no address")
    plain_http = _plain_http.get()
    for ip in addresses:
        reason = policy.refusal(ip, port, plain_http=plain_http)
        if reason is not None:
            raise Refused(f"refused to connect to {host}:{port}: {reason}")
    return addresses


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: Policy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolve = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                with anyio.fail_after(timeout):
                    addresses = await self._resolve(host, port)
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        error: Exception | None = None
        for ip in _checked(self._policy, host, port, addresses):
            try:  # to the checked address itself: no second lookup to rebind
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's interface
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Refused("unix sockets are not reachable through the egress guard")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _SyncBackend(httpcore.NetworkBackend):
    def __init__(self, policy: Policy, resolver: SyncResolver) -> None:
        self._policy = policy
        self._resolve = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = self._resolve(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        error: Exception | None = None
        for ip in _checked(self._policy, host, port, addresses):
            try:
                return self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise Refused("unix sockets are not reachable through the egress guard")


def _check_scheme(policy: Policy, request: httpx.Request) -> bool:
    """Refuse what is neither https nor http; True for plain http the config does not name."""
    scheme = request.url.scheme
    if scheme == "https":
        return False
    if scheme != "http":
        raise Refused(f"the scheme {scheme!r} is not allowed (only https)", request=request)
    port = request.url.port or 80
    return not policy.plain_http_named(request.url.host, port)


def _clamp_timeouts(request: httpx.Request, budget: float) -> None:
    timeouts = dict(request.extensions.get("timeout") or {})
    for key in ("connect", "read", "write", "pool"):
        value = timeouts.get(key)
        timeouts[key] = budget if value is None else min(float(value), budget)
    request.extensions = {**request.extensions, "timeout": timeouts}


def _limit_message(policy: Policy, request: httpx.Request) -> str:
    return f"the answer of {request.url.host} is over the limit of {policy.max_bytes} bytes"


class _LimitedAsyncStream(httpx.AsyncByteStream):
    def __init__(
        self, inner: httpx.AsyncByteStream, policy: Policy, request: httpx.Request, deadline: float
    ) -> None:
        self._inner, self._policy, self._request, self._deadline = inner, policy, request, deadline

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            size += len(chunk)
            if size > self._policy.max_bytes:
                raise Refused(_limit_message(self._policy, self._request), request=self._request)
            if time.monotonic() > self._deadline:
                raise httpx.ReadTimeout(
                    f"the answer took longer than {self._policy.timeout:g}s", request=self._request
                )
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _LimitedSyncStream(httpx.SyncByteStream):
    def __init__(
        self, inner: httpx.SyncByteStream, policy: Policy, request: httpx.Request, deadline: float
    ) -> None:
        self._inner, self._policy, self._request, self._deadline = inner, policy, request, deadline

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for chunk in self._inner:
            size += len(chunk)
            if size > self._policy.max_bytes:
                raise Refused(_limit_message(self._policy, self._request), request=self._request)
            if time.monotonic() > self._deadline:
                raise httpx.ReadTimeout(
                    f"the answer took longer than {self._policy.timeout:g}s", request=self._request
                )
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _declared_too_big(policy: Policy, response: httpx.Response, request: httpx.Request) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise Refused(_limit_message(policy, request), request=request)


class GuardedAsyncTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with the guarded network backend under its pool."""

    def __init__(self, policy: Policy, resolver: Resolver = resolve) -> None:
        super().__init__(trust_env=False)
        self.policy = policy
        # httpx builds its pool without a way to pass a network backend; the
        # pool is rebuilt with one. tests/egress checks that the guard is in
        # the path, so an httpx that renames this attribute fails loudly.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_AsyncBackend(policy, resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.policy.timeout
        _clamp_timeouts(request, self.policy.timeout)
        token = _plain_http.set(_check_scheme(self.policy, request))
        try:
            response = await super().handle_async_request(request)
        finally:
            _plain_http.reset(token)
        try:
            _declared_too_big(self.policy, response, request)
        except Refused:
            await response.aclose()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _LimitedAsyncStream(response.stream, self.policy, request, deadline)
        return response


class GuardedSyncTransport(httpx.HTTPTransport):
    def __init__(self, policy: Policy, resolver: SyncResolver = resolve_sync) -> None:
        super().__init__(trust_env=False)
        self.policy = policy
        self._pool = httpcore.ConnectionPool(  # see GuardedAsyncTransport
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_SyncBackend(policy, resolver),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.policy.timeout
        _clamp_timeouts(request, self.policy.timeout)
        token = _plain_http.set(_check_scheme(self.policy, request))
        try:
            response = super().handle_request(request)
        finally:
            _plain_http.reset(token)
        try:
            _declared_too_big(self.policy, response, request)
        except Refused:
            response.close()
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _LimitedSyncStream(response.stream, self.policy, request, deadline)
        return response


def async_client(
    policy: Policy, *, timeout: float | None = None, resolver: Resolver = resolve
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` under ``policy``: no redirects, no proxies from the environment."""
    return httpx.AsyncClient(
        transport=GuardedAsyncTransport(policy, resolver),
        follow_redirects=False,
        trust_env=False,
        timeout=policy.timeout if timeout is None else min(timeout, policy.timeout),
    )


def sync_client(
    policy: Policy, *, timeout: float | None = None, resolver: SyncResolver = resolve_sync
) -> httpx.Client:
    """The blocking twin of ``async_client`` (the Twilio library is synchronous)."""
    return httpx.Client(
        transport=GuardedSyncTransport(policy, resolver),
        follow_redirects=False,
        trust_env=False,
        timeout=policy.timeout if timeout is None else min(timeout, policy.timeout),
    )

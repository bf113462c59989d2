"""Posting JSON to a provider API with httpx, for the Graph and Telegram senders.

Only the transport concerns live here (one client per sender, transport
errors as ``TransientSendError``, secrets kept out of messages); each sender
classifies the provider's own error bodies.
"""

from __future__ import annotations

from typing import Any

import httpx

from channels.errors import TransientSendError
from egress import Policy, async_client


class JsonPoster:
    """An ``httpx.AsyncClient`` owned by a sender (or lent to it, for tests and pooling).

    The owned client goes through the egress guard, allowing ``api_base``
    (the sender's configured destination) as the config names it.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None,
        timeout: float,
        api_base: str,
        egress: Policy | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._owned = client is None
        policy = (egress or Policy()).for_destinations([api_base])
        self._client = client or async_client(policy, timeout=timeout)
        self._timeout = timeout
        self._secrets = tuple(s for s in secrets if s)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def post(
        self, url: str, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[httpx.Response, Any]:
        """POST ``payload``; return the response and its JSON body (``None`` if not JSON).

        Raises:
            TransientSendError: the request never got an answer.
        """
        try:
            response = await self._client.post(
                url, json=payload, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise TransientSendError(self.redact(f"request failed: {exc!r}")) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        return response, body

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()


def retry_after_header(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None

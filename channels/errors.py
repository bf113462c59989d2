"""The one exception hierarchy of the channel wire layer.

Inbound problems (a payload we cannot accept) and outbound problems (a send
that failed) share a root, so the gateway can turn any of them into a stable
error reply with one ``except ChannelError``.
"""

from __future__ import annotations


class ChannelError(Exception):
    """Base class for every error raised by ``channels``."""


class ChannelPayloadError(ChannelError):
    """An inbound request or message is malformed; the sender must not retry it as is."""


class PayloadTooLarge(ChannelPayloadError):
    """A body, message or attachment is over a configured limit."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} is {size} bytes, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class MimeBombError(ChannelPayloadError):
    """A MIME structure too deep or with too many parts to process safely."""


class AttachmentLimitError(ChannelPayloadError):
    """Too many attachments, or one too big."""


class AttachmentRefused(ChannelPayloadError):
    """An attachment of a kind we do not accept (an archive, see ``channels.archives``)."""

    def __init__(self, name: str, kind: str) -> None:
        super().__init__(f"attachment {name!r} is an archive ({kind}); archives are not accepted")
        self.name = name
        self.kind = kind


class InvalidAddressError(ChannelError):
    """An address (phone number, email address, social id) that cannot be normalised."""


class MediaFetchError(ChannelError):
    """Media could not be fetched safely (host not allowed, private target, too big, slow)."""


class SendError(ChannelError):
    """An outbound send failed.

    Args:
        message: what went wrong, for people.
        code: the provider's error code, if it gave one (as a string).
        status: the HTTP or SMTP status of the failed call, if any.
    """

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class TransientSendError(SendError):
    """Worth retrying later: timeouts, 5xx, rate limits.

    ``retry_after`` is the provider's own hint in seconds, when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Retrying cannot help: bad recipient, opted out, rejected by policy, bad credentials."""

"""Channel settings: one pydantic model for the ``[channels]`` TOML section and the
``SWITCHBOARD_*`` environment variables.

Every field maps to ``SWITCHBOARD_<FIELD NAME IN UPPER CASE>`` (so
``twilio_auth_token`` is ``SWITCHBOARD_TWILIO_AUTH_TOKEN``): flatten this model
under a settings object with prefix ``SWITCHBOARD_``, or call
``ChannelsConfig.load(section, environ)``. List fields take comma-separated
strings from the environment. A channel is enabled when its credentials are
set; validation happens once, at start. ``SWITCHBOARD_PUBLIC_URL`` and the
SMTP listen address (``smtp_host``/``smtp_port``) belong to the gateway's
settings, not here, so a flattened settings object has each name once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from channels.email_addresses import OurAddresses, split_address
from channels.email_parse import EmailLimits
from channels.email_rules import EmailRules
from channels.meta import META_API_BASE
from channels.retry import RetryPolicy
from channels.sms import TWILIO_API_BASE
from channels.telegram import TELEGRAM_API_BASE

ENV_PREFIX = "SWITCHBOARD_"
MiB = 1024 * 1024

CommaList = Annotated[tuple[str, ...], NoDecode]


def _secret(value: SecretStr) -> str:
    return value.get_secret_value()


class ChannelsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # SMS (Twilio)
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from: str = ""
    twilio_api_base: str = TWILIO_API_BASE

    # Email
    email_addresses: CommaList = ()
    email_from: str | None = None
    email_from_name: str | None = None
    smtp_relay: str | None = None
    smtp_relay_username: str | None = None
    smtp_relay_password: SecretStr | None = None
    smtp_relay_starttls: bool | None = None
    email_max_bytes: int = Field(default=10 * MiB, gt=0)
    email_max_parts: int = Field(default=100, gt=0)
    email_max_depth: int = Field(default=10, gt=0, le=50)
    email_max_attachments: int = Field(default=20, ge=0)
    email_max_attachment_bytes: int = Field(default=8 * MiB, gt=0)
    email_rules: EmailRules = EmailRules()

    # Messenger and WhatsApp (Meta Graph)
    meta_app_secret: SecretStr = SecretStr("")
    meta_verify_token: SecretStr = SecretStr("")
    meta_api_base: str = META_API_BASE
    meta_page_access_token: SecretStr = SecretStr("")
    whatsapp_access_token: SecretStr = SecretStr("")
    whatsapp_phone_number_id: str = ""

    # Telegram
    telegram_bot_token: SecretStr = SecretStr("")
    telegram_secret: SecretStr = SecretStr("")
    telegram_api_base: str = TELEGRAM_API_BASE

    # Shared limits and policies
    webhook_max_bytes: int = Field(default=1 * MiB, gt=0)
    media_allowed_hosts: CommaList = ("api.twilio.com", "*.twiliocdn.com")
    media_max_bytes: int = Field(default=5 * MiB, gt=0)
    media_timeout: float = Field(default=10.0, gt=0)
    send_timeout: float = Field(default=15.0, gt=0)
    default_country_code: str | None = None
    retry: RetryPolicy = RetryPolicy()

    @field_validator("email_addresses", "media_allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("email_addresses")
    @classmethod
    def _addresses_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        OurAddresses(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("email_from")
    @classmethod
    def _from_valid(cls, value: str | None) -> str | None:
        if value is not None and split_address(value) is None:
            raise ValueError(f"expected an email address, got {value!r}")
        return value

    @field_validator("twilio_api_base", "meta_api_base", "telegram_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("smtp_relay")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port, got {value!r}")
        return value

    @field_validator("default_country_code")
    @classmethod
    def _country_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.lstrip("+")
        if not digits.isdigit() or not 1 <= len(digits) <= 3 or digits.startswith("0"):
            raise ValueError(f"expected a country calling code like '44', got {value!r}")
        return digits

    # -- derived views ----------------------------------------------------

    @property
    def smtp_relay_address(self) -> tuple[str, int] | None:
        if self.smtp_relay is None:
            return None
        host, _, port = self.smtp_relay.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def sms_enabled(self) -> bool:
        return bool(
            self.twilio_account_sid and _secret(self.twilio_auth_token) and self.twilio_from
        )

    @property
    def email_inbound_enabled(self) -> bool:
        return bool(self.email_addresses)

    @property
    def email_outbound_enabled(self) -> bool:
        return bool(self.email_from and self.smtp_relay)

    @property
    def messenger_enabled(self) -> bool:
        return bool(_secret(self.meta_app_secret) and _secret(self.meta_page_access_token))

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(
            _secret(self.meta_app_secret)
            and _secret(self.whatsapp_access_token)
            and self.whatsapp_phone_number_id
        )

    @property
    def telegram_enabled(self) -> bool:
        return bool(_secret(self.telegram_bot_token))

    def email_limits(self) -> EmailLimits:
        return EmailLimits(
            max_bytes=self.email_max_bytes,
            max_parts=self.email_max_parts,
            max_depth=self.email_max_depth,
            max_attachments=self.email_max_attachments,
            max_attachment_bytes=self.email_max_attachment_bytes,
        )

    def our_addresses(self) -> OurAddresses:
        return OurAddresses(self.email_addresses)

    @classmethod
    def load(
        cls, section: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> ChannelsConfig:
        """The model from a ``[channels]`` TOML table, overridden by ``SWITCHBOARD_<FIELD>``
        environment variables (scalar and list fields only; ``retry`` and
        ``email_rules`` come from the file).

        Raises:
            pydantic.ValidationError: naming each bad field.
        """
        data = dict(section or {})
        for name in cls.model_fields:
            if name in ("retry", "email_rules"):
                continue
            value = (environ or {}).get(ENV_PREFIX + name.upper())
            if value is None:
                continue
            data[name] = value  # pydantic converts and checks the text
        return cls.model_validate(data)

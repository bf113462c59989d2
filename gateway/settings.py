"""Configuration: one TOML file plus ``SWITCHBOARD_*`` environment variables.

Precedence, highest first: environment, TOML file, defaults. Everything is
validated at start; an error names the file (or variable), the key and what
was expected, so a typo is a one-line fix rather than a stack trace.
Nested sections can be set from the environment with ``__``, e.g.
``SWITCHBOARD_LIMITS__MAX_TEXT_CHARS=8000``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bots.config import BotConfig, check_bots
from cases.config import CasesConfig, RecordRule
from channels.archives import ARCHIVE_KINDS, ArchiveKind
from channels.config import ChannelsConfig
from durations import Seconds
from egress import Policy, parse_network
from gateway.errors import ConfigError
from guidance.config import CannedConfig, MacroConfig, ScriptConfig, check_references
from intents.config import SkillFinderConfig
from knowledge.config import KnowledgeConfig
from prechat.config import WebchatConfig
from proactive.config import ProactiveRule, check_rules
from router.config import RoutingConfig
from scheduling.config import SchedulingConfig
from sentiment.config import SentimentConfig
from sla.config import CalendarConfig, SlaPolicy
from sla.config import check_references as check_sla_references
from surveys.config import SurveysConfig

Role = Literal["agent", "supervisor", "admin", "bot"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(Section):
    max_text_chars: int = Field(4096, ge=1, le=1_000_000)
    """Longest message text accepted from any client, in characters."""
    max_frame_bytes: int = Field(65536, ge=1024)
    """Largest websocket frame; a bigger one closes the connection (1009)."""
    frames_per_second: float = Field(50.0, gt=0)
    """Sustained frames per second a websocket may send."""
    frame_burst: int = Field(100, ge=1)
    """Frames a websocket may send at once before the rate limit applies."""
    hello_timeout_s: float = Field(10.0, gt=0)
    websocket_compression: bool = False
    """permessage-deflate: chat frames are small, so it mostly costs CPU and
    memory per connection; turn it on for slow links."""
    send_queue: int = Field(1000, ge=10)
    """Frames buffered for a slow client before it is disconnected (1013)."""
    sessions_per_second: float = Field(2.0, gt=0)
    """Web chat sessions one client address may open per second, sustained
    (``POST /api/v1/webchat/sessions``; 429 ``rate_limited`` beyond)."""
    sessions_burst: int = Field(200, ge=1)
    """Sessions one client address may open at once before the rate applies."""
    webhooks_per_second: float = Field(100.0, gt=0)
    """Requests one client address may make per second, sustained, to the
    provider webhooks (``/webhooks/...``) and device alerts. Providers send
    from a few addresses, so this is per provider, not per customer: size it
    for your peak inbound traffic (an outgoing SMS brings ~3 status callbacks)."""
    webhooks_burst: int = Field(1000, ge=1)
    websockets_per_address: int = Field(1000, ge=1)
    """Websockets one client address may hold open at once on this node;
    one more is closed with 4429."""


class Security(Section):
    """``[security]``: the egress guard and the sign-in limits (docs/security.md)."""

    fetch_allow: list[str] = Field(default_factory=list)
    """Networks outgoing requests may reach although not public, e.g.
    ``["10.0.0.0/8"]`` for bots in the cluster or ``["127.0.0.1/32"]`` for
    test stand-ins; plain http is allowed to them too."""
    fetch_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    """Largest answer read from any outgoing request."""
    fetch_timeout: Seconds = 30.0
    """Longest any outgoing request may take, connect to last byte."""
    login_address_failures: int = Field(20, ge=1)
    """Failed sign-ins one client address may make in a row; then one more
    per ``login_address_window / login_address_failures``."""
    login_address_window: Seconds = 900.0
    login_free_failures: int = Field(5, ge=1)
    """Failed sign-ins of one username before each next try must wait."""
    login_backoff: Seconds = 1.0
    """The first wait; it doubles with every further failure."""
    login_backoff_max: Seconds = 900.0
    refused_attachments: list[ArchiveKind] = Field(default_factory=lambda: list(ARCHIVE_KINDS))
    """Archive kinds refused wherever attachments come in (email, MMS,
    social media), recognised by their bytes as well as their name and type;
    ``[]`` accepts every kind."""

    @field_validator("fetch_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_network(entry)  # raises ValueError naming the bad entry
        return value

    def egress(self) -> Policy:
        """The egress guard's policy for this config."""
        return Policy(
            allow=tuple(parse_network(n) for n in self.fetch_allow),
            max_bytes=self.fetch_max_bytes,
            timeout=self.fetch_timeout,
        )


class UserSeed(Section):
    """An account created at start if it does not exist yet."""

    username: str = Field(min_length=1, max_length=100)
    role: Role = "agent"
    display_name: str | None = None
    password_hash: str | None = None
    password_env: str | None = None
    skills: dict[str, int] = Field(default_factory=dict)
    capacity: dict[str, Any] = Field(default_factory=dict)
    queues: list[str] | None = None

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("$argon2"):
            raise ValueError("expected an argon2 hash (from `switchboard hash-password`)")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(2525, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    """Base URL the outside world uses; webhook signatures are checked against it."""
    database_url: str = "sqlite:///switchboard.sqlite3"
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    redis_url: str | None = None
    router_lease_ttl_s: float = Field(5.0, gt=0.2, le=600)
    """With Redis: the router lease's TTL; another node takes over this long
    after the routing node stops renewing (see docs/operations.md)."""
    secret_key: str | None = Field(None, min_length=32)
    """Signs access tokens; generated and kept in the database when unset."""
    token_ttl_s: int = Field(8 * 3600, ge=60)
    visitor_token_ttl_s: int = Field(7 * 24 * 3600, ge=60)
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins allowed to open websockets and call the API from a browser.
    Empty: the server's own origin (``public_url``) only. ``*``: any."""
    shutdown_grace_s: float = Field(5.0, ge=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    limits: Limits = Field(default_factory=Limits)  # type: ignore[arg-type]
    users: list[UserSeed] = Field(default_factory=list)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    """``[channels]``; its fields also read the flat ``SWITCHBOARD_<FIELD>``
    variables of the protocol (``SWITCHBOARD_TWILIO_AUTH_TOKEN``, ...)."""
    sentiment: SentimentConfig = Field(default_factory=SentimentConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    """``[routing]``: queues, skills, intake rules, capacity, presence (docs/routing.md)."""
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)  # type: ignore[arg-type]
    """``[knowledge]``: portal, suggestions, insights period (docs/knowledge.md)."""
    calendars: list[CalendarConfig] = Field(default_factory=list)
    """``[[calendars]]``: business hours for SLA clocks (docs/service.md)."""
    sla: list[SlaPolicy] = Field(default_factory=list)
    """``[[sla]]``: SLA policies with their KPIs (docs/service.md)."""
    scheduling: SchedulingConfig = Field(default_factory=SchedulingConfig)  # type: ignore[arg-type]
    """``[scheduling]``: slot grid, search limits, resource calendars (docs/scheduling.md)."""
    record_rules: list[RecordRule] = Field(default_factory=list)
    """``[[record_rules]]``: channels whose new conversations open a case (docs/service.md)."""
    cases: CasesConfig = Field(default_factory=CasesConfig)
    """``[cases]``: process stages, entitlements, follow-ups, device alert rules."""
    skill_finder: SkillFinderConfig = Field(default_factory=SkillFinderConfig)
    """``[skill_finder]``: the intent model that sets skills at intake (docs/bots.md)."""
    webchat: WebchatConfig = Field(default_factory=WebchatConfig)
    """``[webchat]``: the widget's pre-chat survey (docs/bots.md)."""
    proactive: list[ProactiveRule] = Field(default_factory=list)
    """``[[proactive]]``: when to invite a visitor to chat (docs/bots.md)."""
    scripts: list[ScriptConfig] = Field(default_factory=list)
    """``[[scripts]]``: agent scripts chosen per conversation (docs/console.md)."""
    macros: list[MacroConfig] = Field(default_factory=list)
    """``[[macros]]``: actions agents run on a conversation (docs/console.md)."""
    canned: list[CannedConfig] = Field(default_factory=list)
    """``[[canned]]``: canned responses, searchable from the composer (docs/console.md)."""
    bots: list[BotConfig] = Field(default_factory=list)
    """``[[bots]]``: bots that take conversations first (docs/bots.md)."""
    surveys: SurveysConfig = Field(default_factory=SurveysConfig)
    """``[surveys]``: CSAT/NPS asked when a conversation closes (docs/service.md)."""
    security: Security = Field(default_factory=Security)  # type: ignore[arg-type]
    """``[security]``: what outgoing requests may reach, sign-in limits (docs/security.md)."""
    timezone: str = "UTC"
    """Business time zone: intake rules' ``time.*`` and SLA clocks use it."""

    @model_validator(mode="after")
    def _sla_names_exist(self) -> Settings:
        check_sla_references(self.calendars, self.sla, self.routing.queues)
        return self

    @model_validator(mode="after")
    def _bot_queues_exist(self) -> Settings:
        check_bots(self.bots, self.routing.queues)
        return self

    @model_validator(mode="after")
    def _guidance_names_exist(self) -> Settings:
        problems = check_references(self.scripts, self.macros, self.canned, self.routing.queues)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _skill_finder_fits(self) -> Settings:
        if self.skill_finder.model is not None:
            from intents import check_skill_finder  # numpy: only when a model is configured

            check_skill_finder(self.skill_finder, self.routing.queues, self.routing.skills)
        return self

    @model_validator(mode="after")
    def _proactive_rules_fit(self) -> Settings:
        check_rules(self.proactive, self.routing.queues, [c.name for c in self.calendars])
        return self

    @model_validator(mode="after")
    def _scheduling_calendars_exist(self) -> Settings:
        self.scheduling.check_names([c.name for c in self.calendars])
        return self

    @model_validator(mode="after")
    def _escalation_queues_exist(self) -> Settings:
        for name in ("below", "drop"):
            rule = getattr(self.sentiment.alerts, name)
            if rule is not None and rule.queue and rule.queue not in self.routing.queues:
                known = ", ".join(sorted(self.routing.queues))
                raise ValueError(
                    f"sentiment.alerts.{name}.queue {rule.queue!r} is not a routing queue"
                    f" (known: {known})"
                )
        return self

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (expected e.g. 'Europe/Berlin')"
            ) from None
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file, which arrives as init arguments.
        return (env_settings, init_settings)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _env_keys() -> set[str]:
    return {k.upper() for k in os.environ if k.upper().startswith("SWITCHBOARD_")}


def _describe(error: Any, source: str, env: set[str]) -> str:
    loc = [str(p) for p in error["loc"]]
    key = ".".join(loc)
    env_name = "SWITCHBOARD_" + "__".join(loc).upper()
    where = f"environment variable {env_name}" if env_name in env else f"{source}: key {key!r}"
    if not loc:
        where = source if source != "defaults" else "configuration"
    got = error.get("input")
    detail = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        detail = "unknown setting (check the spelling; see docs/configuration.md)"
    elif error["type"] == "missing":
        detail = "required setting is missing"
    elif got is not None and not isinstance(got, dict | list):
        detail = f"{detail}, got {got!r}"
    return f"{where}: {detail}"


class _FileOnly(Settings):
    """The file alone, so that ``check-config`` judges the file itself even
    where an environment variable would mask a bad value."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def check_file(path: str | Path) -> Settings:
    """Validate a config file on its own, then as it would run (with the
    environment)."""
    load_settings(path, model=_FileOnly)
    return load_settings(path)


def _describe_channel(error: Any, source: str, env: set[str]) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    flat = "SWITCHBOARD_" + field.upper()
    if flat in env:
        return f"environment variable {flat}: {error['msg']}"
    return _describe({**error, "loc": ("channels", *error["loc"])}, source, set())


def load_settings(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    model: type[Settings] = Settings,
) -> Settings:
    """Read and validate the configuration, or raise ``ConfigError`` naming
    every problem (file, key, what was expected)."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        data = _read_toml(Path(path))
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    env = _env_keys() if model is Settings else set()
    problems = []
    try:
        data["channels"] = ChannelsConfig.load(
            data.get("channels"), os.environ if model is Settings else {}
        )
    except ValidationError as exc:
        problems += [_describe_channel(e, source, env) for e in exc.errors()]
        data.pop("channels", None)
    settings = None
    try:
        settings = model(**data)
    except ValidationError as exc:
        problems += [_describe(e, source, env) for e in exc.errors()]
    except SettingsError as exc:  # an environment variable that is not valid JSON
        problems.append(f"{exc} (expected JSON)")
    if problems or settings is None:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return settings


__all__ = ["Limits", "Security", "Settings", "UserSeed", "check_file", "load_settings"]

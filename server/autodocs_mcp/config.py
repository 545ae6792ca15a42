"""Server configuration: environment first (``AUTODOCS_<NAME>``), an optional ``.env`` file second.

Field names equal the environment variable names without the prefix, so an error's location *is* the variable an
operator has to fix; ``load_settings`` turns pydantic's errors into one readable line per problem for that reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from annotated_types import Ge, Gt, Le
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from autodocs_mcp.budget import DEFAULT_BUDGET_MB, DEFAULT_ENTRIES

ENV_PREFIX = "AUTODOCS_"
DEFAULT_PYPI_URL = "https://pypi.org/pypi"
MIB = 1024 * 1024

RATE_LIMIT_RPM_STDIO = 300
"""One assistant on stdio: a dependency walk (8 dependencies, two requests each) and a scan fit in a few seconds."""
RATE_LIMIT_RPM_HTTP = 1200
"""A shared HTTP server: 32 assistants asking for cold packages at once must not wait past their deadline for a
slot, while the whole server stays at 20 requests a second to PyPI's CDN-fronted JSON API."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Transport = Literal["stdio", "http"]
ResponseMode = Literal["json", "sse"]


class SettingsError(Exception):
    """Configuration that cannot be used; ``problems`` holds one readable line per bad value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """Every knob of the server. Defaults are production defaults; the real PyPI is the default upstream."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
        frozen=True,
        allow_inf_nan=False,
    )

    # The seed's settings, with its names and defaults.
    cache_dir: Path = Field(Path.home() / ".autodocs" / "cache", description="cache folder")
    max_concurrent: Annotated[int, Ge(1), Le(256)] = 10
    request_timeout: Annotated[float, Gt(0), Le(600)] = 30.0
    log_level: LogLevel = "INFO"
    pypi_url: str = DEFAULT_PYPI_URL
    max_versions: Annotated[int, Ge(1), Le(1000)] = 3
    cleanup_days: Annotated[int, Ge(1), Le(3650)] = 90
    max_deps: Annotated[int, Ge(0), Le(100)] = 8
    max_tokens: Annotated[int, Ge(100), Le(1_000_000)] = 30_000
    max_retry_attempts: Annotated[int, Ge(1), Le(20)] = 3
    base_retry_delay: Annotated[float, Ge(0), Le(60)] = 1.0
    max_retry_delay: Annotated[float, Gt(0), Le(600)] = 30.0
    circuit_breaker_threshold: Annotated[int, Ge(1), Le(1000)] = 5
    circuit_breaker_timeout: Annotated[float, Gt(0), Le(3600)] = 60.0
    # 0: RATE_LIMIT_RPM_STDIO on stdio, RATE_LIMIT_RPM_HTTP over HTTP (see ``for_transport``).
    rate_limit_rpm: Annotated[int, Ge(0), Le(1_000_000)] = 0
    max_doc_size: Annotated[int, Ge(1000), Le(10_000_000)] = 50_000

    # What the hardened server adds.
    max_retry_after: Annotated[float, Ge(0), Le(3600)] = 60.0
    # One attempt's bound, below the call's deadline, so a hung attempt leaves time for another one.
    attempt_timeout: Annotated[float, Gt(0), Le(600)] = 10.0
    # The circuit's first open time (at most AUTODOCS_CIRCUIT_BREAKER_TIMEOUT); each failed probe doubles it up to
    # AUTODOCS_CIRCUIT_BREAKER_TIMEOUT.
    circuit_breaker_initial_timeout: Annotated[float, Gt(0), Le(3600)] = 5.0
    max_response_bytes: Annotated[int, Ge(0), Le(1024 * MIB)] = 0
    pool_max_connections: Annotated[int, Ge(1), Le(1000)] = 20
    pool_max_keepalive: Annotated[int, Ge(0), Le(1000)] = 10
    pool_keepalive_expiry: Annotated[float, Ge(0), Le(3600)] = 30.0
    # A wait for a free pool connection never outlasts the attempt (and so the call's deadline) either.
    pool_timeout: Annotated[float, Gt(0), Le(600)] = 30.0
    connect_timeout: Annotated[float, Gt(0), Le(600)] = 5.0
    # One budget for every in-memory tier of the release store together (parsed releases, indexes, rendered docs,
    # not-found names), by measured size; each tier gets a fixed share (``budget.TIER_SHARES``).
    memory_budget_mb: Annotated[int, Ge(1), Le(64 * 1024)] = DEFAULT_BUDGET_MB
    # Entries all in-memory tiers may hold together, shared out like the bytes: a second guard, for tiny entries.
    memory_cache_entries: Annotated[int, Ge(1), Le(10_000_000)] = DEFAULT_ENTRIES
    # Deprecated (it bounded the old dict tier alone): 0 = unset; otherwise it is the budget, when
    # AUTODOCS_MEMORY_BUDGET_MB is not set. Setting both is an error, not a guess.
    memory_cache_mb: Annotated[int, Ge(0), Le(64 * 1024)] = 0
    index_ttl: Annotated[float, Ge(0), Le(30 * 86400)] = 3600.0
    # How long a name upstream did not know is answered "not found" from memory before upstream is asked again.
    not_found_ttl: Annotated[float, Ge(0), Le(30 * 86400)] = 300.0
    # Seconds between disk-tier prunes (AUTODOCS_MAX_VERSIONS, AUTODOCS_CLEANUP_DAYS); the first runs at startup.
    prune_interval: Annotated[float, Ge(1), Le(30 * 86400)] = 3600.0
    http_host: str = "127.0.0.1"
    http_port: Annotated[int, Ge(0), Le(65535)] = 8000
    http_token: str | None = None
    response_mode: ResponseMode = "json"
    session_idle_timeout: Annotated[float, Gt(0), Le(7 * 86400)] = 1800.0
    max_sessions: Annotated[int, Ge(1), Le(1_000_000)] = 1000
    # Sessions one client address may hold; 0: half of AUTODOCS_MAX_SESSIONS. At its bound a client's own least
    # recently used idle session makes way for its new one.
    max_sessions_per_client: Annotated[int, Ge(0), Le(1_000_000)] = 0
    max_request_bytes: Annotated[int, Ge(1024), Le(1024 * MIB)] = MIB
    # Requests one session may have open at once (answered or still queued for the session's dispatcher); beyond it
    # a request gets 429 with Retry-After instead of waiting in memory without a bound.
    max_requests_per_session: Annotated[int, Ge(1), Le(100_000)] = 64
    # Slow clients: how long a connection may take to send its request headers, and then its request body.
    http_header_timeout: Annotated[float, Gt(0), Le(3600)] = 10.0
    http_body_timeout: Annotated[float, Gt(0), Le(3600)] = 30.0
    shutdown_grace: Annotated[float, Ge(0), Le(3600)] = 30.0
    # Frames per traced allocation for GET /debug/allocations; 0 leaves tracemalloc off (it costs CPU per allocation).
    tracemalloc_frames: Annotated[int, Ge(0), Le(64)] = 0
    # The official conformance suite's fixture tools (``conformance_fixtures``), for ``make conformance`` only:
    # they are test scaffolding, not documentation tools, so a shipped server never lists them.
    conformance_fixtures: bool = False

    @field_validator("log_level", "response_mode", mode="before")
    @classmethod
    def _case_insensitive(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            text = value.strip()
            return text.upper() if info.field_name == "log_level" else text.lower()
        return value

    @field_validator("pypi_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. https://pypi.org/pypi")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.strip().rstrip("/")

    @field_validator("http_host")
    @classmethod
    def _host(cls, value: str) -> str:
        host = value.strip()
        if not host or any(ch.isspace() or ch in "/?#@" for ch in host):
            raise ValueError("must be a bare host name or IP address, e.g. 127.0.0.1")
        return host

    @field_validator("http_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) < 16 or not value.isprintable() or any(ch.isspace() for ch in value):
            raise ValueError("must be at least 16 printable characters without spaces")
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> Settings:
        problems: list[str] = []
        if self.max_retry_delay <= self.base_retry_delay:
            problems.append(
                f"AUTODOCS_MAX_RETRY_DELAY={self.max_retry_delay!r} must be greater than "
                f"AUTODOCS_BASE_RETRY_DELAY={self.base_retry_delay!r}"
            )
        if self.pool_max_keepalive > self.pool_max_connections:
            problems.append(
                f"AUTODOCS_POOL_MAX_KEEPALIVE={self.pool_max_keepalive!r} must not exceed "
                f"AUTODOCS_POOL_MAX_CONNECTIONS={self.pool_max_connections!r}"
            )
        if self.max_response_bytes and self.max_response_bytes < self.max_doc_size:
            problems.append(
                f"AUTODOCS_MAX_RESPONSE_BYTES={self.max_response_bytes!r} must be 0 (derived) or at least "
                f"AUTODOCS_MAX_DOC_SIZE={self.max_doc_size!r}"
            )
        if self.memory_cache_mb and "memory_budget_mb" in self.model_fields_set:
            problems.append(
                f"AUTODOCS_MEMORY_CACHE_MB={self.memory_cache_mb!r} is deprecated and AUTODOCS_MEMORY_BUDGET_MB is "
                "set too: set only AUTODOCS_MEMORY_BUDGET_MB"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def for_transport(self, transport: Transport) -> Settings:
        """These settings with the transport's defaults filled in where the operator left a value unset."""
        if self.rate_limit_rpm:
            return self
        rpm = RATE_LIMIT_RPM_HTTP if transport == "http" else RATE_LIMIT_RPM_STDIO
        return self.model_copy(update={"rate_limit_rpm": rpm})

    @property
    def sessions_per_client(self) -> int:
        """The per-client session bound in force: the operator's figure (at most the cap), else half the cap."""
        chosen = self.max_sessions_per_client or max(1, self.max_sessions // 2)
        return min(chosen, self.max_sessions)

    @property
    def upstream_rate_limit(self) -> int:
        """Requests a minute to the upstream: the operator's figure, else the conservative (stdio) default."""
        return self.rate_limit_rpm or RATE_LIMIT_RPM_STDIO

    @property
    def memory_budget_bytes(self) -> int:
        """The release store's memory budget: AUTODOCS_MEMORY_BUDGET_MB, or the deprecated AUTODOCS_MEMORY_CACHE_MB
        when only that one is set."""
        chosen = self.memory_cache_mb if "memory_budget_mb" not in self.model_fields_set else 0
        return (chosen or self.memory_budget_mb) * MIB

    @property
    def memory_entries_cap(self) -> int:
        return self.memory_cache_entries

    def deprecations(self) -> list[str]:
        """One line per deprecated setting in use, for the startup log."""
        if not self.memory_cache_mb:
            return []
        return [
            f"AUTODOCS_MEMORY_CACHE_MB={self.memory_cache_mb} is deprecated: it now sets the memory budget of all "
            "in-memory tiers; rename it AUTODOCS_MEMORY_BUDGET_MB"
        ]

    @property
    def response_byte_cap(self) -> int:
        """Upstream body cap: explicit, or the doc size with ample headroom for PyPI's release listings."""
        if self.max_response_bytes:
            return self.max_response_bytes
        return max(8 * MIB, 100 * self.max_doc_size)

    def public_dict(self) -> dict[str, Any]:
        """The settings as plain values, with the token masked, for logs and ``get_metrics``."""
        data = self.model_dump(mode="json")
        if data.get("http_token"):
            data["http_token"] = "***"
        return data


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _allowed(field: str) -> str:
    info = Settings.model_fields.get(field)
    if info is None:
        return ""
    bounds: list[str] = []
    for meta in info.metadata:
        if isinstance(meta, Ge):
            bounds.append(f">= {meta.ge}")
        elif isinstance(meta, Gt):
            bounds.append(f"> {meta.gt}")
        elif isinstance(meta, Le):
            bounds.append(f"<= {meta.le}")
    if bounds:
        return f" (allowed: {' and '.join(bounds)})"
    return ""


def _render_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_errors(error: ValidationError) -> list[str]:
    """One line per problem, naming the environment variable, the value given and what is allowed."""
    lines: list[str] = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item.get("loc", ())]
        message = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
        if not loc:
            lines.extend(f"configuration: {part}" for part in message.split("; "))
            continue
        field = loc[0]
        value = _render_value(item.get("input"))
        lines.append(f"{env_name(field)}={value}: {message}{_allowed(field)}")
    return lines


def load_settings(env_file: Path | str | None = ".env", **overrides: Any) -> Settings:
    """Build settings from the environment and ``env_file`` (``overrides``, e.g. CLI flags, win over both),
    raising ``SettingsError`` with readable lines."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc)) from None

"""The fault plan: which failures to inject, how often and for which names; pure, so it is tested without sockets.

A plan is validated from the JSON object posted to ``/_admin/faults`` (or given with ``--faults``). Missing fields
are off. One uniform draw per request picks at most one fault, so each configured rate is the observed rate as
long as the rates add up to at most 1; beyond that, kinds earlier in :data:`DECISION_ORDER` win.
"""

from __future__ import annotations

import enum
import fnmatch
import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

MAX_LATENCY_MS = 600_000.0
MAX_RETRY_AFTER_S = 86_400.0
MAX_OVERSIZE_BYTES = 1 << 30
DEFAULT_OVERSIZE_BYTES = 20_000_000
ERROR_STATUSES = (500, 502, 503)
DEFAULT_THROTTLE_RETRY_AFTER_S = 1.0


class FaultKind(enum.StrEnum):
    RESET = "reset"
    HANG = "hang"
    ERROR = "error"
    THROTTLE = "throttle"
    MALFORMED = "malformed"
    OVERSIZE = "oversize"
    SLOW_BODY = "slow_body"


DECISION_ORDER: tuple[FaultKind, ...] = tuple(FaultKind)

_RATE_FIELDS: dict[FaultKind, str] = {
    FaultKind.RESET: "reset_rate",
    FaultKind.HANG: "hang_rate",
    FaultKind.ERROR: "error_rate",
    FaultKind.THROTTLE: "throttle_rate",
    FaultKind.MALFORMED: "malformed_rate",
    FaultKind.OVERSIZE: "oversize_rate",
    FaultKind.SLOW_BODY: "slow_body_rate",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class FaultValidationError(ValueError):
    """The posted faults object is unusable; ``errors`` names every bad field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


@dataclass(frozen=True, slots=True)
class FaultPlan:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    retry_after_s: float | None = None
    throttle_rate: float = 0.0
    hang_rate: float = 0.0
    reset_rate: float = 0.0
    malformed_rate: float = 0.0
    oversize_rate: float = 0.0
    oversize_bytes: int = DEFAULT_OVERSIZE_BYTES
    slow_body_rate: float = 0.0
    match: str | None = None

    @classmethod
    def from_dict(cls, raw: object) -> FaultPlan:
        """Validate a decoded JSON value; raises :class:`FaultValidationError` naming each bad field."""
        if not isinstance(raw, Mapping):
            raise FaultValidationError([FieldError("(body)", "faults must be a JSON object")])
        known = {f.name for f in fields(cls)}
        errors = [FieldError(str(key), "unknown field") for key in raw if key not in known]
        values: dict[str, object] = {}
        for key, value in raw.items():
            if key not in known:
                continue
            problem = _check_field(key, value)
            if problem is not None:
                errors.append(FieldError(key, problem))
            elif key in _FLOAT_FIELDS and value is not None:
                values[key] = float(value)
            else:
                values[key] = value
        if errors:
            raise FaultValidationError(errors)
        return cls(**values)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def is_active(self) -> bool:
        return self.latency_ms > 0 or self.latency_jitter_ms > 0 or any(self.rate(k) > 0 for k in FaultKind)

    def rate(self, kind: FaultKind) -> float:
        value: float = getattr(self, _RATE_FIELDS[kind])
        return value

    def applies_to(self, name: str) -> bool:
        """``match`` is a glob on the normalised project name; no glob means every name."""
        return self.match is None or fnmatch.fnmatchcase(name, self.match.lower())

    def delay_s(self, name: str, rng: random.Random) -> float:
        """Latency to add before answering ``name``: fixed part plus uniform jitter."""
        if not self.applies_to(name) or (self.latency_ms <= 0 and self.latency_jitter_ms <= 0):
            return 0.0
        jitter = rng.uniform(0.0, self.latency_jitter_ms) if self.latency_jitter_ms > 0 else 0.0
        return (self.latency_ms + jitter) / 1000.0

    def decide(self, name: str, rng: random.Random) -> FaultKind | None:
        """At most one fault for this request, from a single draw against the cumulative rates."""
        if not self.applies_to(name):
            return None
        rates = [(kind, self.rate(kind)) for kind in DECISION_ORDER]
        if not any(rate > 0 for _, rate in rates):
            return None
        draw = rng.random()
        threshold = 0.0
        for kind, rate in rates:
            threshold += rate
            if draw < threshold:
                return kind
        return None

    def retry_after_header(self, kind: FaultKind) -> str | None:
        """``Retry-After`` for an error (only if configured) or a throttle (1 s unless configured)."""
        if kind is FaultKind.THROTTLE:
            seconds = DEFAULT_THROTTLE_RETRY_AFTER_S if self.retry_after_s is None else self.retry_after_s
        elif kind is FaultKind.ERROR and self.retry_after_s is not None:
            seconds = self.retry_after_s
        else:
            return None
        return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}".rstrip("0")


_RATES = frozenset(_RATE_FIELDS.values())
_MILLISECONDS = frozenset({"latency_ms", "latency_jitter_ms"})
_FLOAT_FIELDS = _RATES | _MILLISECONDS | {"retry_after_s"}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _check_field(key: str, value: object) -> str | None:
    """Why ``value`` is not acceptable for ``key``, or None when it is."""
    if key == "match":
        return None if value is None or isinstance(value, str) else "must be a glob string or null"
    if key == "error_status":
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
        return None if value in ERROR_STATUSES else f"must be one of {list(ERROR_STATUSES)}"
    if key == "oversize_bytes":
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
        return None if 0 <= value <= MAX_OVERSIZE_BYTES else f"must be between 0 and {MAX_OVERSIZE_BYTES}"
    if key == "retry_after_s" and value is None:
        return None
    number = _number(value)
    if number is None:
        return "must be a finite number"
    if key in _RATES:
        return None if 0.0 <= number <= 1.0 else "must be a rate between 0 and 1"
    if key in _MILLISECONDS:
        return None if 0.0 <= number <= MAX_LATENCY_MS else f"must be between 0 and {MAX_LATENCY_MS:g} ms"
    return None if 0.0 <= number <= MAX_RETRY_AFTER_S else f"must be between 0 and {MAX_RETRY_AFTER_S:g} s"

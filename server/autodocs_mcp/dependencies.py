"""Which dependencies of a package deserve documentation context, and how much context fits a token budget.

Smart scoring (``rank_dependencies(scope="smart")``), highest first, ties kept in declaration order:

* **core library**: +``CORE_LIBRARIES[name]`` (10–40). Frameworks a user programs against (pydantic, starlette,
  sqlalchemy, numpy, django…) score highest; transport and plumbing libraries (urllib3, anyio) lower.
* **constrained**: +10 when the requirement carries a version specifier. A pinned range signals an API the
  package depends on closely; an unconstrained name is usually incidental.
* **utility shim**: −40 for ``UTILITY_SHIMS`` (typing-extensions, six, sniffio, idna, certifi, colorama…). Their
  docs rarely help anyone use the primary package, so they sink below even unknown packages. typing-extensions
  is ubiquitous enough to look "core", but it is a shim here and deliberately absent from the core table.
* **conditional**: −5 when an environment marker guards the requirement; such entries are mostly backports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from packaging.markers import Marker, UndefinedComparison, UndefinedEnvironmentName, default_environment
from packaging.requirements import InvalidRequirement, Requirement

from autodocs_mcp.docs import CHARS_PER_TOKEN, estimate_tokens, truncate_markdown
from autodocs_mcp.errors import AutoDocsError, ErrorCode, quote_value, type_name
from autodocs_mcp.names import normalize_name

MAX_REQUIREMENT_CHARS = 1_000
PARSE_CACHE_SIZE = 4_096
SCOPES = ("primary_only", "runtime", "smart")

CORE_LIBRARIES: Mapping[str, int] = {
    "pydantic": 40,
    "django": 40,
    "fastapi": 40,
    "flask": 40,
    "starlette": 35,
    "sqlalchemy": 35,
    "numpy": 35,
    "pandas": 35,
    "torch": 35,
    "tensorflow": 35,
    "scipy": 30,
    "matplotlib": 30,
    "scikit-learn": 30,
    "aiohttp": 30,
    "httpx": 30,
    "requests": 30,
    "click": 30,
    "typer": 30,
    "jinja2": 25,
    "werkzeug": 25,
    "marshmallow": 25,
    "attrs": 25,
    "celery": 25,
    "redis": 20,
    "boto3": 20,
    "botocore": 15,
    "grpcio": 20,
    "protobuf": 20,
    "pyyaml": 20,
    "rich": 20,
    "uvicorn": 20,
    "anyio": 15,
    "urllib3": 15,
    "httpcore": 10,
    "pydantic-core": 10,
}
UTILITY_SHIMS: frozenset[str] = frozenset(
    {
        "typing-extensions",
        "typing-inspection",
        "annotated-types",
        "six",
        "sniffio",
        "idna",
        "certifi",
        "charset-normalizer",
        "chardet",
        "colorama",
        "exceptiongroup",
        "tomli",
        "zipp",
        "importlib-metadata",
        "importlib-resources",
        "packaging",
        "setuptools",
        "wheel",
        "pip",
        "dataclasses",
        "enum34",
        "futures",
        "backports-zoneinfo",
        "tzdata",
        "markupsafe",
    }
)
CONSTRAINED_BONUS = 10
SHIM_PENALTY = 40
MARKER_PENALTY = 5


@dataclass(frozen=True)
class Dependency:
    name: str
    specifier: str
    extras: tuple[str, ...]
    marker: str | None
    raw: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "specifier": self.specifier,
            "extras": list(self.extras),
            "marker": self.marker,
            "raw": self.raw,
        }


@dataclass(frozen=True)
class DependencySelection:
    """Runtime dependencies plus what was left out, so callers can report it."""

    dependencies: tuple[Dependency, ...]
    invalid: tuple[str, ...]
    excluded: int


def parse_requirement(raw: str) -> Dependency | None:
    """Parse one PEP 508 string; None for anything unusable (the caller counts those)."""
    parsed = _parse(raw)
    return parsed[0] if parsed is not None else None


def _parse(raw: object) -> tuple[Dependency, Marker | None] | None:
    """The dependency plus its parsed marker, kept so evaluation does not parse the marker a second time."""
    if not isinstance(raw, str) or len(raw) > MAX_REQUIREMENT_CHARS:
        return None
    return _parse_string(raw)


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse_string(raw: str) -> tuple[Dependency, Marker | None] | None:
    """Memoised because packaging spends ~25 µs per requirement and popular packages' lists recur on every
    context call; the results are immutable and the cache is bounded."""
    try:
        requirement = Requirement(raw)
    except (InvalidRequirement, ValueError):
        return None
    dependency = Dependency(
        name=normalize_name(requirement.name),
        specifier=str(requirement.specifier),
        extras=tuple(sorted(normalize_name(e) for e in requirement.extras)),
        marker=str(requirement.marker) if requirement.marker is not None else None,
        raw=raw,
    )
    return dependency, requirement.marker


@cache
def _server_environment() -> dict[str, str]:
    """The running interpreter's marker environment, computed once: it cannot change while we run."""
    return {key: str(value) for key, value in default_environment().items()}


def _marker_applies(marker: Marker, extras: Iterable[str], environment: Mapping[str, str]) -> bool:
    """True when the marker holds with no extra, or with any one requested extra."""
    try:
        return any(marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras))
    except (UndefinedComparison, UndefinedEnvironmentName, ValueError):
        return False


def select_runtime(
    requires_dist: Iterable[object],
    *,
    extras: Iterable[str] = frozenset(),
    environment: Mapping[str, str] | None = None,
    self_name: str | None = None,
) -> DependencySelection:
    """Keep requirements whose markers hold here (or for a requested extra), first occurrence per name.

    ``self_name`` drops a package's references to itself (``pkg[all]; extra == "all"`` patterns).
    """
    env = {**_server_environment(), **(environment or {})}
    wanted = sorted({normalize_name(e) for e in extras})
    own = normalize_name(self_name) if self_name else None
    kept: dict[str, Dependency] = {}
    invalid: list[str] = []
    excluded = 0
    for raw in requires_dist:
        parsed = _parse(raw)
        if parsed is None:
            invalid.append(quote_value(raw) if isinstance(raw, str) else type_name(raw))
            continue
        dependency, marker = parsed
        if dependency.name == own or dependency.name in kept:
            excluded += 1
            continue
        if marker is not None and not _marker_applies(marker, wanted, env):
            excluded += 1
            continue
        kept[dependency.name] = dependency
    return DependencySelection(tuple(kept.values()), tuple(invalid), excluded)


def runtime_dependencies(
    requires_dist: list[str],
    *,
    extras: set[str] | frozenset[str] = frozenset(),
    environment: dict[str, str] | None = None,
) -> list[Dependency]:
    return list(select_runtime(requires_dist, extras=extras, environment=environment).dependencies)


def score_dependency(dependency: Dependency) -> int:
    score = CORE_LIBRARIES.get(dependency.name, 0)
    if dependency.specifier:
        score += CONSTRAINED_BONUS
    if dependency.name in UTILITY_SHIMS:
        score -= SHIM_PENALTY
    if dependency.marker is not None:
        score -= MARKER_PENALTY
    return score


def validate_scope(scope: object) -> str:
    if not isinstance(scope, str) or scope not in SCOPES:
        raise AutoDocsError(
            ErrorCode.INVALID_ARGUMENT,
            f"context_scope {quote_value(scope)} is not one of {', '.join(SCOPES)}.",
            suggestion="Use 'smart' (ranked), 'runtime' (declaration order) or 'primary_only' (no dependencies).",
        )
    return scope


def validate_count(value: object, *, name: str, minimum: int, maximum: int | None = None) -> int:
    too_big = maximum is not None and isinstance(value, int) and value > maximum
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or too_big:
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise AutoDocsError(
            ErrorCode.INVALID_ARGUMENT,
            f"{name} must be an integer {bounds}, got {quote_value(value)}.",
            suggestion=f"Pass a whole number {bounds}, or omit {name} for the default.",
        )
    return value


def rank_dependencies(deps: list[Dependency], *, scope: str, max_dependencies: int) -> list[Dependency]:
    scope = validate_scope(scope)
    limit = validate_count(max_dependencies, name="max_dependencies", minimum=0)
    if scope == "primary_only" or limit == 0:
        return []
    if scope == "runtime":
        return list(deps[:limit])
    order = sorted(range(len(deps)), key=lambda i: (-score_dependency(deps[i]), i))
    return [deps[i] for i in order[:limit]]


def fit_to_budget(items: list[tuple[str, str]], max_tokens: int) -> tuple[list[tuple[str, str]], list[str]]:
    """Keep the primary (first) item always, cut if it alone exceeds the budget; add the rest while they fit.

    A cut primary drops every dependency: context about dependencies is worth less than the primary's own text.

    Items are taken in the given (ranked) order; one that does not fit is dropped and the next, possibly smaller,
    one is still tried. Returns the kept ``(name, text)`` pairs and the names dropped.
    """
    budget = validate_count(max_tokens, name="max_tokens", minimum=1)
    if not items:
        return [], []
    (primary_name, primary_text), rest = items[0], items[1:]
    primary_text, primary_cut = truncate_markdown(primary_text, budget * CHARS_PER_TOKEN)
    kept = [(primary_name, primary_text)]
    if primary_cut:
        return kept, [name for name, _ in rest]
    remaining = budget - estimate_tokens(primary_text)
    dropped: list[str] = []
    for name, text in rest:
        cost = estimate_tokens(text)
        if cost <= remaining:
            kept.append((name, text))
            remaining -= cost
        else:
            dropped.append(name)
    return kept, dropped

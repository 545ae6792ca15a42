"""What a soak changes in our server's settings, and why: the soak runs what we ship unless a row says otherwise.

An earlier soak ran a compressed configuration (breaker 5 s, deadline 5 s, rate limit ≥ 100,000/min) that no user
runs, and so it proved nothing about the server people deploy. Now every setting starts at its shipped default
(``autodocs_mcp.config.Settings``); the soak changes only what it must (where upstream is, where the cache lives)
plus what an operator asked for on the command line, and each change is listed in ``run.json`` and the report
with its shipped value and its reason. Settings a user would not change (a short index TTL) need their own flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from autodocs_mcp.config import ENV_PREFIX, Settings

SHORT_INDEX_TTL_MAX_S: Final = 120.0
SECRET_KEYS: Final = frozenset({"AUTODOCS_HTTP_TOKEN"})


@dataclass(frozen=True)
class Override:
    """One setting the soak gives our server, beside what the server would have used on its own."""

    key: str
    value: str
    reason: str

    @property
    def shipped(self) -> str:
        return shipped_value(self.key)

    def to_dict(self) -> dict[str, str]:
        value = "(set)" if self.key in SECRET_KEYS else self.value
        return {"key": self.key, "value": value, "shipped": self.shipped, "reason": self.reason}


def _field(key: str) -> str:
    return key.removeprefix(ENV_PREFIX).lower()


def shipped_value(key: str) -> str:
    """The default a user gets for ``AUTODOCS_<NAME>`` when they set nothing ("" for unknown or unset)."""
    field = Settings.model_fields.get(_field(key))
    if field is None or field.default is None:
        return ""
    default: Any = field.default
    return f"{default:g}" if isinstance(default, float) else str(default)


def effective(env: Mapping[str, str], key: str) -> str:
    """What the server runs with for ``key``: the soak's value when it set one, else the shipped default."""
    return env.get(key, shipped_value(key))


def soak_overrides(
    *,
    mock_url: str,
    cache_dir: Path,
    short_index_ttl_s: float | None,
    trace_allocations: bool,
    token: str | None,
    extra: Mapping[str, str],
) -> list[Override]:
    """Every setting the soak changes, in the order they apply (a later one wins); the rest stay shipped."""
    overrides = [
        Override("AUTODOCS_PYPI_URL", f"{mock_url}/pypi", "the local PyPI mock: a soak never reaches the real PyPI"),
        Override("AUTODOCS_CACHE_DIR", str(cache_dir), "in the run folder: each run starts cold and is scanned after"),
    ]
    if short_index_ttl_s is not None:
        overrides.append(
            Override(
                "AUTODOCS_INDEX_TTL",
                f"{short_index_ttl_s:g}",
                "--short-index-ttl: every fault phase of a short run meets upstream traffic",
            )
        )
    if trace_allocations:
        # One frame names the same sites as eight at a third of the cost (notes/server.md). Off by default: it makes
        # every call ~2.6x dearer in server CPU and the first snapshot keeps 12-16 MiB, so a soak that is to judge
        # what we ship measures without it, and a soak that is to find what grows turns it on.
        overrides.append(
            Override("AUTODOCS_TRACEMALLOC_FRAMES", "1", "--trace-allocations: name the sites that grow (~2.6× CPU)")
        )
    if token:
        overrides.append(Override("AUTODOCS_HTTP_TOKEN", token, "--token: the bearer token the load sends"))
    overrides += [Override(key, value, "given with --server-env") for key, value in extra.items()]
    return overrides


def server_env(overrides: list[Override]) -> dict[str, str]:
    return {o.key: o.value for o in overrides}


def short_index_ttl_s(shortest_phase_s: float) -> float:
    """At most the shortest fault phase (and 2 minutes), at least 1 s.

    Once every name of the load's pool is cached, only index refetches still reach upstream; a TTL no longer than a
    phase makes every name the load touches inside a phase fetch upstream again, so each fault meets traffic (a
    100 s run whose TTL outlived it once went through its outage without a single upstream call).
    """
    return round(min(SHORT_INDEX_TTL_MAX_S, max(1.0, shortest_phase_s)), 1)

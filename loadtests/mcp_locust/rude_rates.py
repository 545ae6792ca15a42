"""The rude client classes' names and their options' defaults, without Locust, so the soak runner can scale them.

``mcp_locust.rude`` registers these options with Locust; the runner (which never imports Locust) names the classes
on Locust's command line and, for a compressed night, passes every rate K times its default (``scaled_rude_args``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

RUDE_CLASSES: Final = (
    "NeverClosingUser",
    "AbortingUser",
    "ReconnectStormUser",
    "SessionPerCallUser",
    "CurrentRevisionUser",
)
"""The class names to put on Locust's command line; each adds one user to ``-u``."""

RUDE_DEFAULTS: Final[Mapping[str, float]] = {
    "--mcp-never-close-per-min": 6,
    "--mcp-abort-per-min": 30,
    "--mcp-abort-timeout-ms": 2,
    "--mcp-storm-every-s": 600,
    "--mcp-storm-size": 40,
    "--mcp-session-per-call-per-min": 30,
    "--mcp-current-revision-per-min": 60,
}
"""Option → default (the rates are per minute for the whole class); see notes/locust.md for why each."""

RATE_OPTIONS: Final = frozenset(flag for flag in RUDE_DEFAULTS if flag.endswith("-per-min"))
"""Events per minute: K times as many in a night played K times faster."""
PERIOD_OPTIONS: Final = frozenset({"--mcp-storm-every-s"})
"""Seconds between events: K times shorter."""


def scaled_rude_args(k: float) -> list[str]:
    """Every rude rate K times its default and every period K times shorter; sizes and timeouts stay (a storm is
    still 40 sessions, an abandoned call still waits 2 ms: what one event is does not change, only how often)."""
    args: list[str] = []
    for flag, default in RUDE_DEFAULTS.items():
        if flag in RATE_OPTIONS:
            args += [flag, f"{default * k:g}"]
        elif flag in PERIOD_OPTIONS:
            args += [flag, f"{default / k:g}"]
    return args

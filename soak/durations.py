"""Human durations for the command line ("24h", "90m", "1h30m", "45s", "1.5h") and back.

A soak is planned in hours but tested in seconds, so one notation has to serve both ends; a bare number means
seconds because that is what every other option of the harness counts in.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class DurationError(ValueError):
    """The text is not a duration; the message shows the accepted forms."""


def parse_duration(text: str) -> float:
    """Seconds in ``text``: units d/h/m/s, largest first, each at most once ("1h30m"); a bare number is seconds."""
    raw = text.strip().lower().replace(" ", "")
    if not raw:
        raise DurationError("empty duration; use e.g. 24h, 90m, 1h30m, 45s or a number of seconds")
    if _NUMBER.fullmatch(raw):
        seconds = float(raw)
    else:
        seconds = _parse_parts(text, raw)
    if not math.isfinite(seconds) or seconds <= 0:
        raise DurationError(f"duration {text!r} must be greater than zero")
    return seconds


def _parse_parts(text: str, raw: str) -> float:
    position = 0
    seen: list[str] = []
    total = 0.0
    for match in _PART.finditer(raw):
        if match.start() != position:
            break
        unit = match.group(2)
        if seen and list(_UNIT_SECONDS).index(unit) <= list(_UNIT_SECONDS).index(seen[-1]):
            raise DurationError(f"duration {text!r}: units must go from largest to smallest, each once (e.g. 1h30m)")
        seen.append(unit)
        total += float(match.group(1)) * _UNIT_SECONDS[unit]
        position = match.end()
    if position != len(raw) or not seen:
        raise DurationError(f"cannot read duration {text!r}; use e.g. 24h, 90m, 1h30m, 45s or a number of seconds")
    return total


def format_duration(seconds: float) -> str:
    """Compact form for logs and file names: whole seconds, largest units first ("1h30m", "2m5s", "0s")."""
    remaining = max(0, round(seconds))
    if remaining == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in _UNIT_SECONDS.items():
        count, remaining = divmod(remaining, int(size))
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def format_clock(seconds: float) -> str:
    """``H:MM:SS`` for the progress line, where a fixed width keeps the line from jumping about."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"

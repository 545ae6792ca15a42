"""How the gate's figures read: every number a person sees carries its unit, and the same kind of figure always
looks the same (signed growth with a real minus sign, compact durations, rough run lengths).

Kept apart from the criteria, so a criterion decides and this module only words what it decided.
"""

from __future__ import annotations

import math

SECONDS_PER_HOUR = 3600.0
MEGABYTE = 1e6


def fmt_num(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
    text = f"{value:+,.{digits}f}" if signed else f"{value:,.{digits}f}"
    return text.replace("-", "−")


def fmt_p(p_value: float) -> str:
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def fmt_duration(seconds: float) -> str:
    """Compact elapsed time: 45.0s, 12m05s, 3h07m."""
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_hours(hours: float) -> str:
    """A rough duration for "would need ...": one decimal under 10 h, whole hours above."""
    if hours >= 1000:
        return "more than 1000 h"
    if hours >= 10:
        return f"about {hours:.0f} h"
    return f"about {max(hours, 0.1):.1f} h"


def fmt_interval(low: float, high: float) -> str:
    return f"{fmt_num(low, True)}…{fmt_num(high, True)}"


def fmt_bytes(count: float) -> str:
    """KiB under a MiB, MiB above: allocation sites are read in KiB, tiers in MiB."""
    if abs(count) >= 1 << 20:
        return f"{fmt_num(count / (1 << 20), True)} MiB"
    return f"{fmt_num(count / 1024, True)} KiB"

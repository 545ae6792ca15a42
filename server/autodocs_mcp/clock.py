"""The time source the resilience cores depend on.

Breaker, limiter, retry logic and the release store take a ``Clock`` instead of calling ``time`` and ``asyncio``
directly, so tests can drive them on simulated time (no real sleeps, no flakiness) and production code passes
``SYSTEM_CLOCK``. Only a monotonic clock is offered on purpose: wall-clock time jumps (NTP, DST, manual changes) and
must never decide how long a circuit stays open, whether a rate window has passed or whether an index is fresh.
Stamps that must outlive the process are read off the same clock through ``AnchoredWallClock``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final, Protocol


class Clock(Protocol):
    """A monotonic time source with a matching asynchronous sleep."""

    def monotonic(self) -> float:
        """Seconds on an arbitrary, never-decreasing scale; only differences are meaningful."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for ``seconds`` on this clock's scale; zero or less just yields to the loop."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep`` (the event loop uses the same monotonic clock)."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK: Final = SystemClock()
"""Stateless, so sharing one instance holds no live resource."""


class AnchoredWallClock:
    """Wall-clock time read off a monotonic ``Clock``: the wall time at construction plus the monotonic time since.

    Some stamps must outlive the process (a cache file's ``written_at``, which a later process ages and the hourly
    prune compares with file ages), and only wall time compares across restarts. Reading ``time.time`` for them
    would put a second time source beside the injected clock; this one moves with the injected clock, so a test on
    simulated time drives both, and an NTP step or a manual change after start cannot age an entry by hours.
    """

    __slots__ = ("_clock", "_mono_at_anchor", "_wall_at_anchor")

    def __init__(self, clock: Clock, anchor: float | None = None) -> None:
        """``anchor``: the wall time the clock's present reading stands for (default: ``time.time()`` now)."""
        self._clock = clock
        self._mono_at_anchor = clock.monotonic()
        self._wall_at_anchor = time.time() if anchor is None else anchor

    def __call__(self) -> float:
        return self._wall_at_anchor + (self._clock.monotonic() - self._mono_at_anchor)

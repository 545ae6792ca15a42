"""The time source the resilience cores depend on.

Breaker, limiter and retry logic take a ``Clock`` instead of calling ``time`` and ``asyncio`` directly, so tests can
drive them on simulated time (no real sleeps, no flakiness) and production code passes ``SYSTEM_CLOCK``. Only a
monotonic clock is offered on purpose: wall-clock time jumps (NTP, DST, manual changes) and must never decide how
long a circuit stays open or whether a rate window has passed.
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

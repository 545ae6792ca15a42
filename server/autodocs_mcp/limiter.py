"""A strict sliding-window rate limiter for upstream requests.

Design: the limiter remembers the reserved start times of the last ``limit`` admissions in a deque with
``maxlen=limit``. A new caller's slot is the later of *now* and *the slot ``limit`` admissions back plus the
window*, so any two admissions ``limit`` apart are at least ``window_s`` apart, which is exactly "at most ``limit``
admissions in any half-open interval of length ``window_s``", with no fixed-bucket edge bursts. The slot is
computed and recorded synchronously (no ``await`` in between), so concurrent callers get non-decreasing slots in
arrival order; then the caller sleeps until its slot. Slots that have left the window are dropped on each acquire
(they can no longer delay anyone), so memory is O(requests in the last window), at most O(limit), and each
acquire is O(1) amortised. Keeping every slot up to ``limit`` instead was the soaks' "creep": at a lifted limit
of 100,000 a minute and ~4 upstream requests a second the deque grew by one float per request for seven hours
(+1.2 MB/h, +21 kblocks/h), a bounded structure that looked like a leak all night (notes/server.md).

Guarantees are stated on reserved slot times. A caller resumes at or after its slot (event-loop latency only
delays it, never advances it). Waiters also pass a FIFO hand-off after their sleep, so callers complete in arrival
order even when the event loop wakes two timers due at the same instant in either order.

Cancellation: a waiter cancelled while sleeping keeps its reserved slot consumed. Giving it back would require
moving every later reservation, and leaving it only makes the limiter slightly more conservative; the window bound
and the order of the remaining waiters are unaffected.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from autodocs_mcp.clock import SYSTEM_CLOCK, Clock


class RateLimitExceeded(Exception):
    """Raised instead of waiting past the caller's deadline; the request never counted against the limit."""

    def __init__(self, wait_s: float, limit: int, window_s: float) -> None:
        self.wait_s = wait_s
        self.limit = limit
        self.window_s = window_s
        super().__init__(
            f"rate limit of {limit} requests per {window_s:g} s reached; "
            f"the next slot is {wait_s:.2f} s away, past the request deadline"
        )


class RateLimiter:
    """Admits at most ``limit`` requests in any window of ``window_s`` seconds, first come first served."""

    __slots__ = (
        "_admitted",
        "_clock",
        "_delayed",
        "_last_waiter",
        "_limit",
        "_rejected",
        "_slots",
        "_waiting",
        "_window_s",
    )

    def __init__(self, limit: int, window_s: float = 60.0, clock: Clock = SYSTEM_CLOCK) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s must be a finite number > 0, got {window_s!r}")
        self._limit = limit
        self._window_s = float(window_s)
        self._clock = clock
        self._slots: deque[float] = deque(maxlen=limit)
        self._last_waiter: asyncio.Future[None] | None = None
        self._admitted = 0
        self._delayed = 0
        self._rejected = 0
        self._waiting = 0

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def window_s(self) -> float:
        return self._window_s

    def _forget_expired(self, now: float) -> None:
        """Drop reservations whose window has passed: a slot ``s`` holds a place only until ``s + window_s``."""
        slots = self._slots
        horizon = now - self._window_s
        while slots and slots[0] <= horizon:
            slots.popleft()

    def _next_slot(self, now: float) -> float:
        slots = self._slots
        if len(slots) < self._limit:
            # The deque only ever grows until it is full, and nobody waits before it is, so a free place means
            # no earlier reservation lies in the future.
            return now
        slot = slots[0] + self._window_s
        return slot if slot > now else now

    async def acquire(self, deadline: float | None = None) -> float:
        """Admit one request and return the seconds spent waiting.

        ``deadline`` is an absolute ``clock.monotonic()`` time. If the slot this caller would get starts after it,
        ``RateLimitExceeded`` is raised at once and no slot is consumed, so a caller that gives up does not push
        everyone behind it further back.
        """
        now = self._clock.monotonic()
        self._forget_expired(now)
        slot = self._next_slot(now)
        if deadline is not None and slot > deadline:
            self._rejected += 1
            raise RateLimitExceeded(slot - now, self._limit, self._window_s)
        self._slots.append(slot)
        last = self._last_waiter
        if slot <= now and (last is None or last.done()):
            self._admitted += 1
            return 0.0
        return await self._wait_turn(now, slot, last)

    async def _wait_turn(self, now: float, slot: float, ahead: asyncio.Future[None] | None) -> float:
        """Sleep until ``slot``, then until the waiter ahead has gone, so completion follows arrival order."""
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last_waiter = mine
        self._waiting += 1
        if slot > now:
            self._delayed += 1
        admitted = False
        try:
            if slot > now:
                await self._clock.sleep(slot - now)
            if ahead is not None and not ahead.done():
                # shield: our own cancellation must not cancel the hand-off future the waiter ahead owns.
                await asyncio.shield(ahead)
            admitted = True
        finally:
            self._waiting -= 1
            if admitted or ahead is None or ahead.done():
                mine.set_result(None)
            else:
                # Cancelled while someone ahead still waits: whoever queued behind us must keep waiting for them.
                ahead.add_done_callback(lambda _ahead: _release(mine))
        self._admitted += 1
        return max(0.0, self._clock.monotonic() - now)

    def stats(self) -> dict[str, float | int]:
        """A plain snapshot for metrics; reading it changes nothing."""
        now = self._clock.monotonic()
        return {
            "admitted": self._admitted,
            "delayed": self._delayed,
            "rejected": self._rejected,
            "waiting": self._waiting,
            "current_wait_s": self._next_slot(now) - now,
            "limit": self._limit,
            "window_s": self._window_s,
            "tracked": len(self._slots),
        }


def _release(turn: asyncio.Future[None]) -> None:
    if not turn.done():
        turn.set_result(None)

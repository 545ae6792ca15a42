"""A simulated ``Clock`` so time-dependent cores are tested deterministically and without real sleeps.

Three ways to move time:

- parked (default): ``await clock.sleep(s)`` parks the caller until a test moves time with ``await advance(dt)`` or
  ``await run_until_idle()``. Those step to each due wake-up in order (ties in call order), set the time to exactly
  that wake-up, resume the sleepers and let the loop run until it is idle before the next step, so every woken task
  observes the time it asked to wake at;
- ``auto_advance=True``: ``sleep`` moves time forward by the requested amount at once and only yields to the loop;
  handy for single-task tests and benchmarks (concurrent sleepers each push time forward);
- ``step=dt``: every ``monotonic()`` read moves time forward by ``dt`` first, modelling a steady request rate.

``jump(dt)`` moves time synchronously for code that never sleeps (the breaker) and refuses to skip a parked sleeper.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

_MAX_IDLE_ROUNDS = 10_000
_FALLBACK_IDLE_ROUNDS = 200


async def settle() -> None:
    """Yield until no other callback is ready to run on this loop, i.e. every runnable task is blocked.

    Peeks at the default event loop's ready queue (a private attribute); on loops without it, yields a fixed
    number of rounds instead. Bounded either way.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    if ready is None:
        for _ in range(_FALLBACK_IDLE_ROUNDS):
            await asyncio.sleep(0)
        return
    for _ in range(_MAX_IDLE_ROUNDS):
        await asyncio.sleep(0)
        if not ready:
            return
    raise RuntimeError("event loop never became idle; a task is spinning")


class FakeClock:
    """Simulated monotonic time for tests; implements ``autodocs_mcp.clock.Clock``."""

    def __init__(
        self,
        start: float = 1000.0,
        *,
        auto_advance: bool = False,
        step: float = 0.0,
        reverse_ties: bool = False,
    ) -> None:
        """``reverse_ties`` wakes sleepers due at the same instant in reverse call order, to prove a caller's
        ordering does not depend on the clock's tie-breaking (real asyncio timers give no order for ties)."""
        self._now = float(start)
        self._auto_advance = auto_advance
        self._step = float(step)
        self._reverse_ties = reverse_ties
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.sleep_calls = 0

    @property
    def now(self) -> float:
        """The current time without the side effect of ``step``."""
        return self._now

    def monotonic(self) -> float:
        if self._step:
            self._now += self._step
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleep_calls += 1
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        if self._auto_advance:
            self._now += seconds
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        seq = next(self._seq)
        heapq.heappush(self._sleepers, (self._now + seconds, -seq if self._reverse_ties else seq, future))
        await future

    @property
    def pending(self) -> int:
        """Parked sleepers that are still waiting (cancelled ones are not counted)."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def next_wake(self) -> float | None:
        """When the earliest live sleeper is due, or None when nobody sleeps."""
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def jump(self, seconds: float) -> None:
        """Move time forward synchronously; refuses to pass a parked sleeper's wake-up (use ``advance``)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self._now + seconds
        due = self.next_wake()
        if due is not None and due <= target:
            raise RuntimeError(f"a sleeper is due at {due}; use `await advance(...)` to wake it")
        self._now = target

    async def advance(self, seconds: float, *, max_steps: int = 100_000) -> None:
        """Move time forward by ``seconds``, waking every sleeper due on the way, in order, at its exact time."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self._now + seconds
        await settle()
        for _ in range(max_steps):
            due = self.next_wake()
            if due is None or due > target:
                break
            self._now = max(self._now, due)
            self._wake_due()
            await settle()
        else:
            raise RuntimeError(f"more than {max_steps} wake-up steps; a task keeps sleeping for tiny intervals")
        self._now = max(self._now, target)
        await settle()

    async def run_until_idle(self, *, max_steps: int = 100_000) -> None:
        """Keep stepping to the next wake-up until no task sleeps on this clock."""
        await settle()
        for _ in range(max_steps):
            due = self.next_wake()
            if due is None:
                return
            self._now = max(self._now, due)
            self._wake_due()
            await settle()
        raise RuntimeError(f"still sleeping after {max_steps} wake-up steps")

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

"""The sliding-window rate limiter on simulated time: the window bound, FIFO order, deadlines, cancellation, memory."""

from __future__ import annotations

import asyncio
import bisect
import random
import tracemalloc

import pytest

from autodocs_mcp.limiter import RateLimiter, RateLimitExceeded
from tests.support.fakeclock import FakeClock, settle

pytestmark = pytest.mark.timeout(30)

GRID = 1 / 64  # arrivals on a binary grid keep every sum exact, so the bound is checked without tolerances


def most_admissions_in_any_window(times: list[float], window_s: float) -> int:
    """The largest count inside any half-open interval [t, t + window_s); the worst one starts at an admission."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window_s) - i for i, t in enumerate(ordered)),
        default=0,
    )


class ManualClock:
    """Wakes each sleeper only when the test says so, to stage any wake-up order."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleepers: list[asyncio.Future[None]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append(future)
        await future


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_a_limit_below_one_or_not_an_integer_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        RateLimiter(limit, 1.0, FakeClock())


@pytest.mark.parametrize("window_s", [0.0, -1.0, float("inf"), float("nan")])
def test_a_window_that_is_not_positive_and_finite_is_refused(window_s: float) -> None:
    with pytest.raises(ValueError, match="window_s"):
        RateLimiter(1, window_s, FakeClock())


async def test_callers_up_to_the_limit_are_admitted_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, 10.0, clock)
    assert [await limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.sleep_calls == 0
    assert limiter.stats()["current_wait_s"] == 10.0


async def test_the_window_slides_instead_of_resetting_at_bucket_edges() -> None:
    clock = FakeClock(start=1000.0)
    limiter = RateLimiter(2, 10.0, clock)
    admitted: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        admitted.append(clock.monotonic())

    await call()
    await clock.advance(9.0)
    await call()
    await clock.advance(1.0)
    tasks = [asyncio.create_task(call()) for _ in range(2)]
    await clock.run_until_idle()
    await asyncio.gather(*tasks)
    # A fixed bucket starting at 1010 would have let the fourth call in at 1010 as well.
    assert admitted == [1000.0, 1009.0, 1010.0, 1019.0]


async def test_no_window_ever_holds_more_than_limit_admissions_under_random_concurrent_arrivals() -> None:
    rng = random.Random(20261128)
    limit, window_s = 5, 1.0
    clock = FakeClock(start=1000.0)
    limiter = RateLimiter(limit, window_s, clock)
    arrivals = sorted(1000.0 + rng.randrange(0, 20 * 64) * GRID for _ in range(400))
    admitted: list[tuple[int, float, float]] = []

    async def call(index: int, arrived: float) -> None:
        waited = await limiter.acquire()
        admitted.append((index, clock.monotonic(), waited))
        assert waited == clock.monotonic() - arrived

    tasks = []
    for index, arrived in enumerate(arrivals):
        await clock.advance(arrived - clock.now)
        tasks.append(asyncio.create_task(call(index, arrived)))
        await settle()
    await clock.run_until_idle()
    await asyncio.gather(*tasks)

    times = [t for _, t, _ in admitted]
    assert len(times) == len(arrivals)
    assert most_admissions_in_any_window(times, window_s) == limit
    assert all(times[i + limit] >= times[i] + window_s for i in range(len(times) - limit))
    assert [i for i, _, _ in admitted] == list(range(len(arrivals)))
    assert all(t >= a for (_, t, _), a in zip(admitted, arrivals, strict=True))
    assert limiter.stats()["tracked"] == limit


async def test_concurrent_waiters_complete_in_arrival_order() -> None:
    clock = FakeClock(start=1000.0)
    limiter = RateLimiter(3, 1.0, clock)
    done: list[tuple[int, float]] = []

    async def call(index: int) -> None:
        await limiter.acquire()
        done.append((index, clock.monotonic()))

    tasks = [asyncio.create_task(call(i)) for i in range(30)]
    await settle()
    assert limiter.stats()["waiting"] == 27
    await clock.run_until_idle()
    await asyncio.gather(*tasks)
    assert [i for i, _ in done] == list(range(30))
    assert [t for _, t in done] == [1000.0 + i // 3 for i in range(30)]


async def test_arrival_order_holds_even_when_the_clock_wakes_same_instant_sleepers_in_reverse() -> None:
    clock = FakeClock(start=1000.0, reverse_ties=True)
    limiter = RateLimiter(4, 1.0, clock)
    done: list[int] = []

    async def call(index: int) -> None:
        await limiter.acquire()
        done.append(index)

    tasks = [asyncio.create_task(call(i)) for i in range(20)]
    await clock.run_until_idle()
    await asyncio.gather(*tasks)
    assert done == list(range(20))


async def test_a_caller_whose_slot_is_past_its_deadline_is_rejected_without_consuming_a_slot() -> None:
    clock = FakeClock(start=1000.0)
    limiter = RateLimiter(2, 10.0, clock)
    await limiter.acquire()
    await limiter.acquire()

    with pytest.raises(RateLimitExceeded) as raised:
        await limiter.acquire(deadline=1005.0)
    assert (raised.value.wait_s, raised.value.limit, raised.value.window_s) == (10.0, 2, 10.0)
    assert "2 requests per 10 s" in str(raised.value)
    assert "10.00 s away" in str(raised.value)
    stats = limiter.stats()
    assert (stats["rejected"], stats["tracked"], stats["admitted"]) == (1, 2, 2)

    # The rejected caller left no reservation behind: the next caller gets the slot it would have had.
    task = asyncio.create_task(limiter.acquire(deadline=1010.0))
    await clock.run_until_idle()
    assert await task == 10.0
    assert clock.monotonic() == 1010.0


async def test_a_deadline_that_has_already_passed_is_rejected_even_with_free_capacity() -> None:
    clock = FakeClock(start=1000.0)
    limiter = RateLimiter(5, 10.0, clock)
    with pytest.raises(RateLimitExceeded) as raised:
        await limiter.acquire(deadline=999.0)
    assert raised.value.wait_s == 0.0
    assert limiter.stats()["tracked"] == 0


async def test_a_waiter_cancelled_while_sleeping_keeps_its_slot_and_later_waiters_keep_theirs() -> None:
    clock = FakeClock(start=1000.0)
    limiter = RateLimiter(1, 1.0, clock)
    admitted: dict[str, float] = {}

    async def call(name: str) -> None:
        await limiter.acquire()
        admitted[name] = clock.monotonic()

    await call("a")
    b = asyncio.create_task(call("b"))
    c = asyncio.create_task(call("c"))
    await clock.advance(0.5)
    b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b
    assert limiter.stats()["waiting"] == 1

    await clock.run_until_idle()
    await c
    # b's slot at 1001 stays consumed (conservative); c keeps the slot it reserved.
    assert admitted == {"a": 1000.0, "c": 1002.0}
    d = asyncio.create_task(call("d"))
    await clock.run_until_idle()
    await d
    assert admitted["d"] == 1003.0
    stats = limiter.stats()
    assert (stats["admitted"], stats["delayed"], stats["waiting"]) == (3, 3, 0)


async def test_a_woken_waiter_still_lets_the_callers_ahead_of_it_go_first() -> None:
    clock = ManualClock(now=1000.0)
    limiter = RateLimiter(1, 1.0, clock)
    done: list[str] = []

    async def call(name: str) -> None:
        await limiter.acquire()
        done.append(name)

    await call("a")
    tasks = {name: asyncio.create_task(call(name)) for name in "bcd"}
    await settle()
    wake_b, _wake_c, wake_d = clock.sleepers
    clock.now = 1003.0

    wake_d.set_result(None)  # d's slot has passed, but b and c are still asleep
    await settle()
    assert done == ["a"]
    tasks["c"].cancel()  # c leaves while b, ahead of it, is still waiting
    await settle()
    assert done == ["a"]

    wake_b.set_result(None)
    await settle()
    assert done == ["a", "b", "d"]
    assert tasks["c"].cancelled()
    assert limiter.stats()["waiting"] == 0


async def test_a_caller_arriving_while_a_woken_waiter_has_not_run_yet_queues_behind_it() -> None:
    clock = ManualClock(now=1000.0)
    limiter = RateLimiter(1, 1.0, clock)
    done: list[str] = []

    async def call(name: str) -> None:
        await limiter.acquire()
        done.append(name)

    await call("a")
    b = asyncio.create_task(call("b"))
    await settle()
    clock.now = 1005.0  # b's slot (1001) is long past, but the loop has not resumed b yet
    late = asyncio.create_task(call("late"))
    await settle()
    assert done == ["a"]
    clock.sleepers[0].set_result(None)
    await asyncio.gather(b, late)
    assert done == ["a", "b", "late"]


async def test_memory_stays_bounded_by_limit_however_many_requests_were_made() -> None:
    limit = 100
    # Arrivals (500/s) outpace the limit (100/s), so every window fills and both the waiting and fast paths run.
    clock = FakeClock(start=1000.0, step=0.002, auto_advance=True)
    limiter = RateLimiter(limit, 1.0, clock)
    for _ in range(10_000):
        await limiter.acquire()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        for i in range(100_000):
            await limiter.acquire()
            if i % 1000 == 0:
                assert limiter.stats()["tracked"] <= limit
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert limiter.stats()["tracked"] == limit
    assert limiter.stats()["admitted"] == 110_000
    assert limiter.stats()["delayed"] > 1000
    assert grown < 16 * 1024, f"limiter state grew by {grown} bytes over 100,000 requests"


async def test_a_limit_far_above_the_traffic_remembers_only_the_last_windows_requests() -> None:
    # The soaks' creep: a lifted limit (1,000,000 a minute) and a request a second kept one float per request
    # for as long as the limit allowed. Now a request is forgotten once its window has passed.
    clock = FakeClock(start=1000.0, step=1.0, auto_advance=True)
    limiter = RateLimiter(1_000_000, 60.0, clock)
    for _ in range(1_000):
        await limiter.acquire()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        for _ in range(10_000):
            await limiter.acquire()
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert limiter.stats()["tracked"] <= 61
    assert grown < 8 * 1024, f"limiter state grew by {grown} bytes over 10,000 requests a second apart"


async def test_stats_report_counts_waiters_and_the_wait_a_new_caller_would_face() -> None:
    clock = FakeClock(start=1000.0)
    limiter = RateLimiter(2, 60.0, clock)
    assert limiter.stats() == {
        "admitted": 0,
        "delayed": 0,
        "rejected": 0,
        "waiting": 0,
        "current_wait_s": 0.0,
        "limit": 2,
        "window_s": 60.0,
        "tracked": 0,
    }
    await limiter.acquire()
    await clock.advance(15.0)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    with pytest.raises(RateLimitExceeded):
        await limiter.acquire(deadline=clock.now + 1.0)
    stats = limiter.stats()
    assert (stats["admitted"], stats["delayed"], stats["rejected"], stats["waiting"]) == (2, 1, 1, 1)
    assert stats["current_wait_s"] == 60.0  # the next free slot is 1015 + 60, seen from 1015
    assert stats["tracked"] == 2
    await clock.run_until_idle()
    assert await waiter == 45.0
    assert limiter.stats()["waiting"] == 0

"""The system clock wiring and the fake clock the other resilience tests rely on."""

from __future__ import annotations

import asyncio
import time

import pytest

from autodocs_mcp.clock import SYSTEM_CLOCK, Clock, SystemClock
from tests.support.fakeclock import FakeClock


def test_system_clock_reads_time_monotonic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "monotonic", lambda: 42.5)
    assert SYSTEM_CLOCK.monotonic() == 42.5


async def test_system_clock_sleep_of_zero_or_less_returns_without_waiting() -> None:
    await asyncio.wait_for(SYSTEM_CLOCK.sleep(-5.0), timeout=1.0)
    await asyncio.wait_for(SYSTEM_CLOCK.sleep(0.0), timeout=1.0)


def test_both_clocks_satisfy_the_clock_protocol() -> None:
    clocks: list[Clock] = [SystemClock(), FakeClock()]
    assert all(isinstance(clock.monotonic(), float) for clock in clocks)


async def test_fake_sleep_parks_until_time_is_advanced_to_its_wake_up() -> None:
    clock = FakeClock(start=1000.0)
    woke_at: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(5.0)
        woke_at.append(clock.monotonic())

    task = asyncio.create_task(sleeper())
    await clock.advance(4.9)
    assert woke_at == []
    assert clock.pending == 1
    await clock.advance(1.0)
    assert woke_at == [1005.0]
    assert clock.monotonic() == pytest.approx(1005.9)
    await task


async def test_fake_advance_wakes_sleepers_in_time_order_each_at_its_exact_time() -> None:
    clock = FakeClock(start=0.0)
    seen: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        seen.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("c", 3.0), ("a", 1.0), ("b", 2.0)]]
    await clock.advance(10.0)
    assert seen == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    await asyncio.gather(*tasks)


async def test_fake_ties_wake_in_call_order_or_reversed_on_request() -> None:
    for reverse, expected in [(False, [0, 1, 2, 3]), (True, [3, 2, 1, 0])]:
        clock = FakeClock(reverse_ties=reverse)
        order: list[int] = []

        async def sleeper(i: int, clock: FakeClock = clock, order: list[int] = order) -> None:
            await clock.sleep(1.0)
            order.append(i)

        tasks = [asyncio.create_task(sleeper(i)) for i in range(4)]
        await clock.run_until_idle()
        await asyncio.gather(*tasks)
        assert order == expected


async def test_fake_run_until_idle_follows_chains_of_sleeps() -> None:
    clock = FakeClock(start=0.0)

    async def three_naps() -> float:
        for _ in range(3):
            await clock.sleep(2.0)
        return clock.monotonic()

    task = asyncio.create_task(three_naps())
    await clock.run_until_idle()
    assert await task == 6.0


async def test_fake_cancelled_sleeper_is_forgotten() -> None:
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(1.0))
    await clock.advance(0.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending == 0
    assert clock.next_wake() is None


async def test_fake_auto_advance_moves_time_by_the_requested_sleep() -> None:
    clock = FakeClock(start=10.0, auto_advance=True)
    await clock.sleep(2.5)
    assert clock.monotonic() == 12.5


def test_fake_step_moves_time_on_every_read() -> None:
    clock = FakeClock(start=0.0, step=0.5)
    assert [clock.monotonic() for _ in range(3)] == [0.5, 1.0, 1.5]


async def test_fake_jump_refuses_to_skip_a_parked_sleeper() -> None:
    clock = FakeClock(start=0.0)
    clock.jump(1.0)
    assert clock.monotonic() == 1.0
    task = asyncio.create_task(clock.sleep(1.0))
    await clock.advance(0.0)
    with pytest.raises(RuntimeError, match="sleeper is due"):
        clock.jump(5.0)
    await clock.run_until_idle()
    await task

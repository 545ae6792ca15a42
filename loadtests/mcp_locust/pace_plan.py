"""A pace that changes over the run: ``SustainedUser``'s calls/s times a multiplier that steps at planned offsets.

A compressed soak alternates load levels so that growth with calls and growth with time can be told apart (a leak
per call grows faster in the busy blocks, a leak per hour does not care). The plan is pure data, written and read as
text (``"0:1,1440:1.5,1728:0.5"``: from each offset in seconds, that multiple of ``--mcp-pace``), and anchored at a
wall-clock start the runner passes along, so Locust's users and the soak's own clock agree on when a block begins.
No Locust import here: the runner builds and formats plans without it.
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_STEPS = 10_000
MAX_MULTIPLIER = 1000.0


@dataclass(frozen=True)
class PacePlan:
    """Steps of (offset in seconds, multiplier), sorted, starting at offset 0."""

    steps: tuple[tuple[float, float], ...] = ((0.0, 1.0),)

    def __post_init__(self) -> None:
        if not self.steps or self.steps[0][0] != 0.0:
            raise ValueError("a pace plan starts at offset 0")
        if len(self.steps) > MAX_STEPS:
            raise ValueError(f"a pace plan has at most {MAX_STEPS} steps, got {len(self.steps)}")
        offsets = [offset for offset, _ in self.steps]
        if any(b <= a for a, b in itertools.pairwise(offsets)):
            raise ValueError("pace plan offsets must increase")
        for offset, multiplier in self.steps:
            if not (math.isfinite(offset) and 0 < multiplier <= MAX_MULTIPLIER):
                raise ValueError(
                    f"pace plan step {offset:g}:{multiplier:g}: multipliers lie in (0, {MAX_MULTIPLIER:g}]"
                )

    def multiplier_at(self, elapsed_s: float) -> float:
        index = bisect.bisect_right([offset for offset, _ in self.steps], elapsed_s) - 1
        return self.steps[max(index, 0)][1]

    def to_text(self) -> str:
        return ",".join(f"{offset:g}:{multiplier:g}" for offset, multiplier in self.steps)

    @classmethod
    def parse(cls, text: str) -> PacePlan:
        """``"0:1,1440:1.5"``; an empty text is the constant plan."""
        if not text.strip():
            return cls()
        steps: list[tuple[float, float]] = []
        for part in text.split(","):
            offset, sep, multiplier = part.partition(":")
            try:
                if not sep:
                    raise ValueError
                steps.append((float(offset), float(multiplier)))
            except ValueError:
                raise ValueError(f"pace plan step {part.strip()!r} is not OFFSET_S:MULTIPLIER") from None
        return cls(tuple(steps))

    @classmethod
    def alternating(cls, edges: Sequence[tuple[float, float]], block_s: float, levels: tuple[float, float]) -> PacePlan:
        """Multiplier 1 everywhere except inside each (start, end) of ``edges``, where ``levels`` alternate in blocks
        of ``block_s`` (the last block cut at the edge's end)."""
        steps: list[tuple[float, float]] = [(0.0, 1.0)]
        for start, end in edges:
            t, index = start, 0
            while t < end - 1e-9:
                steps.append((round(t, 3), levels[index % 2]))
                t += block_s
                index += 1
            steps.append((round(end, 3), 1.0))
        merged: list[tuple[float, float]] = []
        for offset, multiplier in steps:
            if merged and merged[-1][0] == offset:
                merged[-1] = (offset, multiplier)
            elif not merged or merged[-1][1] != multiplier:
                merged.append((offset, multiplier))
        return cls(tuple(merged))


class PlannedThroughput:
    """A wait time for a constant-throughput user whose target rate follows a plan (Locust's ``constant_throughput``
    with the rate read at every wait): the time left of this task's 1/rate slot, never negative."""

    def __init__(self, pace: float, plan: PacePlan, start_wall: float, clock: Callable[[], float] = time.time) -> None:
        if not 0 < pace < math.inf:
            raise ValueError(f"pace must be > 0 calls/s, got {pace}")
        self.pace = pace
        self.plan = plan
        self.start_wall = start_wall
        self._clock = clock
        self._last_start: float | None = None

    def rate_now(self) -> float:
        return self.pace * self.plan.multiplier_at(self._clock() - self.start_wall)

    def __call__(self) -> float:
        now = self._clock()
        period = 1.0 / self.rate_now()
        if self._last_start is None:
            self._last_start = now
            return 0.0
        wait = max(0.0, self._last_start + period - now)
        self._last_start = now + wait
        return wait

"""The burst load plan as a pure function of elapsed time, so the Locust shape is only a clock around it.

Each cycle is baseline → spike → baseline, with the spike centred in the cycle: every spike is preceded by a
settled baseline and followed by a recovery window, which is what a burst test has to show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Tick = tuple[int, float]


@dataclass(frozen=True)
class BurstPlan:
    base_users: int = 5
    peak_users: int = 50
    period_s: float = 30.0
    spike_s: float = 10.0
    ramp_s: float = 2.0
    cycles: int = 3
    run_time_s: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.base_users < 0:
            problems.append(f"base users must be >= 0, got {self.base_users}")
        if self.peak_users < max(1, self.base_users):
            problems.append(f"peak users ({self.peak_users}) must be >= base users and >= 1")
        if not 0 < self.spike_s < self.period_s:
            problems.append(f"spike ({self.spike_s}s) must be > 0 and shorter than the period ({self.period_s}s)")
        if not self.ramp_s > 0:
            problems.append(f"ramp must be > 0 s, got {self.ramp_s}")
        if self.cycles < 1:
            problems.append(f"cycles must be >= 1, got {self.cycles}")
        if self.run_time_s is not None and not self.run_time_s > 0:
            problems.append(f"run time must be > 0 s, got {self.run_time_s}")
        if problems or not all(map(math.isfinite, (self.period_s, self.spike_s, self.ramp_s))):
            raise ValueError("; ".join(problems) or "burst durations must be finite")

    @property
    def total_s(self) -> float:
        planned = self.cycles * self.period_s
        return planned if self.run_time_s is None else min(planned, self.run_time_s)

    @property
    def spawn_rate(self) -> float:
        """Users per second that move between the levels within ``ramp_s``: a spike "within seconds"."""
        return max(1.0, (self.peak_users - self.base_users) / self.ramp_s)

    def in_spike(self, elapsed_s: float) -> bool:
        start = (self.period_s - self.spike_s) / 2
        return start <= elapsed_s % self.period_s < start + self.spike_s

    def tick(self, elapsed_s: float) -> Tick | None:
        if elapsed_s >= self.total_s:
            return None
        users = self.peak_users if self.in_spike(elapsed_s) else self.base_users
        return users, self.spawn_rate

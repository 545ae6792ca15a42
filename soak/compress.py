"""A night in less time: what ``--compress K`` changes so that K hours of the default night play in one (pure).

Everything that happens per unit of time happens K times as often: the polite calls (``--pace`` × K on average),
the rude clients' rates, the fault cycles (the schedule of a run K times longer, played K times faster), and every
time-driven mechanism of our server, through its settings (:data:`SCALED_SETTINGS`: the TTLs, the idle reaping,
the prune interval, keep-alive expiry, the breaker's open times, and the upstream rate limit, which is per minute).
What one event *is* stays: a call's deadline, its retries' delays, a client's timeout, a storm's size. Settings a
compression cannot reach (constants in code) are listed in :data:`NOT_SCALED` so the report can say so.

To tell growth per call from growth per hour, the polite load alternates between a busy and a quiet level
(:attr:`Compression.levels`) in long blocks between the gate's two comparison windows, which stay at K× so
throughput and latency still compare like with like; the mean rate stays K× the nominal one.
``soak.projection`` then fits each resource against elapsed time and cumulative calls together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mcp_locust.pace_plan import PacePlan
from soak.context import degradation_windows
from soak.formatting import fmt_num
from soak.schedule import FaultPhase, FaultSchedule, default_schedule
from soak.server_settings import Override, effective

DEFAULT_K: Final = 12.0
DEFAULT_NIGHT_S: Final = 2 * 3600.0
MAX_K: Final = 24.0
"""The highest K the runner accepts; whether a machine paces it is checked on the run (the ``pacing`` criterion)."""
MAX_PEAK_CALLS_S: Final = 600.0
"""Polite calls/s at the busiest level above which the runner refuses a K. Measured on the 2-core machines here: in
the 1-hour night at K=12 our server's process took 11.9 %, 31 % and 50 % of a core at 62, 239 and 415 requests/s
(quiet, K× and busy levels, rude clients included): 1.08 ms of CPU per request on one event loop, which cannot use
the second core; Locust took ~0.45 ms per request. At the default 8 users × 2 calls/s, 600 allows K ≤ 19, whose busy
level (~660 requests/s with the rude clients) extrapolates to ~77 % of the server's core; K=24 would be ~96 %.
So the highest K two cores sustain is about 19, by that extrapolation (no sweep has been run); the ``pacing``
criterion says whether a run really kept up."""
BLOCKS: Final = 4
"""Busy, quiet, busy, quiet between the gate's comparison windows. Long blocks, not many short ones: memory wanders
for minutes, and with the real RSS residuals of a 2-hour soak as noise the 24-hour projection's interval was ±9 MB
with two blocks, ±15 with four and ±29 with eight (``notes/night.md``); four keep a second busy block, so growth
that only happens once (a tier settling late) is not taken for growth per call."""

DIVIDED: Final = (
    ("AUTODOCS_INDEX_TTL", "a release list is refetched K× as often"),
    ("AUTODOCS_NOT_FOUND_TTL", "a name upstream did not know is asked again K× as often"),
    ("AUTODOCS_SESSION_IDLE_TIMEOUT", "abandoned sessions are reaped K× sooner"),
    ("AUTODOCS_PRUNE_INTERVAL", "the disk tier is pruned K× as often"),
    ("AUTODOCS_POOL_KEEPALIVE_EXPIRY", "idle upstream connections expire K× sooner"),
    ("AUTODOCS_CIRCUIT_BREAKER_TIMEOUT", "the breaker's longest open time, K× shorter"),
    ("AUTODOCS_CIRCUIT_BREAKER_INITIAL_TIMEOUT", "the breaker's first open time, K× shorter"),
)
"""Seconds-valued settings divided by K, with what that plays faster."""
MULTIPLIED: Final = (("AUTODOCS_RATE_LIMIT_RPM", "upstream requests per minute: K× the calls need K× the budget"),)
SCALED_SETTINGS: Final = tuple(key for key, _ in DIVIDED + MULTIPLIED)
NOT_SCALED: Final = (
    "per-call bounds (AUTODOCS_REQUEST_TIMEOUT, AUTODOCS_ATTEMPT_TIMEOUT, retry delays, AUTODOCS_SHUTDOWN_GRACE, "
    "the HTTP header/body timeouts): what one call is does not change",
    "uvicorn's client keep-alive (5 s, a constant in serve_http.py): already shorter than any compressed timer",
    "AUTODOCS_CLEANUP_DAYS (whole days): a night never reaches it",
)
EXTERNAL_NOT_SCALED: Final = (
    "an external target's timers are its own: only the calls, the rude clients and the fault cycles are compressed, "
    "so its time-driven mechanisms run at their real pace and its growth per hour is per real hour",
)
HTTP_RATE_LIMIT_RPM: Final = 1200
"""``AUTODOCS_RATE_LIMIT_RPM=0`` means this over HTTP (``autodocs_mcp.config.RATE_LIMIT_RPM_HTTP``)."""


class CompressionError(ValueError):
    """A K this runner cannot play."""


@dataclass(frozen=True)
class Compression:
    """``k`` hours of the nominal night per hour of run; ``k == 1`` is a plain soak."""

    k: float = 1.0

    @property
    def active(self) -> bool:
        return self.k != 1.0

    def nominal_s(self, duration_s: float) -> float:
        return duration_s * self.k

    @property
    def levels(self) -> tuple[float, float]:
        """Multiples of the compressed pace: busy ``2 − 1/K`` and quiet ``1/K``, whose mean is 1 (K× the nominal
        night) and whose quiet level is the nominal pace itself, so the quiet blocks show the night's own growth."""
        return (2.0 - 1.0 / self.k, 1.0 / self.k)

    def check(self, users: int, pace: float) -> None:
        """Refuse, with the reason, a K outside (1, MAX_K] or one whose busiest level exceeds what can be paced."""
        if not 1.0 <= self.k <= MAX_K:
            raise CompressionError(f"--compress must be between 1 and {MAX_K:g}, got {self.k:g}")
        peak = users * pace * self.k * max(self.levels)
        if self.active and peak > MAX_PEAK_CALLS_S:
            raise CompressionError(
                f"--compress {self.k:g} asks for {fmt_num(peak)} polite calls/s at its busiest level ({users} users × "
                f"{pace:g} calls/s × {self.k:g} × {max(self.levels):.3g}); this runner paces at most "
                f"{MAX_PEAK_CALLS_S:g} (the load generator shares the machine's cores): use a smaller K or fewer users"
            )

    def schedule(self, duration_s: float) -> FaultSchedule:
        """The default schedule of the nominal night, played K× faster."""
        night = default_schedule(self.nominal_s(duration_s))
        return FaultSchedule(
            tuple(
                FaultPhase(p.name, round(p.start_s / self.k, 3), round(p.end_s / self.k, 3), dict(p.faults))
                for p in night.phases
            )
        )

    def overrides(self, env: Mapping[str, str]) -> list[Override]:
        """The server's time-driven settings, scaled from what it would run with (the operator's or the shipped)."""
        if not self.active:
            return []
        scaled: list[Override] = []
        for key, why in DIVIDED:
            value = float(effective(env, key)) / self.k
            scaled.append(Override(key, f"{value:.6g}", f"--compress {self.k:g}: {why}"))
        for key, why in MULTIPLIED:
            rpm = int(effective(env, key) or 0) or HTTP_RATE_LIMIT_RPM
            scaled.append(Override(key, str(round(rpm * self.k)), f"--compress {self.k:g}: {why}"))
        return scaled

    def pace_plan(self, duration_s: float, warmup_s: float) -> PacePlan:
        """K× everywhere, :attr:`levels` alternating in :data:`BLOCKS` blocks between the end of the first
        comparison window and the start of the last."""
        if not self.active:
            return PacePlan()
        (_a0, a1), (b0, _b1) = degradation_windows(warmup_s, duration_s)
        return PacePlan.alternating([(a1, b0)], (b0 - a1) / BLOCKS, self.levels) if b0 > a1 else PacePlan()

    def describe(
        self, duration_s: float, pace_plan: PacePlan, overrides: list[Override], external: bool = False
    ) -> dict[str, Any]:
        """What ``run.json`` records: K, the night it stands for, the load levels and every scaled setting (the
        ``overrides`` among all the run's that this compression set)."""
        return {
            "k": self.k,
            "nominal_duration_s": self.nominal_s(duration_s),
            "levels": list(self.levels),
            "pace_plan": [list(step) for step in pace_plan.steps],
            "scaled_settings": [o.to_dict() for o in overrides if o.key in SCALED_SETTINGS],
            "not_scaled": list(EXTERNAL_NOT_SCALED if external else NOT_SCALED),
        }

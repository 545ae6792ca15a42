"""A consecutive-failure circuit breaker with a single half-open probe and an open time that backs off.

Why this shape: when PyPI (or the mock) is down, every request would otherwise wait for its full deadline and
retries would pile more load onto a struggling upstream. After ``failure_threshold`` consecutive failures the
circuit opens and callers fail fast. Once the open time has passed, exactly one caller is let through as a probe;
its outcome alone closes or re-opens the circuit, so a recovering upstream sees one request, not a stampede.

What counts as one failure is the caller's business: the upstream client reports a *call's* final outcome, after
its retries, so a bad day (a third of the attempts failing) is ridden out by retries and only an outage, where
whole calls fail, opens the circuit. The first open lasts ``initial_reset_timeout_s``; each failed probe doubles it,
up to ``reset_timeout_s``; closing resets it. A short first open loses little when the trip was a fluke, and the
doubling keeps a long outage from being probed every few seconds.

Calls that started before the circuit opened can finish at any later time. Their outcomes are treated as stale
outside the closed state: a late failure only adds to the failure count (it neither re-opens nor extends the
timer) and a late success is ignored, because only the probe's result says whether the upstream is healthy now.
A stale failure that lands after the circuit has closed again counts towards the new streak; that is conservative
and needs no per-call token.

All methods are synchronous and the breaker is meant for one event loop, where that makes each method atomic.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from enum import StrEnum

from autodocs_mcp.clock import SYSTEM_CLOCK, Clock

_log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_TRANSITIONS = (
    (BreakerState.CLOSED, BreakerState.OPEN),
    (BreakerState.OPEN, BreakerState.HALF_OPEN),
    (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    (BreakerState.HALF_OPEN, BreakerState.OPEN),
)


class CircuitOpenError(Exception):
    """Raised by ``before_call`` when the call must not reach the upstream."""

    def __init__(self, name: str, retry_in_s: float, state: BreakerState = BreakerState.OPEN) -> None:
        self.name = name
        self.retry_in_s = retry_in_s
        self.state = state
        if state is BreakerState.HALF_OPEN:
            message = f"circuit for {name} is half-open and its probe is in flight; retry shortly"
        else:
            message = f"circuit for {name} is open; retry in {retry_in_s:.1f} s"
        super().__init__(message)


class CircuitBreaker:
    """Tracks consecutive upstream failures for one upstream and decides whether a call may go out.

    Usage per call: ``probe = breaker.before_call()`` (may raise ``CircuitOpenError``), then exactly one of
    ``record_success(probe)``, ``record_failure(probe)`` or ``record_neutral(probe)``.

    ``probe_timeout_s`` bounds how long a probe that never reports (a bug, or a task killed without its
    ``finally``) can hold the half-open slot; after it, the next caller becomes the probe. Set it at least to the
    per-call deadline so a slow but live probe is not doubled. If the replaced probe does report later, while the
    breaker is still half-open, its result is taken as the probe's: it is a fresh answer from the upstream either
    way. A probe result reported when no probe is in flight counts like a late result from a normal call.
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int,
        reset_timeout_s: float,
        clock: Clock = SYSTEM_CLOCK,
        on_transition: Callable[[BreakerState, BreakerState, str], None] | None = None,
        *,
        probe_timeout_s: float = 60.0,
        initial_reset_timeout_s: float | None = None,
    ) -> None:
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise ValueError(f"failure_threshold must be an integer >= 1, got {failure_threshold!r}")
        if not (math.isfinite(reset_timeout_s) and reset_timeout_s >= 0):
            raise ValueError(f"reset_timeout_s must be a finite number >= 0, got {reset_timeout_s!r}")
        if not (math.isfinite(probe_timeout_s) and probe_timeout_s > 0):
            raise ValueError(f"probe_timeout_s must be a finite number > 0, got {probe_timeout_s!r}")
        initial = reset_timeout_s if initial_reset_timeout_s is None else initial_reset_timeout_s
        if not (math.isfinite(initial) and 0 <= initial <= reset_timeout_s):
            raise ValueError(
                f"initial_reset_timeout_s must be a finite number between 0 and reset_timeout_s, got {initial!r}"
            )
        self._name = name
        self._threshold = failure_threshold
        self._reset_timeout_s = float(reset_timeout_s)
        self._initial_reset_timeout_s = float(initial)
        self._open_for_s = float(initial)
        self._probe_timeout_s = float(probe_timeout_s)
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_started_at: float | None = None
        self._transitions: dict[str, int] = {f"{old}->{new}": 0 for old, new in _TRANSITIONS}
        self._rejected = 0
        self._probes = 0
        self._lost_probes = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def state(self) -> BreakerState:
        """The current state; reading it never moves the breaker (``before_call`` does)."""
        return self._state

    def before_call(self) -> bool:
        """Decide whether a call may go out; return True when this caller is the half-open probe.

        Raises ``CircuitOpenError`` while open and before the reset timeout, and while another probe is in flight.
        """
        state = self._state
        if state is BreakerState.CLOSED:
            return False
        now = self._clock.monotonic()
        if state is BreakerState.OPEN:
            retry_in = self._opened_at + self._open_for_s - now
            if retry_in > 0:
                self._rejected += 1
                raise CircuitOpenError(self._name, retry_in)
            self._transition(BreakerState.HALF_OPEN, f"open time of {self._open_for_s:g} s elapsed")
            return self._start_probe(now)
        started = self._probe_started_at
        if started is not None:
            if now - started < self._probe_timeout_s:
                self._rejected += 1
                raise CircuitOpenError(self._name, 0.0, BreakerState.HALF_OPEN)
            self._lost_probes += 1
            _log.warning(
                "circuit %s: probe gave no result within %.1f s; admitting a new probe",
                self._name,
                self._probe_timeout_s,
            )
        return self._start_probe(now)

    def _start_probe(self, now: float) -> bool:
        self._probe_started_at = now
        self._probes += 1
        return True

    def record_success(self, probe: bool) -> None:
        """A call reached the upstream and got a healthy answer."""
        if probe and self._owns_probe():
            self._probe_started_at = None
            self._failures = 0
            self._open_for_s = self._initial_reset_timeout_s
            self._transition(BreakerState.CLOSED, "probe succeeded")
        elif self._state is BreakerState.CLOSED:
            self._failures = 0

    def record_failure(self, probe: bool) -> None:
        """A call failed in a way that says the upstream is unhealthy (5xx, timeout, connection error)."""
        self._failures += 1
        if probe and self._owns_probe():
            self._probe_started_at = None
            self._open_for_s = min(self._reset_timeout_s, max(self._open_for_s * 2, self._initial_reset_timeout_s))
            self._open(f"probe failed; open for {self._open_for_s:g} s")
            return
        if self._state is BreakerState.CLOSED and self._failures >= self._threshold:
            streak = f"{self._failures} consecutive failures (threshold {self._threshold})"
            reason = f"{streak}; open for {self._open_for_s:g} s"
            self._open(reason)

    def record_neutral(self, probe: bool) -> None:
        """The call ended without judging the upstream (e.g. cancelled); a probe frees the slot for the next caller."""
        if probe and self._owns_probe():
            self._probe_started_at = None

    def _owns_probe(self) -> bool:
        return self._state is BreakerState.HALF_OPEN and self._probe_started_at is not None

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock.monotonic()
        self._transition(BreakerState.OPEN, reason)

    def _transition(self, new: BreakerState, reason: str) -> None:
        old = self._state
        self._state = new
        self._transitions[f"{old}->{new}"] += 1
        callback = self._on_transition
        if callback is None:
            return
        try:
            callback(old, new, reason)
        except Exception:
            # The state has already moved; a failing observer must not strand the breaker mid-transition
            # (e.g. half-open with a probe nobody will report on).
            _log.exception("circuit %s: on_transition callback failed", self._name)

    def stats(self) -> dict[str, object]:
        """A plain snapshot for metrics; reading it changes nothing."""
        now = self._clock.monotonic()
        opened_for = 0.0 if self._state is BreakerState.CLOSED else max(0.0, now - self._opened_at)
        return {
            "name": self._name,
            "state": str(self._state),
            "consecutive_failures": self._failures,
            "failure_threshold": self._threshold,
            "reset_timeout_s": self._reset_timeout_s,
            "initial_reset_timeout_s": self._initial_reset_timeout_s,
            "open_time_s": self._open_for_s,
            "opened_for_s": opened_for,
            "transitions_total": sum(self._transitions.values()),
            "transitions": dict(self._transitions),
            "rejected": self._rejected,
            "probes": self._probes,
            "probe_in_flight": self._probe_started_at is not None,
            "lost_probes": self._lost_probes,
        }

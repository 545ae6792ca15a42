"""Pass/fail thresholds for a headless run, judged from the final totals; pure so the rule is tested exactly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    max_fail_ratio: float = 0.01
    max_p95_ms: float = 2000.0


@dataclass(frozen=True)
class Totals:
    requests: int
    failures: int
    p95_ms: float


def broken(totals: Totals, thresholds: Thresholds, *, require_requests: bool = True) -> list[str]:
    """One line per threshold that did not hold; empty when the run passes.

    A run without a single request proves nothing about the target, so by default that breaks the run too.
    """
    if totals.requests == 0:
        return ["no requests were made"] if require_requests else []
    problems = []
    ratio = totals.failures / totals.requests
    if ratio > thresholds.max_fail_ratio:
        problems.append(
            f"failure ratio {ratio:.4f} > {thresholds.max_fail_ratio:g}"
            f" ({totals.failures} of {totals.requests} requests failed)"
        )
    if totals.p95_ms > thresholds.max_p95_ms:
        problems.append(f"p95 {totals.p95_ms:g} ms > {thresholds.max_p95_ms:g} ms")
    return problems

"""``make calibrate-night``: does the compressed night's interval cover what it claims, on real soak noise?

``soak.projection`` inflates its Newey–West interval by :data:`~soak.projection.INTERVAL_INFLATION` because HAC
errors are too small on short, persistent series. This module is how that factor was read off, so it can be
rechecked whenever new 2-hour runs exist: the RSS of each given run folder, after ``--from`` seconds, is detrended
(a straight line: its own trend is not noise) and its residuals, circularly shifted and joined, become the noise of
trendless simulated nights on the shipped design (the compressed pace plan of a ``--duration`` night at K, fitted
on 120 bins). For each of the two readings ``soak.night`` makes — per-hour growth over the full night (an external
target) and over ``night / K`` hours (a run whose timers were scaled) — it reports the inflation that would have
covered 95 % of the simulated nights, and the coverage of the shipped one.

    python -m soak.calibrate_night reports/<run> [reports/<run> ...] [--from 2400,4140] [--reps 500] [--seed 23]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soak.compress import Compression
from soak.context import warmup_seconds
from soak.durations import parse_duration
from soak.projection import INTERVAL_INFLATION, MAX_POINTS, FloatArray, fit_time_and_calls
from soak.rundir import load_run
from soak.thresholds import Thresholds

GOAL = 0.95
NOMINAL_CALLS_S = 16.0
"""The default soak's 8 users × 2 calls/s: a night's calls, at K× in the simulated run."""


@dataclass(frozen=True)
class Reading:
    source: str
    start_s: float
    reading: str
    needed: float
    coverage: float


def residuals(run_dir: Path, start_s: float) -> FloatArray:
    """RSS in MB after ``start_s``, minus its own straight line."""
    samples = load_run(run_dir).samples
    t, rss = samples.col("t"), samples.col("rss_bytes") / 1e6
    keep = (t >= start_s) & np.isfinite(rss)
    if int(keep.sum()) < 600:
        raise ValueError(f"{run_dir}: fewer than 600 RSS samples after {start_s:g} s")
    coef = np.polyfit(t[keep], rss[keep], 1)
    result: FloatArray = rss[keep] - np.polyval(coef, t[keep])
    return result


def simulate(
    noise: FloatArray, *, duration_s: float, k: float, reps: int, rng: np.random.Generator
) -> dict[str, FloatArray]:
    """|estimate| / (t quantile × standard error) of each reading, one per simulated trendless night."""
    t = np.arange(duration_s, dtype=np.float64)
    warmup = warmup_seconds(duration_s, Thresholds())
    plan = Compression(k).pace_plan(duration_s, warmup)
    calls = np.cumsum(np.array([NOMINAL_CALLS_S * k * plan.multiplier_at(x) for x in t]))
    keep = t >= warmup
    hours, kcalls = t[keep] / 3600.0, calls[keep] / 1000.0
    night_kcalls = NOMINAL_CALLS_S * 86.4
    out: dict[str, list[float]] = {"24 h of per-hour growth": [], "24/K h (scaled timers)": []}
    pieces = int(np.ceil(duration_s / len(noise))) + 1
    for _ in range(reps):
        series = np.concatenate([np.roll(noise, int(rng.integers(len(noise)))) for _ in range(pieces)])
        fit = fit_time_and_calls(hours, kcalls, 100.0 + series[: len(t)][keep], max_points=MAX_POINTS, confidence=0.95)
        if fit is None:
            continue
        for name, time_hours in zip(out, (24.0, 24.0 / k), strict=True):
            growth = fit.growth(time_hours, night_kcalls)
            half = (growth.high - growth.low) / 2.0 / INTERVAL_INFLATION
            out[name].append(abs(growth.value) / half if half > 0 else np.inf)
    return {name: np.asarray(values, dtype=np.float64) for name, values in out.items()}


def calibrate(
    runs: Sequence[Path], starts: Sequence[float], *, duration_s: float, k: float, reps: int, seed: int
) -> list[Reading]:
    rng = np.random.default_rng(seed)
    readings = []
    for run_dir in runs:
        for start in starts:
            ratios = simulate(residuals(run_dir, start), duration_s=duration_s, k=k, reps=reps, rng=rng)
            for name, r in ratios.items():
                needed = float(np.quantile(r, GOAL))
                coverage = float(np.mean(r <= INTERVAL_INFLATION))
                readings.append(Reading(run_dir.name, start, name, needed, coverage))
    return readings


def table(readings: Sequence[Reading]) -> str:
    lines = [
        f"| run | residuals from | reading | inflation for {GOAL:.0%} | coverage at {INTERVAL_INFLATION:g} (shipped) |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.source} | {r.start_s:g} s | {r.reading} | {r.needed:.2f} | {r.coverage:.1%} |" for r in readings]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak.calibrate_night", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="soak run folders (2 hours or more) whose RSS is the noise")
    parser.add_argument("--from", dest="starts", default="2400,4140", help="seconds after which residuals are taken")
    parser.add_argument("--duration", default="2h", help="the simulated night's length (default 2h)")
    parser.add_argument("--compress", type=float, default=12.0, help="its K (default 12)")
    parser.add_argument("--reps", type=int, default=500, help="simulated nights per run and start (default 500)")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args(argv)
    try:
        starts = [float(x) for x in args.starts.split(",") if x.strip()]
        duration_s = parse_duration(args.duration)
        if not starts or args.reps < 20 or not 1.0 < args.compress:
            raise ValueError("--from needs a start, --reps at least 20, --compress above 1")
        readings = calibrate(args.runs, starts, duration_s=duration_s, k=args.compress, reps=args.reps, seed=args.seed)
    except (ValueError, OSError) as exc:
        print(f"calibrate-night: {exc}", file=sys.stderr)
        return 2
    print(table(readings))
    worst = max(r.needed for r in readings)
    print(f"\nlargest inflation needed: {worst:.2f}; shipped: {INTERVAL_INFLATION:g}")
    return 0 if worst <= INTERVAL_INFLATION else 1


if __name__ == "__main__":
    sys.exit(main())

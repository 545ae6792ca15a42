"""Write a valid soak run folder from formulas, so the gate and the report are tested on known truths.

Every series is a vectorised callable of the time array (seconds since start) returning values (or a scalar),
so a 24-hour 1 Hz run (86,400 rows) is written in well under a second. Defaults describe a healthy night: flat
resources with a little noise, paced traffic, failures only inside fault windows with error faults, a clean
shutdown and an intact cache. Tests override only the series their case is about.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from soak.columns import SAMPLE_COLUMNS, WHOLE_COLUMNS

FloatArray = npt.NDArray[np.float64]
Series = Callable[[FloatArray], "FloatArray | float"]

DEFAULT_SHUTDOWN: Mapping[str, Any] = {
    "exit_code": 0,
    "exit_after_s": 1.5,
    "in_flight_at_signal": 6,
    "completed": 6,
    "cut": 0,
    "grace_s": 10.0,
}
MB = 1e6
START_EPOCH = 1_790_000_000.0


def noise(sd: float, seed: int = 0) -> Series:
    """Gaussian noise, reproducible per seed."""
    rng = np.random.default_rng(seed)
    return lambda t: rng.normal(0.0, sd, t.size)


def sawtooth(amplitude: float, period_s: float) -> Series:
    """A GC-like sawtooth: climbs by ``amplitude`` over each period, then drops back."""
    return lambda t: amplitude * ((t % period_s) / period_s)


def linear(per_hour: float) -> Series:
    return lambda t: per_hour * t / 3600.0


def bump(height: float, start_s: float, end_s: float) -> Series:
    """A temporary step: +height between start_s and end_s, back to zero afterwards."""
    return lambda t: np.where((t >= start_s) & (t < end_s), height, 0.0)


def combine(base: float, *parts: Series) -> Series:
    """``base`` plus the sum of the parts."""

    def series(t: FloatArray) -> FloatArray:
        total = np.full(t.size, base, dtype=np.float64)
        for part in parts:
            total = total + part(t)
        return total

    return series


def _evaluate(series: Series, t: FloatArray) -> FloatArray:
    return np.broadcast_to(np.asarray(series(t), dtype=np.float64), t.shape).copy()


def _column_format(name: str) -> str:
    if name in ("t", "wall"):
        return "%.3f"
    if name in WHOLE_COLUMNS:
        return "%.0f"
    return "%.5g"


def _windows(faults: Sequence[Mapping[str, Any]]) -> list[tuple[str, float, float, Mapping[str, Any]]]:
    return [(str(f["name"]), float(f["start_s"]), float(f["end_s"]), f.get("faults", {})) for f in faults]


def write_synthetic_run(
    run_dir: Path,
    *,
    duration_s: float,
    interval_s: float = 1.0,
    rss: Series | None = None,
    uss: Series | None = None,
    py_blocks: Series | None = None,
    fds: Series | None = None,
    threads: Series | None = None,
    tcp_clients: Series | None = None,
    tcp_upstream: Series | None = None,
    close_wait: Series | None = None,
    pool_open: Series | None = None,
    rps: Series | None = None,
    fail_rps: Series | None = None,
    p50_ms: Series | None = None,
    p95_ms: Series | None = None,
    p99_ms: Series | None = None,
    cache_entries: Series | None = None,
    cache_bytes: Series | None = None,
    sessions: Series | None = None,
    sessions_max: float = 1000.0,
    probes: Sequence[Mapping[str, Any]] | None = None,
    faults: Sequence[Mapping[str, Any]] = (),
    recovery_s: float = 2.0,
    shutdown: Mapping[str, Any] | None = DEFAULT_SHUTDOWN,
    cache_invalid: Sequence[str] = (),
    cache_scan: bool = True,
    run_end: bool = True,
    extra_events: Sequence[Mapping[str, Any]] = (),
    omit_columns: Sequence[str] = (),
    partial_last_line: bool = False,
    target_kind: str = "ours",
    users: int = 10,
    pace_per_user_s: float = 2.0,
    pool_max_connections: int | None = 10,
    breaker_timeout_s: float | None = 5.0,
    shutdown_grace_s: float | None = 10.0,
    session_idle_timeout_s: float | None = 1800.0,
    run_id: str = "synthetic",
    seed: int = 0,
    calls_total: Series | None = None,
    compress: Mapping[str, Any] | None = None,
) -> Path:
    """Write run.json, samples.csv and events.jsonl into ``run_dir`` and return it.

    ``faults`` entries are run.json schedule items ({"name", "start_s", "end_s", "faults"}, and optionally the
    "injected" count the runner records on the window's end event); samples inside a
    window with an ``error_rate`` fail at that rate until ``recovery_s`` after its end. ``shutdown=None`` leaves
    the shutdown event out (an interrupted run); ``omit_columns`` are written empty ("not available").
    ``calls_total`` defaults to the running sum of ``rps``; ``compress`` is run.json's compressed-night record.
    ``probes`` are newcomer-probe lines for ``probe.jsonl``; None writes one answered try every 30 s, an empty
    sequence writes no probe at all (a run from before the probe existed).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = int(duration_s / interval_s) + 1
    t = np.arange(n, dtype=np.float64) * interval_s
    windows = _windows(faults)
    phase = np.full(n, "", dtype=object)
    failing_rate = np.zeros(n)
    breaker = np.full(n, "closed", dtype=object)
    for name, start, end, spec in windows:
        inside = (t >= start) & (t <= end)
        phase[inside] = name
        rate = float(spec.get("error_rate", 0.0))
        if rate > 0:
            failing_rate[(t >= start) & (t <= end + recovery_s)] = rate
            breaker[(t >= start + 3.0) & (t <= end)] = "open"
            breaker[(t > end) & (t <= end + interval_s)] = "half_open"
    offered = users * pace_per_user_s

    def pick(series: Series | None, default: Callable[[], FloatArray]) -> FloatArray:
        return _evaluate(series, t) if series is not None else default()

    values: dict[str, FloatArray] = {
        "t": t,
        "wall": START_EPOCH + t,
        "rss_bytes": pick(rss, lambda: 150 * MB + rng.normal(0, 0.3 * MB, n)),
        "fds": pick(fds, lambda: np.full(n, 42.0)),
        "threads": pick(threads, lambda: np.full(n, 9.0)),
        "cpu_percent": np.clip(rng.normal(30, 5, n), 0, None),
        "tcp_clients": pick(tcp_clients, lambda: np.full(n, float(users))),
        "tcp_upstream": pick(tcp_upstream, lambda: rng.integers(2, 5, n).astype(np.float64)),
        "tcp_close_wait": pick(close_wait, lambda: np.zeros(n)),
        "tcp_time_wait": rng.integers(0, 4, n).astype(np.float64),
        "children": np.zeros(n),
        "pool_max": np.full(n, float(pool_max_connections) if pool_max_connections is not None else np.nan),
        "in_flight": rng.integers(0, 4, n).astype(np.float64),
        "sessions_open": pick(sessions, lambda: np.full(n, float(users))),
        "sessions_max": np.full(n, sessions_max),
        "sessions_client_max": np.full(n, sessions_max / 2),
        "sessions_evicted": np.zeros(n),
        "sessions_refused": np.zeros(n),
        "cache_memory_entries": pick(cache_entries, lambda: np.minimum(t, 500.0)),
        "cache_memory_bytes": pick(cache_bytes, lambda: pick(cache_entries, lambda: np.minimum(t, 500.0)) * 20_000),
        "cache_memory_entries_limit": np.full(n, 1024.0),
        "cache_memory_bytes_limit": np.full(n, 64.0 * 1024 * 1024),
        "py_blocks": pick(py_blocks, lambda: 400_000 + rng.normal(0, 2_000, n)),
        "limiter_waiting": np.zeros(n),
        "users": np.full(n, float(users)),
        "sampler_cpu_s": t * 0.02,
    }
    values["uss_bytes"] = pick(uss, lambda: values["rss_bytes"] - 30 * MB)
    values["pool_open"] = pick(pool_open, lambda: values["tcp_upstream"].copy())
    values["pool_active"] = np.minimum(values["pool_open"], rng.integers(0, 3, n))
    values["pool_idle"] = values["pool_open"] - values["pool_active"]
    values["pool_queued"] = np.zeros(n)
    values["rps"] = pick(rps, lambda: np.clip(rng.normal(offered, offered * 0.03, n), 0, None))
    values["fail_rps"] = pick(fail_rps, lambda: values["rps"] * failing_rate)
    values["calls_total"] = np.round(pick(calls_total, lambda: np.cumsum(values["rps"]) * interval_s))
    values["p50_ms"] = pick(p50_ms, lambda: np.clip(rng.normal(20, 2, n), 1, None))
    values["p95_ms"] = pick(p95_ms, lambda: np.clip(rng.normal(60, 5, n), 1, None))
    values["p99_ms"] = pick(p99_ms, lambda: values["p95_ms"] * 1.8)
    texts = {"breaker_state": breaker, "fault_phase": phase}
    columns: list[list[Any]] = []
    formats: list[str] = []
    for name in SAMPLE_COLUMNS:
        if name in omit_columns:
            columns.append([""] * n)
            formats.append("%s")
        elif name in texts:
            columns.append(list(texts[name]))
            formats.append("%s")
        else:
            columns.append(values[name].tolist())
            formats.append(_column_format(name))
    row_format = ",".join(formats) + "\n"
    # Rows are formatted whole (one % per row) for speed; NaN prints as "nan" and becomes an empty cell.
    body = "".join([row_format % row for row in zip(*columns, strict=True)]).replace(",nan", ",")
    text = ",".join(SAMPLE_COLUMNS) + "\n" + body
    if partial_last_line:
        text += f"{t[-1] + interval_s:.1f},{START_EPOCH + t[-1] + interval_s:.1f},1234"
    (run_dir / "samples.csv").write_text(text, encoding="utf-8")

    events: list[dict[str, Any]] = [{"t": 0.0, "kind": "run_start"}]
    injected = {str(f["name"]): f["injected"] for f in faults if "injected" in f}
    for name, start, end, spec in windows:
        events.append({"t": start, "kind": "fault_start", "name": name, "faults": dict(spec)})
        if end <= t[-1]:
            counted = {"injected": injected[name]} if name in injected else {}
            events.append({"t": end, "kind": "fault_end", "name": name, **counted})
    events += [dict(e) for e in extra_events]
    end_t = float(t[-1])
    if shutdown is not None:
        events.append({"t": end_t, "kind": "shutdown", "signal_sent_t": end_t, **shutdown})
    if cache_scan:
        events.append({"t": end_t, "kind": "cache_scan", "invalid_files": list(cache_invalid), "checked": 240})
    if run_end:
        events.append({"t": end_t, "kind": "run_end"})
    with (run_dir / "events.jsonl").open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps({"wall": START_EPOCH + float(event["t"]), **event}) + "\n")

    meta = {
        "run_id": run_id,
        "started_at": "2026-09-21T22:00:00+00:00",
        "planned_duration_s": duration_s,
        "sample_interval_s": interval_s,
        "target": {
            "kind": target_kind,
            "cmd": "autodocs-mcp --transport http" if target_kind == "ours" else None,
            "url": "http://127.0.0.1:8000/mcp",
        },
        "load": {"users": users, "pace_per_user_s": pace_per_user_s, "mix": {"get_package_docs": 6, "scan": 1}},
        "pool_max_connections": pool_max_connections,
        "breaker_timeout_s": breaker_timeout_s,
        "shutdown_grace_s": shutdown_grace_s,
        "session_idle_timeout_s": session_idle_timeout_s,
        "fault_schedule": [{k: v for k, v in f.items() if k != "injected"} for f in faults],
        "compress": dict(compress) if compress is not None else None,
    }
    if probes is None:
        probes = [{"t": float(at), "ok": True, "seconds": 0.05, "step": "done"} for at in np.arange(30.0, t[-1], 30.0)]
    if probes:
        meta["probe"] = {"interval_s": 30.0, "timeout_s": 10.0}
        lines = "".join(json.dumps({"reason": "", **p}) + "\n" for p in probes)
        (run_dir / "probe.jsonl").write_text(lines, encoding="utf-8")
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return run_dir

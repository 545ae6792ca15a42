"""Read a soak run folder (run.json, samples.csv, events.jsonl) into plain data the gate can judge.

The runner appends and flushes samples and events as they happen, so a folder left by a crash or a Ctrl-C is still
a valid input: a last line without its newline was being written when the run stopped and is dropped, malformed
rows and events are skipped, and each of these repairs is recorded as a warning the report prints. Only a folder
that is not a run at all (no run.json, no samples.csv, unreadable JSON) raises ``RunDirError``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from soak.allocations import AllocationSnapshot, read_snapshots
from soak.columns import SAMPLE_COLUMNS, TEXT_COLUMNS
from soak.probe import PROBE_JSONL, ProbeResult, read_probes

FloatArray = npt.NDArray[np.float64]

RUN_JSON = "run.json"
SAMPLES_CSV = "samples.csv"
EVENTS_JSONL = "events.jsonl"

BREAKER_LEVELS = {"closed": 0.0, "half_open": 1.0, "half-open": 1.0, "open": 2.0}


class RunDirError(Exception):
    """The folder cannot be read as a soak run; the message says which file and why."""


@dataclass(frozen=True)
class FaultSpec:
    name: str
    start_s: float
    end_s: float
    faults: Mapping[str, Any]


@dataclass(frozen=True)
class RunMeta:
    """run.json, typed; ``raw`` keeps the whole object for the report's parameter table."""

    run_id: str
    started_at: str
    planned_duration_s: float | None
    sample_interval_s: float | None
    target_kind: str
    target_cmd: str | None
    target_url: str | None
    users: float | None
    pace_per_user_s: float | None
    mix: Any
    pool_max_connections: int | None
    breaker_timeout_s: float | None
    shutdown_grace_s: float | None
    fault_schedule: tuple[FaultSpec, ...]
    raw: Mapping[str, Any]
    compress: float = 1.0
    """K of a compressed night (``soak.compress``); 1 for a plain soak."""


@dataclass(frozen=True)
class Event:
    t: float
    kind: str
    data: Mapping[str, Any]


DERIVED_COLUMNS = frozenset({"breaker_level"})


def _known(name: str) -> None:
    if name not in SAMPLE_COLUMNS and name not in DERIVED_COLUMNS:
        raise KeyError(f"unknown sample column {name!r}: soak/columns.py defines the columns")


@dataclass(frozen=True)
class Samples:
    """Columns by name; numeric ones as float arrays (NaN = not available), text ones as object arrays.

    ``breaker_state`` is also offered numerically as ``breaker_level`` (closed 0, half_open 1, open 2). Asking
    for a column that ``soak.columns`` does not define is a ``KeyError``, not "not measured": a misspelt name in
    a criterion would otherwise judge nothing and say so quietly.
    """

    numeric: Mapping[str, FloatArray]
    text: Mapping[str, npt.NDArray[np.object_]]
    rows: int

    def col(self, name: str) -> FloatArray:
        _known(name)
        found = self.numeric.get(name)
        if found is not None:
            return found
        if name == "breaker_level":
            states = self.text.get("breaker_state")
            if states is not None:
                return np.array([BREAKER_LEVELS.get(str(s), math.nan) for s in states], dtype=np.float64)
        return np.full(self.rows, math.nan)

    def text_col(self, name: str) -> npt.NDArray[np.object_]:
        _known(name)
        found = self.text.get(name)
        if found is not None:
            return found
        return np.full(self.rows, "", dtype=object)

    def has(self, name: str) -> bool:
        """True when the column holds at least one value (an all-empty column means "not measured")."""
        _known(name)
        if name in self.numeric:
            return bool(np.isfinite(self.numeric[name]).any())
        if name == "breaker_level":
            return bool(np.isfinite(self.col(name)).any())
        if name in self.text:
            return bool(np.any(self.text[name] != ""))
        return False


@dataclass(frozen=True)
class RunData:
    meta: RunMeta
    samples: Samples
    events: tuple[Event, ...]
    warnings: tuple[str, ...] = ()
    run_dir: Path | None = None
    allocations: tuple[tuple[str, AllocationSnapshot], ...] = ()
    """The target's allocation snapshots (label, snapshot), when the runner could take them."""
    probes: tuple[ProbeResult, ...] = ()
    """The newcomer probe's tries (``probe.jsonl``), in order."""

    @property
    def probe_expected(self) -> bool:
        """run.json says the runner started a newcomer probe (older runs had none)."""
        return isinstance(self.meta.raw.get("probe"), dict)

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


def _opt_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _object(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def parse_meta(data: Mapping[str, Any], fallback_id: str, warnings: list[str]) -> RunMeta:
    """Type run.json, keeping going on missing or odd fields (each noted) so an old folder still renders."""
    target = _object(data.get("target"))
    load = _object(data.get("load"))
    schedule: list[FaultSpec] = []
    raw_schedule = data.get("fault_schedule") or []
    if not isinstance(raw_schedule, list):
        warnings.append("run.json: fault_schedule is not a list; ignored")
        raw_schedule = []
    for item in raw_schedule:
        start = _opt_float(item.get("start_s")) if isinstance(item, dict) else None
        end = _opt_float(item.get("end_s")) if isinstance(item, dict) else None
        if not isinstance(item, dict) or start is None or end is None:
            warnings.append(f"run.json: fault_schedule entry {item!r} lacks start_s/end_s; ignored")
            continue
        name = str(item.get("name") or f"fault@{start:g}s")
        schedule.append(FaultSpec(name, start, end, _object(item.get("faults"))))
    run_id = data.get("run_id")
    if not run_id:
        warnings.append(f"run.json: no run_id; using the folder name {fallback_id!r}")
        run_id = fallback_id
    pool_max = _opt_float(data.get("pool_max_connections"))
    return RunMeta(
        run_id=str(run_id),
        started_at=str(data.get("started_at") or ""),
        planned_duration_s=_opt_float(data.get("planned_duration_s")),
        sample_interval_s=_opt_float(data.get("sample_interval_s")),
        target_kind=str(target.get("kind") or "ours"),
        target_cmd=_opt_str(target.get("cmd")),
        target_url=_opt_str(target.get("url")),
        users=_opt_float(load.get("users")),
        pace_per_user_s=_opt_float(load.get("pace_per_user_s")),
        mix=load.get("mix"),
        pool_max_connections=None if pool_max is None else int(pool_max),
        breaker_timeout_s=_opt_float(data.get("breaker_timeout_s")),
        shutdown_grace_s=_opt_float(data.get("shutdown_grace_s")),
        fault_schedule=tuple(schedule),
        raw=dict(data),
        compress=_compress_k(data.get("compress"), warnings),
    )


def _compress_k(raw: Any, warnings: list[str]) -> float:
    if raw is None:
        return 1.0
    k = _opt_float(raw.get("k")) if isinstance(raw, dict) else None
    if k is None or not 1.0 <= k:
        warnings.append(f"run.json: compress {raw!r} has no k >= 1; judged as a plain soak")
        return 1.0
    return k


def _to_floats(values: tuple[str, ...], name: str, warnings: list[str]) -> FloatArray:
    strings = np.array(values, dtype=np.str_)
    strings = np.char.strip(strings)
    strings[strings == ""] = "nan"
    try:
        return strings.astype(np.float64)
    except ValueError:
        out = np.full(len(values), math.nan)
        bad = 0
        for index, text in enumerate(strings.tolist()):
            try:
                out[index] = float(text)
            except ValueError:
                bad += 1
        warnings.append(f"samples.csv: {bad} unreadable value(s) in column {name!r} treated as missing")
        return out


def _fill_empty_cells(body: str) -> str:
    """Write "nan" into empty cells so numpy's C parser can read them; two passes catch runs of empties."""
    filled = body.replace(",,", ",nan,").replace(",,", ",nan,").replace(",\n", ",nan\n").replace("\n,", "\nnan,")
    return "nan" + filled if filled.startswith(",") else filled


def _parse_fast(
    header: list[str], body: str
) -> tuple[dict[str, FloatArray], dict[str, npt.NDArray[np.object_]], int] | None:
    """numpy's C reader for the common case (no quoting, uniform rows); None sends the caller to the careful path.

    A 24-hour run has 86,400 rows, which the csv module plus per-cell float() takes seconds to read.
    """
    lines = body.count("\n")
    if lines == 0:
        return (
            {h: np.empty(0) for h in header if h not in TEXT_COLUMNS},
            {h: np.empty(0, dtype=object) for h in header if h in TEXT_COLUMNS},
            0,
        )
    if '"' in body or body.count(",") != lines * (len(header) - 1):
        return None
    numeric_index = [i for i, h in enumerate(header) if h not in TEXT_COLUMNS]
    text_index = [i for i, h in enumerate(header) if h in TEXT_COLUMNS]
    try:
        numbers = np.loadtxt(
            io.StringIO(_fill_empty_cells(body)),
            delimiter=",",
            usecols=numeric_index,
            dtype=np.float64,
            ndmin=2,
            comments=None,
        )
        strings = (
            np.loadtxt(io.StringIO(body), delimiter=",", usecols=text_index, dtype=str, ndmin=2, comments=None)
            if text_index
            else np.empty((lines, 0), dtype=str)
        )
    except ValueError:
        return None
    rows = numbers.shape[0]
    if strings.shape[0] != rows:
        return None
    numeric = {header[i]: np.ascontiguousarray(numbers[:, k]) for k, i in enumerate(numeric_index)}
    texts = {header[i]: np.char.strip(strings[:, k]).astype(object) for k, i in enumerate(text_index)}
    return numeric, texts, rows


def _parse_careful(
    header: list[str], body: str, warnings: list[str]
) -> tuple[dict[str, FloatArray], dict[str, npt.NDArray[np.object_]], int]:
    """The csv module, row by row: skips rows of the wrong width and reads bad cells as missing, with warnings."""
    width = len(header)
    rows: list[list[str]] = []
    malformed = 0
    for row in csv.reader(io.StringIO(body)):
        if len(row) == width:
            rows.append(row)
        elif row:
            malformed += 1
    if malformed:
        warnings.append(f"samples.csv: skipped {malformed} row(s) with a wrong number of fields")
    columns: list[tuple[str, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    numeric: dict[str, FloatArray] = {}
    texts: dict[str, npt.NDArray[np.object_]] = {}
    for name, values in zip(header, columns, strict=True):
        if name in TEXT_COLUMNS:
            texts[name] = np.array([v.strip() for v in values], dtype=object)
        else:
            numeric[name] = _to_floats(values, name, warnings)
    return numeric, texts, len(rows)


def parse_samples(text: str, warnings: list[str]) -> Samples:
    """Parse samples.csv text; an unterminated last line (a write cut by a crash) and malformed rows are dropped."""
    text = text.replace("\r\n", "\n")
    if text and not text.endswith("\n"):
        cut = text.rfind("\n")
        partial = text[cut + 1 :]
        text = text[: cut + 1] if cut >= 0 else ""
        warnings.append(f"samples.csv: dropped a partially written last line ({len(partial)} characters)")
    first_break = text.find("\n")
    header = next(csv.reader([text[:first_break]]), []) if first_break > 0 else []
    if not header:
        warnings.append("samples.csv: empty (no header)")
        return Samples(numeric={}, text={}, rows=0)
    header = [h.strip() for h in header]
    body = text[first_break + 1 :]
    parsed = _parse_fast(header, body) or _parse_careful(header, body, warnings)
    numeric, texts, count = parsed
    missing = [c for c in ("t", "rss_bytes") if c not in numeric]
    if missing:
        warnings.append(f"samples.csv: required column(s) missing: {', '.join(missing)}")
    if "t" in numeric:
        t = numeric["t"]
        keep = np.isfinite(t)
        if not keep.all():
            warnings.append(f"samples.csv: dropped {int((~keep).sum())} row(s) without a time t")
        order = np.argsort(t[keep], kind="stable")
        numeric = {k: v[keep][order] for k, v in numeric.items()}
        texts = {k: v[keep][order] for k, v in texts.items()}
        count = int(keep.sum())
    return Samples(numeric=numeric, text=texts, rows=count)


def parse_events(text: str, warnings: list[str]) -> tuple[Event, ...]:
    """One JSON object per line; unreadable lines (e.g. the one being written at a crash) are skipped."""
    events: list[Event] = []
    skipped = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            skipped += 1
            continue
        t = _opt_float(data.get("t")) if isinstance(data, dict) else None
        if not isinstance(data, dict) or t is None or not isinstance(data.get("kind"), str):
            skipped += 1
            continue
        events.append(Event(t=t, kind=data["kind"], data=data))
    if skipped:
        warnings.append(f"events.jsonl: skipped {skipped} unreadable line(s)")
    events.sort(key=lambda e: e.t)
    return tuple(events)


def load_run(run_dir: Path) -> RunData:
    """Read a run folder; raises RunDirError only when it cannot be a run (missing run.json / samples.csv)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir} is not a folder")
    warnings: list[str] = []
    meta_path = run_dir / RUN_JSON
    try:
        meta_data = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunDirError(f"{meta_path} is missing: {run_dir} is not a soak run folder") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{meta_path} cannot be read as JSON: {exc}") from exc
    if not isinstance(meta_data, dict):
        raise RunDirError(f"{meta_path} must hold a JSON object")
    meta = parse_meta(meta_data, run_dir.name, warnings)
    samples_path = run_dir / SAMPLES_CSV
    try:
        samples_text = samples_path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError as exc:
        raise RunDirError(f"{samples_path} is missing: the run recorded no samples") from exc
    samples = parse_samples(samples_text, warnings)
    events_path = run_dir / EVENTS_JSONL
    try:
        events = parse_events(events_path.read_text(encoding="utf-8", errors="replace"), warnings)
    except FileNotFoundError:
        warnings.append("events.jsonl is missing: no events (faults, shutdown) could be read")
        events = ()
    allocations = tuple(read_snapshots(run_dir))
    probes = read_probes(run_dir / PROBE_JSONL, warnings)
    return RunData(
        meta=meta,
        samples=samples,
        events=events,
        warnings=tuple(warnings),
        run_dir=run_dir,
        allocations=allocations,
        probes=probes,
    )

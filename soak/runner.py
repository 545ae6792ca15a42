"""One soak run, start to verdict: mock, server (or an external target), Locust, sampler, faults, shutdown, report.

Order matters and is the point of this module:

1. Start the PyPI mock and the server (or the external target) and wait until each answers.
2. Write ``run.json``, start Locust (t = 0 is this moment), then the sampler thread: every child is started
   before any thread exists, because ``preexec_fn`` is not safe once threads run.
3. Until the planned end: apply fault phases at their boundaries (each one an event), watch that no child died,
   show progress. SIGINT/SIGTERM/SIGHUP only set a flag; the loop wakes at once and the run ends in order.
4. At the planned end, with Locust still sending: a last sample, SIGTERM to the server, Locust stopped as soon as
   the server has taken the signal, then the server's exit code, exit time and drained-versus-cut calls (from its
   JSON log) become the ``shutdown`` event. An interrupted or failed run skips this and stops everything at once.
5. Stop whatever still runs (by PID, process group, SIGKILL as the last resort), scan the cache folder, write
   ``run_end``; then the caller renders the report.

Every wait is bounded; nothing started here outlives the run (see :mod:`soak.procs`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Final, TextIO
from urllib.parse import urlsplit

import httpx2

from mcp_locust.children import Child, StartupError, free_port, http_answers, wait_until
from mcp_locust.failure_rule import DEFAULT_RULE_NAME, describe_rule, parse_failure_rule
from mcp_locust.rude_rates import RUDE_CLASSES, scaled_rude_args
from mcp_locust.workload import DEFAULT_MIX
from pypi_mock.admin import get_stats, set_faults
from soak.allocations import fetch_snapshot
from soak.compress import Compression, CompressionError
from soak.context import warmup_seconds
from soak.durations import format_duration
from soak.probe import PROBE_INTERVAL_S, PROBE_JSONL, PROBE_TIMEOUT_S, NewcomerProbe, ProbeTarget
from soak.procs import SignalFlag, pid_alive, start_child
from soak.progress import ProgressStatus, ProgressWriter, format_progress
from soak.sampler import (
    LocustHistoryTail,
    MetricsScraper,
    ProcessTreeProbe,
    Sampler,
    SamplerThread,
    SamplesWriter,
    TcpCounter,
)
from soak.schedule import FaultSchedule, ScheduleCursor, Transition, default_schedule, load_schedule
from soak.server_settings import SECRET_KEYS, Override, effective, server_env, short_index_ttl_s, soak_overrides
from soak.snapshots import SnapshotTaker, snapshot_plan
from soak.thresholds import Thresholds

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_LOCUSTFILE: Final = REPO_ROOT / "loadtests" / "locustfile.py"
DEFAULT_USERS: Final = 8
DEFAULT_PACE: Final = 2.0
# The load's package-name pool: small enough that every name is seen, and every bounded cache tier is full, within
# the warm-up, so the trend criteria after it judge leaks rather than caches still filling with first-seen names.
DEFAULT_NAMES: Final = 500

PROBE_TOOL: Final = ("get_package_docs", {"package_name": "requests"})
"""What the newcomer probe asks our server: the most popular name of the load's pool."""
SERVER_LOG: Final = "server.log"
"""The target's output in the run folder; the shutdown check reads its log lines from there."""
MOCK_ARGS: Final = ("--hang-release-s", "30", "--slow-body-s", "3")
LOCUST_BOOT: Final = """\
import sys
import locust.stats

# Locust writes a history row every second but flushes the file only every 5 s; the sampler reads it every second
# and times recoveries in seconds, so every row is flushed as written.
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 0
from locust.main import main

sys.exit(main())
"""
"""``python -c`` program equivalent to ``python -m locust`` apart from the flush interval (argv passes through)."""
LOCUST_RUNTIME_MARGIN_S: Final = 120.0
"""Locust is told to run this much longer than planned: we stop it, but if we could not, it still stops itself."""
SERVER_ACK_TIMEOUT_S: Final = 3.0
LOCUST_STOP_TIMEOUT_S: Final = 20.0
SERVER_EXIT_MARGIN_S: Final = 10.0
QUICK_STOP_S: Final = 3.0
"""On an interrupt the server gets this long to drain, then a second signal (our server's "exit now")."""
CACHE_SCAN_MAX_FILES: Final = 200_000
CACHE_SCAN_MAX_LISTED: Final = 100
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class HarnessError(Exception):
    """The harness itself failed (a child would not start, Locust died, the mock refused a phase): exit 2."""


class ConfigError(ValueError):
    """Options that cannot make a run; raised before anything is started."""


@dataclass(frozen=True)
class RunConfig:
    duration_s: float
    users: int = DEFAULT_USERS
    pace: float = DEFAULT_PACE
    names: int = DEFAULT_NAMES
    mix: str | None = None
    templates: str | None = None
    token: str | None = None
    faults: str | None = None
    """``"default"``, ``"none"`` or a schedule file; None = default for our server, none for an external one."""
    target_cmd: str | None = None
    target_url: str | None = None
    out_dir: Path | None = None
    sample_interval_s: float = 1.0
    server_env: Mapping[str, str] = field(default_factory=dict)
    locustfile: Path = DEFAULT_LOCUSTFILE
    progress_interval_s: float = 60.0
    ready_timeout_s: float = 60.0
    failure_rule: str = DEFAULT_RULE_NAME
    """What counts as a failed call (``mcp_locust.failure_rule``): by default isError, success: false or an error."""
    trace_allocations: bool = False
    """Turn on the target's allocation tracking (ours: AUTODOCS_TRACEMALLOC_FRAMES=1) and snapshot it."""
    short_index_ttl: bool = False
    """Give our server an index TTL no longer than a fault phase (``soak.server_settings.short_index_ttl_s``)."""
    rude: str | None = None
    """``"default"`` or ``"none"``; None = default for our server, none for an external one."""
    locust_args: tuple[str, ...] = ()
    """Passed to Locust as they are (e.g. the rude classes' ``--mcp-*-per-min`` rates)."""
    probe: bool = True
    """Run the newcomer probe (a fresh official-SDK client every 30 s)."""
    compress: float = 1.0
    """Play ``compress`` hours of the default night per hour of run (``soak.compress``); 1 is a plain soak."""

    @property
    def rude_classes(self) -> tuple[str, ...]:
        choice = self.rude or ("none" if self.external else "default")
        return RUDE_CLASSES if choice == "default" else ()

    @property
    def external(self) -> bool:
        return self.target_cmd is not None

    @property
    def compression(self) -> Compression:
        return Compression(self.compress)

    @property
    def paced_at(self) -> float:
        """Calls/s per polite user, on average: the nominal pace, K times over in a compressed night."""
        return self.pace * self.compress


def validate_config(config: RunConfig) -> None:
    problems: list[str] = []
    if config.users < 1:
        problems.append(f"--users must be at least 1, got {config.users}")
    if not 0 < config.pace <= 1000:
        problems.append(f"--pace must be in (0, 1000] calls/s per user, got {config.pace:g}")
    if not 0.1 <= config.sample_interval_s <= 60:
        problems.append(f"--sample-interval must be between 0.1 and 60 s, got {config.sample_interval_s:g}")
    if config.duration_s < 10 * config.sample_interval_s:
        problems.append(f"--duration {format_duration(config.duration_s)} is too short for 10 samples")
    if (config.target_cmd is None) != (config.target_url is None):
        problems.append("--target-cmd and --target-url go together")
    if config.target_url is not None:
        problems.extend(_loopback_problems(config.target_url))
    if config.rude not in (None, "default", "none"):
        problems.append(f"--rude must be default or none, got {config.rude!r}")
    if config.external and config.short_index_ttl:
        problems.append("--short-index-ttl sets our server's index TTL: it has no meaning for --target-cmd")
    if config.external and config.faults not in (None, "none") and "{mock_url}" not in (config.target_cmd or ""):
        problems.append(
            "faults act on the PyPI mock: put {mock_url} in --target-cmd so the target uses it, or use --faults none"
        )
    try:
        config.compression.check(config.users, config.pace)
    except CompressionError as exc:
        problems.append(str(exc))
    if config.compression.active:
        if config.short_index_ttl:
            problems.append("--short-index-ttl and --compress both set the index TTL: choose one")
        if config.faults not in (None, "default", "none"):
            problems.append("--compress plays the default night's fault cycles (or none): it takes no schedule file")
    for key in config.server_env:
        if not key.startswith("AUTODOCS_"):
            problems.append(f"--server-env {key}: only AUTODOCS_* settings can be given")
    try:
        parse_failure_rule(config.failure_rule)
    except ValueError as exc:
        problems.append(f"--failure-rule: {exc}")
    if not config.locustfile.is_file():
        problems.append(f"locustfile {config.locustfile} does not exist")
    if problems:
        raise ConfigError("\n".join(problems))


def _loopback_problems(url: str) -> list[str]:
    """The harness sends sustained load: only to this machine, never by accident to someone else's server."""
    parts = urlsplit(url.replace("{port}", "1"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [f"--target-url {url!r} must be an http:// URL"]
    if parts.hostname not in LOOPBACK_HOSTS:
        return [f"--target-url {url!r}: only loopback targets (127.0.0.1, localhost, ::1) may be soaked"]
    return []


def new_run_id(now: datetime) -> str:
    return now.strftime("soak-%Y%m%d-%H%M%S")


# --- small pieces: the stop flag, the event log, the server's log, the cache scan ---------------------------------


class EventLog:
    """``events.jsonl``: one JSON object per line, flushed as written; ``t`` is seconds since the load started."""

    def __init__(self, path: Path, t: Callable[[], float]) -> None:
        self._handle = path.open("a", encoding="utf-8")
        self._t = t
        self._lock = threading.Lock()

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = {"t": round(self._t(), 3), "wall": round(time.time(), 3), "kind": kind, **fields}
        with self._lock:
            self._handle.write(json.dumps(record, default=str) + "\n")
            self._handle.flush()
        return record

    def close(self) -> None:
        with self._lock:
            self._handle.close()


def server_log_events(log_path: Path, offset: int, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The last JSON log line for each event name in ``names``, written after byte ``offset`` of the log."""
    wanted = set(names)
    found: dict[str, dict[str, Any]] = {}
    try:
        with log_path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return found
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") in wanted:
            found[str(record["event"])] = record
    return found


def scan_cache(root: Path, max_files: int = CACHE_SCAN_MAX_FILES) -> dict[str, Any]:
    """Every file under ``root`` must parse as JSON; a stray ``*.tmp`` is invalid too (a torn write survived)."""
    invalid: list[str] = []
    invalid_total = 0
    checked = 0
    truncated = False
    for folder, _dirs, files in os.walk(root):
        for name in sorted(files):
            if checked >= max_files:
                truncated = True
                break
            path = Path(folder) / name
            checked += 1
            if _valid_cache_file(path):
                continue
            invalid_total += 1
            if len(invalid) < CACHE_SCAN_MAX_LISTED:
                invalid.append(str(path.relative_to(root)))
        if truncated:
            break
    return {"invalid_files": invalid, "invalid_total": invalid_total, "checked": checked, "truncated": truncated}


def _valid_cache_file(path: Path) -> bool:
    if path.name.endswith(".tmp"):
        return False
    try:
        json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True


def _locust_host_and_path(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/mcp"


def _port_of(url: str) -> int | None:
    parts = urlsplit(url)
    if parts.port is not None:
        return parts.port
    return {"http": 80, "https": 443}.get(parts.scheme)


# --- the run ----------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How the run ended, for the exit status: ``reason`` is completed, interrupted, server_exit or harness_error."""

    run_dir: Path
    reason: str = "completed"
    harness_error: str | None = None


class SoakRun:
    def __init__(
        self, config: RunConfig, run_dir: Path, run_id: str, out: TextIO, schedule: FaultSchedule | None = None
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.run_id = run_id
        self.out = out
        self.progress = ProgressWriter(out, interval_s=config.progress_interval_s)
        self.stop = SignalFlag()
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.pace_plan = config.compression.pace_plan(
            config.duration_s, warmup_seconds(config.duration_s, Thresholds())
        )
        self.events = EventLog(run_dir / "events.jsonl", lambda: time.monotonic() - self.t0)
        self.mock: Child | None = None
        self.server: Child | None = None
        self.locust: Child | None = None
        self.mock_url: str | None = None
        self.target_url = ""
        self.server_env: dict[str, str] = {}
        self.overrides: list[Override] = []
        self.faults_at_start: int | None = None
        self.probe: NewcomerProbe | None = None
        self.schedule = schedule if schedule is not None else plan_faults(config)
        self.cursor = ScheduleCursor(self.schedule)
        self.sampler_thread: SamplerThread | None = None
        self.scraper: MetricsScraper | None = None
        self.locust_tail: LocustHistoryTail | None = None
        self.server_killed = False
        self.run_json_written = False
        self.snapshot_base: str | None = None
        self.snapshots: SnapshotTaker | None = None

    # -- the whole sequence --

    def execute(self) -> Outcome:
        outcome = Outcome(self.run_dir)
        previous = self._install_signal_handlers()
        try:
            self._start_target()
            self._start_load()
            outcome.reason = self._drive()
            if outcome.reason == "completed":
                self._measured_shutdown()
        except Exception as exc:  # whatever broke, the children are stopped and the folder stays judgeable
            if self.stop.is_set() and isinstance(exc, StartupError):
                outcome.reason = "interrupted"
            else:
                known = isinstance(exc, HarnessError | StartupError | OSError | ValueError | httpx2.HTTPError)
                message = str(exc) if known else f"{type(exc).__name__}: {exc}"
                outcome.reason = "harness_error"
                outcome.harness_error = message
                self.events.write("harness_error", message=message)
                self.progress.note(f"harness error: {message}")
        finally:
            if outcome.reason == "interrupted":
                self.events.write("interrupted", signal=self.stop.reason)
                self.progress.note(f"interrupted by {self.stop.reason}: stopping everything")
            self._teardown(outcome)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop.close()
        return outcome

    def _install_signal_handlers(self) -> dict[int, Any]:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            self.stop.set(signal.Signals(signum).name)

        previous: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, on_signal)
        return previous

    def _t(self) -> float:
        return time.monotonic() - self.t0

    # -- 1. what runs --

    def _needs_mock(self) -> bool:
        return not self.config.external or "{mock_url}" in (self.config.target_cmd or "")

    def _start_mock(self) -> None:
        port = free_port()
        self.mock_url = f"http://127.0.0.1:{port}"
        args = [_bin("pypi-mock"), "--host", "127.0.0.1", "--port", str(port), *MOCK_ARGS]
        self.mock = start_child("pypi-mock", args, self.run_dir / "mock.log", cwd=self.run_dir)
        wait_until(
            http_answers(f"{self.mock_url}/_admin/stats", lambda status: status == 200),
            self.config.ready_timeout_s,
            "the PyPI mock",
            child=self.mock,
            stop=self.stop,
        )

    def _start_target(self) -> None:
        if self._needs_mock():
            self._start_mock()
        if self.config.external:
            self._start_external()
        else:
            self._start_ours()

    def _start_ours(self) -> None:
        assert self.mock_url is not None
        port = free_port()
        self.overrides = soak_overrides(
            mock_url=self.mock_url,
            cache_dir=self.run_dir / "cache",
            short_index_ttl_s=index_ttl_s(self.config.duration_s) if self.config.short_index_ttl else None,
            trace_allocations=self.config.trace_allocations,
            token=self.config.token,
            extra=self.config.server_env,
        )
        self.overrides += self.config.compression.overrides(server_env(self.overrides))
        self.server_env = server_env(self.overrides)
        args = [_bin("autodocs-mcp"), "--transport", "http", "--host", "127.0.0.1", "--port", str(port)]
        self.server = start_child(
            "autodocs-mcp",
            args,
            self.run_dir / SERVER_LOG,
            env=self.server_env,
            cwd=self.run_dir,
            unset_prefix="AUTODOCS_",
        )
        base = f"http://127.0.0.1:{port}"
        self.target_url = f"{base}/mcp"
        wait_until(
            http_answers(f"{base}/readyz", lambda status: status == 200),
            self.config.ready_timeout_s,
            "the server's /readyz",
            child=self.server,
            stop=self.stop,
        )
        self.scraper = MetricsScraper(f"{base}/metrics?format=json", headers=self._auth_headers())
        if self.server_env.get("AUTODOCS_TRACEMALLOC_FRAMES", "0") not in ("", "0"):
            self.snapshot_base = base

    def _start_external(self) -> None:
        assert self.config.target_cmd is not None and self.config.target_url is not None
        port = str(free_port())
        substitutions = {"{port}": port, "{mock_url}": self.mock_url or ""}
        command = self.config.target_cmd
        url = self.config.target_url
        for key, value in substitutions.items():
            command = command.replace(key, value)
            url = url.replace(key, value)
        self.target_url = url
        # Run from where the operator typed the command, so relative paths in it mean what they meant there.
        try:
            self.server = start_child("target", shlex.split(command), self.run_dir / SERVER_LOG)
        except (OSError, ValueError) as exc:
            raise HarnessError(f"cannot start --target-cmd {command!r}: {exc}") from exc
        wait_until(
            http_answers(url, lambda _status: True),
            self.config.ready_timeout_s,
            f"the target at {url}",
            child=self.server,
            stop=self.stop,
        )
        host, _path = _locust_host_and_path(url)
        scraper = MetricsScraper(f"{host}/metrics?format=json", headers=self._auth_headers())
        snapshot = scraper.read()
        if snapshot is not None and isinstance(snapshot.get("requests"), Mapping):
            self.scraper = scraper
        else:
            scraper.close()
        if self.config.trace_allocations and fetch_snapshot(host, self._auth_headers(), top=1, timeout_s=5.0):
            self.snapshot_base = host

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}

    # -- 2. load and sampling --

    def _run_json(self, started_at: str) -> dict[str, Any]:
        ours = not self.config.external
        env = self.server_env

        def env_float(key: str) -> float | None:
            return float(effective(env, key)) if ours else None

        return {
            "run_id": self.run_id,
            "started_at": started_at,
            "planned_duration_s": self.config.duration_s,
            "sample_interval_s": self.config.sample_interval_s,
            "target": {
                "kind": "external" if self.config.external else "ours",
                "cmd": shlex.join(self.server.args) if self.server is not None else self.config.target_cmd,
                "url": self.target_url or self.config.target_url,
                "env": {k: v for k, v in env.items() if k not in SECRET_KEYS},
                "settings_changed": [o.to_dict() for o in self.overrides],
                "settings_note": "every other setting is the shipped default (autodocs_mcp.config.Settings)"
                if ours
                else None,
            },
            "compress": self.config.compression.describe(
                self.config.duration_s,
                self.pace_plan,
                self.overrides,
                external=self.config.external,
            )
            if self.config.compression.active
            else None,
            "load": {
                "users": self.config.users,
                "pace_per_user_s": self.config.paced_at,
                "mix": self.config.mix or DEFAULT_MIX,
                "templates": self.config.templates,
                "model": "constant_throughput (paced, below saturation)",
                "failure_rule": self.config.failure_rule,
                "failure_rule_text": describe_rule(parse_failure_rule(self.config.failure_rule)),
                "rude_classes": list(self.config.rude_classes),
                "locust_args": list(self.config.locust_args),
            },
            "probe": {"interval_s": PROBE_INTERVAL_S, "timeout_s": PROBE_TIMEOUT_S} if self.config.probe else None,
            "pool_max_connections": int(effective(env, "AUTODOCS_POOL_MAX_CONNECTIONS")) if ours else None,
            "breaker_timeout_s": env_float("AUTODOCS_CIRCUIT_BREAKER_TIMEOUT"),
            "shutdown_grace_s": env_float("AUTODOCS_SHUTDOWN_GRACE"),
            "session_idle_timeout_s": env_float("AUTODOCS_SESSION_IDLE_TIMEOUT"),
            "fault_schedule": self.schedule.to_list(),
        }

    def _write_run_json(self, started_at: str) -> None:
        path = self.run_dir / "run.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._run_json(started_at), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        self.run_json_written = True

    def _locust_args(self) -> list[str]:
        host, path = _locust_host_and_path(self.target_url)
        runtime = int(self.config.duration_s + LOCUST_RUNTIME_MARGIN_S)
        rude = self.config.rude_classes
        # fixed_count users are spawned first, one each; the polite SustainedUsers make up the rest of -u
        users = str(self.config.users + len(rude))
        args = [
            sys.executable,
            "-c",
            LOCUST_BOOT,
            "-f",
            str(self.config.locustfile),
            "--headless",
            "-u",
            users,
            "-r",
            users,
            "-t",
            f"{runtime}s",
            "--csv",
            str(self.run_dir / "locust" / "locust"),
            "--csv-full-history",
            "--html",
            str(self.run_dir / "locust" / "report.html"),
            "--host",
            host,
            "--only-summary",
            "SustainedUser",
            *rude,
            "--mcp-pace",
            f"{self.config.paced_at:g}",
            "--mcp-names",
            str(self.config.names),
            "--mcp-path",
            path,
            "--mcp-failure-rule",
            self.config.failure_rule,
        ]
        for option, value in (("--mcp-mix", self.config.mix), ("--mcp-templates", self.config.templates)):
            if value:
                args += [option, value]
        if self.config.compression.active:
            args += ["--mcp-pace-plan", self.pace_plan.to_text(), "--mcp-pace-plan-start", f"{self.t0_wall:.3f}"]
            if rude:
                args += scaled_rude_args(self.config.compress)
        # the operator's own options come last, so they win over the scaled ones
        return [*args, *self.config.locust_args]

    def _start_load(self) -> None:
        assert self.server is not None
        (self.run_dir / "locust").mkdir(exist_ok=True)
        self.locust_tail = LocustHistoryTail(self.run_dir / "locust" / "locust_stats_history.csv")
        mock_port = _port_of(self.mock_url) if self.mock_url else None
        listen_port = _port_of(self.target_url)
        ipv6 = (urlsplit(self.target_url).hostname or "") not in ("127.0.0.1", "")
        tcp = TcpCounter(listen_port, mock_port, ipv6=ipv6)
        sampler = Sampler(
            ProcessTreeProbe(self.server.pid, listen_port, mock_port, tcp),
            self.scraper,
            self.locust_tail,
            lambda t: phase.name if (phase := self.schedule.phase_at(t)) is not None else None,
        )
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self._write_run_json(datetime.now(UTC).isoformat(timespec="seconds"))
        # The token goes by environment, not argv, where every local user could read it in the process list.
        token_env = {"MCP_LOCUST_TOKEN": self.config.token} if self.config.token else None
        self.locust = start_child(
            "locust", self._locust_args(), self.run_dir / "locust.log", env=token_env, cwd=self.run_dir
        )
        self.events.write(
            "run_start",
            run_id=self.run_id,
            target_url=self.target_url,
            server_pid=self.server.pid,
            locust_pid=self.locust.pid,
            mock_pid=self.mock.pid if self.mock else None,
            tcp_source="sock_diag" if tcp.netlink else "psutil per process",
        )
        self.sampler_thread = SamplerThread(
            sampler, SamplesWriter(self.run_dir / "samples.csv"), self.config.sample_interval_s, self.t0
        )
        self.sampler_thread.start()
        if self.snapshot_base is not None:
            warmup = warmup_seconds(self.config.duration_s, Thresholds())
            self.snapshots = SnapshotTaker(
                self.snapshot_base,
                self._auth_headers(),
                self.run_dir,
                snapshot_plan(self.config.duration_s, warmup, self.schedule),
                self._t,
                self.events.write,
            )
        if self.config.probe:
            self.probe = NewcomerProbe(self._probe_target(), self.run_dir / PROBE_JSONL, self._t)
            self.probe.start()
        self.progress.note(
            f"soak {self.run_id}: {format_duration(self.config.duration_s)} against {self.target_url}, "
            f"{self.config.users} users x {self.config.paced_at:g} calls/s, {len(self.schedule.phases)} fault phases; "
            f"folder {self.run_dir}"
        )

    def _probe_target(self) -> ProbeTarget:
        tool, arguments = (None, None) if self.config.external else PROBE_TOOL
        return ProbeTarget(self.target_url, self._auth_headers(), tool, arguments)

    # -- 3. the main loop --

    def _drive(self) -> str:
        assert self.server is not None and self.locust is not None and self.sampler_thread is not None
        while True:
            t = self._t()
            if self.stop.is_set():
                return "interrupted"
            if t >= self.config.duration_s:
                return "completed"
            for transition in self.cursor.advance(t):
                self._apply(transition)
            if self.snapshots is not None:
                self.snapshots.poll(t)
            code = self.server.poll()
            if code is not None:
                self.events.write("server_exit", returncode=code)
                self.progress.note(f"the server exited unexpectedly with status {code}")
                return "server_exit"
            if self.locust.poll() is not None:
                raise HarnessError(
                    f"Locust exited early with status {self.locust.poll()} (locust.log): {_last_lines(self.locust)}"
                )
            if self.mock is not None and self.mock.poll() is not None:
                raise HarnessError(f"the PyPI mock exited with status {self.mock.poll()}: {_last_lines(self.mock)}")
            if self.sampler_thread.error is not None:
                raise HarnessError(f"the sampler failed: {self.sampler_thread.error!r}")
            self.progress.update(format_progress(self._status(t)))
            snapshot_at = self.snapshots.next_at() if self.snapshots is not None else None
            wake = min(
                t + 1.0, self.config.duration_s, self.cursor.next_at() or float("inf"), snapshot_at or float("inf")
            )
            self.stop.wait(max(0.0, wake - self._t()))

    def _apply(self, transition: Transition) -> None:
        """Phases never overlap and an end sorts before a start at the same instant, so on/off is all there is.

        The mock's fault counter is read at both ends, so the gate can tell a window that met upstream traffic from
        one that injected nothing (a warm cache can sail through an outage without a single upstream request).
        """
        assert self.mock_url is not None
        faults = dict(transition.phase.faults) if transition.kind == "fault_start" else {}
        set_faults(self.mock_url, faults)
        injected = _faults_injected(self.mock_url)
        extra: dict[str, Any] = {}
        if transition.kind == "fault_start":
            self.faults_at_start = injected
        elif injected is not None and self.faults_at_start is not None:
            extra["injected"] = injected - self.faults_at_start
        self.events.write(transition.kind, name=transition.phase.name, faults=dict(transition.phase.faults), **extra)

    def _status(self, t: float) -> ProgressStatus:
        latest = self.sampler_thread.latest if self.sampler_thread is not None else None
        point = self.locust_tail.latest if self.locust_tail is not None else None
        phase = self.schedule.phase_at(t)

        def num(key: str) -> float | None:
            value = latest.get(key) if latest else None
            return float(value) if isinstance(value, int | float) else None

        breaker = latest.get("breaker_state") if latest else None
        return ProgressStatus(
            elapsed_s=t,
            planned_s=self.config.duration_s,
            rps=num("rps"),
            fail_rps=num("fail_rps"),
            failures_total=point.total_failures if point is not None else None,
            rss_bytes=num("rss_bytes"),
            fds=num("fds"),
            breaker_state=breaker if isinstance(breaker, str) else None,
            phase=phase.name if phase is not None else None,
        )

    # -- 4. the measured shutdown --

    def _measured_shutdown(self) -> None:
        assert self.server is not None and self.locust is not None and self.sampler_thread is not None
        self._stop_probe()
        self._close_open_phase()
        if self.snapshots is not None:
            self.snapshots.final()
        self.sampler_thread.stop()
        self.sampler_thread.sample_now()
        snapshot = self.scraper.read() if self.scraper is not None else None
        requests = snapshot.get("requests") if snapshot else None
        scraped_in_flight = requests.get("in_flight") if isinstance(requests, Mapping) else None
        log_path = self.run_dir / SERVER_LOG
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        self.progress.finish(format_progress(self._status(self._t())))
        self.progress.note("planned end reached: SIGTERM to the server while the load continues")
        signal_t = self._t()
        sent_at = time.monotonic()
        self.server.signal_group(signal.SIGTERM)
        # Locust keeps sending until the server has taken the signal (its first log line after it), then stops.
        with contextlib.suppress(StartupError):
            wait_until(
                lambda: bool(server_log_events(log_path, log_offset, ["signal_received"])),
                SERVER_ACK_TIMEOUT_S,
                "the server's signal_received log line",
                child=self.server,
                interval_s=0.05,
            )
        self.locust.signal_group(signal.SIGINT)
        grace = float(effective(self.server_env, "AUTODOCS_SHUTDOWN_GRACE")) if self.server_env else 30.0
        code = self.server.wait(grace + SERVER_EXIT_MARGIN_S - (time.monotonic() - sent_at))
        exit_after = time.monotonic() - sent_at
        if code is None:
            self.server_killed = True
            code = self.server.stop(grace_s=0.0, sig=signal.SIGKILL)
        if self.locust.wait(LOCUST_STOP_TIMEOUT_S) is None:
            self.locust.stop(grace_s=5.0)
        lines = server_log_events(log_path, log_offset, ["signal_received", "drained", "drain_forced", "stopped"])
        logged_in_flight = lines.get("signal_received", {}).get("in_flight")
        in_flight = logged_in_flight if isinstance(logged_in_flight, int) else scraped_in_flight
        cut: int | None = None
        if "drain_forced" in lines:
            forced = lines["drain_forced"].get("cancelled_calls")
            cut = forced if isinstance(forced, int) else None
        elif "drained" in lines:
            cut = 0
        completed = in_flight - cut if isinstance(in_flight, int) and cut is not None else None
        self.events.write(
            "shutdown",
            signal_sent_t=round(signal_t, 3),
            exit_code=code,
            exit_after_s=round(exit_after, 3),
            in_flight_at_signal=in_flight,
            completed=completed,
            cut=cut,
            grace_s=grace if self.server_env else None,
            killed=self.server_killed,
            # A negative status is death by that signal: plain uvicorn re-raises the SIGTERM it handled gracefully.
            exit_signal=signal.Signals(-code).name if code is not None and code < 0 else None,
            log_events=sorted(lines),
        )

    def _close_open_phase(self) -> None:
        phase = self.cursor.open_phase()
        if phase is None:
            return
        if self.mock is not None and self.mock.running and self.mock_url is not None:
            with contextlib.suppress(httpx2.HTTPError, ValueError):
                set_faults(self.mock_url, {})
        self.events.write("fault_end", name=phase.name, faults=dict(phase.faults), cut_short=True)
        self.cursor.advance(phase.end_s)

    # -- 5. teardown --

    def _stop_probe(self) -> None:
        if self.probe is not None:
            self.probe.stop()
            self.events.write("probe_end", tries=self.probe.results, failures=self.probe.failures)
            self.probe = None

    def _teardown(self, outcome: Outcome) -> None:
        try:
            self._stop_probe()
            if self.sampler_thread is not None:
                self.sampler_thread.stop()
            with contextlib.suppress(OSError, ValueError, httpx2.HTTPError):
                self._close_open_phase()
        finally:
            self._stop_children()
        if self.scraper is not None:
            self.scraper.close()
        if self.sampler_thread is not None:
            self.sampler_thread.writer.close()
        else:
            SamplesWriter(self.run_dir / "samples.csv").close()  # an empty run still has the header
        if not self.run_json_written:
            self._write_run_json(datetime.now(UTC).isoformat(timespec="seconds"))
        cache = self.run_dir / "cache"
        if not self.config.external and cache.is_dir() and not self.server_killed:
            self.events.write("cache_scan", **scan_cache(cache))
        self.events.write("run_end", reason=outcome.reason, elapsed_s=round(self._t(), 3))
        self.events.close()

    def _stop_children(self) -> None:
        """Stop what still runs: the load first (SIGINT makes Locust write its HTML), then the server, then the mock.

        The server gets a short drain and then a second SIGTERM, which our server takes as "exit now"; SIGKILL is
        the last resort, and a killed server's cache is not scanned (a torn write there would be ours, not its).
        """
        if self.locust is not None:
            self.locust.stop(grace_s=QUICK_STOP_S * 2, sig=signal.SIGINT)
        server = self.server
        if server is not None and server.running:
            server.signal_group(signal.SIGTERM)
            if server.wait(QUICK_STOP_S) is None:
                server.signal_group(signal.SIGTERM)
                if server.wait(QUICK_STOP_S) is None:
                    self.server_killed = True
        if server is not None:
            server.stop(grace_s=0.0, sig=signal.SIGKILL)
        if self.mock is not None:
            self.mock.stop(grace_s=5.0)
        leftovers = [c for c in (self.locust, self.server, self.mock) if c is not None and pid_alive(c.pid)]
        if leftovers:
            self.progress.note("still alive after stop: " + ", ".join(f"{c.name} ({c.pid})" for c in leftovers))


def _faults_injected(mock_url: str) -> int | None:
    try:
        total = get_stats(mock_url).get("faults_total")
    except (httpx2.HTTPError, ValueError):
        return None
    return total if isinstance(total, int) else None


def _last_lines(child: Child, lines: int = 2, max_chars: int = 400) -> str:
    """The end of a child's log for a one-line error message; the whole log is in the run folder."""
    text = " | ".join(line.strip() for line in child.log_tail().splitlines() if line.strip())
    tail = " | ".join(text.split(" | ")[-lines:])
    return tail[-max_chars:]


def _bin(name: str) -> str:
    """A console script of this installation: next to the running interpreter (the venv), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise HarnessError(f"cannot find the {name!r} command next to {sys.executable} or on PATH")
    return found


def index_ttl_s(duration_s: float) -> float:
    """``--short-index-ttl``: the TTL for a run of this length (see ``soak.server_settings.short_index_ttl_s``)."""
    return short_index_ttl_s(min(phase.end_s - phase.start_s for phase in default_schedule(duration_s).phases))


def prepare_run_dir(config: RunConfig, run_id: str) -> Path:
    # absolute: the children run with the run folder as their working directory
    run_dir = (config.out_dir or Path("reports") / run_id).resolve()
    if (run_dir / "run.json").exists() or (run_dir / "samples.csv").exists():
        raise ConfigError(f"{run_dir} already holds a run; choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def plan_faults(config: RunConfig) -> FaultSchedule:
    """The schedule for this run; a schedule file is read and validated here, before anything starts."""
    choice = config.faults or ("none" if config.external else "default")
    if choice == "none":
        return FaultSchedule()
    if choice == "default":
        if config.compression.active:
            return config.compression.schedule(config.duration_s)
        return default_schedule(config.duration_s)
    return load_schedule(Path(choice), config.duration_s)


def run_soak(config: RunConfig, out: TextIO) -> Outcome:
    """Validate, run, and return how it ended; the caller renders the report (also after a harness error)."""
    validate_config(config)
    schedule = plan_faults(config)
    run_id = new_run_id(datetime.now())
    run_dir = prepare_run_dir(config, run_id)
    return SoakRun(config, run_dir, run_id, out, schedule).execute()

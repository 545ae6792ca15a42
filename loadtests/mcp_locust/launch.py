"""``python -m mcp_locust.launch {ui,burst,dist}``: mock + server + Locust in one command, nothing left behind.

Starts the PyPI mock and our server on free loopback ports (unless ``--target-url`` names any MCP server), waits
for ``/readyz``, runs Locust as a child, and stops every child by process group on a normal end, Ctrl-C, SIGTERM
or its own error. Options it does not know are passed to Locust, so ``--mcp-*`` settings go straight through.
Exit status: Locust's (1 when a threshold broke), 2 when the harness itself failed, 130/143 if interrupted
before Locust could answer.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

from mcp_locust.children import Child, StartupError, free_port, spawn, wait_ready

LOADTESTS_DIR = Path(__file__).resolve().parent.parent
LOCUSTFILE = LOADTESTS_DIR / "locustfile.py"
BURST_LOCUSTFILE = LOADTESTS_DIR / "locustfile_burst.py"
MODES = ("ui", "burst", "dist")
CSV_PREFIX = "locust"
HTML_NAME = "report.html"
BURST_PACE = "10"
LOCUST_EXIT_GRACE_S = 30.0
RUN_TIME_MARGIN_S = 60.0
HARNESS_ERROR = 2

_TIMESPAN = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class Interrupted(BaseException):
    """Raised by the signal handler so every ``finally`` runs; BaseException so no ``except Exception`` eats it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def parse_seconds(text: str) -> int:
    """Locust's time spans: ``90``, ``90s``, ``1m30s``, ``2h``."""
    value = text.strip().lower()
    if value.isdigit():
        return int(value)
    match = _TIMESPAN.match(value)
    if not value or match is None:
        raise ValueError(f"not a time span: {text!r} (e.g. 60s, 5m, 1h30m)")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def run_id_for(mode: str, now: datetime) -> str:
    return f"{mode}-{now:%Y%m%d-%H%M%S}"


def fresh_run_dir(reports_dir: Path, run_id: str) -> Path:
    """A new folder per run; a second run in the same second gets a suffix instead of overwriting the first."""
    for attempt in range(1, 1000):
        candidate = reports_dir / (run_id if attempt == 1 else f"{run_id}-{attempt}")
        try:
            candidate.mkdir(parents=True)
        except FileExistsError:
            continue
        return candidate
    raise StartupError(f"no free run folder for {run_id} in {reports_dir}")


@dataclass(frozen=True)
class LocustPlan:
    """Everything that decides the Locust command line; ``locust_command`` turns it into argv."""

    mode: str
    host: str
    run_dir: Path
    users: int = 32
    spawn_rate: float = 32.0
    run_time: str | None = None
    user_class: str = "MixedUser"
    locustfile: Path | None = None
    web_ui: bool = False
    web_port: int = 8089
    workers: int = 0
    master_port: int = 5557
    extra: tuple[str, ...] = field(default_factory=tuple)

    @property
    def csv_prefix(self) -> Path:
        return self.run_dir / CSV_PREFIX

    @property
    def html_path(self) -> Path:
        return self.run_dir / HTML_NAME


def locust_command(plan: LocustPlan, python: str = sys.executable) -> list[str]:
    burst = plan.mode == "burst"
    locustfile = plan.locustfile or (BURST_LOCUSTFILE if burst else LOCUSTFILE)
    argv = [python, "-m", "locust", "-f", str(locustfile), "--host", plan.host]
    argv += ["--csv", str(plan.csv_prefix), "--csv-full-history", "--html", str(plan.html_path)]
    if plan.web_ui:
        argv += ["--web-host", "127.0.0.1", "--web-port", str(plan.web_port), "--class-picker"]
    else:
        argv += ["--headless", "--only-summary"]
    if plan.run_time and not plan.web_ui:
        argv += ["--run-time", plan.run_time]
    if plan.workers:
        port = str(plan.master_port)
        argv += ["--processes", str(plan.workers), "--master-bind-host", "127.0.0.1"]
        argv += ["--master-bind-port", port, "--master-port", port]
    if burst:
        if "--mcp-pace" not in plan.extra:
            argv += ["--mcp-pace", BURST_PACE]
    else:
        argv += ["--users", str(plan.users), "--spawn-rate", f"{plan.spawn_rate:g}"]
    argv += list(plan.extra)
    if not burst:
        argv.append(plan.user_class)
    return argv


def server_environment(base: Mapping[str, str], mock_url: str, run_dir: Path) -> dict[str, str]:
    """The mock as upstream and a fresh cache; the upstream rate limit lifted, because the UI, burst and distributed
    runs measure throughput and a burst's cold names would otherwise measure the limiter (checked on its own in the
    tests), and a 5 s grace so Ctrl-C ends quickly. `make soak` runs the shipped limits instead."""
    env = dict(base)
    env.update(
        {
            "AUTODOCS_PYPI_URL": f"{mock_url}/pypi",
            "AUTODOCS_CACHE_DIR": str(run_dir / "cache"),
            "AUTODOCS_RATE_LIMIT_RPM": "1000000",
            "AUTODOCS_SHUTDOWN_GRACE": "5",
        }
    )
    return env


def executable(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise StartupError(f"{name} not found next to {sys.executable} or on PATH")
    return found


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("--target-url", help="load this MCP server's base URL; start no mock and no server")
    common.add_argument("--reports-dir", type=Path, default=Path("reports"), help="parent of the run folder")
    common.add_argument("--run-id", help="run folder name (default <mode>-YYYYmmdd-HHMMSS)")
    common.add_argument("--locustfile", type=Path, help="override the locustfile")
    common.add_argument("--server-arg", action="append", default=[], help="extra autodocs-mcp argument (repeat)")
    common.add_argument("--mock-faults", help="initial pypi-mock faults, JSON")
    common.add_argument("--startup-timeout", type=float, default=30.0, help="seconds to wait for /readyz")
    users = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    users.add_argument("-u", "--users", type=int, default=32)
    users.add_argument("-r", "--spawn-rate", type=float, default=32.0)
    users.add_argument("--user-class", default="MixedUser", help="MixedUser (saturating) or SustainedUser (paced)")
    users.add_argument("--web-port", type=int, default=8089)

    parser = argparse.ArgumentParser(
        prog="python -m mcp_locust.launch",
        allow_abbrev=False,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Unknown options are passed to Locust, e.g. --mcp-mix, --mcp-max-p95-ms, --mcp-burst-peak.",
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    modes.add_parser("ui", parents=[common, users], allow_abbrev=False, help="web UI on 127.0.0.1, until Ctrl-C")
    burst = modes.add_parser("burst", parents=[common], allow_abbrev=False, help="headless BurstShape run")
    burst.add_argument("-t", "--run-time", default="60s", help="total burst time (caps the cycles)")
    dist = modes.add_parser("dist", parents=[common, users], allow_abbrev=False, help="master + N local workers")
    dist.add_argument("--workers", type=int, default=2)
    dist.add_argument("-t", "--run-time", default="30s", help="headless run time (ignored with --ui)")
    dist.add_argument("--ui", action="store_true", help="web UI instead of a bounded headless run")
    return parser


def plan_from(args: argparse.Namespace, host: str, run_dir: Path, extra: Sequence[str]) -> LocustPlan:
    mode: str = args.mode
    web_ui = mode == "ui" or bool(getattr(args, "ui", False))
    run_time: str | None = getattr(args, "run_time", None)
    if run_time is not None:
        parse_seconds(run_time)
    return LocustPlan(
        mode=mode,
        host=host,
        run_dir=run_dir,
        users=getattr(args, "users", 32),
        spawn_rate=getattr(args, "spawn_rate", 32.0),
        run_time=run_time,
        user_class=getattr(args, "user_class", "MixedUser"),
        locustfile=args.locustfile,
        web_ui=web_ui,
        web_port=getattr(args, "web_port", 8089),
        workers=getattr(args, "workers", 0) if mode == "dist" else 0,
        master_port=free_port() if mode == "dist" else 5557,
        extra=tuple(extra),
    )


def say(message: str) -> None:
    print(f"[launch] {message}", flush=True)


@contextmanager
def signals_raise() -> Iterator[Callable[[], None]]:
    """The first SIGINT/SIGTERM raises Interrupted; later ones, and any after ``mute()``, are ignored, so the
    cleanup cannot be cut short by a second Ctrl-C."""
    fired: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if fired:
            return
        fired.append(signum)
        raise Interrupted(signum)

    def mute() -> None:
        fired.append(0)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield mute
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def start_target(args: argparse.Namespace, run_dir: Path, children: list[Child]) -> str:
    """Mock, then server pointed at it; returns the server's base URL once ``/readyz`` answers 200."""
    mock_port = free_port()
    mock_args = [executable("pypi-mock"), "--host", "127.0.0.1", "--port", str(mock_port)]
    if args.mock_faults:
        mock_args += ["--faults", args.mock_faults]
    mock = spawn("pypi-mock", mock_args, env=os.environ, log_path=run_dir / "pypi-mock.log")
    children.append(mock)
    mock_url = f"http://127.0.0.1:{mock_port}"
    wait_ready(mock, f"{mock_url}/_admin/stats", args.startup_timeout)

    port = free_port()
    server_args = [executable("autodocs-mcp"), "--transport", "http", "--host", "127.0.0.1", "--port", str(port)]
    server = spawn(
        "autodocs-mcp",
        [*server_args, *args.server_arg],
        env=server_environment(os.environ, mock_url, run_dir),
        log_path=run_dir / "server.log",
    )
    children.append(server)
    base_url = f"http://127.0.0.1:{port}"
    wait_ready(server, f"{base_url}/readyz", args.startup_timeout)
    say(f"pypi-mock pid {mock.pid} at {mock_url}, autodocs-mcp pid {server.pid} at {base_url}")
    return base_url


def wait_for_locust(locust: Child, plan: LocustPlan) -> int:
    """Headless runs are bounded by Locust's own --run-time; the launcher adds a hard stop behind it."""
    if plan.web_ui or plan.run_time is None:
        return locust.popen.wait()
    deadline = parse_seconds(plan.run_time) + RUN_TIME_MARGIN_S
    code = locust.wait(deadline)
    if code is None:
        say(f"Locust overran its run time by {RUN_TIME_MARGIN_S:g}s; stopping it")
        return stop_locust(locust, HARNESS_ERROR)
    return code


def stop_locust(locust: Child, fallback: int) -> int:
    """SIGINT first, so Locust still writes its summary, CSV and HTML; then the group is stopped by force."""
    locust.signal_leader(signal.SIGINT)
    code = locust.wait(LOCUST_EXIT_GRACE_S)
    locust.stop()
    return fallback if code is None else code


def report_paths(plan: LocustPlan) -> list[Path]:
    return [path for path in (plan.html_path, plan.csv_prefix.with_name(f"{CSV_PREFIX}_stats.csv")) if path.exists()]


def run(args: argparse.Namespace, extra: Sequence[str], children: list[Child]) -> int:
    reports_dir: Path = args.reports_dir
    run_dir = fresh_run_dir(reports_dir.resolve(), args.run_id or run_id_for(args.mode, datetime.now()))
    say(f"run folder {run_dir}")
    host = args.target_url.rstrip("/") if args.target_url else start_target(args, run_dir, children)
    plan = plan_from(args, host, run_dir, extra)
    command = locust_command(plan)
    locust = spawn("locust", command, env=os.environ)
    children.append(locust)
    say(f"locust pid {locust.pid}: {' '.join(command[1:])}")
    if plan.web_ui:
        say(f"web UI at http://127.0.0.1:{plan.web_port} (Ctrl-C to stop and write the report)")
    try:
        code = wait_for_locust(locust, plan)
    except Interrupted as interrupted:
        say(f"{interrupted}: stopping Locust (it writes its report first)")
        code = stop_locust(locust, 128 + interrupted.signum)
    for path in report_paths(plan):
        say(f"report: {path}")
    say(f"locust exit status {code}")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    children: list[Child] = []
    with signals_raise() as mute:
        try:
            return run(args, extra, children)
        except Interrupted as interrupted:
            say(f"{interrupted} during start-up")
            return 128 + interrupted.signum
        except (StartupError, ValueError, OSError) as exc:
            say(f"error: {exc}")
            return HARNESS_ERROR
        finally:
            mute()
            for child in reversed(children):  # Locust first, then the server, the mock last
                child.stop()
            if children:
                say("stopped " + ", ".join(f"{child.name} (pid {child.pid})" for child in reversed(children)))


if __name__ == "__main__":
    sys.exit(main())

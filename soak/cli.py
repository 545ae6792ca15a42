"""``autodocs-soak``: ``run`` a soak and judge it, or re-judge a run folder with ``report``.

Exit status: 0 the gate held, 1 it broke (with ``--strict`` also when it is inconclusive), 2 the harness failed
(bad options, a child that would not start, Locust dying, a report that could not be rendered).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from mcp_locust.failure_rule import DEFAULT_RULE_NAME
from soak.durations import DurationError, parse_duration
from soak.runner import DEFAULT_LOCUSTFILE, DEFAULT_NAMES, DEFAULT_PACE, DEFAULT_USERS, ConfigError, RunConfig, run_soak
from soak.schedule import ScheduleError

if TYPE_CHECKING:
    from soak.thresholds import Thresholds

EXIT_HELD = 0
EXIT_BROKEN = 1
EXIT_HARNESS = 2

SCHEDULE_HELP = """\
fault schedules (--faults):
  default   every fault mode of the PyPI mock once per cycle (error storm with Retry-After, 429s, an outage of
            hangs that opens the breaker, resets, malformed and oversize bodies, slow bodies, latency), between
            30% and 75% of the run; cycles repeat every 2 h at most. The first 30% and the last 25% stay clean.
  none      no faults.
  FILE      a JSON file:
              {"phases": [
                {"name": "storm",  "start": "20%", "end": "25%", "faults": {"error_rate": 0.5, "retry_after_s": 1}},
                {"name": "outage", "start": "1h",  "end": "1h10m", "faults": {"hang_rate": 1.0}},
                {"name": "slow",   "start_s": 600, "end_s": 660,   "faults": {"latency_ms": 300}}
              ]}
            start/end: a duration (1h30m, 45s), a percentage of the run, or seconds; start_s/end_s: seconds.
            Phases must not overlap and must end within the run; "faults" is the mock's faults object
            (see notes/pypi-mock.md) and is validated before anything starts.

external targets: --target-cmd "python server.py --port {port}" --target-url "http://127.0.0.1:{port}/mcp"
  {port} becomes a free port and {mock_url} the PyPI mock's URL (needed for faults). Only loopback URLs.

exit status: 0 gate held, 1 gate broken (--strict: also inconclusive), 2 harness error.
"""


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autodocs-soak", description="Soak an MCP server under paced load and faults, then judge the night."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run a soak and judge it",
        description="Start the PyPI mock, the server (or --target-cmd) and Locust; sample, inject faults, judge.",
        epilog=SCHEDULE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--duration", type=_duration, default=parse_duration("24h"), help="e.g. 24h, 90m, 1h30m")
    run.add_argument("--users", type=int, default=DEFAULT_USERS, help=f"Locust users (default {DEFAULT_USERS})")
    run.add_argument(
        "--pace", type=float, default=DEFAULT_PACE, help=f"calls per second per user (default {DEFAULT_PACE:g})"
    )
    run.add_argument(
        "--names",
        type=int,
        default=DEFAULT_NAMES,
        help=f"package names the load draws from, Zipf-weighted (default {DEFAULT_NAMES}: fits the caches)",
    )
    run.add_argument("--mix", help='call mix "tool=weight,..." (default: the locustfile\'s realistic mix)')
    run.add_argument("--templates", "--mcp-templates", dest="templates", help="per-target argument templates (JSON)")
    run.add_argument("--token", "--mcp-token", dest="token", help="bearer token for the target (and our server)")
    run.add_argument("--faults", help="default | none | FILE (default: default; none for an external target)")
    run.add_argument("--target-cmd", help="command starting another MCP server instead of ours")
    run.add_argument("--target-url", help="its streamable-HTTP URL (loopback only)")
    run.add_argument("--out", type=Path, help="run folder (default reports/<run-id>)")
    run.add_argument("--sample-interval", type=_duration, default=1.0, help="seconds between samples (default 1)")
    run.add_argument(
        "--server-env",
        type=_key_value,
        action="append",
        default=[],
        metavar="AUTODOCS_KEY=VALUE",
        help="extra setting for our server (repeatable)",
    )
    run.add_argument(
        "--failure-rule",
        default=DEFAULT_RULE_NAME,
        help="what counts as a failed call: default (isError, success: false or an error object in the payload), "
        "is-error, or checks joined by commas (is_error,success_false,error_object)",
    )
    run.add_argument(
        "--trace-allocations",
        action="store_true",
        help="turn on the target's allocation tracking (ours: AUTODOCS_TRACEMALLOC_FRAMES=1; ~2.6x server CPU per "
        "call) and name the sites that grow in the report",
    )
    run.add_argument(
        "--short-index-ttl",
        action="store_true",
        help="give our server an index TTL no longer than a fault phase (at most 2 min; shipped: 1 h), so every "
        "fault of a short run meets upstream traffic; listed in the report as a changed setting",
    )
    run.add_argument(
        "--rude",
        choices=("default", "none"),
        help="the rude client classes (never-closing sessions, aborted calls, reconnect storms, a session per "
        "call, the 2026-07-28 revision) at their default rates beside the polite users (default: default for our "
        "server, none for an external target)",
    )
    run.add_argument(
        "--locust-args",
        type=shlex.split,
        default=[],
        help='extra Locust options, e.g. "--mcp-never-close-per-min 20 --mcp-storm-size 100"',
    )
    run.add_argument(
        "--no-probe", dest="probe", action="store_false", help="no newcomer probe (a fresh SDK client every 30 s)"
    )
    run.add_argument(
        "--compress",
        type=float,
        default=1.0,
        metavar="K",
        help="play K hours of the default night per hour of run: calls, rude clients, fault cycles and our server's "
        "timers K times faster, the load alternating between busy and quiet blocks to tell growth per call from "
        "growth per hour (make night: --duration 2h --compress 12; default 1, a plain soak)",
    )
    run.add_argument("--locustfile", type=Path, default=DEFAULT_LOCUSTFILE, help=argparse.SUPPRESS)
    run.add_argument("--progress-interval", type=_duration, default=60.0, help=argparse.SUPPRESS)
    _judging_options(run)

    report = commands.add_parser("report", help="re-render and re-judge a run folder")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    _judging_options(report)
    return parser


def _judging_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--thresholds", type=Path, help="JSON file overriding gate thresholds")
    parser.add_argument(
        "--threshold",
        type=_key_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one threshold (repeatable, applied after --thresholds)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the verdict is inconclusive")
    parser.add_argument(
        "--project-rate",
        type=float,
        metavar="CALLS_PER_S",
        help="project each resource's 24-hour growth at this many calls/s (default: the night's nominal rate)",
    )


def load_thresholds(
    path: Path | None, overrides: Sequence[tuple[str, str]], project_rate: float | None = None
) -> Thresholds:
    from soak.thresholds import Thresholds

    base = Thresholds.load(path) if path is not None else Thresholds()
    pairs = dict(overrides)
    if project_rate is not None:
        pairs["project_calls_per_s"] = f"{project_rate!r}"
    return base.with_overrides(pairs) if pairs else base


def exit_status(status: str, strict: bool) -> int:
    if status == "held":
        return EXIT_HELD
    if status == "inconclusive" and not strict:
        return EXIT_HELD
    return EXIT_BROKEN


def judge_and_print(run_dir: Path, thresholds: Thresholds, strict: bool, out: TextIO) -> int:
    """Render the report, print the verdict (and every criterion that did not hold); the exit status."""
    from soak.report import render_report

    verdict = render_report(run_dir, thresholds)
    data = verdict.to_dict()
    status = str(data.get("status", verdict.status))
    out.write(f"verdict: {status.upper()}\n")
    for criterion in data.get("criteria", []):
        if criterion.get("status") != "held":
            out.write(
                f"  {criterion.get('status')}: {criterion.get('name')}: {criterion.get('figure')}"
                f" (threshold {criterion.get('threshold')}) {criterion.get('reason')}\n"
            )
    out.write(f"report: {run_dir / 'report.html'}\n")
    out.flush()
    return exit_status(status, strict)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        thresholds = load_thresholds(args.thresholds, args.threshold, args.project_rate)
        config = RunConfig(
            duration_s=args.duration,
            users=args.users,
            pace=args.pace,
            names=args.names,
            mix=args.mix,
            templates=args.templates,
            token=args.token,
            faults=args.faults,
            target_cmd=args.target_cmd,
            target_url=args.target_url,
            out_dir=args.out,
            sample_interval_s=args.sample_interval,
            server_env=dict(args.server_env),
            locustfile=args.locustfile,
            progress_interval_s=args.progress_interval,
            trace_allocations=args.trace_allocations,
            failure_rule=args.failure_rule,
            short_index_ttl=args.short_index_ttl,
            rude=args.rude,
            locust_args=tuple(args.locust_args),
            probe=args.probe,
            compress=args.compress,
        )
        outcome = run_soak(config, out)
    except (ConfigError, ScheduleError, ValueError, OSError) as exc:
        err.write(f"autodocs-soak: {exc}\n")
        return EXIT_HARNESS
    try:
        code = judge_and_print(outcome.run_dir, thresholds, args.strict, out)
    except Exception as exc:  # the report is the product: any failure to render it is the harness's
        err.write(f"autodocs-soak: could not render the report of {outcome.run_dir}: {exc!r}\n")
        return EXIT_HARNESS
    if outcome.harness_error is not None:
        err.write(f"autodocs-soak: harness error: {outcome.harness_error}\n")
        return EXIT_HARNESS
    return code


def _report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        thresholds = load_thresholds(args.thresholds, args.threshold, args.project_rate)
        return judge_and_print(args.run_dir, thresholds, args.strict, out)
    except Exception as exc:  # unreadable folder, bad thresholds, plotting failure: all mean "no verdict"
        err.write(f"autodocs-soak: {exc}\n")
        return EXIT_HARNESS


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    if args.command == "run":
        return _run(args, stdout, stderr)
    return _report(args, stdout, stderr)


def entry() -> None:
    sys.exit(main())

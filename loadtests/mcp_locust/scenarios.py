"""Scenario users for ``locust -f loadtests/locustfile.py``, their ``--mcp-*`` options, and the run thresholds.

Importing this module registers the options and the threshold check with Locust's event hooks, so any
locustfile that uses these users gets both without a plugin.
"""

from __future__ import annotations

import functools
import logging
import random
import time

from locust import constant, events, task
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import WorkerRunner

from mcp_locust.pace_plan import PacePlan, PlannedThroughput
from mcp_locust.thresholds import Thresholds, Totals, broken
from mcp_locust.user import McpUser, exit_on_bad_options, listen, option
from mcp_locust.workload import DEFAULT_MIX, Workload, build_workload

logger = logging.getLogger(__name__)

DEFAULT_NAMES = 2000
DEFAULT_ZIPF = 1.1
DEFAULT_PACE = 2.0

P95_DEST = "mcp_max_latency_ms"
"""``--mcp-max-p95-ms``'s dest. Locust's web UI labels an option by its dest (split at capitals and digits once
camel-cased, so ``mcp_max_p95_ms`` showed as "Mcp Max P9 5Ms") and posts the form back under a key re-derived from
that label, which for ``p95`` is not the dest any more: the UI's value was dropped. A dest without digits reads as
words and survives the round trip."""


def add_scenario_options(parser: LocustArgumentParser) -> None:
    parser.add_argument(
        "--mcp-mix",
        default=DEFAULT_MIX,
        help="weights of the call targets, name=weight,... (names are tools or --mcp-templates keys)",
    )
    parser.add_argument("--mcp-names", type=int, default=DEFAULT_NAMES, help="size of the package-name pool")
    parser.add_argument("--mcp-zipf", type=float, default=DEFAULT_ZIPF, help="Zipf exponent of name popularity")
    parser.add_argument(
        "--mcp-templates",
        default="",
        help='call targets as JSON (or a file path): {"key": {"tool": ..., "arguments": {...}, "expect_error": null}}',
    )
    parser.add_argument(
        "--mcp-pace", type=float, default=DEFAULT_PACE, help="SustainedUser: tool calls per second per user"
    )
    parser.add_argument(
        "--mcp-pace-plan",
        default="",
        help='SustainedUser: multiples of --mcp-pace from offsets in seconds, "0:1,1440:1.5,1728:0.5" (default: 1)',
    )
    parser.add_argument(
        "--mcp-pace-plan-start",
        type=float,
        default=0.0,
        help="SustainedUser: the Unix time the pace plan's offsets count from (default 0: when the user spawns)",
    )
    parser.add_argument(
        "--mcp-max-fail-ratio", type=float, default=Thresholds.max_fail_ratio, help="threshold: failed/all requests"
    )
    parser.add_argument(
        "--mcp-max-p95-ms",
        dest=P95_DEST,
        metavar="MCP_MAX_P95_MS",
        type=float,
        default=Thresholds.max_p95_ms,
        help="threshold: p95 over all requests (ms)",
    )


@functools.lru_cache(maxsize=8)
def _cached_workload(mix: str, names: int, zipf: float, templates: str) -> Workload:
    return build_workload(mix, names, zipf, templates)


def _number(environment: Environment, dest: str, default: float, flag: str | None = None) -> float:
    value = option(environment, dest)
    try:
        return default if value is None else float(value)
    except ValueError:
        raise ValueError(f"{flag or '--' + dest.replace('_', '-')} is not a number: {value!r}") from None


def workload_for(environment: Environment) -> Workload:
    """Read at spawn time, so values set in the web UI or sent by a master to its workers apply."""
    names = _number(environment, "mcp_names", DEFAULT_NAMES)
    if names != int(names):
        raise ValueError(f"--mcp-names must be a whole number, got {names}")
    return _cached_workload(
        str(option(environment, "mcp_mix") or DEFAULT_MIX),
        int(names),
        _number(environment, "mcp_zipf", DEFAULT_ZIPF),
        str(option(environment, "mcp_templates") or ""),
    )


def pace_for(environment: Environment) -> float:
    pace = _number(environment, "mcp_pace", DEFAULT_PACE)
    if not 0 < pace < float("inf"):
        raise ValueError(f"--mcp-pace must be > 0 calls/s, got {pace}")
    return pace


def pace_plan_for(environment: Environment) -> PacePlan:
    return PacePlan.parse(str(option(environment, "mcp_pace_plan") or ""))


def thresholds_for(environment: Environment) -> Thresholds:
    return Thresholds(
        _number(environment, "mcp_max_fail_ratio", Thresholds.max_fail_ratio),
        _number(environment, P95_DEST, Thresholds.max_p95_ms, "--mcp-max-p95-ms"),
    )


def validate_options(environment: Environment, **_kwargs: object) -> None:
    exit_on_bad_options(
        lambda: (workload_for(environment), pace_for(environment), pace_plan_for(environment)), (ValueError, OSError)
    )


def apply_thresholds(environment: Environment, **_kwargs: object) -> None:
    """Exit 1 when a threshold broke, 0 when all held (failures within the ratio are tolerated by design)."""
    runner = environment.runner
    if runner is None or isinstance(runner, WorkerRunner):
        return  # a worker's stats are partial; its master judges the whole run
    total = environment.stats.total
    headless = bool(getattr(environment.parsed_options, "headless", False))
    totals = Totals(total.num_requests, total.num_failures, float(total.get_response_time_percentile(0.95) or 0))
    problems = broken(totals, thresholds_for(environment), require_requests=headless)
    for problem in problems:
        logger.error("threshold broken: %s", problem)
    if problems:
        environment.process_exit_code = 1
    elif not runner.exceptions:
        logger.info(
            "thresholds held: %d requests, %d failures, p95 %g ms", totals.requests, totals.failures, totals.p95_ms
        )
        environment.process_exit_code = 0


listen(events.init_command_line_parser, add_scenario_options)
listen(events.init, validate_options)
listen(events.quitting, apply_thresholds)


class MixedUser(McpUser):
    """Our server's realistic mix in a closed loop without think time: the saturating user for UI and bursts."""

    wait_time = constant(0)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.workload = workload_for(environment)
        self.rng = random.Random()

    @task
    def call_from_mix(self) -> None:
        target, arguments = self.workload.draw(self.rng)
        self.call_tool(target.tool, arguments, expect_error=target.expect_error)


class SustainedUser(MixedUser):
    """The same mix paced at ``--mcp-pace`` calls/s per user (times ``--mcp-pace-plan``'s multiplier of the moment):
    below saturation, so latency creep stays visible."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        start = _number(environment, "mcp_pace_plan_start", 0.0) or time.time()
        self._pacing = PlannedThroughput(pace_for(environment), pace_plan_for(environment), start)

    def wait_time(self) -> float:
        return self._pacing()

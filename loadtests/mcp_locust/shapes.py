"""``BurstShape``: baseline → 10× spike within seconds → back, repeated for a bounded time.

Locust runs the first shape class it finds in a locustfile, so the shape lives here and only
``loadtests/locustfile_burst.py`` imports it; ``loadtests/locustfile.py`` stays shape-free for the soak runner.
"""

from __future__ import annotations

import logging
import time

from locust import LoadTestShape, events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment

from mcp_locust.burst import BurstPlan, Tick
from mcp_locust.user import listen, option

logger = logging.getLogger(__name__)

_DEFAULTS = BurstPlan()


def add_burst_options(parser: LocustArgumentParser) -> None:
    parser.add_argument("--mcp-burst-base", type=int, default=_DEFAULTS.base_users, help="burst: baseline users")
    parser.add_argument("--mcp-burst-peak", type=int, default=_DEFAULTS.peak_users, help="burst: users in a spike")
    parser.add_argument("--mcp-burst-period", type=float, default=_DEFAULTS.period_s, help="burst: cycle length (s)")
    parser.add_argument("--mcp-burst-spike", type=float, default=_DEFAULTS.spike_s, help="burst: spike length (s)")
    parser.add_argument(
        "--mcp-burst-ramp", type=float, default=_DEFAULTS.ramp_s, help="burst: seconds to move between the levels"
    )
    parser.add_argument("--mcp-burst-cycles", type=int, default=_DEFAULTS.cycles, help="burst: number of cycles")


def plan_for(environment: Environment) -> BurstPlan:
    """``--run-time`` (or the web UI's run time) caps the plan, so a short run ends mid-cycle rather than late."""

    def value(dest: str, default: float) -> float:
        given = option(environment, dest)
        return default if given is None else float(given)

    run_time = option(environment, "run_time")
    return BurstPlan(
        base_users=int(value("mcp_burst_base", _DEFAULTS.base_users)),
        peak_users=int(value("mcp_burst_peak", _DEFAULTS.peak_users)),
        period_s=value("mcp_burst_period", _DEFAULTS.period_s),
        spike_s=value("mcp_burst_spike", _DEFAULTS.spike_s),
        ramp_s=value("mcp_burst_ramp", _DEFAULTS.ramp_s),
        cycles=int(value("mcp_burst_cycles", _DEFAULTS.cycles)),
        run_time_s=float(run_time) if run_time else None,
    )


def validate_burst_options(environment: Environment, **_kwargs: object) -> None:
    try:
        plan = plan_for(environment)
    except ValueError as exc:
        logger.error("bad --mcp-burst-* option: %s", exc)
        raise SystemExit(2) from None
    logger.info(
        "burst plan: %d → %d users, spike %gs every %gs, ramp %gs, %gs in total",
        plan.base_users,
        plan.peak_users,
        plan.spike_s,
        plan.period_s,
        plan.ramp_s,
        plan.total_s,
    )


listen(events.init_command_line_parser, add_burst_options)
listen(events.init, validate_burst_options)


class BurstShape(LoadTestShape):
    # Reads --run-time as a cap; -u and -r are ignored in favour of --mcp-burst-base/--mcp-burst-peak.
    use_common_options = True

    def tick(self) -> Tick | None:
        if self.runner is None:
            return None
        return plan_for(self.runner.environment).tick(time.perf_counter() - float(self.start_time))

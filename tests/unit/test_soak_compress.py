"""``--compress K``: what a night played K times faster changes, decided before anything starts."""

from __future__ import annotations

import pytest

from mcp_locust.pace_plan import PacePlan, PlannedThroughput
from mcp_locust.rude_rates import RUDE_DEFAULTS, scaled_rude_args
from soak.compress import MAX_K, Compression, CompressionError
from soak.context import degradation_windows
from soak.runner import ConfigError, RunConfig, validate_config
from soak.schedule import default_schedule

TWO_HOURS = 7200.0


def _settings(k: float, env: dict[str, str] | None = None) -> dict[str, str]:
    return {o.key: o.value for o in Compression(k).overrides(env or {})}


def test_every_timer_of_the_server_is_k_times_shorter_and_the_upstream_budget_k_times_larger() -> None:
    scaled = _settings(12)
    assert scaled["AUTODOCS_INDEX_TTL"] == "300"
    assert scaled["AUTODOCS_NOT_FOUND_TTL"] == "25"
    assert scaled["AUTODOCS_SESSION_IDLE_TIMEOUT"] == "150"
    assert scaled["AUTODOCS_PRUNE_INTERVAL"] == "300"
    assert scaled["AUTODOCS_CIRCUIT_BREAKER_TIMEOUT"] == "5"
    assert scaled["AUTODOCS_POOL_KEEPALIVE_EXPIRY"] == "2.5"
    assert scaled["AUTODOCS_RATE_LIMIT_RPM"] == str(1200 * 12)


def test_an_operators_own_setting_is_what_gets_scaled() -> None:
    assert _settings(12, {"AUTODOCS_INDEX_TTL": "600"})["AUTODOCS_INDEX_TTL"] == "50"
    assert _settings(12, {"AUTODOCS_RATE_LIMIT_RPM": "60"})["AUTODOCS_RATE_LIMIT_RPM"] == "720"


def test_a_plain_soak_changes_nothing() -> None:
    assert Compression(1).overrides({}) == [] and Compression(1).pace_plan(TWO_HOURS, 1440) == PacePlan()


def test_the_fault_cycles_of_the_whole_night_play_k_times_faster() -> None:
    night = default_schedule(24 * 3600.0)
    played = Compression(12).schedule(TWO_HOURS)
    assert len(played.phases) == len(night.phases) > len(default_schedule(TWO_HOURS).phases)
    for real, fast in zip(night.phases, played.phases, strict=True):
        assert fast.name == real.name and fast.start_s == pytest.approx(real.start_s / 12, abs=1e-3)


def test_the_load_alternates_busy_and_quiet_between_the_comparison_windows_at_k_times_on_average() -> None:
    compression = Compression(12)
    plan = compression.pace_plan(TWO_HOURS, 1440)
    (a0, a1), (b0, b1) = degradation_windows(1440, TWO_HOURS)
    for t in (a0, (a0 + a1) / 2, b0 + 1, b1 - 1):
        assert plan.multiplier_at(t) == 1.0, t
    levels = [plan.multiplier_at(t) for t in range(int(a1) + 1, int(b0))]
    assert set(levels) == {2 - 1 / 12, 1 / 12}
    assert sum(levels) / len(levels) == pytest.approx(1.0, abs=0.01)


def test_a_k_the_runner_cannot_pace_is_refused_with_the_reason() -> None:
    with pytest.raises(CompressionError, match="polite calls/s at its busiest level"):
        Compression(24).check(users=20, pace=2)
    with pytest.raises(CompressionError, match="between 1 and"):
        Compression(MAX_K + 1).check(users=1, pace=1)
    with pytest.raises(ConfigError, match="--short-index-ttl and --compress"):
        validate_config(RunConfig(duration_s=TWO_HOURS, compress=12, short_index_ttl=True))
    with pytest.raises(ConfigError, match="schedule file"):
        validate_config(RunConfig(duration_s=TWO_HOURS, compress=12, faults="night.json"))
    validate_config(RunConfig(duration_s=TWO_HOURS, compress=12))


def test_rude_rates_are_k_times_higher_and_their_periods_k_times_shorter_while_what_one_event_is_stays() -> None:
    args = scaled_rude_args(12)
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["--mcp-abort-per-min"] == f"{RUDE_DEFAULTS['--mcp-abort-per-min'] * 12:g}"
    assert pairs["--mcp-storm-every-s"] == f"{RUDE_DEFAULTS['--mcp-storm-every-s'] / 12:g}"
    assert "--mcp-storm-size" not in pairs and "--mcp-abort-timeout-ms" not in pairs


def test_a_pace_plan_survives_its_text_form_and_bad_text_is_refused() -> None:
    plan = PacePlan(((0.0, 1.0), (30.0, 1.5), (60.5, 0.25)))
    assert PacePlan.parse(plan.to_text()) == plan and PacePlan.parse("") == PacePlan()
    assert plan.multiplier_at(29.9) == 1.0 and plan.multiplier_at(30) == 1.5 and plan.multiplier_at(1e9) == 0.25
    for text in ("5:1", "0:1,0:2", "0:0", "0-1", "0:x"):
        with pytest.raises(ValueError):
            PacePlan.parse(text)


def test_a_planned_throughput_user_waits_out_the_slot_of_the_rate_in_force() -> None:
    clock = [1000.0]
    plan = PacePlan(((0.0, 1.0), (10.0, 4.0)))
    wait = PlannedThroughput(2.0, plan, start_wall=1000.0, clock=lambda: clock[0])
    assert wait() == 0.0  # the first task starts the count
    clock[0] += 0.1
    assert wait() == pytest.approx(0.4)  # 2 calls/s: a 0.5 s slot, 0.1 s of it spent
    clock[0] = 1010.5
    wait()
    clock[0] += 0.05
    assert wait() == pytest.approx(0.075)  # 8 calls/s: a 0.125 s slot, 0.05 s of it spent

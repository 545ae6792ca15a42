"""The launcher's pure parts: argument handling, the Locust command line per mode, run folders, readiness waits."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from mcp_locust.children import Child, StartupError, wait_ready
from mcp_locust.launch import (
    BURST_LOCUSTFILE,
    LOCUSTFILE,
    LocustPlan,
    build_parser,
    fresh_run_dir,
    locust_command,
    parse_seconds,
    plan_from,
    run_id_for,
    server_environment,
)


class SteppedClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def command_for(argv: list[str], tmp_path: Path) -> list[str]:
    args, extra = build_parser().parse_known_args(argv)
    return locust_command(plan_from(args, "http://127.0.0.1:9000", tmp_path, extra), python="py")


def value_after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("1m30s", 90), ("2h", 7200), ("1h1m1s", 3661)])
def test_time_spans_read_like_locusts(text: str, seconds: int) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1d", "-5s", "5 s"])
def test_bad_time_spans_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_seconds(text)


def test_run_ids_name_the_mode_and_the_start_second() -> None:
    assert run_id_for("burst", datetime(2026, 11, 28, 9, 5, 7)) == "burst-20261128-090507"


def test_a_second_run_in_the_same_second_gets_its_own_folder(tmp_path: Path) -> None:
    first = fresh_run_dir(tmp_path / "reports", "burst-1")
    second = fresh_run_dir(tmp_path / "reports", "burst-1")
    assert first.name == "burst-1" and second.name == "burst-1-2"
    assert first.is_dir() and second.is_dir()


def test_burst_runs_the_burst_locustfile_headless_for_the_run_time_with_reports(tmp_path: Path) -> None:
    argv = command_for(["burst", "--run-time", "10s", "--mcp-burst-peak", "8"], tmp_path)
    assert argv[:3] == ["py", "-m", "locust"]
    assert value_after(argv, "-f") == str(BURST_LOCUSTFILE)
    assert value_after(argv, "--run-time") == "10s"
    assert value_after(argv, "--csv") == str(tmp_path / "locust")
    assert value_after(argv, "--html") == str(tmp_path / "report.html")
    assert "--headless" in argv and "--csv-full-history" in argv
    assert value_after(argv, "--mcp-burst-peak") == "8"
    assert "--users" not in argv, "the shape sets the user count"


def test_burst_paces_its_users_unless_told_otherwise(tmp_path: Path) -> None:
    assert value_after(command_for(["burst"], tmp_path), "--mcp-pace") == "10"
    argv = command_for(["burst", "--mcp-pace", "1.5"], tmp_path)
    assert argv.count("--mcp-pace") == 1 and value_after(argv, "--mcp-pace") == "1.5"


def test_ui_binds_the_web_ui_to_loopback_with_the_class_picker_and_no_run_time(tmp_path: Path) -> None:
    argv = command_for(["ui", "--web-port", "18089", "-u", "10"], tmp_path)
    assert value_after(argv, "-f") == str(LOCUSTFILE)
    assert value_after(argv, "--web-host") == "127.0.0.1" and value_after(argv, "--web-port") == "18089"
    assert "--class-picker" in argv and "--headless" not in argv and "--run-time" not in argv
    assert value_after(argv, "--users") == "10"
    assert argv[-1] == "MixedUser"


def test_dist_starts_n_local_workers_on_a_loopback_master_port(tmp_path: Path) -> None:
    argv = command_for(["dist", "--workers", "3", "-t", "5s", "--user-class", "SustainedUser"], tmp_path)
    assert value_after(argv, "--processes") == "3"
    assert value_after(argv, "--master-bind-host") == "127.0.0.1"
    assert value_after(argv, "--master-bind-port") == value_after(argv, "--master-port")
    assert "--headless" in argv and value_after(argv, "--run-time") == "5s"
    assert argv[-1] == "SustainedUser"


def test_dist_with_the_ui_flag_has_no_run_time_bound(tmp_path: Path) -> None:
    argv = command_for(["dist", "--ui"], tmp_path)
    assert "--headless" not in argv and "--run-time" not in argv and "--web-host" in argv


def test_unknown_options_go_to_locust_unchanged(tmp_path: Path) -> None:
    argv = command_for(["dist", "--mcp-mix", "echo=1", "--mcp-max-p95-ms", "0.001"], tmp_path)
    assert argv[-5:-1] == ["--mcp-mix", "echo=1", "--mcp-max-p95-ms", "0.001"]


def test_launcher_options_are_not_abbreviated_into_locust_ones(tmp_path: Path) -> None:
    argv = command_for(["burst", "--run", "5s"], tmp_path)
    assert value_after(argv, "--run-time") == "60s" and argv[-2:] == ["--run", "5s"]


def test_a_bad_run_time_is_rejected_before_anything_starts(tmp_path: Path) -> None:
    args, extra = build_parser().parse_known_args(["burst", "--run-time", "soon"])
    with pytest.raises(ValueError):
        plan_from(args, "http://h", tmp_path, extra)


def test_the_server_points_at_the_mock_caches_in_the_run_folder_and_is_not_rate_limited(tmp_path: Path) -> None:
    env = server_environment({"PATH": "/bin", "AUTODOCS_PYPI_URL": "https://pypi.org/pypi"}, "http://m:1", tmp_path)
    assert env["AUTODOCS_PYPI_URL"] == "http://m:1/pypi"
    assert env["AUTODOCS_CACHE_DIR"] == str(tmp_path / "cache")
    assert int(env["AUTODOCS_RATE_LIMIT_RPM"]) >= 100_000
    assert env["PATH"] == "/bin"


def test_the_plan_keeps_reports_in_the_run_folder(tmp_path: Path) -> None:
    plan = LocustPlan(mode="burst", host="h", run_dir=tmp_path)
    assert plan.csv_prefix == tmp_path / "locust" and plan.html_path == tmp_path / "report.html"


@pytest.fixture
def sleeper() -> Iterator[Child]:
    args = [sys.executable, "-c", "import time; time.sleep(30)"]
    child = Child("sleeper", args, subprocess.Popen(args, start_new_session=True))
    yield child
    child.stop(grace_s=5)


def test_readiness_waits_until_the_probe_answers(sleeper: Child) -> None:
    clock = SteppedClock()
    answers = iter([False, False, True])
    wait_ready(sleeper, "http://x", 10, probe=lambda: next(answers), clock=clock, sleep=clock.advance)
    assert clock() == pytest.approx(0.2)


def test_readiness_gives_up_after_the_timeout(sleeper: Child) -> None:
    clock = SteppedClock()
    with pytest.raises(StartupError, match="not ready"):
        wait_ready(sleeper, "http://x", 1.0, probe=lambda: False, clock=clock, sleep=clock.advance)
    assert clock() == pytest.approx(1.1)


def test_a_stopped_child_is_reaped_and_reports_its_signal(sleeper: Child) -> None:
    assert sleeper.stop(grace_s=5) == -15
    assert not sleeper.running

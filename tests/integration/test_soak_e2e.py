"""``autodocs-soak`` end to end, as an operator runs it: the gate holds on our server, breaks on a leaking one, and a
Ctrl-C leaves no process behind and still a report.

The runs are minutes, not hours, so the trend allowances are scaled to what two minutes can show (see
``SHORT_RUN_THRESHOLDS``): a healthy server still grows while its caches fill, a leaking one grows at ~3 MB/s.
"""

from __future__ import annotations

import csv
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from soak.procs import pid_alive
from soak.schedule import DEFAULT_MODES
from tests.support.processes import VENV_BIN, ManagedProcess, start_process
from tests.support.waiting import eventually

SOAK = str(VENV_BIN / "autodocs-soak")
LEAKY_SERVER = Path(__file__).resolve().parents[1] / "support" / "leaky_server.py"
GATE_TARGETS = Path(__file__).resolve().parents[1] / "support" / "gate_targets.py"

# A 2-minute run cannot resolve the default allowances (1 MB/h of memory, 2 FDs/h); these sit between what a
# healthy server shows in its first minutes (≈250–550 MB/h while the memory cache fills, FDs flat) and what the
# leaky server does at 16 calls/s (≈12 GB/h, ≈57,000 FDs/h). Whole-step counters over a ~80 s trend span cannot
# resolve less than ~45/h, hence the socket and thread allowances.
SHORT_RUN_THRESHOLDS = {
    "memory_growth_mb_per_h": 1500,
    "fd_growth_per_h": 1000,
    "thread_growth_per_h": 300,
    "socket_growth_per_h": 1000,
    "close_wait_growth_per_h": 1000,
}
TREND_CRITERIA = {
    "memory",
    "file descriptors",
    "threads",
    "client sockets",
    "upstream sockets",
    "CLOSE_WAIT sockets",
    "p50 latency creep",
    "p95 latency creep",
    "throughput drop",
    "sessions open",
}


# A 100 s run cannot show a shipped 60 s breaker open and close inside one fault slot, nor a 1-hour index TTL
# expire: these compress the server's clocks for the short end-to-end run only (`make soak` runs them shipped).
SHORT_RUN_SERVER = (
    "--short-index-ttl",
    "--server-env",
    "AUTODOCS_CIRCUIT_BREAKER_TIMEOUT=5",
    "--server-env",
    "AUTODOCS_REQUEST_TIMEOUT=5",
    "--server-env",
    "AUTODOCS_ATTEMPT_TIMEOUT=2",
    "--server-env",
    "AUTODOCS_SHUTDOWN_GRACE=10",
)


def _thresholds(tmp_path: Path) -> Path:
    path = tmp_path / "short-run-thresholds.json"
    path.write_text(json.dumps(SHORT_RUN_THRESHOLDS))
    return path


def _soak(tmp_path: Path, *args: str, name: str = "soak") -> ManagedProcess:
    return start_process([SOAK, *args], tmp_path / f"{name}.log", cwd=tmp_path)


def _finish(proc: ManagedProcess, timeout_s: float) -> int:
    try:
        return proc.popen.wait(timeout=timeout_s)
    finally:
        proc.stop()


def _events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def _verdict(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "verdict.json").read_text())
    return data


def _criteria(verdict: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in verdict["criteria"]}


def _samples(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "samples.csv").open() as handle:
        return list(csv.DictReader(handle))


def _child_pids(run_dir: Path) -> list[int]:
    start = next(e for e in _events(run_dir) if e["kind"] == "run_start")
    return [start[key] for key in ("server_pid", "locust_pid", "mock_pid") if start.get(key)]


@pytest.mark.slow
def test_a_short_soak_of_our_server_under_every_fault_holds(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = _soak(
        tmp_path,
        "run",
        "--duration",
        "100s",
        "--out",
        str(run_dir),
        "--thresholds",
        str(_thresholds(tmp_path)),
        *SHORT_RUN_SERVER,
    )
    code = _finish(proc, timeout_s=200)
    log = proc.log_text()
    assert code == 0, log
    assert "verdict: HELD" in log or "verdict: INCONCLUSIVE" in log, log

    verdict = _verdict(run_dir)
    statuses = _criteria(verdict)
    assert "broken" not in statuses.values(), log
    assert {name for name, status in statuses.items() if status != "held"} <= TREND_CRITERIA, log
    for name in ("run completed", "unexpected failures", "server stayed up", "recovery after faults"):
        assert statuses[name] == "held", log
    assert statuses["clean shutdown"] == "held" and statuses["cache files intact"] == "held", log
    for name in ("report.html", "verdict.json", "rss.png", "run.json", "locust/report.html", "server.log"):
        assert (run_dir / name).is_file(), name

    events = _events(run_dir)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    started = [e["name"] for e in events if e["kind"] == "fault_start"]
    assert started == [p["name"] for p in json.loads((run_dir / "run.json").read_text())["fault_schedule"]]
    assert len(started) == len(DEFAULT_MODES) and kinds.count("fault_end") == len(DEFAULT_MODES)
    shutdown = next(e for e in events if e["kind"] == "shutdown")
    assert shutdown["exit_code"] == 0 and shutdown["cut"] == 0 and shutdown["exit_after_s"] < 11
    scan = next(e for e in events if e["kind"] == "cache_scan")
    assert scan["checked"] > 0 and scan["invalid_files"] == []

    samples = _samples(run_dir)
    assert len(samples) >= 95
    last = samples[-1]
    # The sampler measures 0.5-0.6 % of a core here (notes/soak.md); this run shares two cores with the server,
    # Locust and the mock, so the end-to-end check allows twice the 1 % budget before it calls the cost a regression.
    assert float(last["sampler_cpu_s"]) / float(last["t"]) < 0.02
    assert {s["breaker_state"] for s in samples} >= {"closed", "open"}  # the outage opened the breaker
    assert all(int(s["py_blocks"]) > 10_000 for s in samples[5:])  # our /metrics names the Python heap
    assert all(pid_alive(pid) is False for pid in _child_pids(run_dir))


@pytest.mark.slow
def test_a_short_soak_of_a_leaking_server_breaks_the_memory_and_fd_criteria(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = _soak(
        tmp_path,
        "run",
        "--duration",
        "60s",
        "--out",
        str(run_dir),
        "--thresholds",
        str(_thresholds(tmp_path)),
        "--target-cmd",
        f"{VENV_BIN / 'python'} {LEAKY_SERVER} --port {{port}}",
        "--target-url",
        "http://127.0.0.1:{port}/mcp",
        "--mix",
        "leak=1",
        "--mcp-templates",
        json.dumps({"leak": {"arguments": {"note": "{name}"}}}),
    )
    code = _finish(proc, timeout_s=150)
    log = proc.log_text()
    assert code == 1, log
    assert "verdict: BROKEN" in log, log
    verdict = _verdict(run_dir)
    statuses = _criteria(verdict)
    memory = next(c for c in verdict["criteria"] if c["name"] == "memory")
    # Broken, or held back only by the independent-points guard: a minute of a stepwise RSS can carry fewer than
    # 8 independent points at lag-1 r ~0.8-0.9 even at +12 GB/h (seen on a loaded machine); the guard is
    # calibrated (notes/gate-calibration.md) and stays, so the test accepts it only with the clear growth named.
    assert memory["status"] == "broken" or (
        memory["status"] == "inconclusive" and "independent" in memory["reason"] and "grows" in memory["reason"]
    ), log
    assert statuses["file descriptors"] == "broken", log
    assert statuses["unexpected failures"] == "held", log  # it answered every call: the leak is the only problem
    run = json.loads((run_dir / "run.json").read_text())
    assert run["target"]["kind"] == "external" and run["fault_schedule"] == []
    assert all(pid_alive(pid) is False for pid in _child_pids(run_dir))


@pytest.mark.slow
@pytest.mark.parametrize(("rule", "fails"), [("default", True), ("is-error", False)])
def test_answers_that_say_they_failed_in_the_payload_are_failures_under_the_default_rule(
    tmp_path: Path, rule: str, fails: bool
) -> None:
    run_dir = tmp_path / "run"
    proc = _soak(
        tmp_path,
        "run",
        "--duration",
        "40s",
        "--faults",
        "none",
        "--users",
        "2",
        "--out",
        str(run_dir),
        "--failure-rule",
        rule,
        "--mix",
        "get_package_docs=1",
        "--target-cmd",
        f"{VENV_BIN / 'python'} {GATE_TARGETS} --port {{port}} --kind payload-failure",
        "--target-url",
        "http://127.0.0.1:{port}/mcp",
    )
    code = _finish(proc, timeout_s=150)
    log = proc.log_text()
    verdict = _verdict(run_dir)
    failures = next(c for c in verdict["criteria"] if c["name"] == "unexpected failures")
    load = json.loads((run_dir / "run.json").read_text())["load"]
    assert load["failure_rule"] == rule and verdict["failure_rule"] == load["failure_rule_text"]
    if fails:
        assert code == 1 and failures["status"] == "broken", log
        assert "success: false" in verdict["failure_rule"]
    else:
        assert failures["status"] == "held", log
    failures_csv = (run_dir / "locust" / "locust_failures.csv").read_text()
    assert ("payload: success=false (network_error)" in failures_csv) is fails


@pytest.mark.slow
async def test_ctrl_c_stops_the_run_within_seconds_leaves_no_process_and_still_reports(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = _soak(tmp_path, "run", "--duration", "10m", "--faults", "none", "--out", str(run_dir))
    try:

        def sampled() -> bool:
            path = run_dir / "samples.csv"
            return path.exists() and len(path.read_text().splitlines()) >= 4

        await eventually(sampled, 60, "three samples")
        children = _child_pids(run_dir)
        assert len(children) == 3 and all(pid_alive(pid) for pid in children)
        signalled = time.monotonic()
        proc.signal_leader(signal.SIGINT)
        code = proc.popen.wait(timeout=60)
        took = time.monotonic() - signalled
    finally:
        proc.stop()
    log = proc.log_text()
    assert code in (0, 1), log
    assert "interrupted by SIGINT" in log, log
    assert not [pid for pid in children if pid_alive(pid)], log
    events = _events(run_dir)
    interrupted = next(e for e in events if e["kind"] == "interrupted")
    end = next(e for e in events if e["kind"] == "run_end")
    assert end["reason"] == "interrupted" and end["t"] - interrupted["t"] < 10, events
    assert took < 30, f"took {took:.1f} s including the report"
    assert (run_dir / "report.html").is_file() and (run_dir / "verdict.json").is_file()
    assert _verdict(run_dir)["status"] in ("inconclusive", "broken")
    assert _criteria(_verdict(run_dir))["run completed"] == "inconclusive"


def test_a_target_outside_this_machine_is_refused_before_anything_starts(tmp_path: Path) -> None:
    proc = _soak(
        tmp_path,
        "run",
        "--duration",
        "1m",
        "--out",
        str(tmp_path / "run"),
        "--target-cmd",
        "true",
        "--target-url",
        "http://example.com:8000/mcp",
    )
    assert _finish(proc, timeout_s=60) == 2
    assert "only loopback targets" in proc.log_text()
    assert not (tmp_path / "run").exists()


def test_a_bad_schedule_file_is_refused_with_its_problems_named(tmp_path: Path) -> None:
    schedule = tmp_path / "faults.json"
    schedule.write_text(json.dumps({"phases": [{"name": "x", "start": "50%", "end": "2h", "faults": {"err": 1}}]}))
    proc = _soak(tmp_path, "run", "--duration", "1m", "--out", str(tmp_path / "run"), "--faults", str(schedule))
    assert _finish(proc, timeout_s=60) == 2
    log = proc.log_text()
    assert "phases[0].end: 2h is past the end of the run (1m)" in log, log
    assert "phases[0].faults.err: unknown field" in log, log

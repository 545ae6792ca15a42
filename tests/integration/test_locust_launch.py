"""``python -m mcp_locust.launch``: it starts mock + server + Locust, leaves a report, and leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from mcp_locust.children import wait_ready
from mcp_locust.results import AGGREGATED, read_stats
from tests.support.processes import ManagedProcess, free_port, start_process, start_server

SMALL_BURST = (
    "--mcp-burst-base",
    "1",
    "--mcp-burst-peak",
    "4",
    "--mcp-burst-period",
    "3",
    "--mcp-burst-spike",
    "1",
    "--mcp-burst-ramp",
    "1",
    "--mcp-names",
    "50",
)
START_AND_STOP_MARGIN_S = 40.0


def launch(tmp_path: Path, *args: str) -> ManagedProcess:
    argv = [sys.executable, "-m", "mcp_locust.launch", *args, "--reports-dir", str(tmp_path / "reports")]
    return start_process(argv, tmp_path / "launch.log")


def finish(proc: ManagedProcess, bound_s: float) -> int:
    try:
        return proc.popen.wait(timeout=bound_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"launcher still running after {bound_s}s:\n{proc.log_text()[-3000:]}")
    finally:
        proc.stop()


def run_folder(tmp_path: Path, mode: str) -> Path:
    folders = sorted((tmp_path / "reports").glob(f"{mode}-*"))
    assert len(folders) == 1, folders
    return folders[0]


def started_pids(log: str) -> set[int]:
    return {int(pid) for pid in re.findall(r"\bpid (\d+)", log)}


def assert_all_gone(pids: set[int]) -> None:
    """Each child leads its own process group, so this also covers what they forked (Locust's workers)."""
    survivors = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            group = os.getpgid(process.pid)
        except ProcessLookupError:
            continue
        if (process.pid in pids or group in pids) and process.info["status"] != psutil.STATUS_ZOMBIE:
            survivors.append((process.pid, group))
    assert not survivors, f"processes survived the launcher (pid, group): {survivors}"


@pytest.fixture
def server(tmp_path: Path, mock_url: str) -> Iterator[ManagedProcess]:
    proc = start_server(tmp_path, mock_url)
    try:
        yield proc
    finally:
        proc.stop()


def test_a_burst_run_leaves_csv_and_html_in_its_run_folder_and_passes_its_thresholds(tmp_path: Path) -> None:
    proc = launch(tmp_path, "burst", "--run-time", "6s", *SMALL_BURST)
    code = finish(proc, 6 + START_AND_STOP_MARGIN_S)
    log = proc.log_text()

    assert code == 0, log[-3000:]
    folder = run_folder(tmp_path, "burst")
    assert re.fullmatch(r"burst-\d{8}-\d{6}", folder.name)
    assert (folder / "report.html").stat().st_size > 10_000
    assert (folder / "locust_stats_history.csv").exists() and (folder / "server.log").exists()
    stats = read_stats(folder / "locust")
    assert stats["tools/call get_package_docs"].requests > 0
    assert stats[AGGREGATED].failures == 0
    assert f"report: {folder / 'report.html'}" in log
    assert len(started_pids(log)) == 3
    assert_all_gone(started_pids(log))


def test_an_impossible_threshold_makes_the_launcher_exit_non_zero(tmp_path: Path, server: ManagedProcess) -> None:
    impossible = ("--mcp-max-p95-ms", "0.001")
    proc = launch(tmp_path, "burst", "--run-time", "3s", "--target-url", server.base_url, *impossible, *SMALL_BURST)
    code = finish(proc, 3 + START_AND_STOP_MARGIN_S)

    assert code == 1, proc.log_text()[-3000:]
    assert "threshold broken: p95" in proc.log_text()
    assert not (run_folder(tmp_path, "burst") / "server.log").exists(), "--target-url starts no server"


def test_dist_runs_a_master_with_local_workers_and_merges_their_rows(tmp_path: Path) -> None:
    proc = launch(tmp_path, "dist", "--workers", "2", "-t", "3s", "-u", "4", "-r", "4", "--mcp-names", "50")
    code = finish(proc, 3 + START_AND_STOP_MARGIN_S)
    log = proc.log_text()

    assert code == 0, log[-3000:]
    assert log.count("reported as ready") == 2
    stats = read_stats(run_folder(tmp_path, "dist") / "locust")
    assert stats["initialize"].requests == 4
    assert stats["tools/call get_package_docs"].requests > 0
    assert_all_gone(started_pids(log))


def test_sigterm_to_the_launcher_stops_every_child_and_still_writes_the_report(tmp_path: Path) -> None:
    web_port = free_port()
    proc = launch(tmp_path, "ui", "--web-port", str(web_port))
    try:
        wait_ready(proc, f"http://127.0.0.1:{web_port}/", START_AND_STOP_MARGIN_S)
        pids = started_pids(proc.log_text())
        assert len(pids) == 3
        proc.signal_leader(signal.SIGTERM)
        code = finish(proc, START_AND_STOP_MARGIN_S)
    finally:
        proc.stop()

    assert code == 0, proc.log_text()[-3000:]
    assert (run_folder(tmp_path, "ui") / "report.html").exists()
    assert_all_gone(pids)

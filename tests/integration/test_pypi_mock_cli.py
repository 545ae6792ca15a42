"""The ``pypi-mock`` command: start-up options, the start line, and a clean exit on SIGTERM/SIGINT."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from pypi_mock import admin
from tests.support.processes import VENV_BIN, ManagedProcess, start_mock, start_process

URL_LINE = re.compile(r"^(http://127\.0\.0\.1:\d+)$", re.MULTILINE)
LISTENING_EVENT = re.compile(r'"event": "listening"')


def _wait_for_log(proc: ManagedProcess, pattern: re.Pattern[str], timeout: float = 20.0) -> re.Match[str]:
    """Polls the mock's log (stdout and stderr, written separately) with a bounded deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.search(proc.log_text())
        if found:
            return found
        if proc.popen.poll() is not None:
            pytest.fail(f"pypi-mock exited with {proc.popen.returncode}:\n{proc.log_text()}")
        time.sleep(0.05)
    pytest.fail(f"pypi-mock logged no {pattern.pattern!r} within {timeout}s:\n{proc.log_text()}")


def _wait_for_url(proc: ManagedProcess) -> str:
    """The URL the mock prints once listening."""
    return _wait_for_log(proc, URL_LINE).group(1)


def test_port_zero_picks_a_free_port_and_prints_the_url(tmp_path: Path) -> None:
    proc = start_process([str(VENV_BIN / "pypi-mock"), "--port", "0"], tmp_path / "mock.log")
    try:
        url = _wait_for_url(proc)
        assert urlsplit(url).port != 0
        _wait_for_log(proc, LISTENING_EVENT)
        with httpx2.Client(timeout=5.0, verify=False, trust_env=False) as client:
            assert client.get(f"{url}/pypi/click/json").status_code == 200
    finally:
        proc.stop()


def test_inline_faults_are_in_force_from_the_start(tmp_path: Path) -> None:
    proc = start_mock(tmp_path, "--faults", '{"throttle_rate": 1.0, "retry_after_s": 4}', "--seed", "9")
    try:
        assert admin.get_faults(proc.base_url)["throttle_rate"] == 1.0
        with httpx2.Client(timeout=5.0, verify=False, trust_env=False) as client:
            response = client.get(f"{proc.base_url}/pypi/click/json")
        assert (response.status_code, response.headers["retry-after"]) == (429, "4")
    finally:
        proc.stop()


@pytest.mark.parametrize(
    ("faults", "named"), [('{"error_rate": 3}', "error_rate"), ("[]", "(body)"), ("{oops", "not JSON")]
)
def test_bad_start_faults_exit_2_with_the_reason(faults: str, named: str) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "pypi-mock"), "--port", "0", "--faults", faults],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert named in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_mock_with_exit_0_even_with_a_hung_connection(tmp_path: Path, sig: int) -> None:
    proc = start_mock(tmp_path, "--faults", '{"hang_rate": 1.0}', "--hang-release-s", "60")
    try:
        parts = urlsplit(proc.base_url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10.0) as sock:
            sock.sendall(b"GET /pypi/six/json HTTP/1.1\r\nHost: t\r\n\r\n")
            deadline = time.monotonic() + 5.0
            while admin.get_stats(proc.base_url)["faults"]["hang"] < 1:
                assert time.monotonic() < deadline, "the request never reached the mock"
                time.sleep(0.02)
            started = time.monotonic()
            proc.signal_leader(sig)
            assert proc.popen.wait(timeout=10) == 0
            assert time.monotonic() - started < 5.0
            try:
                assert sock.recv(1024) == b""
            except ConnectionResetError:
                pass  # an aborted connection is just as released
        assert '"event": "stopped"' in proc.log_text()
    finally:
        proc.stop()

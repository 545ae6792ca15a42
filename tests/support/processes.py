"""Start real processes on 127.0.0.1 for integration tests, and always stop them by PID.

Every process gets its own session (process group) so teardown can signal the whole group, and every wait is
bounded. The loopback network guard is injected into Python subprocesses through ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

GUARDED_SITE = Path(__file__).resolve().parent / "guarded_site"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def guarded_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: the network guard on, and the upstream never left at its real-PyPI default."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(GUARDED_SITE), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("AUTODOCS_PYPI_URL", "http://127.0.0.1:9/pypi")
    if extra:
        env.update(extra)
    return env


@dataclass
class ManagedProcess:
    """A child process with its log file; ``stop()`` is idempotent and always reaps it."""

    args: Sequence[str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    base_url: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def send_signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.returncode


def start_process(
    args: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: int | None = subprocess.DEVNULL,
) -> ManagedProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    try:
        popen = subprocess.Popen(
            list(args),
            stdin=stdin,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=guarded_env(env),
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        log.close()
    return ManagedProcess(args=args, popen=popen, log_path=log_path)


def wait_http_ok(proc: ManagedProcess, url: str, timeout: float = 20.0) -> None:
    """Poll ``url`` until it answers 2xx, the process dies, or ``timeout`` passes (then fail with the log)."""
    deadline = time.monotonic() + timeout
    last_error = ""
    with httpx2.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.popen.returncode}:\n{proc.log_text()}")
            try:
                if client.get(url).is_success:
                    return
            except httpx2.HTTPError as exc:
                last_error = repr(exc)
            time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s ({last_error}):\n{proc.log_text()}")


@contextlib.contextmanager
def running(proc: ManagedProcess) -> Iterator[ManagedProcess]:
    try:
        yield proc
    finally:
        proc.stop()


def start_mock(tmp_dir: Path, *extra_args: str) -> ManagedProcess:
    port = free_port()
    proc = start_process(
        [str(VENV_BIN / "pypi-mock"), "--host", "127.0.0.1", "--port", str(port), *extra_args],
        tmp_dir / f"pypi-mock-{port}.log",
    )
    proc.base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(proc, f"{proc.base_url}/_admin/stats")
    except BaseException:
        proc.stop()
        raise
    return proc


def server_env(mock_url: str, cache_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for an ``autodocs-mcp`` child: upstream on the local mock, its own cache, quick retries."""
    env = {
        "AUTODOCS_PYPI_URL": f"{mock_url}/pypi",
        "AUTODOCS_CACHE_DIR": str(cache_dir),
        "AUTODOCS_RATE_LIMIT_RPM": "100000",
        "AUTODOCS_BASE_RETRY_DELAY": "0.05",
        "AUTODOCS_MAX_RETRY_DELAY": "0.5",
        "AUTODOCS_LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


def start_server(tmp_dir: Path, mock_url: str, *extra_args: str, **env: str) -> ManagedProcess:
    """``autodocs-mcp --transport http`` on a free loopback port, ready (``/readyz`` 200) when this returns."""
    port = free_port()
    cache_dir = Path(env.pop("cache_dir", str(tmp_dir / "cache")))
    proc = start_process(
        [
            str(VENV_BIN / "autodocs-mcp"),
            "--transport",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *extra_args,
        ],
        tmp_dir / f"autodocs-mcp-{port}.log",
        env=server_env(mock_url, cache_dir, **env),
    )
    proc.base_url = f"http://127.0.0.1:{port}"
    proc.extra["cache_dir"] = cache_dir
    try:
        wait_http_ok(proc, f"{proc.base_url}/readyz")
    except BaseException:
        proc.stop()
        raise
    return proc

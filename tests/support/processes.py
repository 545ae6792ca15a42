"""Start real processes on 127.0.0.1 for integration tests, and always stop them by PID.

Processes are ``mcp_locust.children`` children (own process group, stopped by PID, reaped), so teardown can signal
the whole group, and every wait is bounded. The loopback network guard is injected into Python subprocesses through
``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mcp_locust.children import Child, free_port, spawn, wait_ready

GUARDED_SITE = Path(__file__).resolve().parent / "guarded_site"
VENV_BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 20.0


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
class ManagedProcess(Child):
    """A child started by a test: where it listens and what the test wants to remember about it."""

    base_url: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def start_process(
    args: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: int | None = subprocess.DEVNULL,
) -> ManagedProcess:
    """Start ``args`` under the network guard, output to ``log_path``; the caller stops it (``stop()`` reaps)."""
    child = spawn(Path(args[0]).name, args, env=guarded_env(env), log_path=log_path, cwd=cwd, stdin=stdin)
    return ManagedProcess(child.name, child.args, child.popen, log_path)


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
        wait_ready(proc, f"{proc.base_url}/_admin/stats", READY_TIMEOUT_S)
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


def shipped_env(mock_url: str, cache_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for an ``autodocs-mcp`` child on its shipped defaults: only the upstream and the cache folder set
    (plus whatever the test names in ``extra``, each to be justified where it is passed)."""
    return {"AUTODOCS_PYPI_URL": f"{mock_url}/pypi", "AUTODOCS_CACHE_DIR": str(cache_dir), **extra}


def start_server(tmp_dir: Path, mock_url: str, *extra_args: str, shipped: bool = False, **env: str) -> ManagedProcess:
    """``autodocs-mcp --transport http`` on a free loopback port, ready (``/readyz`` 200) when this returns.

    ``shipped=True`` runs it on the defaults we ship (``shipped_env``) instead of the suite's quick-retry,
    unlimited-rate test settings (``server_env``).
    """
    port = free_port()
    cache_dir = Path(env.pop("cache_dir", str(tmp_dir / "cache")))
    environment = (shipped_env if shipped else server_env)(mock_url, cache_dir, **env)
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
        env=environment,
    )
    proc.base_url = f"http://127.0.0.1:{port}"
    proc.extra["cache_dir"] = cache_dir
    try:
        wait_ready(proc, f"{proc.base_url}/readyz", READY_TIMEOUT_S)
    except BaseException:
        proc.stop()
        raise
    return proc

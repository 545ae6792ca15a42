"""Side-by-side throughput: warm ``get_package_docs`` against a trivial 5 KB tool on the same server and generator.

``python -m mcp_locust.compare [--users 32] [--seconds 20] [--response-mode json|sse]`` starts the PyPI mock and
``mcp_locust.reference_server`` on free loopback ports, warms the cache, then runs the same headless Locust three
times (warm docs, the trivial tool, cold docs over 200,000 names) and prints calls per second, the warm/trivial
ratio, server CPU per call and the upstream requests per call (zero when warm, one per distinct cold package).
Results also go to ``reports/compare-<id>/compare.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from mcp_locust.children import Child, free_port, spawn, wait_ready
from mcp_locust.launch import LOCUSTFILE, executable, server_environment
from mcp_locust.results import AGGREGATED, read_stats
from pypi_mock.admin import get_stats

PYPI_KINDS = ("project", "version", "not_found")
WARM_NAMES = 50
COLD_NAMES = 200_000


def _pypi_requests(mock_url: str) -> int:
    requests = get_stats(mock_url)["requests"]
    return sum(int(requests.get(kind, 0)) for kind in PYPI_KINDS)


def _locust(host: str, out: Path, name: str, users: int, seconds: int, extra: Sequence[str]) -> Child:
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--host",
        host,
        "--headless",
        "--only-summary",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--csv",
        str(out / name),
        "--mcp-names",
        str(WARM_NAMES),
        "--mcp-max-fail-ratio",
        "0.001",
        *extra,
        "MixedUser",
    ]
    return spawn(f"locust-{name}", argv, env=os.environ, log_path=out / f"{name}.log")


def _phase(
    host: str, out: Path, name: str, users: int, seconds: int, server: psutil.Process, extra: Sequence[str]
) -> dict[str, Any]:
    cpu_before = server.cpu_times()
    locust = _locust(host, out, name, users, seconds, extra)
    code = locust.wait(seconds + 60)
    cpu_after = server.cpu_times()
    if code is None:
        locust.stop()
        raise RuntimeError(f"locust phase {name} did not finish")
    row = read_stats(out / name)[AGGREGATED]
    cpu_s = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    return {
        "phase": name,
        "exit_code": code,
        "requests": row.requests,
        "failures": row.failures,
        "rps": round(row.rps, 1),
        "p50_ms": row.median_ms,
        "p95_ms": row.p95_ms,
        "server_cpu_ms_per_call": round(1000 * cpu_s / max(row.requests, 1), 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcp_locust.compare", description=__doc__)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--response-mode", choices=("json", "sse"), default="json")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    out = args.reports_dir / f"compare-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    children: list[Child] = []
    try:
        mock_port, server_port = free_port(), free_port()
        mock_url = f"http://127.0.0.1:{mock_port}"
        mock = spawn(
            "pypi-mock",
            [executable("pypi-mock"), "--host", "127.0.0.1", "--port", str(mock_port)],
            env=os.environ,
            log_path=out / "mock.log",
        )
        children.append(mock)
        wait_ready(mock, f"{mock_url}/_admin/stats", 30)
        host = f"http://127.0.0.1:{server_port}"
        server = spawn(
            "server",
            [
                sys.executable,
                "-m",
                "mcp_locust.reference_server",
                "--port",
                str(server_port),
                "--response-mode",
                args.response_mode,
            ],
            env=server_environment(os.environ, mock_url, out),
            log_path=out / "server.log",
        )
        children.append(server)
        wait_ready(server, f"{host}/readyz", 30)
        process = psutil.Process(server.pid)
        docs_mix = ["--mcp-mix", "get_package_docs=100"]
        _phase(host, out, "warmup", args.users, 10, process, docs_mix)
        upstream_before = _pypi_requests(mock_url)
        docs = _phase(host, out, "docs", args.users, args.seconds, process, docs_mix)
        docs["upstream_requests"] = _pypi_requests(mock_url) - upstream_before
        trivial = _phase(
            host,
            out,
            "trivial",
            args.users,
            args.seconds,
            process,
            ["--mcp-mix", "fixed_5k=100", "--mcp-templates", json.dumps({"fixed_5k": {"arguments": {}}})],
        )
        upstream_before = _pypi_requests(mock_url)
        cold = _phase(
            host,
            out,
            "cold",
            args.users,
            args.seconds,
            process,
            [*docs_mix, "--mcp-names", str(COLD_NAMES), "--mcp-zipf", "0"],
        )
        cold["upstream_requests"] = _pypi_requests(mock_url) - upstream_before
        cold["upstream_requests_per_call"] = round(cold["upstream_requests"] / max(cold["requests"], 1), 3)
        result = {
            "measured_at": datetime.now(UTC).isoformat(),
            "users": args.users,
            "seconds": args.seconds,
            "response_mode": args.response_mode,
            "docs": docs,
            "trivial": trivial,
            "cold": cold,
            "ratio": round(docs["rps"] / trivial["rps"], 3) if trivial["rps"] else None,
        }
        (out / "compare.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        print(f"warm get_package_docs = {result['ratio']:.0%} of the trivial tool's calls/s ({out}/compare.json)")
        return 0
    finally:
        for child in reversed(children):
            child.stop()


if __name__ == "__main__":
    sys.exit(main())

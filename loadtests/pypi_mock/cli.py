"""``pypi-mock``: serve the mock until SIGTERM or SIGINT, then close every connection and exit 0."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from pypi_mock.cache import ResponseCache
from pypi_mock.connection import Limits
from pypi_mock.faults import FaultPlan, FaultValidationError
from pypi_mock.server import MockServer
from pypi_mock.state import MockState


def _log(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, "logger": "pypi-mock", **fields}), file=sys.stderr, flush=True)


def _faults_argument(value: str) -> FaultPlan:
    """``--faults '{"error_rate": 0.1}'`` or ``--faults @faults.json``."""
    try:
        raw = Path(value[1:]).read_text() if value.startswith("@") else value
        return FaultPlan.from_dict(json.loads(raw))
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {value[1:]}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    except FaultValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _non_negative(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pypi-mock", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--faults", type=_faults_argument, default=FaultPlan(), help="JSON object or @file.json")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault-decision RNG")
    parser.add_argument("--hang-release-s", type=_non_negative, default=60.0, help="close hung connections after")
    parser.add_argument("--slow-body-s", type=_non_negative, default=20.0, help="how long a trickled body takes")
    parser.add_argument("--idle-timeout-s", type=_non_negative, default=120.0, help="close idle keep-alives after")
    parser.add_argument("--cache-entries", type=int, default=2048, help="bound of the response LRU")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stdlib asyncio loop")
    return parser


async def serve(options: argparse.Namespace, loop_name: str) -> int:
    state = MockState(seed=options.seed, plan=options.faults, cache=ResponseCache(max(1, options.cache_entries)))
    limits = Limits(hang_release_s=options.hang_release_s, slow_body_s=options.slow_body_s)
    server = MockServer(state, limits, idle_timeout_s=options.idle_timeout_s)
    try:
        port = await server.start(options.host, options.port)
    except OSError as exc:
        _log("start_failed", host=options.host, port=options.port, error=str(exc))
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host = f"[{options.host}]" if ":" in options.host else options.host
    url = f"http://{host}:{port}"
    print(url, flush=True)
    _log("listening", url=url, loop=loop_name, seed=options.seed, faults=state.plan.to_dict())
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        open_connections = len(server.connections)
        await server.close()
        _log("stopped", url=url, closed_connections=open_connections)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if not options.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(serve(options, "uvloop"))
    return asyncio.run(serve(options, "asyncio"))


if __name__ == "__main__":
    sys.exit(main())

"""MCP servers that leak one resource each, and healthy ones that only look as if they might, for the soak gate.

A gate is worth its verdict only if it tells a leaking server from a healthy one, so it needs both kinds with known
behaviour. Each kind below is a plain ``mcp`` server whose one tool, ``get_package_docs``, answers a small dict (so
the soak's ``--mix get_package_docs=1`` works) while one thing grows, or rises and falls, at a known rate:

- ``healthy-cache``: a bounded LRU answer cache (``--rate`` entries, default 1,000; ~30 KB each) keyed by package
  name. It fills as new names arrive and then plateaus: the soak draws 500 Zipf-weighted names, so it is full of
  them within minutes. Growth that stops is not a leak.
- ``healthy-transient``: holds 40 MB (``--rate`` MB) of touched memory from 30 % to 50 % of the planned run
  (``--run-seconds``, counted from process start), then gives it back to the OS. A bump that returns is not a
  leak. The memory is anonymous ``mmap`` regions (1 MB each, every page written), so the release is a ``munmap``
  the OS sees at once, whatever glibc's dynamic mmap threshold has become.
- ``fd-leak``: opens ``os.devnull`` and keeps it, ``--rate`` per hour (default 180: one every 20 s).
- ``thread-leak``: starts a daemon thread that blocks forever, ``--rate`` per hour (default 120: one every 30 s).
- ``socket-leak``: opens a TCP connection to the sink on ``--sink-port`` and keeps it, never reading or closing,
  ``--rate`` per hour (default 360: one every 10 s).
- ``memory-leak``: keeps ``--rate`` MB per hour (default 60) of fresh bytes in one-second steps, plus a ±2 MB
  sawtooth (an extra 0–4 MB region that fills over 20 s and is then unmapped), like a garbage collector's: the
  gate must see the trend through the noise.
- ``call-leak``: keeps ``--rate`` KB (default 4) of fresh bytes per call: growth with traffic, not with uptime (a
  compressed night must attribute it to calls, and ``memory-leak`` to hours).
- ``latency-leak``: each call first sleeps ``--rate`` ms (default 5) per minute of uptime: slower and slower.
- ``payload-failure``: answers ``--rate`` of its calls (default all) ``{"success": false, "error": {...}}`` without
  ``isError``, as the public ``autodoc-mcp`` does when its upstream fails: a failed call must still count as one.

The background leaks run on timer threads from process start; the cache and the latency act per call. The sink
(``python tests/support/gate_targets.py --sink --port S``) accepts connections and holds them unread, so the leaked
sockets stay ESTABLISHED. Everything binds to 127.0.0.1. The server is plain uvicorn: on SIGTERM it drains for up
to 3 s and exits by re-raising the signal (status -15), the convention the gate must accept.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import mmap
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Final

import uvicorn
from mcp.server.mcpserver import MCPServer

HOST: Final = "127.0.0.1"
MB: Final = 1 << 20
STARTED: Final = time.monotonic()  # "process start": module import, within a second or two of exec

DEFAULT_RATES: Final = {
    "healthy-cache": 1000.0,  # entries the LRU holds
    "healthy-transient": 40.0,  # MB held from 30 % to 50 % of the run
    "fd-leak": 180.0,  # files per hour
    "thread-leak": 120.0,  # threads per hour
    "socket-leak": 360.0,  # connections per hour
    "memory-leak": 60.0,  # MB per hour
    "latency-leak": 5.0,  # ms of delay per minute of uptime
    "call-leak": 4.0,  # KB kept per call
    "payload-failure": 1.0,  # share of calls answered {"success": false, "error": {...}} without isError
}
COUNT_LEAKS: Final = frozenset({"fd-leak", "thread-leak", "socket-leak"})  # rate per hour, so one every 3600/rate s
CACHE_VALUE_BYTES: Final = 30 * 1024
TRANSIENT_WINDOW: Final = (0.3, 0.5)
SAWTOOTH_BYTES: Final = 4 * MB
SAWTOOTH_STEPS: Final = 20  # one step a second


def uptime_s() -> float:
    return time.monotonic() - STARTED


def touched_region(size: int) -> mmap.mmap:
    """An anonymous mapping with every page written, so it counts in RSS until it is closed (unmapped)."""
    region = mmap.mmap(-1, size)
    region.write(os.urandom(size))
    return region


@dataclass
class Hoard:
    """Everything the leaks keep, referenced here so that nothing is ever closed or collected by accident."""

    files: list[IO[bytes]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)
    blocks: list[bytes] = field(default_factory=list)
    cache: collections.OrderedDict[str, bytes] = field(default_factory=collections.OrderedDict)
    sawtooth: mmap.mmap | None = None
    sawtooth_steps: int = 0
    answered: int = 0

    def calls_failed(self, share: float) -> bool:
        """Whether this call is one of the ``share`` that fail: every 1/share-th call, deterministically."""
        self.answered += 1
        return share > 0 and int(self.answered * share) > int((self.answered - 1) * share)


def every(interval_s: float, action: Callable[[], None], name: str) -> None:
    """Run ``action`` every ``interval_s`` seconds from now on, in a daemon thread; a failed step is reported."""

    def loop() -> None:
        ticker = threading.Event()  # never set: its timed wait is the period
        while not ticker.wait(interval_s):
            try:
                action()
            except OSError as exc:  # e.g. the sink is not up yet, or the descriptor limit is reached
                print(f"gate target: {name} step failed: {exc}", file=sys.stderr, flush=True)

    threading.Thread(target=loop, name=name, daemon=True).start()


def start_leak(kind: str, rate: float, hoard: Hoard, run_seconds: float | None, sink_port: int | None) -> None:
    """Start the background part of ``kind`` (the per-call kinds have none)."""
    per_hour_interval = 3600.0 / rate if kind in COUNT_LEAKS else 0.0
    if kind == "fd-leak":
        every(per_hour_interval, lambda: hoard.files.append(open(os.devnull, "rb")), "fd-leak")  # kept open, on purpose
    elif kind == "thread-leak":

        def one_thread() -> None:
            thread = threading.Thread(target=threading.Event().wait, name=f"leaked-{len(hoard.threads)}", daemon=True)
            thread.start()
            hoard.threads.append(thread)

        every(per_hour_interval, one_thread, "thread-leak")
    elif kind == "socket-leak":
        assert sink_port is not None
        every(
            per_hour_interval,
            lambda: hoard.sockets.append(socket.create_connection((HOST, sink_port), timeout=5)),
            "socket-leak",
        )
    elif kind == "memory-leak":
        step_bytes = int(rate * MB / 3600)

        def grow() -> None:
            hoard.blocks.append(os.urandom(step_bytes))  # random: every page of it really touched
            if hoard.sawtooth is None:
                hoard.sawtooth, hoard.sawtooth_steps = mmap.mmap(-1, SAWTOOTH_BYTES), 0
            hoard.sawtooth.write(os.urandom(SAWTOOTH_BYTES // SAWTOOTH_STEPS))
            hoard.sawtooth_steps += 1
            if hoard.sawtooth_steps >= SAWTOOTH_STEPS:
                hoard.sawtooth.close()  # the drop of the sawtooth: unmapped, back to the OS at once
                hoard.sawtooth = None

        every(1.0, grow, "memory-leak")
    elif kind == "healthy-transient":
        assert run_seconds is not None
        threading.Thread(
            target=hold_transient, args=(int(rate * MB), run_seconds), name="transient", daemon=True
        ).start()


def hold_transient(size: int, run_seconds: float) -> None:
    """Hold ``size`` touched bytes from 30 % to 50 % of the run, in 1 MB regions, then unmap them all."""
    clock = threading.Event()  # never set: its timed waits reach the two instants
    start, end = (share * run_seconds for share in TRANSIENT_WINDOW)
    clock.wait(max(0.0, start - uptime_s()))
    held = [touched_region(MB) for _ in range(max(1, size // MB))]
    print(f"gate target: holding {len(held)} MB at {uptime_s():.0f} s", file=sys.stderr, flush=True)
    clock.wait(max(0.0, end - uptime_s()))
    for region in held:
        region.close()
    held.clear()
    gc.collect()
    print(f"gate target: released them at {uptime_s():.0f} s", file=sys.stderr, flush=True)


def build_server(kind: str, rate: float, hoard: Hoard) -> MCPServer:
    server = MCPServer(f"gate-target-{kind}")

    @server.tool()
    async def get_package_docs(
        package_name: str, version_constraint: str | None = None, query: str | None = None
    ) -> dict[str, Any]:
        """Documentation of a package (a stand-in: the gate judges the server's resources, not its answers)."""
        if kind == "latency-leak":
            await asyncio.sleep(rate * uptime_s() / 60.0 / 1000.0)
        elif kind == "call-leak":
            hoard.blocks.append(os.urandom(int(rate * 1024)))  # random: every page of it really touched
        elif kind == "healthy-cache":
            value = hoard.cache.get(package_name)
            if value is None:
                value = hoard.cache[package_name] = os.urandom(CACHE_VALUE_BYTES)
                while len(hoard.cache) > rate:
                    hoard.cache.popitem(last=False)
            else:
                hoard.cache.move_to_end(package_name)
        elif kind == "payload-failure" and hoard.calls_failed(rate):
            return {"success": False, "error": {"code": "network_error", "message": "Resource not found"}}
        return {
            "success": True,
            "package": package_name,
            "version": version_constraint or "latest",
            "docs": f"# {package_name}\n\nSynthetic documentation" + (f" about {query}" if query else "") + ".",
        }

    return server


def run_sink(port: int) -> None:
    """Accept connections on ``port`` and hold them, unread, until killed."""
    listener = socket.create_server((HOST, port), backlog=128)
    held: list[socket.socket] = []
    print(f"gate target sink: listening on {HOST}:{port}", file=sys.stderr, flush=True)
    while True:
        conn, _ = listener.accept()
        held.append(conn)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True, help="port to listen on (127.0.0.1)")
    parser.add_argument("--kind", choices=sorted(DEFAULT_RATES), help="what the server does (see above)")
    parser.add_argument("--rate", type=float, help="the kind's rate in its own unit (see above)")
    parser.add_argument("--run-seconds", type=float, help="planned run length (healthy-transient)")
    parser.add_argument("--sink-port", type=int, help="the sink's port (socket-leak)")
    parser.add_argument("--sink", action="store_true", help="be the connection sink instead of a server")
    args = parser.parse_args(argv)
    if args.sink:
        run_sink(args.port)
        return
    if args.kind is None:
        parser.error("--kind is required (or --sink)")
    if args.kind == "healthy-transient" and (args.run_seconds is None or args.run_seconds <= 0):
        parser.error("healthy-transient needs --run-seconds (the planned run length)")
    if args.kind == "socket-leak" and args.sink_port is None:
        parser.error("socket-leak needs --sink-port (start one with --sink --port S)")
    rate = DEFAULT_RATES[args.kind] if args.rate is None else args.rate
    if rate < 0 or (rate == 0 and args.kind in COUNT_LEAKS):
        parser.error(f"--rate must be {'positive' if args.kind in COUNT_LEAKS else 'zero or more'} for {args.kind}")
    hoard = Hoard()
    print(f"gate target: {args.kind} at rate {rate:g} on {HOST}:{args.port}", file=sys.stderr, flush=True)
    start_leak(args.kind, rate, hoard, args.run_seconds, args.sink_port)
    app = build_server(args.kind, rate, hoard).streamable_http_app(json_response=True, host=HOST)
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning", timeout_graceful_shutdown=3)


if __name__ == "__main__":
    main()

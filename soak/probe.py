"""The newcomer probe: every 30 s a client nobody here wrote (the official ``mcp`` SDK's) connects afresh and asks.

The soak's own load keeps its sessions and connections, so it cannot see the failure that locks out everyone else:
a session table full of abandoned sessions, a listen queue that no longer drains, a handshake that hangs. A new
client, started from nothing each time, can: it opens a new connection, initialises a new session, lists the
tools, calls one if asked, and closes the session, all inside one time bound. Each try becomes one line of
``probe.jsonl``; the gate's "newcomer" criterion reads them (``soak.newcomer``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

PROBE_JSONL: Final = "probe.jsonl"
PROBE_INTERVAL_S: Final = 30.0
PROBE_TIMEOUT_S: Final = 10.0
"""One try's bound, handshake to close; a third of the interval, so tries never overlap."""
REASON_MAX_CHARS: Final = 200


@dataclass(frozen=True)
class ProbeResult:
    """One newcomer's try: ``ok`` when every step answered within the bound; ``step`` names where it stopped."""

    t: float
    ok: bool
    seconds: float
    step: str
    reason: str = ""


@dataclass(frozen=True)
class ProbeTarget:
    url: str
    headers: Mapping[str, str]
    tool: str | None = None
    """Called with ``arguments`` after tools/list when set (our server: a documentation lookup)."""
    arguments: Mapping[str, Any] | None = None


async def _steps(target: ProbeTarget, step: list[str]) -> None:
    async with (
        httpx2.AsyncClient(headers=dict(target.headers), timeout=PROBE_TIMEOUT_S) as http,
        streamable_http_client(target.url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        step[0] = "initialize"
        await session.initialize()
        step[0] = "tools/list"
        await session.list_tools()
        if target.tool is not None:
            step[0] = f"tools/call {target.tool}"
            # A tool's own error (isError) is still an answer: the probe asks whether a newcomer is served at all.
            await session.call_tool(target.tool, dict(target.arguments or {}))
        step[0] = "close"


async def probe_once(target: ProbeTarget, t: float) -> ProbeResult:
    """One newcomer, start to finish, never longer than ``PROBE_TIMEOUT_S``."""
    step = ["connect"]
    started = time.monotonic()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await _steps(target, step)
    except TimeoutError:
        return ProbeResult(t, False, time.monotonic() - started, step[0], f"no answer within {PROBE_TIMEOUT_S:g} s")
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"[:REASON_MAX_CHARS]
        return ProbeResult(t, False, time.monotonic() - started, step[0], reason)
    return ProbeResult(t, True, time.monotonic() - started, "done")


def read_probes(path: Path, warnings: list[str]) -> tuple[ProbeResult, ...]:
    """``probe.jsonl`` as written by ``NewcomerProbe``; unreadable lines are skipped and counted in ``warnings``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ()
    results: list[ProbeResult] = []
    skipped = 0
    for line in text.splitlines():
        try:
            raw = json.loads(line)
            results.append(
                ProbeResult(
                    float(raw["t"]),
                    bool(raw["ok"]),
                    float(raw["seconds"]),
                    str(raw["step"]),
                    str(raw.get("reason", "")),
                )
            )
        except (ValueError, KeyError, TypeError):
            skipped += line.strip() != ""
    if skipped:
        warnings.append(f"{path.name}: skipped {skipped} unreadable line(s)")
    return tuple(results)


class NewcomerProbe:
    """A daemon thread that runs ``probe_once`` every ``interval_s`` until stopped, appending to ``probe.jsonl``."""

    def __init__(
        self,
        target: ProbeTarget,
        path: Path,
        clock: Callable[[], float],
        interval_s: float = PROBE_INTERVAL_S,
    ) -> None:
        self.target = target
        self.path = path
        self.clock = clock
        self.interval_s = interval_s
        self.results = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="newcomer-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = PROBE_TIMEOUT_S + 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            while not self._stop.wait(self.interval_s):
                result = asyncio.run(probe_once(self.target, self.clock()))
                self.results += 1
                self.failures += 0 if result.ok else 1
                out.write(json.dumps(asdict(result), separators=(",", ":")) + "\n")
                out.flush()

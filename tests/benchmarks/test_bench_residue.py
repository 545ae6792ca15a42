"""Per-event residue: Python blocks a real server keeps per 1,000 events of one kind, measured on a repeat.

Each event kind runs against a fresh real server process (and the real PyPI mock): one pass to warm every cache
and pool the kind touches, then two measured passes of ``EVENTS`` (10,000) events. Between passes the server
collects garbage and counts its live blocks (``POST /debug/heap``), so the difference is what the pass left
behind, not garbage awaiting collection. A kind that leaks leaves the same residue on every repeat; a kind that
fills a bounded structure leaves it on the first pass only. The figures (blocks per 1,000 events on each measured
pass) go into the benchmark JSON's ``extra_info``; the bound is issue 15's, on the second measured pass.

Runs with ``make bench`` (``--benchmark-only``) or ``pytest -m residue``, not in ``make test``: about ten minutes.
Passes of 10,000 events, because a count after a collection still moves by ~±120 blocks between passes: at 2,000
events that was ±60 per 1,000, above the bound it checks. Settings
differ from the shipped ones only where a kind needs it, each with its reason beside it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from mcp_locust.children import wait_until
from pypi_mock.admin import set_faults
from tests.reliability.harness import (
    MCP_HEADERS,
    PROTOCOL_VERSION,
    McpHttp,
    call_body,
    initialize_body,
    send_and_close,
)
from tests.support.processes import ManagedProcess, start_server
from tests.support.serverstats import heap_blocks, metrics, no_request_open

pytestmark = pytest.mark.residue

EVENTS = 10_000
RESIDUE_BOUND = 50
"""Blocks per 1,000 events allowed on the second measured pass (issue 15)."""
NAMES = [f"residue-{i:03d}" for i in range(50)]
"""A fixed set, so a kind that caches by name fills its caches on the warm-up pass and not after."""
WARM_NAME = "requests"
LIFTED_RATE = {"AUTODOCS_RATE_LIMIT_RPM": "1000000"}
"""The upstream limiter is measured on its own; at the shipped 1,200 a minute it would only stretch these passes."""


@dataclass
class Kind:
    name: str
    event: Callable[[str, int], None]
    """``event(base_url, i)``: one event of the kind."""
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[str, str], None] | None = None
    """``prepare(base_url, mock_url)`` before the warm-up pass (faults on, for instance)."""
    settle: Callable[[str], None] | None = None
    """``settle(base_url)`` after each pass, before the count: wait for what the kind leaves to be reclaimed."""


_SESSIONS: dict[tuple[str, int], McpHttp] = {}
"""Raw MCP sessions per server and slot, for the kinds whose events share them; closed in the fixture's teardown."""


def shared_session(base_url: str, slot: int = 0) -> McpHttp:
    if (base_url, slot) not in _SESSIONS:
        _SESSIONS[base_url, slot] = McpHttp(base_url).open()
    return _SESSIONS[base_url, slot]


def close_sessions() -> None:
    for client in _SESSIONS.values():
        client.close()
    _SESSIONS.clear()


def warm_call(base_url: str, _i: int) -> None:
    reply = shared_session(base_url).call("get_package_docs", {"package_name": WARM_NAME})
    assert reply.code == "ok", reply


def cold_call(base_url: str, i: int) -> None:
    reply = shared_session(base_url).call("get_package_docs", {"package_name": NAMES[i % len(NAMES)]})
    assert reply.code == "ok", reply


def failed_call(base_url: str, i: int) -> None:
    reply = shared_session(base_url).call("get_package_docs", {"package_name": NAMES[i % len(NAMES)]})
    assert reply.code not in ("ok", None), reply


_abort_ids = itertools.count(10_000_000)


ABORT_SESSIONS = 16
ABORT_MAX_OPEN = 256
ABORT_CHECK_EVERY = 32
"""Aborted calls take turns over ``ABORT_SESSIONS`` sessions, and every ``ABORT_CHECK_EVERY`` events the sender
waits until the server holds fewer than ``ABORT_MAX_OPEN`` requests open (16 per session on average, a quarter of
``AUTODOCS_MAX_REQUESTS_PER_SESSION``). An aborted call runs on in the server after its client left, and the server
drains them slower than a loop can send them: 10,000 back to back on one session, then on 16, had 8,812 of a pass
refused 429 at the session's bound, so the row measured refusals. ``in_flight_done`` checks none was refused."""


def aborted_call(base_url: str, i: int) -> None:
    """A tools/call sent on a connection of its own, which the client closes before the answer comes."""
    if i % ABORT_CHECK_EVERY == 0:
        wait_until(lambda: metrics(base_url)["requests_open"] < ABORT_MAX_OPEN, 60.0, "aborted calls draining")
    session = shared_session(base_url, i % ABORT_SESSIONS)
    # a fresh id every time, as a real client's are: state kept per request id must show on every pass
    body = call_body(next(_abort_ids), "get_package_docs", {"package_name": WARM_NAME})
    send_and_close(base_url, session.session_id, body)


def session_opened_and_closed(base_url: str, _i: int) -> None:
    McpHttp(base_url).open().close()


_ids = itertools.count(1)


def session_abandoned(base_url: str, _i: int) -> None:
    with httpx2.Client(headers=MCP_HEADERS, timeout=30, trust_env=False) as http:
        opened = http.post(f"{base_url}/mcp", json=initialize_body(next(_ids)))
        assert opened.status_code == 200, opened.text[:200]
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": PROTOCOL_VERSION}
        done = http.post(
            f"{base_url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
        )
        assert done.status_code == 202


def idle_sessions_reaped(base_url: str) -> None:
    """Wait (bounded) until only the shared session is open: the reaper has taken every abandoned one."""
    expected = sum(1 for url, _slot in _SESSIONS if url == base_url)
    wait_until(lambda: metrics(base_url)["sessions_open"] <= expected, 60.0, "idle sessions reaped")


def in_flight_done(base_url: str) -> None:
    """Aborted calls run on in the server after their client left, and some still wait for the session's
    dispatcher when none is in flight (``requests_open`` counts those); count once both are zero."""
    wait_until(lambda: no_request_open(base_url), 30.0, "aborted calls done")
    refused = metrics(base_url)["requests_refused_total"]
    assert refused == 0, f"{refused} aborted calls were refused at the session's bound: the pass measured refusals"


LIMITER_WINDOW_S = 60.0
"""The rate limiter's window (requests a minute): a request is remembered that long, and forgotten on the next
acquire after it."""


def limiter_window_passed(event: Callable[[str, int], None]) -> Callable[[str], None]:
    """Settle for kinds that reach upstream: wait out the limiter's window from the pass's end (a clock-defined
    expiry, so the wait is for time itself, bounded), then one event, whose acquire forgets the pass's requests."""

    def settle(base_url: str) -> None:
        ended = time.monotonic()
        wait_until(lambda: time.monotonic() - ended > LIMITER_WINDOW_S + 1.0, 90.0, "the limiter's window")
        event(base_url, 0)
        tracked: int = metrics(base_url)["upstream"]["limiter"]["tracked"]
        assert tracked <= MAX_REQUESTS_PER_EVENT, f"{tracked} requests still remembered after the window passed"

    return settle


MAX_REQUESTS_PER_EVENT = 10
"""A docs call asks upstream for the project index and a release or two; never more than this."""


def failing_upstream(_base_url: str, mock_url: str) -> None:
    set_faults(mock_url, {"error_rate": 1.0, "error_status": 503})


KINDS = [
    Kind("warm call", warm_call),
    # A zero index TTL sends every call upstream for the same 50 names, so the cold path runs without the caches
    # growing by a name per call.
    Kind(
        "cold call",
        cold_call,
        env={"AUTODOCS_INDEX_TTL": "0", **LIFTED_RATE},
        settle=limiter_window_passed(cold_call),
    ),
    # Every attempt answered 503; one attempt per call, and a breaker that never opens, so every call takes the
    # failing path through the pool rather than the breaker's short cut.
    Kind(
        "failed upstream call",
        failed_call,
        env={"AUTODOCS_MAX_RETRY_ATTEMPTS": "1", "AUTODOCS_CIRCUIT_BREAKER_THRESHOLD": "1000", **LIFTED_RATE},
        prepare=failing_upstream,
        settle=limiter_window_passed(failed_call),
    ),
    Kind("aborted client call", aborted_call, settle=in_flight_done),
    Kind("session opened and closed", session_opened_and_closed),
    # Sessions reaped one second after their last request, so a pass's abandoned sessions are gone before the count.
    Kind(
        "session abandoned and reaped",
        session_abandoned,
        env={"AUTODOCS_SESSION_IDLE_TIMEOUT": "1"},
        settle=idle_sessions_reaped,
    ),
]


def run_events(server: ManagedProcess, kind: Kind) -> None:
    for i in range(EVENTS):
        kind.event(server.base_url, i)


def count_after(server: ManagedProcess, kind: Kind) -> int:
    """The live blocks once what the pass leaves for later (reaping, the limiter's window) has been reclaimed."""
    if kind.settle is not None:
        kind.settle(server.base_url)
    return heap_blocks(server.base_url)


def run_pass(server: ManagedProcess, kind: Kind) -> int:
    run_events(server, kind)
    return count_after(server, kind)


@pytest.fixture
def fresh_server(tmp_path: Path, mock_url: str, kind: Kind) -> Iterator[ManagedProcess]:
    set_faults(mock_url, {})
    server = start_server(tmp_path, mock_url, shipped=True, **kind.env)
    try:
        if kind.prepare is not None:
            kind.prepare(server.base_url, mock_url)
        yield server
    finally:
        close_sessions()
        set_faults(mock_url, {})
        server.stop()


@pytest.mark.timeout(1200)  # three passes of 10,000 events, and a minute's wait per pass for some kinds
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_bench_blocks_left_behind_per_thousand_events(
    benchmark: BenchmarkFixture, fresh_server: ManagedProcess, kind: Kind
) -> None:
    before = run_pass(fresh_server, kind)  # the warm-up pass: caches, pools and interned names fill here
    first = run_pass(fresh_server, kind)
    # Only the events are timed, so a failure while settling still leaves the benchmark a round to report.
    started = time.perf_counter()
    benchmark.pedantic(run_events, args=(fresh_server, kind), rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    elapsed = time.perf_counter() - started
    second = count_after(fresh_server, kind)
    per_first = (first - before) * 1000 / EVENTS
    per_second = (second - first) * 1000 / EVENTS
    benchmark.extra_info.update(
        {
            "kind": kind.name,
            "events_per_pass": EVENTS,
            "blocks_after_warmup": before,
            "blocks_per_1000_first_pass": per_first,
            "blocks_per_1000_second_pass": per_second,
            "second_pass_s": round(elapsed, 2),
            "bound_per_1000": RESIDUE_BOUND,
        }
    )
    print(f"\n{kind.name}: {per_first:+.1f} then {per_second:+.1f} blocks per 1,000 events ({EVENTS:,} a pass)")
    assert per_second <= RESIDUE_BOUND, f"{kind.name}: {per_second:+.0f} blocks per 1,000 (first pass {per_first:+.0f})"

"""The rude clients of ``mcp_locust.rude`` in headless Locust (a subprocess: it gevent-patches its process) against
the real PyPI mock and the real server on its shipped defaults, beside one polite ``SustainedUser``.

A counting TCP relay sits between Locust and the server, so the test sees what the server is sent: one new connection
per aborted call. Every process is stopped by PID in teardown; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_locust.results import AGGREGATED
from tests.support.locust_runs import EXIT_MARGIN_S, run_locust
from tests.support.processes import ManagedProcess
from tests.support.serverstats import metrics

RUDE_CLASSES = ("NeverClosingUser", "AbortingUser", "ReconnectStormUser", "SessionPerCallUser", "CurrentRevisionUser")
RUN_S = 20
ABORTED = "rude: aborted call"
ANSWERED_FIRST = "rude: aborted call (answered first)"
EXPECTED_ROWS = (
    "rude: never-close initialize",
    "rude: never-close notifications/initialized",
    "rude: never-close tools/call",
    ABORTED,
    "rude: abort initialize",
    "rude: storm initialize",
    "rude: storm notifications/initialized",
    "rude: storm tools/call",
    "rude: session-per-call initialize",
    "rude: session-per-call notifications/initialized",
    "rude: session-per-call tools/call",
    "rude: session-per-call DELETE session",
    "rude: 2026-07-28 server/discover",
    "rude: 2026-07-28 tools/call",
    "rude: 2026-07-28 tools/list",
)
"""Every row the five classes fill in 20 s at the raised rates. Not listed: ``ANSWERED_FIRST`` (only when a call beat
the abort timeout, rare), ``rude: abort session re-init`` (only after a 404) and ``rude: abort DELETE session`` (sent
from ``on_stop``, which Locust's shutdown may cut short, as it may the polite user's DELETE)."""


class CountingRelay:
    """A loopback TCP relay to ``upstream_port`` that counts the connections it accepted.

    Either side closing (or failing) ends both, so a client that drops its connection drops the server's too.
    """

    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="relay", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        client.settimeout(None)
        try:
            upstream = socket.create_connection(self._upstream, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        for side in (client, upstream):  # forward each write as it comes, or Nagle adds delayed-ACK waits
            side.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        self._pump(client, upstream)
        back.join(timeout=10)
        client.close()
        upstream.close()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for side in (source, sink):  # wakes the other direction's recv, which then ends too
                with contextlib.suppress(OSError):
                    side.shutdown(socket.SHUT_RDWR)


def users_option(classes: tuple[str, ...]) -> tuple[str, ...]:
    """One Locust user per class (each rude class is ``fixed_count = 1``), all spawned at once."""
    return ("-u", str(len(classes)), "-r", str(len(classes)))


@pytest.fixture
def relay(shipped_server: ManagedProcess) -> Iterator[CountingRelay]:
    port = int(shipped_server.base_url.rsplit(":", 1)[1])
    proxy = CountingRelay(port)
    try:
        yield proxy
    finally:
        proxy.close()


def test_rude_clients_beside_a_polite_user_fail_nothing_and_leave_open_only_the_sessions_they_abandon(
    tmp_path: Path, shipped_server: ManagedProcess, relay: CountingRelay
) -> None:
    started = time.monotonic()
    classes = ("SustainedUser", *RUDE_CLASSES)
    run = run_locust(
        tmp_path,
        relay.url,
        classes,
        RUN_S,
        *users_option(classes),
        "--mcp-pace",
        "2",
        "--mcp-names",
        "20",
        "--mcp-never-close-per-min",
        "60",
        "--mcp-abort-per-min",
        "120",
        "--mcp-storm-every-s",
        "4",
        "--mcp-storm-size",
        "10",
        "--mcp-session-per-call-per-min",
        "60",
        "--mcp-current-revision-per-min",
        "120",
    )
    snapshot = metrics(shipped_server.base_url)

    assert time.monotonic() - started < RUN_S + EXIT_MARGIN_S
    for name in EXPECTED_ROWS:
        assert run.row(name).requests > 0, name
    failed = {name: run.reasons(name) for name, row in run.stats.items() if name != AGGREGATED and row.failures}
    assert not failed, "only intended behaviour happened, so no row (rude or polite) has a failure"
    assert run.row("tools/call get_package_docs").requests > 10, "the polite user went on calling beside them"
    assert run.code == 0, run.log[-3000:]

    aborts = run.row(ABORTED).requests + (run.stats[ANSWERED_FIRST].requests if ANSWERED_FIRST in run.stats else 0)
    assert aborts >= 20
    assert relay.accepted >= aborts, "every aborted call came to the server on a connection of its own"

    abandoned = run.row("rude: never-close initialize").requests + run.row("rude: storm initialize").requests
    assert run.row("rude: storm initialize").requests >= 2 * 10, "at least two storms of 10 in 20 s"
    # the polite, aborting and session-per-call users DELETE theirs, the first two at stop, which Locust's shutdown
    # may cut short: one session each is the slack
    assert abandoned <= snapshot["sessions_open"] <= abandoned + 3, snapshot
    assert snapshot["sessions_refused_total"] == 0 and snapshot["sessions_evicted_total"] == 0, snapshot


def test_rude_classes_at_rate_zero_only_sleep_and_send_nothing(tmp_path: Path) -> None:
    run = run_locust(
        tmp_path,
        "http://127.0.0.1:9",  # nothing listens: any request would show up as a failed row
        RUDE_CLASSES,
        3,
        *users_option(RUDE_CLASSES),
        "--mcp-never-close-per-min",
        "0",
        "--mcp-abort-per-min",
        "0",
        "--mcp-storm-size",
        "0",
        "--mcp-session-per-call-per-min",
        "0",
        "--mcp-current-revision-per-min",
        "0",
    )

    spawned = re.search(r"All users spawned: (\{.*?\})", run.log)
    assert spawned is not None, run.log[-3000:]
    assert json.loads(spawned.group(1)) == dict.fromkeys(RUDE_CLASSES, 1), "one user per class, as fixed_count says"
    assert set(run.stats) == {AGGREGATED} and run.stats[AGGREGATED].requests == 0
    assert run.code == 1 and "threshold broken" in run.log, "a headless run without requests breaks the threshold"

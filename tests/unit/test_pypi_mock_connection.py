"""The HTTP/1.1 connection logic, driven through a fake transport: no sockets, no event-loop I/O."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httptools
import pytest

from pypi_mock import data
from pypi_mock.connection import HttpConnection, Limits
from pypi_mock.faults import FaultPlan
from pypi_mock.server import MockServer
from pypi_mock.state import MockState


class FakeTransport:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed = False
        self.eof_written = False
        self.reading = True
        self.changed = asyncio.Event()

    def write(self, chunk: bytes | memoryview) -> None:
        assert not self.closed and not self.eof_written, "write after close"
        self.chunks.append(bytes(chunk))
        self.changed.set()

    def close(self) -> None:
        self.closed = True
        self.changed.set()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def run_until(self, loop: asyncio.AbstractEventLoop, done: Callable[[], bool], timeout: float = 5.0) -> None:
        """Run the loop (for the connection's timers and tasks) until ``done()``, bounded by ``timeout``."""

        async def wait() -> None:
            while not done():
                self.changed.clear()
                await self.changed.wait()

        loop.run_until_complete(asyncio.wait_for(wait(), timeout))

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _ResponseCollector:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.replies.append(Reply(0))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.replies[-1].headers[name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.replies[-1].status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.replies[-1].body += body


def parse(raw: bytes, *, head_only: bool = False) -> list[Reply]:
    if head_only:
        blocks = [b for b in raw.split(b"\r\n\r\n") if b]
        replies = []
        for block in blocks:
            status_line, *lines = block.decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
            replies.append(Reply(int(status_line.split()[1]), headers))
        return replies
    collector = _ResponseCollector()
    collector.parser.feed_data(raw)
    return collector.replies


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


def connect(
    loop: asyncio.AbstractEventLoop, limits: Limits | None = None, state: MockState | None = None
) -> tuple[HttpConnection, FakeTransport]:
    server = MockServer(state or MockState(), limits, loop=loop)
    connection = HttpConnection(server)
    transport = FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


def test_a_warm_request_is_answered_with_the_cached_body(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    connection.data_received(get("/pypi/fastapi/json"))
    (reply,) = parse(transport.take())
    assert reply.status == 200
    assert reply.body == data.project_json("fastapi")
    assert reply.headers["content-type"] == "application/json"
    assert not transport.closed


def test_pipelined_requests_in_one_read_are_answered_in_order(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    connection.data_received(get("/pypi/six/json") + get("/pypi/missing-x/json") + get("/pypi/six/1.16.0/json"))
    replies = parse(transport.take())
    assert [r.status for r in replies] == [200, 404, 200]
    assert json.loads(replies[2].body)["info"]["version"] == "1.16.0"


def test_a_request_split_across_many_reads_is_reassembled(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    raw = get("/pypi/idna/json") + get("/pypi/idna/json")
    for i in range(len(raw)):
        connection.data_received(raw[i : i + 1])
    replies = parse(transport.take())
    assert [r.status for r in replies] == [200, 200]
    assert replies[0].body == replies[1].body == data.project_json("idna")


def test_connection_close_is_honoured_after_the_response(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    connection.data_received(get("/pypi/six/json", "Connection: close\r\n") + get("/pypi/six/json"))
    replies = parse(transport.take())
    assert len(replies) == 1
    assert replies[0].headers["connection"] == "close"
    assert transport.closed


def test_http_1_0_without_keep_alive_gets_one_answer_then_close(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    connection.data_received(b"GET /pypi/six/json HTTP/1.0\r\n\r\n")
    (reply,) = parse(transport.take())
    assert reply.status == 200
    assert transport.closed


def test_head_sends_the_headers_of_the_get_without_a_body(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    connection.data_received(b"HEAD /pypi/six/json HTTP/1.1\r\nHost: t\r\n\r\n")
    raw = transport.take()
    assert raw.endswith(b"\r\n\r\n")
    (reply,) = parse(raw, head_only=True)
    assert int(reply.headers["content-length"]) == len(data.project_json("six") or b"")


def test_other_methods_on_pypi_routes_get_405_with_allow(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    connection.data_received(b"DELETE /pypi/six/json HTTP/1.1\r\nHost: t\r\n\r\n")
    (reply,) = parse(transport.take())
    assert reply.status == 405
    assert reply.headers["allow"] == "GET, HEAD"


def test_garbage_gets_400_and_the_connection_closes(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    connection.data_received(get("/pypi/six/json") + b"NOT HTTP AT ALL\r\n\r\n")
    replies = parse(transport.take())
    assert [r.status for r in replies] == [200, 400]
    assert transport.eof_written
    connection.data_received(get("/pypi/six/json"))
    assert transport.take() == b"", "nothing is answered after a parse error"
    assert connection.eof_received() is False, "the client's FIN completes the close"


def test_headers_beyond_the_cap_get_431_and_close(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop, Limits(max_head_bytes=1024))
    connection.data_received(get("/pypi/six/json", f"X-Big: {'a' * 2000}\r\n"))
    (reply,) = parse(transport.take())
    assert reply.status == 431
    assert transport.eof_written


def test_a_body_beyond_the_cap_gets_413_and_close(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop, Limits(max_body_bytes=100))
    connection.data_received(b"POST /_admin/faults HTTP/1.1\r\nContent-Length: 500\r\n\r\n" + b"{" * 500)
    (reply,) = parse(transport.take())
    assert reply.status == 413
    assert transport.eof_written


def test_after_an_error_a_client_that_never_closes_is_closed_after_the_linger(
    loop: asyncio.AbstractEventLoop,
) -> None:
    connection, transport = connect(loop, Limits(error_linger_s=0.01))
    connection.data_received(b"BROKEN\r\n\r\n")
    assert transport.eof_written and not transport.closed
    transport.run_until(loop, lambda: transport.closed)


def test_admin_requests_are_answered_with_json(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    body = b'{"error_rate": 0.5}'
    connection.data_received(
        b"POST /_admin/faults HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        + get("/_admin/faults")
        + get("/_admin/nope")
        + b"PUT /_admin/stats HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
    )
    replies = parse(transport.take())
    assert [r.status for r in replies] == [200, 200, 404, 405]
    assert all(r.headers["content-type"] == "application/json" for r in replies)
    assert json.loads(replies[1].body)["error_rate"] == 0.5


def test_unknown_paths_are_404_and_counted_as_not_found(loop: asyncio.AbstractEventLoop) -> None:
    state = MockState()
    connection, transport = connect(loop, state=state)
    connection.data_received(get("/simple/six/") + get("/pypi/six/json/extra/json"))
    assert [r.status for r in parse(transport.take())] == [404, 404]
    assert state.stats.requests["not_found"] == 2


def test_a_full_write_buffer_stops_answering_and_reading_until_drained(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    connection.pause_writing()
    assert not transport.reading
    connection.data_received(get("/pypi/six/json") * 3)
    assert transport.take() == b""
    connection.resume_writing()
    assert [r.status for r in parse(transport.take())] == [200, 200, 200]
    assert transport.reading


def test_a_deep_pipeline_behind_a_slow_answer_pauses_reading_until_it_drains(
    loop: asyncio.AbstractEventLoop,
) -> None:
    state = MockState(plan=FaultPlan.from_dict({"latency_ms": 1}))
    connection, transport = connect(loop, Limits(max_pipeline=4), state)
    connection.data_received(get("/pypi/six/json") * 10)
    assert not transport.reading
    transport.run_until(loop, lambda: len(parse(b"".join(transport.chunks))) == 10)
    assert [r.status for r in parse(transport.take())] == [200] * 10
    assert transport.reading


def test_half_close_after_a_request_still_gets_the_answer(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = connect(loop)
    connection.pause_writing()
    connection.data_received(get("/pypi/six/json"))
    assert connection.eof_received() is True
    connection.resume_writing()
    assert [r.status for r in parse(transport.take())] == [200]
    assert transport.closed


def test_a_lost_connection_is_forgotten_and_uncounted(loop: asyncio.AbstractEventLoop) -> None:
    state = MockState()
    connection, _ = connect(loop, state=state)
    stats = state.stats
    assert stats.connections_open == 1
    connection.connection_lost(None)
    assert stats.connections_open == 0
    assert stats.connections_max == 1


def test_a_client_that_gives_up_on_a_hung_request_is_released_at_once(loop: asyncio.AbstractEventLoop) -> None:
    state = MockState(plan=FaultPlan.from_dict({"hang_rate": 1.0}))
    connection, transport = connect(loop, Limits(hang_release_s=60), state)
    connection.data_received(get("/pypi/six/json"))
    loop.run_until_complete(asyncio.sleep(0))  # one loop turn: the hang task starts waiting
    assert connection.busy
    assert connection.eof_received() is False, "returning False lets the transport close now"
    connection.connection_lost(None)
    loop.run_until_complete(asyncio.sleep(0))  # one loop turn: the cancelled task finishes
    assert state.stats.connections_open == 0
    assert transport.take() == b""


def test_a_half_closed_client_still_gets_a_delayed_answer(loop: asyncio.AbstractEventLoop) -> None:
    state = MockState(plan=FaultPlan.from_dict({"latency_ms": 1}))
    connection, transport = connect(loop, state=state)
    connection.data_received(get("/pypi/six/json"))
    assert connection.eof_received() is True
    transport.run_until(loop, lambda: transport.closed)
    assert [r.status for r in parse(transport.take())] == [200]


def test_idle_sweeping_closes_quiet_connections_but_not_busy_ones(loop: asyncio.AbstractEventLoop) -> None:
    state = MockState(plan=FaultPlan.from_dict({"hang_rate": 1.0, "match": "hang-*"}))
    server = MockServer(state, Limits(hang_release_s=60), idle_timeout_s=0.0, loop=loop)
    quiet, hung = HttpConnection(server), HttpConnection(server)
    quiet_transport, hung_transport = FakeTransport(), FakeTransport()
    quiet.connection_made(quiet_transport)  # type: ignore[arg-type]
    hung.connection_made(hung_transport)  # type: ignore[arg-type]
    quiet.data_received(get("/pypi/six/json"))
    hung.data_received(get("/pypi/hang-me/json"))
    assert server.close_idle() == 1
    assert quiet_transport.closed
    assert not hung_transport.closed
    hung.connection_lost(None)
    loop.run_until_complete(asyncio.sleep(0))  # one loop turn: the cancelled hang task finishes


def test_an_upgrade_offer_is_declined_by_answering_over_http_1_1_and_closing(
    loop: asyncio.AbstractEventLoop,
) -> None:
    connection, transport = connect(loop)
    connection.data_received(get("/pypi/six/json", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"))
    replies = parse(transport.take())
    assert [r.status for r in replies] == [200]
    assert transport.closed

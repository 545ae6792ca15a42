from __future__ import annotations

import json

import pytest

from pypi_mock import data, router, wire
from pypi_mock.cache import ResponseCache


def test_targets_route_to_project_version_or_not_found_with_the_normalised_name() -> None:
    assert (router.build(b"/pypi/Flask/json").kind, router.build(b"/pypi/Flask/json").name) == ("project", "flask")
    assert router.build(b"/pypi/flask/3.1.0/json").kind == "version"
    assert router.build(b"/pypi/flask/0.0.1/json").kind == "not_found"
    assert router.build(b"/pypi/missing-x/json").name == "missing-x"
    assert router.build(b"/pypi/flask/3.1.0/extra/json").kind == "not_found"


def test_query_strings_are_ignored_and_escapes_decoded() -> None:
    entry = router.build(b"/pypi/typing%5Fextensions/json?cache=no")
    assert entry.kind == "project"
    assert entry.data[entry.head_len :] == data.project_json("typing-extensions")


def test_lookups_are_served_from_the_cache_after_the_first() -> None:
    cache = ResponseCache()
    first = router.lookup(cache, b"/pypi/six/json")
    assert router.lookup(cache, b"/pypi/six/json") is first
    assert (cache.hits, cache.misses) == (1, 1)


def test_a_response_head_declares_the_body_length() -> None:
    body = b'{"a":1}'
    buffer, head_len = wire.response(200, body, extra=[("X-Test", "1")])
    head = buffer[:head_len].decode()
    assert head.startswith("HTTP/1.1 200 OK\r\n")
    assert "Content-Length: 7\r\n" in head and "X-Test: 1\r\n" in head
    assert head.endswith("\r\n\r\n")
    assert buffer[head_len:] == body


def test_a_connection_header_is_added_without_touching_the_body() -> None:
    buffer, head_len = wire.response(200, b"xyz")
    head, body = wire.with_connection_header(buffer, head_len, b"close")
    assert head.endswith(b"Connection: close\r\n\r\n")
    assert bytes(body) == b"xyz"


@pytest.mark.parametrize("size", [0, 5, 14, 15, 300_000, 1_000_001])
def test_the_oversize_body_has_exactly_the_requested_size(size: int) -> None:
    body = b"".join(bytes(piece) for piece in wire.oversize_body(size))
    assert len(body) == size
    if size >= 14:
        assert set(json.loads(body)) == {"padding"}


def test_the_oversize_body_is_built_from_one_reused_chunk() -> None:
    pieces = [piece for piece in wire.oversize_body(3_000_000) if isinstance(piece, memoryview)]
    assert len({id(piece.obj) for piece in pieces}) == 1

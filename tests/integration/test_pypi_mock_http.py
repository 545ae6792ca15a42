"""The mock over real HTTP: response shape, names, 404s, methods, keep-alive, pipelining and stats."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httptools
import httpx2
import pytest

from pypi_mock import admin, data


@pytest.fixture
def client(mock_url: str) -> Iterator[httpx2.Client]:
    # Plain HTTP on loopback: skip the CA bundle load and any proxy variables.
    with httpx2.Client(base_url=mock_url, timeout=5.0, verify=False, trust_env=False) as http:
        yield http


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


class _Responses:
    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.bodies: list[bytes] = []
        self.complete = 0
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.bodies.append(b"")

    def on_headers_complete(self) -> None:
        self.statuses.append(self.parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        self.bodies[-1] += body

    def on_message_complete(self) -> None:
        self.complete += 1


def raw_exchange(base_url: str, chunks: list[bytes], expect: int, *, then_eof: bool = False) -> _Responses:
    """Send ``chunks`` as separate writes on one socket and read ``expect`` responses (and EOF if asked).

    Every read is bounded by the socket timeout, so a mock that never answers or never closes fails the test.
    """
    responses = _Responses()
    with socket.create_connection(_address(base_url), timeout=5.0) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for chunk in chunks:
            sock.sendall(chunk)
        while responses.complete < expect:
            received = sock.recv(65536)
            assert received, f"connection closed after {responses.complete} of {expect} responses"
            responses.parser.feed_data(received)
        if then_eof:
            assert sock.recv(65536) == b"", "expected the mock to close the connection"
    return responses


def test_project_endpoint_serves_the_builder_bytes_with_the_pypi_shape(client: httpx2.Client) -> None:
    response = client.get("/pypi/fastapi/json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == data.project_json("fastapi")
    document = response.json()
    assert {"info", "releases", "urls", "last_serial", "vulnerabilities"} == set(document)
    assert document["info"]["name"] == "fastapi"
    assert any("starlette" in line for line in document["info"]["requires_dist"])
    assert response.headers["x-pypi-last-serial"] == str(document["last_serial"])


def test_version_endpoint_serves_that_release_and_marks_a_yanked_one(client: httpx2.Client) -> None:
    project = data.build_project("fastapi")
    assert project is not None
    yanked = next(iter(project.yanked))
    document = client.get(f"/pypi/fastapi/{yanked}/json").json()
    assert document["info"]["version"] == yanked
    assert document["info"]["yanked"] is True
    assert "releases" not in document
    assert all(f["yanked"] for f in document["urls"])
    prerelease = client.get(f"/pypi/fastapi/{list(project.releases)[-1]}/json")
    assert prerelease.status_code == 200


@pytest.mark.parametrize("spelling", ["Typing_Extensions", "typing.extensions", "TYPING--EXTENSIONS"])
def test_every_spelling_of_a_name_gets_the_normalised_project(client: httpx2.Client, spelling: str) -> None:
    assert client.get(f"/pypi/{spelling}/json").content == data.project_json("typing-extensions")


@pytest.mark.parametrize(
    "path",
    [
        "/pypi/fastapi/99.99.99/json",
        "/pypi/missing-anything/json",
        "/pypi/Missing_Anything/1.0/json",
        "/pypi/-bad-/json",
        "/pypi/has%20space/json",
        "/pypi/fastapi",
        "/simple/fastapi/",
    ],
)
def test_unknown_projects_versions_and_paths_answer_404_like_pypi(client: httpx2.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get_and_head_are_allowed_on_pypi_routes(client: httpx2.Client, method: str) -> None:
    response = client.request(method, "/pypi/fastapi/json")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_head_answers_the_get_headers_without_a_body(client: httpx2.Client) -> None:
    response = client.head("/pypi/flask/json")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len(data.project_json("flask") or b"")


def test_one_client_reuses_one_keep_alive_connection(mock_url: str, client: httpx2.Client) -> None:
    before = admin.get_stats(mock_url)["connections"]["total"]
    for name in ("six", "pytz", "idna", "six", "certifi"):
        assert client.get(f"/pypi/{name}/json").status_code == 200
    after = admin.get_stats(mock_url)["connections"]["total"]
    # our client's one connection, plus the one get_stats call that reads the counter.
    assert after - before == 2


def test_pipelined_requests_on_one_socket_are_answered_in_order(mock_url: str) -> None:
    requests = [f"GET /pypi/{name}/json HTTP/1.1\r\nHost: t\r\n\r\n".encode() for name in ("six", "missing-a", "h11")]
    responses = raw_exchange(mock_url, [b"".join(requests)], expect=3)
    assert responses.statuses == [200, 404, 200]
    assert responses.bodies[2] == data.project_json("h11")


def test_a_request_sent_in_pieces_is_answered_once_complete(mock_url: str) -> None:
    raw = b"GET /pypi/six/json HTTP/1.1\r\nHost: t\r\n\r\n"
    responses = raw_exchange(mock_url, [raw[:7], raw[7:20], raw[20:]], expect=1)
    assert responses.statuses == [200]


def test_connection_close_closes_after_the_answer(mock_url: str) -> None:
    raw = b"GET /pypi/six/json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    assert raw_exchange(mock_url, [raw], expect=1, then_eof=True).statuses == [200]


def test_a_malformed_request_gets_400_and_a_closed_connection(mock_url: str) -> None:
    garbage = b"\x16\x03\x01 definitely not http\r\n\r\n"
    assert raw_exchange(mock_url, [garbage], expect=1, then_eof=True).statuses == [400]


def test_oversized_request_headers_get_431(mock_url: str) -> None:
    raw = b"GET /pypi/six/json HTTP/1.1\r\nHost: t\r\nX-Junk: " + b"a" * 70_000 + b"\r\n\r\n"
    assert raw_exchange(mock_url, [raw], expect=1, then_eof=True).statuses == [431]


def test_admin_answers_are_always_json(client: httpx2.Client) -> None:
    for response in (
        client.get("/_admin/faults"),
        client.get("/_admin/stats"),
        client.get("/_admin/unknown"),
        client.delete("/_admin/faults"),
        client.post("/_admin/faults", content=b"{not json"),
    ):
        assert response.headers["content-type"] == "application/json"
        json.loads(response.content)


def test_stats_count_requests_by_kind(mock_url: str, client: httpx2.Client) -> None:
    admin.reset_stats(mock_url)
    client.get("/pypi/six/json")
    client.get("/pypi/six/json")
    client.get("/pypi/six/1.16.0/json")
    client.get("/pypi/missing-six/json")
    client.put("/pypi/six/json")
    stats = admin.get_stats(mock_url)
    assert stats["requests"] == {"project": 2, "version": 1, "not_found": 1, "admin": 1, "other": 1}
    assert stats["requests_total"] == 6
    assert stats["connections"]["open"] >= 1
    assert stats["connections"]["max"] >= stats["connections"]["open"]

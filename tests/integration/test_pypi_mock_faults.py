"""Every fault mode, observed by a real httpx2 client against a real mock process on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from pypi_mock import admin, data
from pypi_mock.admin import FaultsRejectedError
from tests.support.processes import ManagedProcess, start_mock

RELEASE_S = 1.0
SLOW_BODY_S = 1.0


@pytest.fixture(scope="module")
def quick_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """A mock that releases hung connections and finishes trickles within about a second."""
    proc = start_mock(
        tmp_path_factory.mktemp("quick-mock"),
        "--hang-release-s",
        str(RELEASE_S),
        "--slow-body-s",
        str(SLOW_BODY_S),
    )
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def quick_url(quick_mock: ManagedProcess) -> Iterator[str]:
    admin.set_faults(quick_mock.base_url, {})
    yield quick_mock.base_url
    admin.set_faults(quick_mock.base_url, {})


def _client(base_url: str, timeout: float = 5.0) -> httpx2.Client:
    return httpx2.Client(base_url=base_url, timeout=timeout, verify=False, trust_env=False)


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` (a cheap HTTP read) until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def _open_connections(base_url: str) -> int:
    """Open connections, not counting the one this stats call itself uses."""
    count: int = admin.get_stats(base_url)["connections"]["open"]
    return count - 1


def test_error_rate_answers_the_configured_status_with_retry_after(mock_url: str) -> None:
    admin.set_faults(mock_url, {"error_rate": 1.0})
    with _client(mock_url) as client:
        response = client.get("/pypi/fastapi/json")
        assert response.status_code == 503
        assert "retry-after" not in response.headers
        admin.set_faults(mock_url, {"error_rate": 1.0, "error_status": 502, "retry_after_s": 7})
        response = client.get("/pypi/fastapi/json")
        assert response.status_code == 502
        assert response.headers["retry-after"] == "7"


def test_throttle_answers_429_with_retry_after_defaulting_to_one_second(mock_url: str) -> None:
    admin.set_faults(mock_url, {"throttle_rate": 1.0})
    with _client(mock_url) as client:
        response = client.get("/pypi/fastapi/json")
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        admin.set_faults(mock_url, {"throttle_rate": 1.0, "retry_after_s": 3})
        assert client.get("/pypi/fastapi/json").headers["retry-after"] == "3"


def test_malformed_answers_200_with_a_body_that_is_not_json(mock_url: str) -> None:
    admin.set_faults(mock_url, {"malformed_rate": 1.0})
    with _client(mock_url) as client:
        response = client.get("/pypi/fastapi/json")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_reset_makes_the_client_see_a_connection_error(mock_url: str) -> None:
    admin.set_faults(mock_url, {"reset_rate": 1.0})
    with _client(mock_url) as client, pytest.raises(httpx2.TransportError) as caught:
        client.get("/pypi/fastapi/json")
    assert not isinstance(caught.value, httpx2.TimeoutException)
    assert admin.get_stats(mock_url)["faults"]["reset"] >= 1


def test_latency_delays_the_answer_by_at_least_the_configured_time(mock_url: str) -> None:
    admin.set_faults(mock_url, {"latency_ms": 300, "latency_jitter_ms": 50})
    with _client(mock_url) as client:
        started = time.monotonic()
        response = client.get("/pypi/six/json")
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.content == data.project_json("six")
    assert 0.3 <= elapsed < 3.0


def test_oversize_streams_tens_of_megabytes_that_the_client_can_stop_reading(mock_url: str) -> None:
    admin.set_faults(mock_url, {"oversize_rate": 1.0})
    received = 0
    with _client(mock_url) as client, client.stream("GET", "/pypi/fastapi/json") as response:
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == 20_000_000
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > 10_000_000:
                break
    assert received > 10_000_000


def test_oversize_bytes_sets_the_size_of_a_body_that_is_json_if_read_whole(mock_url: str) -> None:
    admin.set_faults(mock_url, {"oversize_rate": 1.0, "oversize_bytes": 1_000_000})
    with _client(mock_url) as client:
        response = client.get("/pypi/six/json")
        assert len(response.content) == 1_000_000
        assert set(response.json()) == {"padding"}
        admin.set_faults(mock_url, {})
        assert client.get("/pypi/six/json").content == data.project_json("six"), "connection stays usable"


def test_slow_body_sends_headers_at_once_and_the_real_body_slowly(quick_url: str) -> None:
    admin.set_faults(quick_url, {"slow_body_rate": 1.0})
    with _client(quick_url) as client:
        started = time.monotonic()
        with client.stream("GET", "/pypi/six/json") as response:
            headers_after = time.monotonic() - started
            body = response.read()
        total = time.monotonic() - started
    assert body == data.project_json("six")
    assert headers_after < SLOW_BODY_S / 2
    assert total >= SLOW_BODY_S * 0.8


def test_hang_times_the_client_out_and_the_mock_releases_the_connection(quick_url: str) -> None:
    admin.set_faults(quick_url, {"hang_rate": 1.0})
    with _client(quick_url, timeout=0.3) as client, pytest.raises(httpx2.ReadTimeout):
        client.get("/pypi/fastapi/json")
    _wait_for(lambda: _open_connections(quick_url) == 0, 5.0, "the timed-out client's connection to close")
    parts = urlsplit(quick_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=RELEASE_S * 5) as sock:
        sock.sendall(b"GET /pypi/fastapi/json HTTP/1.1\r\nHost: t\r\n\r\n")
        _wait_for(lambda: _open_connections(quick_url) == 1, 5.0, "the hung connection to be counted")
        started = time.monotonic()
        assert sock.recv(1024) == b"", "a hung request is never answered, only released"
        released_after = time.monotonic() - started
        _wait_for(lambda: _open_connections(quick_url) == 0, 5.0, "connections-open to drop")
    assert RELEASE_S * 0.5 <= released_after < RELEASE_S * 4
    assert admin.get_stats(quick_url)["faults"]["hang"] >= 2


def test_match_limits_faults_to_matching_normalised_names(mock_url: str) -> None:
    admin.set_faults(mock_url, {"error_rate": 1.0, "match": "pydantic*"})
    with _client(mock_url) as client:
        assert client.get("/pypi/Pydantic_Core/json").status_code == 503
        assert client.get("/pypi/pydantic/json").status_code == 503
        assert client.get("/pypi/fastapi/json").status_code == 200
        assert client.get("/pypi/my-pydantic/json").status_code == 200


def test_faults_never_touch_admin_routes(mock_url: str) -> None:
    admin.set_faults(mock_url, {"reset_rate": 1.0})
    assert admin.get_faults(mock_url)["reset_rate"] == 1.0
    assert "requests" in admin.get_stats(mock_url)


def test_stats_count_injected_faults_by_kind(mock_url: str) -> None:
    admin.reset_stats(mock_url)
    with _client(mock_url) as client:
        admin.set_faults(mock_url, {"error_rate": 1.0, "latency_ms": 1})
        for _ in range(3):
            client.get("/pypi/six/json")
        admin.set_faults(mock_url, {"throttle_rate": 1.0})
        client.get("/pypi/six/1.16.0/json")
        admin.set_faults(mock_url, {})
        client.get("/pypi/six/json")
    stats = admin.get_stats(mock_url)
    assert stats["faults"]["error"] == 3
    assert stats["faults"]["latency"] == 3
    assert stats["faults"]["throttle"] == 1
    assert stats["faults_total"] == 7
    assert stats["requests"]["project"] == 4
    assert stats["requests"]["version"] == 1


def test_a_posted_plan_replaces_the_previous_one_and_is_readable(mock_url: str) -> None:
    admin.set_faults(mock_url, {"error_rate": 0.5, "latency_ms": 10})
    admin.set_faults(mock_url, {"throttle_rate": 0.25})
    faults = admin.get_faults(mock_url)
    assert faults["throttle_rate"] == 0.25
    assert faults["error_rate"] == 0.0
    assert faults["latency_ms"] == 0.0
    admin.set_faults(mock_url, faults)
    assert admin.get_faults(mock_url) == faults


@pytest.mark.parametrize(
    ("faults", "field"),
    [
        ({"nonsense": 1}, "nonsense"),
        ({"error_rate": "high"}, "error_rate"),
        ({"throttle_rate": 1.01}, "throttle_rate"),
        ({"error_status": 418}, "error_status"),
        ({"latency_ms": -5}, "latency_ms"),
        ({"oversize_bytes": -1}, "oversize_bytes"),
        ({"match": 12}, "match"),
    ],
)
def test_bad_admin_input_gets_400_naming_the_field(mock_url: str, faults: dict[str, object], field: str) -> None:
    with _client(mock_url) as client:
        response = client.post("/_admin/faults", json=faults)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert [e["field"] for e in response.json()["errors"]] == [field]
    with pytest.raises(FaultsRejectedError) as caught:
        admin.set_faults(mock_url, faults)
    assert caught.value.errors[0]["field"] == field


@pytest.mark.parametrize("body", [b"{nope", b"[1, 2]", b'"text"', b"NaN", b""])
def test_a_body_that_is_not_a_json_object_gets_400(mock_url: str, body: bytes) -> None:
    with _client(mock_url) as client:
        response = client.post("/_admin/faults", content=body)
    assert response.status_code == 400
    assert response.json()["field"] == "(body)"


def test_a_rejected_plan_leaves_the_previous_one_in_force(mock_url: str) -> None:
    admin.set_faults(mock_url, {"error_rate": 0.5})
    with pytest.raises(FaultsRejectedError):
        admin.set_faults(mock_url, {"error_rate": 5})
    assert admin.get_faults(mock_url)["error_rate"] == 0.5


def test_cli_faults_are_in_force_from_the_start(tmp_path: Path) -> None:
    faults_file = tmp_path / "faults.json"
    faults_file.write_text(json.dumps({"error_rate": 1.0, "error_status": 500, "match": "flask"}))
    proc = start_mock(tmp_path, "--faults", f"@{faults_file}", "--no-uvloop")
    try:
        with _client(proc.base_url) as client:
            assert client.get("/pypi/flask/json").status_code == 500
            assert client.get("/pypi/django/json").status_code == 200
        assert '"loop": "asyncio"' in proc.log_text()
    finally:
        proc.stop()


def test_the_same_plan_replays_the_same_fault_sequence(mock_url: str) -> None:
    def statuses() -> list[int]:
        admin.set_faults(mock_url, {"error_rate": 0.5})
        with _client(mock_url) as client:
            return [client.get("/pypi/six/json").status_code for _ in range(30)]

    first = statuses()
    assert set(first) == {200, 503}
    assert statuses() == first

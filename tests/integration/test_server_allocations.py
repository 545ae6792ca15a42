"""``GET /debug/allocations`` on a real ``autodocs-mcp`` process: tracing on request, loopback and token guarded.

The last part drives the route in process (an ASGI transport with a chosen peer and a snapshot that waits for the
test), for what a real process cannot show on demand: a second request while a snapshot runs, and a snapshot that
outlives its time bound.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from autodocs_mcp.allocations import AllocationTracker, SnapshotBusy
from autodocs_mcp.http import allocations_response
from tests.support.mcp_client import mcp_session
from tests.support.processes import ManagedProcess, start_server
from tests.support.serverstats import metrics

TOKEN = "alloc-token-0123456789abcdef"
PACKAGES = ("requests", "flask", "httpx", "click", "jinja2", "starlette")
TRACED_FLOOR_BYTES = 200_000
"""Live bytes allocated since tracing began that a server holds after ``warm_up``: six packages' parsed releases,
indexes and renders, and the SDK's session (measured ~530-590 KB; above 1 MB while the upstream pool's network
backend was still imported lazily, on the first request, inside the trace)."""
SITE_KEYS = {"file", "line", "size", "count"}
BODY_KEYS = {
    "tracing",
    "frames",
    "traced_bytes",
    "traced_peak_bytes",
    "total_blocks",
    "total_sites",
    "elapsed_ms",
    "sites",
}


@pytest.fixture(scope="module")
def traced_server(pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    proc = start_server(tmp_path_factory.mktemp("traced"), pypi_mock.base_url, AUTODOCS_TRACEMALLOC_FRAMES="1")
    try:
        yield proc
    finally:
        proc.stop()


async def warm_up(base_url: str, headers: dict[str, str] | None = None) -> None:
    """A few real tool calls, so the cache and the SDK hold something the snapshot can name."""
    async with mcp_session(f"{base_url}/mcp", headers=headers) as client:
        for name in PACKAGES:
            result = await client.call_tool("get_package_docs", {"package_name": name})
            assert not result.is_error, result.content


def get_allocations(
    base_url: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> httpx2.Response:
    with httpx2.Client(base_url=base_url, timeout=60.0, trust_env=False) as http:
        return http.get("/debug/allocations", params=params, headers=headers)


async def test_a_traced_server_names_its_largest_allocation_sites_after_serving_calls(
    traced_server: ManagedProcess, mock_url: str
) -> None:
    await warm_up(traced_server.base_url)
    response = get_allocations(traced_server.base_url, {"top": "1000"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == BODY_KEYS
    assert body["tracing"] is True and body["frames"] == 1
    assert body["traced_peak_bytes"] >= body["traced_bytes"] > TRACED_FLOOR_BYTES
    assert body["total_blocks"] > 1000 and body["elapsed_ms"] > 0
    sites = body["sites"]
    assert 100 < len(sites) <= 1000 and body["total_sites"] >= len(sites)
    for site in sites:
        assert set(site) == SITE_KEYS
        assert isinstance(site["file"], str) and site["file"]
        assert site["line"] >= 0 and site["size"] > 0 and site["count"] > 0
    sizes = [site["size"] for site in sites]
    assert sizes == sorted(sizes, reverse=True), "largest first"
    assert len({(site["file"], site["line"]) for site in sites}) == len(sites), "each site once"
    files = {site["file"] for site in sites}
    assert not any("tracemalloc" in f or f.startswith("<frozen importlib._bootstrap") for f in files), files
    assert "<unknown>" not in files
    assert not any("site-packages" in f or f.startswith("/") for f in files), "paths are shortened"
    assert any(f.startswith("autodocs_mcp/") for f in files), "our own modules appear by package-relative path"
    assert any(f.startswith(("mcp/", "pydantic/", "starlette/", "httpx2/")) for f in files), "and libraries too"


async def test_top_bounds_the_number_of_sites_and_two_hundred_is_the_default(traced_server: ManagedProcess) -> None:
    few = get_allocations(traced_server.base_url, {"top": "5"}).json()
    assert len(few["sites"]) == 5 and few["total_sites"] > 5
    default = get_allocations(traced_server.base_url).json()
    assert len(default["sites"]) == min(200, default["total_sites"])


@pytest.mark.parametrize("top", ["0", "1001", "-3", "abc", "", "2.5", "9" * 40])
def test_a_bad_top_is_a_400_with_a_json_error(traced_server: ManagedProcess, top: str) -> None:
    response = get_allocations(traced_server.base_url, {"top": top})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    assert "1 to 1000" in error["message"] and len(error["message"]) < 200


def test_a_request_forwarded_for_a_client_off_the_machine_is_refused(traced_server: ManagedProcess) -> None:
    # uvicorn trusts X-Forwarded-For from a loopback proxy, so this is how a remote client looks behind one.
    response = get_allocations(traced_server.base_url, headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert get_allocations(traced_server.base_url, headers={"X-Forwarded-For": "127.0.0.9"}).status_code == 200


def test_metrics_report_that_tracing_is_on_with_its_frames_and_traced_bytes(traced_server: ManagedProcess) -> None:
    python = metrics(traced_server.base_url)["python"]
    assert python["tracemalloc_tracing"] is True
    assert python["tracemalloc_frames"] == 1
    assert python["tracemalloc_traced_bytes"] > TRACED_FLOOR_BYTES
    with httpx2.Client(timeout=10.0, trust_env=False) as http:
        text = http.get(f"{traced_server.base_url}/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["autodocs_python_tracemalloc_tracing"].samples[0].value == 1
    assert families["autodocs_python_tracemalloc_frames"].samples[0].value == 1
    assert families["autodocs_python_tracemalloc_traced_bytes"].samples[0].value > TRACED_FLOOR_BYTES


def test_a_server_without_the_setting_answers_409_and_reports_tracing_off(
    pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    proc = start_server(tmp_path_factory.mktemp("untraced"), pypi_mock.base_url)
    try:
        response = get_allocations(proc.base_url)
        python = metrics(proc.base_url)["python"]
    finally:
        proc.stop()
    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "tracing_off",
            "message": "set AUTODOCS_TRACEMALLOC_FRAMES to turn allocation tracking on",
        }
    }
    assert python["tracemalloc_tracing"] is False
    assert python["tracemalloc_frames"] == 0 and python["tracemalloc_traced_bytes"] == 0


async def test_with_a_token_set_a_snapshot_needs_the_same_bearer_token_as_metrics(
    pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    proc = start_server(
        tmp_path_factory.mktemp("traced-token"),
        pypi_mock.base_url,
        AUTODOCS_TRACEMALLOC_FRAMES="1",
        AUTODOCS_HTTP_TOKEN=TOKEN,
    )
    try:
        await warm_up(proc.base_url, {"Authorization": f"Bearer {TOKEN}"})
        missing = get_allocations(proc.base_url)
        wrong = get_allocations(proc.base_url, headers={"Authorization": "Bearer wrong-token-0123456789abcd"})
        right = get_allocations(proc.base_url, {"top": "3"}, headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        proc.stop()
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert right.status_code == 200 and len(right.json()["sites"]) == 3


# --- in process: a second request during a snapshot, and a snapshot past its bound ----------------------------


class HeldSnapshot:
    """A stand-in for the blocking snapshot that waits in its worker thread until the test lets it finish."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, top: int) -> dict[str, Any]:
        self.entered.set()
        if not self.release.wait(timeout=30):
            raise TimeoutError("the test never released the snapshot")
        return {"tracing": True, "sites": [{"file": "x.py", "line": 1, "size": 10, "count": 1}][:top]}


@asynccontextmanager
async def route_client(tracker: AllocationTracker, peer: str = "127.0.0.1") -> AsyncIterator[httpx2.AsyncClient]:
    async def endpoint(request: Request) -> Response:
        return await allocations_response(request, tracker)

    app = Starlette(routes=[Route("/debug/allocations", endpoint)])
    transport = httpx2.ASGITransport(app, client=(peer, 40000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


async def until(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 10), "the snapshot thread did not start"


async def test_a_second_request_while_a_snapshot_runs_gets_429_with_retry_after() -> None:
    held = HeldSnapshot()
    tracker = AllocationTracker(1, take=held)
    with tracker.tracing():
        async with route_client(tracker) as client:
            first = asyncio.create_task(client.get("/debug/allocations"))
            await until(held.entered)
            second = await client.get("/debug/allocations")
            held.release.set()
            answered = await first
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    assert second.json()["error"]["code"] == "snapshot_busy"
    assert answered.status_code == 200 and answered.json()["sites"][0]["file"] == "x.py"
    assert not tracker.busy


async def test_a_snapshot_past_its_time_bound_is_a_503_and_keeps_the_tracker_busy_until_it_ends() -> None:
    held = HeldSnapshot()
    tracker = AllocationTracker(1, take=held, timeout_s=0.05)
    with tracker.tracing():
        async with route_client(tracker) as client:
            late = await client.get("/debug/allocations")
            assert late.status_code == 503 and late.json()["error"]["code"] == "snapshot_timeout"
            assert tracker.busy, "the abandoned snapshot still runs; a retry must not start another"
            with pytest.raises(SnapshotBusy):
                await tracker.snapshot(10)
            running = tracker._running
            assert running is not None
            held.release.set()
            await asyncio.wait_for(asyncio.shield(running), 10)
            assert not tracker.busy
            again = HeldSnapshot()
            again.release.set()
            tracker._take = again
            assert (await client.get("/debug/allocations")).status_code == 200


@pytest.mark.parametrize("peer", ["10.0.0.8", "192.168.1.20", "::ffff:10.0.0.8", "2001:db8::1", "testclient"])
async def test_a_peer_off_loopback_is_refused_before_anything_is_computed(peer: str) -> None:
    held = HeldSnapshot()
    held.release.set()
    tracker = AllocationTracker(1, take=held)
    with tracker.tracing():
        async with route_client(tracker, peer) as client:
            response = await client.get("/debug/allocations", params={"top": "bad"})
    assert response.status_code == 403 and not held.entered.is_set()


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
async def test_every_loopback_peer_is_served(peer: str) -> None:
    held = HeldSnapshot()
    held.release.set()
    tracker = AllocationTracker(1, take=held)
    with tracker.tracing():
        async with route_client(tracker, peer) as client:
            response = await client.get("/debug/allocations")
    assert response.status_code == 200


def test_the_heap_count_after_a_collection_is_served_to_a_loopback_client_by_post_only(
    traced_server: ManagedProcess,
) -> None:
    url = f"{traced_server.base_url}/debug/heap"
    with httpx2.Client(trust_env=False, timeout=30) as http:
        first, second = http.post(url).json(), http.post(url).json()
        assert http.get(url).status_code == 405, "a collection is an action, not a read"
        forwarded = http.post(url, headers={"X-Forwarded-For": "203.0.113.9"})
    assert first["allocated_blocks"] > 10_000 and first["collected"] >= 0
    # collected just before each count, two counts in a row differ by what the requests themselves left, not by
    # the thousands of blocks of garbage a plain /metrics reading may include
    assert abs(second["allocated_blocks"] - first["allocated_blocks"]) < 2_000
    assert forwarded.status_code == 403

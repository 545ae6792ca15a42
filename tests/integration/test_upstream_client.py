"""The upstream client against a real ``pypi-mock`` process: faults, breaker, coalescing, caps and cancellation."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import psutil
import pytest

from autodocs_mcp.breaker import BreakerState
from autodocs_mcp.config import Settings
from autodocs_mcp.errors import AutoDocsError, ErrorCode
from autodocs_mcp.upstream import UpstreamClient, UpstreamConfig
from pypi_mock.admin import reset_stats, set_faults
from tests.support.mockstats import pypi_requests
from tests.support.waiting import eventually

ClientFactory = Callable[..., UpstreamClient]


def settings_for(mock_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "pypi_url": f"{mock_url}/pypi",
        "request_timeout": 5.0,
        "base_retry_delay": 0.01,
        "max_retry_delay": 0.05,
        "rate_limit_rpm": 1_000_000,
        "circuit_breaker_threshold": 1000,
        "circuit_breaker_timeout": 0.5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def make_client(mock_url: str) -> AsyncIterator[ClientFactory]:
    clients: list[UpstreamClient] = []

    def factory(**overrides: Any) -> UpstreamClient:
        client = UpstreamClient.from_settings(settings_for(mock_url, **overrides))
        clients.append(client)
        return client

    reset_stats(mock_url)
    yield factory
    for client in clients:
        await client.aclose()


async def test_a_package_listing_comes_back_as_the_parsed_json_object(make_client: ClientFactory) -> None:
    client = make_client()
    data = await client.get_json("fastapi/json")
    assert data["info"]["name"].lower() == "fastapi"
    assert "releases" in data
    assert client.stats()["ok"] == 1


async def test_a_missing_package_is_not_found_and_does_not_count_against_the_breaker(
    make_client: ClientFactory,
) -> None:
    client = make_client(circuit_breaker_threshold=1)
    with pytest.raises(AutoDocsError) as caught:
        await client.get_json("missing-thing/json")
    assert caught.value.code is ErrorCode.PACKAGE_NOT_FOUND
    assert client.breaker.state is BreakerState.CLOSED
    assert (await client.get_json("flask/json"))["info"]["version"]


async def test_a_503_storm_is_retried_honouring_retry_after_then_reported_unavailable(
    make_client: ClientFactory, mock_url: str
) -> None:
    set_faults(mock_url, {"error_rate": 1.0, "error_status": 503, "retry_after_s": 0.3})
    client = make_client(max_retry_attempts=3, max_retry_delay=0.05)
    started = time.monotonic()
    with pytest.raises(AutoDocsError) as caught:
        await client.get_json("requests/json")
    elapsed = time.monotonic() - started
    assert caught.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert "503" in caught.value.message
    assert pypi_requests(mock_url) == 3
    # Retry-After (0.3 s) won over the 0.05 s backoff cap for both retries.
    assert elapsed >= 0.6
    assert client.stats()["retries"] == 2


async def test_a_throttled_request_succeeds_once_the_throttle_lifts(make_client: ClientFactory, mock_url: str) -> None:
    set_faults(mock_url, {"throttle_rate": 1.0, "retry_after_s": 0.2})
    client = make_client(max_retry_attempts=5)
    task = asyncio.create_task(client.get_json("pydantic/json"))
    await eventually(lambda: pypi_requests(mock_url) >= 1, what="first throttled request")
    set_faults(mock_url, {})
    data = await task
    assert data["info"]["name"].lower() == "pydantic"
    assert client.stats()["retries"] >= 1


async def test_a_hanging_upstream_times_out_within_the_call_deadline(make_client: ClientFactory, mock_url: str) -> None:
    set_faults(mock_url, {"hang_rate": 1.0})
    client = make_client(request_timeout=1.0, max_retry_attempts=2)
    started = time.monotonic()
    with pytest.raises(AutoDocsError) as caught:
        await client.get_json("django/json")
    assert caught.value.code is ErrorCode.UPSTREAM_TIMEOUT
    assert time.monotonic() - started < 2.5


async def test_connection_resets_are_retried_and_reported_as_unavailable(
    make_client: ClientFactory, mock_url: str
) -> None:
    set_faults(mock_url, {"reset_rate": 1.0})
    client = make_client(max_retry_attempts=3)
    with pytest.raises(AutoDocsError) as caught:
        await client.get_json("numpy/json")
    assert caught.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert "connection" in caught.value.message
    assert pypi_requests(mock_url) == 3
    set_faults(mock_url, {})
    assert (await client.get_json("numpy/json"))["info"]["name"]


async def test_malformed_json_is_an_upstream_fault_with_a_clear_error(
    make_client: ClientFactory, mock_url: str
) -> None:
    set_faults(mock_url, {"malformed_rate": 1.0})
    client = make_client(max_retry_attempts=2)
    with pytest.raises(AutoDocsError) as caught:
        await client.get_json("click/json")
    assert caught.value.code is ErrorCode.UPSTREAM_INVALID_RESPONSE
    assert "not JSON" in caught.value.message


async def test_an_oversize_body_is_abandoned_at_the_cap_and_the_connection_is_not_leaked(
    make_client: ClientFactory, mock_url: str
) -> None:
    set_faults(mock_url, {"oversize_rate": 1.0, "oversize_bytes": 30_000_000})
    client = make_client(max_response_bytes=2_000_000, max_retry_attempts=3)
    with pytest.raises(AutoDocsError) as caught:
        await client.get_json("pandas/json")
    assert caught.value.code is ErrorCode.DOC_TOO_LARGE
    assert "2000000-byte cap" in caught.value.message
    assert pypi_requests(mock_url) == 1  # a cap breach is not retried
    assert client.stats()["bytes_received"] < 2_000_000 + 256 * 1024
    set_faults(mock_url, {})
    assert (await client.get_json("pandas/json"))["info"]["name"]
    pool = client.stats()["pool"]
    assert pool["open"] <= 1 and pool["active"] == 0


async def test_the_breaker_opens_fails_fast_probes_once_and_recovers(make_client: ClientFactory, mock_url: str) -> None:
    client = make_client(circuit_breaker_threshold=2, circuit_breaker_timeout=0.5, max_retry_attempts=1)
    set_faults(mock_url, {"error_rate": 1.0, "error_status": 500})
    for name in ("a-one", "a-two"):
        with pytest.raises(AutoDocsError):
            await client.get_json(f"{name}/json")
    assert client.breaker.state is BreakerState.OPEN

    before = pypi_requests(mock_url)
    with pytest.raises(AutoDocsError) as caught:
        await client.get_json("a-three/json")
    assert caught.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert "open" in caught.value.message
    assert pypi_requests(mock_url) == before, "an open circuit must not reach the upstream"

    set_faults(mock_url, {"latency_ms": 200})
    await asyncio.sleep(0.6)  # the breaker's reset timeout (0.5 s) has to pass on the real clock
    results = await asyncio.gather(*(client.get_json(f"probe-{i}/json") for i in range(10)), return_exceptions=True)
    succeeded = [r for r in results if isinstance(r, dict)]
    failed_fast = [r for r in results if isinstance(r, AutoDocsError)]
    assert len(succeeded) == 1, "exactly one probe in half-open"
    assert len(failed_fast) == 9
    assert pypi_requests(mock_url) == before + 1
    assert client.breaker.state is BreakerState.CLOSED
    assert (await client.get_json("after-recovery/json"))["info"]["name"]
    transitions = client.stats()["breaker"]["transitions"]
    assert transitions.get("closed->open") == 1
    assert transitions.get("open->half_open") == 1
    assert transitions.get("half_open->closed") == 1


async def test_fifty_identical_cold_calls_share_one_upstream_request(make_client: ClientFactory, mock_url: str) -> None:
    set_faults(mock_url, {"latency_ms": 300})
    client = make_client()
    results = await asyncio.gather(*(client.get_json("starlette/json") for _ in range(50)))
    assert pypi_requests(mock_url) == 1
    assert all(r is results[0] for r in results)
    assert client.stats()["coalesced"] == 49


async def test_a_shared_failure_reaches_every_waiter_and_is_not_cached(
    make_client: ClientFactory, mock_url: str
) -> None:
    set_faults(mock_url, {"error_rate": 1.0, "latency_ms": 200})
    client = make_client(max_retry_attempts=1)
    results = await asyncio.gather(*(client.get_json("uvicorn/json") for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, AutoDocsError) for r in results)
    assert pypi_requests(mock_url) == 1
    set_faults(mock_url, {})
    assert (await client.get_json("uvicorn/json"))["info"]["name"]
    assert pypi_requests(mock_url) == 2


async def test_the_rate_limit_fails_a_call_at_once_when_its_slot_is_past_the_deadline(
    make_client: ClientFactory,
) -> None:
    client = make_client(rate_limit_rpm=2, request_timeout=2.0)
    await client.get_json("r-one/json")
    await client.get_json("r-two/json")
    started = time.monotonic()
    with pytest.raises(AutoDocsError) as caught:
        await client.get_json("r-three/json")
    assert caught.value.code is ErrorCode.UPSTREAM_SATURATED
    assert "rate limit" in caught.value.message
    assert time.monotonic() - started < 1.0
    assert client.stats()["limiter"]["rejected"] == 1


async def test_waiting_past_the_pool_timeout_is_reported_as_upstream_saturated(
    make_client: ClientFactory, mock_url: str
) -> None:
    set_faults(mock_url, {"latency_ms": 1500})
    client = make_client(pool_max_connections=1, pool_max_keepalive=1, pool_timeout=0.2, max_retry_attempts=1)
    results = await asyncio.gather(*(client.get_json(f"pool-{i}/json") for i in range(3)), return_exceptions=True)
    codes = sorted(r.code.value if isinstance(r, AutoDocsError) else "ok" for r in results)
    assert codes == ["ok", "upstream_saturated", "upstream_saturated"]
    assert client.stats()["pool_timeouts"] == 2
    assert client.breaker.state is BreakerState.CLOSED, "our own pool limit is not an upstream fault"


async def _cancel_at_random(client: UpstreamClient, path: str, rng: random.Random) -> None:
    """Cancel a call at a random point: while queued for the pool, connecting, or mid-body; sometimes twice."""
    task = asyncio.create_task(client.get_json(path))
    await asyncio.sleep(rng.uniform(0.0, 0.3))
    task.cancel()
    if rng.random() < 0.3:
        await asyncio.sleep(0)
        task.cancel()
    try:
        await task
    except (asyncio.CancelledError, AutoDocsError):
        pass


async def test_cancellations_anywhere_leave_no_stuck_connections(make_client: ClientFactory, mock_url: str) -> None:
    """The stack-facts §9 pattern that wedges httpx 0.28's pool: afterwards every plain request must succeed."""
    set_faults(mock_url, {"latency_ms": 50, "latency_jitter_ms": 150, "slow_body_rate": 0.2})
    client = make_client(pool_max_connections=10, pool_max_keepalive=5, pool_timeout=2.0, request_timeout=3.0)
    rng = random.Random(7)
    limit = asyncio.Semaphore(100)

    async def one(i: int) -> None:
        async with limit:
            await _cancel_at_random(client, f"cancel-{i % 400}/json", rng)

    await asyncio.gather(*(one(i) for i in range(1000)))
    await eventually(lambda: client.inflight == 0, 5.0, "cancelled fetches unwound")
    set_faults(mock_url, {})
    pool = client.stats()["pool"]
    assert pool["active"] == 0 and pool["connecting"] == 0 and pool["queued"] == 0, pool
    assert pool["open"] <= 10
    results = await asyncio.gather(*(client.get_json(f"plain-{i}/json") for i in range(200)), return_exceptions=True)
    failures = [r for r in results if not isinstance(r, dict)]
    assert failures == []
    assert client.inflight == 0


@pytest.mark.slow
async def test_twenty_thousand_faulty_and_cancelled_requests_leak_no_descriptors_or_memory(
    make_client: ClientFactory, mock_url: str
) -> None:
    process = psutil.Process()
    set_faults(
        mock_url,
        {
            "error_rate": 0.15,
            "error_status": 502,
            "reset_rate": 0.05,
            "malformed_rate": 0.05,
            "throttle_rate": 0.05,
            "retry_after_s": 0.01,
            "latency_ms": 1,
            "latency_jitter_ms": 4,
        },
    )
    config = UpstreamConfig.from_settings(
        settings_for(
            mock_url,
            pool_max_connections=10,
            pool_max_keepalive=10,
            request_timeout=2.0,
            max_retry_attempts=2,
            max_retry_after=0.02,
        )
    )
    # A one-second window of 5,000 admissions: the run makes four times that many requests, so the limiter's
    # memory would show growth with the request count if it had any.
    client = UpstreamClient(dataclasses.replace(config, rate_limit=5000, rate_window_s=1.0))
    rng = random.Random(11)
    limit = asyncio.Semaphore(64)
    outcomes = {"ok": 0, "error": 0, "cancelled": 0}

    async def one(i: int) -> None:
        async with limit:
            task = asyncio.create_task(client.get_json(f"leak-{i}/json"))
            if rng.random() < 0.1:
                await asyncio.sleep(rng.uniform(0, 0.01))
                task.cancel()
            try:
                await task
                outcomes["ok"] += 1
            except AutoDocsError:
                outcomes["error"] += 1
            except asyncio.CancelledError:
                outcomes["cancelled"] += 1

    await asyncio.gather(*(one(i) for i in range(1000)))  # warm-up: pool filled, allocator settled
    await eventually(lambda: client.inflight == 0, 5.0, "warm-up fetches unwound")
    fds_before = process.num_fds()
    tracked_before = client.limiter.stats()["tracked"]
    await asyncio.gather(*(one(i) for i in range(1000, 20_000)))
    await eventually(lambda: client.inflight == 0, 5.0, "cancelled fetches unwound")
    set_faults(mock_url, {})
    stats = client.stats()
    assert sum(outcomes.values()) == 20_000
    assert outcomes["ok"] > 10_000 and outcomes["error"] > 0 and outcomes["cancelled"] > 0
    assert stats["pool"]["open"] <= 10
    assert stats["pool"]["active"] == 0 and stats["pool"]["queued"] == 0
    assert process.num_fds() <= fds_before + 10, "descriptors grew with the number of requests"
    assert tracked_before <= 5000
    assert client.limiter.stats()["tracked"] <= 5000
    assert client.stats()["attempts"] > 20_000
    assert client.inflight == 0
    await client.aclose()

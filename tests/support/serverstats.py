"""Reading the server's own ``/metrics`` snapshot the way the tests need it."""

from __future__ import annotations

import time
from typing import Any

import httpx2


def metrics(base_url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    with httpx2.Client(timeout=10.0, trust_env=False) as client:
        response = client.get(f"{base_url}/metrics", params={"format": "json"}, headers=headers)
    response.raise_for_status()
    snapshot: dict[str, Any] = response.json()
    return snapshot


def no_request_open(base_url: str) -> bool:
    """No tool call in flight and no ``/mcp`` request open: also none whose client left while it waited for the
    session's dispatcher (``requests_open`` counts those; ``in_flight`` only the dispatched calls)."""
    snapshot = metrics(base_url)
    return bool(snapshot["requests"]["in_flight"] == 0 and snapshot["requests_open"] == 0)


def heap_blocks(base_url: str) -> int:
    """The server's live Python blocks after a full collection (``POST /debug/heap``, loopback only)."""
    with httpx2.Client(timeout=30.0, trust_env=False) as client:
        response = client.post(f"{base_url}/debug/heap")
    response.raise_for_status()
    blocks: int = response.json()["allocated_blocks"]
    return blocks


def wait_for_cache_writes(base_url: str, timeout_s: float = 30.0) -> None:
    """Answers leave before their write-behind lands; judge the disk only once the server says none is pending."""
    deadline = time.monotonic() + timeout_s
    while (pending := metrics(base_url)["cache"]["pending_writes"]) != 0:
        assert time.monotonic() < deadline, f"{pending} cache writes still pending after {timeout_s} s"
        time.sleep(0.05)

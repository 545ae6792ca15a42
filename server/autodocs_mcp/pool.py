"""The one bounded HTTP connection pool to the upstream, and a plain-dict view of its state.

httpx2 (not httpx 0.28) because httpx 0.28's pool leaks slots and sockets under cancellation
(``shared/notes/stack-facts.md`` §9). Neither library has a public pool-statistics API, so the transport is built
here and kept, and ``pool_stats`` is the single place that reads the pool's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2


@dataclass(frozen=True)
class PoolLimits:
    max_connections: int
    max_keepalive: int
    keepalive_expiry_s: float
    pool_timeout_s: float
    connect_timeout_s: float


def build_client(base_url: str, limits: PoolLimits, user_agent: str) -> tuple[httpx2.AsyncClient, Any]:
    """A pooled client for one upstream origin, plus its transport (the handle ``pool_stats`` reads).

    Redirects are not followed by the library (the caller follows same-origin ones itself), and proxy variables
    from the environment are ignored, so traffic only ever goes where ``AUTODOCS_PYPI_URL`` says.
    """
    transport = httpx2.AsyncHTTPTransport(
        limits=httpx2.Limits(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive,
            keepalive_expiry=limits.keepalive_expiry_s,
        ),
        trust_env=False,
        retries=0,
    )
    client = httpx2.AsyncClient(
        base_url=base_url,
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": user_agent, "Accept": "application/json"},
        timeout=httpx2.Timeout(connect=limits.connect_timeout_s, read=30.0, write=30.0, pool=limits.pool_timeout_s),
    )
    return client, transport


def pool_stats(transport: Any) -> dict[str, int]:
    """Connections by state and queued requests; expired connections are counted apart (expiry is lazy)."""
    pool = getattr(transport, "_pool", None)
    connections = list(getattr(pool, "connections", ()))
    requests = list(getattr(pool, "_requests", ()))
    counts = {"open": 0, "active": 0, "idle": 0, "expired": 0, "connecting": 0}
    for conn in connections:
        if conn.is_closed():
            continue
        counts["open"] += 1
        if conn.has_expired():
            counts["expired"] += 1
        elif conn.is_idle():
            counts["idle"] += 1
        elif not conn.is_connected():
            counts["connecting"] += 1
        else:
            counts["active"] += 1
    counts["queued"] = sum(1 for request in requests if request.is_queued())
    counts["requests"] = len(requests)
    return counts

"""The one path every PyPI request takes: breaker → rate limiter → bounded pool → retry, inside a deadline.

One ``UpstreamClient`` exists per server, created and closed by the server's lifespan; nothing else builds an HTTP
client. The breaker is consulted before the limiter (a deliberate order): an open circuit answers at once instead of
first spending rate budget and queueing behind the limiter. Concurrent requests for the same URL share one in-flight
fetch, whose failure reaches every waiter and is never cached.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import httpx2
import structlog

from autodocs_mcp.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from autodocs_mcp.clock import SYSTEM_CLOCK, Clock
from autodocs_mcp.config import Settings
from autodocs_mcp.errors import AutoDocsError, ErrorCode
from autodocs_mcp.limiter import RateLimiter, RateLimitExceeded
from autodocs_mcp.pool import PoolLimits, build_client, pool_stats
from autodocs_mcp.retry import RetryPolicy, is_retryable_status, parse_retry_after

log = structlog.get_logger("autodocs_mcp.upstream")

USER_AGENT: Final = "autodocs-mcp-hardened/0.1 (+https://github.com/)"
MAX_REDIRECTS: Final = 3
MAX_INFLIGHT_FETCHES: Final = 4096
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class UpstreamConfig:
    base_url: str
    request_timeout_s: float
    body_cap_bytes: int
    attempt_timeout_s: float
    retry: RetryPolicy
    rate_limit: int
    rate_window_s: float
    breaker_threshold: int
    breaker_timeout_s: float
    breaker_initial_timeout_s: float
    pool: PoolLimits

    @classmethod
    def from_settings(cls, settings: Settings) -> UpstreamConfig:
        return cls(
            base_url=settings.pypi_url,
            request_timeout_s=settings.request_timeout,
            body_cap_bytes=settings.response_byte_cap,
            attempt_timeout_s=settings.attempt_timeout,
            retry=RetryPolicy(
                max_attempts=settings.max_retry_attempts,
                base_delay_s=settings.base_retry_delay,
                max_delay_s=settings.max_retry_delay,
                max_retry_after_s=settings.max_retry_after,
            ),
            rate_limit=settings.upstream_rate_limit,
            rate_window_s=60.0,
            breaker_threshold=settings.circuit_breaker_threshold,
            breaker_timeout_s=settings.circuit_breaker_timeout,
            breaker_initial_timeout_s=min(settings.circuit_breaker_initial_timeout, settings.circuit_breaker_timeout),
            pool=PoolLimits(
                max_connections=settings.pool_max_connections,
                max_keepalive=settings.pool_max_keepalive,
                keepalive_expiry_s=settings.pool_keepalive_expiry,
                pool_timeout_s=settings.pool_timeout,
                connect_timeout_s=settings.connect_timeout,
            ),
        )


class _Fault(Exception):
    """One failed attempt that the upstream is to blame for; ``error`` is what the caller sees if retries end."""

    def __init__(self, error: AutoDocsError, *, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class _Answered(Exception):
    """The upstream answered sanely but refused this request (404, other 4xx): a healthy upstream for the breaker."""

    def __init__(self, error: AutoDocsError) -> None:
        super().__init__(error.message)
        self.error = error


def _unavailable(message: str, **details: Any) -> AutoDocsError:
    return AutoDocsError(
        ErrorCode.UPSTREAM_UNAVAILABLE,
        message,
        suggestion="PyPI is failing or unreachable; retry in a little while.",
        retryable=True,
        details=details or None,
    )


def _timed_out(message: str) -> AutoDocsError:
    return AutoDocsError(
        ErrorCode.UPSTREAM_TIMEOUT, message, suggestion="PyPI is slow right now; retry later.", retryable=True
    )


def _too_large(size: str, cap: int) -> AutoDocsError:
    return AutoDocsError(
        ErrorCode.DOC_TOO_LARGE,
        f"PyPI's response {size} exceeds the {cap}-byte cap",
        suggestion="Raise AUTODOCS_MAX_RESPONSE_BYTES if this package's metadata is legitimately that large.",
        details={"cap_bytes": cap},
    )


def _invalid(message: str, **details: Any) -> AutoDocsError:
    return AutoDocsError(
        ErrorCode.UPSTREAM_INVALID_RESPONSE,
        message,
        suggestion="The package index returned something unusable; retry later.",
        retryable=True,
        details=details or None,
    )


@dataclass
class _SharedFetch:
    task: asyncio.Task[dict[str, Any]]
    waiters: int = 0


class UpstreamClient:
    """Owns the pool, breaker and limiter for one upstream origin; ``aclose()`` releases every socket."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._rng = rng or random.Random()
        origin = urlsplit(config.base_url)
        self._origin = (origin.scheme, origin.hostname, origin.port)
        self._base = config.base_url.rstrip("/") + "/"
        self._client, self._transport = build_client(self._base, config.pool, USER_AGENT)
        self.limiter = RateLimiter(config.rate_limit, config.rate_window_s, clock=clock)
        self.breaker = CircuitBreaker(
            origin.hostname or config.base_url,
            config.breaker_threshold,
            config.breaker_timeout_s,
            clock=clock,
            on_transition=self._log_transition,
            probe_timeout_s=config.request_timeout_s + 5.0,
            initial_reset_timeout_s=config.breaker_initial_timeout_s,
        )
        self._inflight: dict[str, _SharedFetch] = {}
        self._closed = False
        self._counts: dict[str, int] = {
            "calls": 0,
            "coalesced": 0,
            "attempts": 0,
            "retries": 0,
            "ok": 0,
            "not_found": 0,
            "failed": 0,
            "pool_timeouts": 0,
            "bytes_received": 0,
        }
        self._failures_by_code: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> UpstreamClient:
        return cls(UpstreamConfig.from_settings(settings))

    async def get_json(self, path: str) -> dict[str, Any]:
        """GET ``path`` under the base URL and return the JSON object, sharing any identical in-flight fetch.

        The shared fetch outlives a cancelled waiter but not the last one: when every caller has gone, the fetch
        is cancelled too, so abandoned calls do not keep pool connections busy.
        """
        if self._closed:
            raise AutoDocsError(ErrorCode.SHUTTING_DOWN, "the upstream client is closed", retryable=True)
        url = urljoin(self._base, path.lstrip("/"))
        self._counts["calls"] += 1
        shared = self._inflight.get(url)
        if shared is None:
            if len(self._inflight) >= MAX_INFLIGHT_FETCHES:
                raise AutoDocsError(
                    ErrorCode.UPSTREAM_SATURATED,
                    f"{len(self._inflight)} distinct upstream fetches already in flight",
                    suggestion="The server is overloaded; retry shortly.",
                    retryable=True,
                )
            shared = _SharedFetch(asyncio.create_task(self._fetch(url), name=f"upstream {url}"))
            self._inflight[url] = shared
            shared.task.add_done_callback(self._forget(url, shared))
        else:
            self._counts["coalesced"] += 1
        shared.waiters += 1
        try:
            return await asyncio.shield(shared.task)
        finally:
            shared.waiters -= 1
            if shared.waiters == 0 and not shared.task.done():
                shared.task.cancel()

    def _forget(self, url: str, shared: _SharedFetch) -> Callable[[asyncio.Task[dict[str, Any]]], None]:
        def done(task: asyncio.Task[dict[str, Any]]) -> None:
            if self._inflight.get(url) is shared:
                del self._inflight[url]
            if not task.cancelled():
                task.exception()  # retrieved here so a fetch whose waiters all left logs no warning

        return done

    async def _fetch(self, url: str) -> dict[str, Any]:
        """One call: the breaker judges it once, by its final outcome after every retry.

        Counting attempts instead would open the circuit on a bad day: at a third of attempts failing, five failed
        attempts in a row come within seconds among 32 concurrent callers, while three attempts of one call all
        failing is rare. A call that the breaker turned away, or that ended without the upstream being to blame
        (rate limit, pool wait, cancellation), judges nothing.
        """
        deadline = self._clock.monotonic() + self.config.request_timeout_s
        try:
            probe = self.breaker.before_call()
        except CircuitOpenError as exc:
            error = _unavailable(str(exc), retry_in_s=round(exc.retry_in_s, 3))
            self._counted_failure(error)
            raise error from None
        verdict: Callable[[bool], None] = self.breaker.record_neutral
        try:
            data = await self._attempts(url, deadline, probe)
        except _Answered as answered:
            verdict = self.breaker.record_success
            if answered.error.code == ErrorCode.PACKAGE_NOT_FOUND:
                self._counts["not_found"] += 1
            else:
                self._counted_failure(answered.error)
            raise answered.error from None
        except _Fault as fault:
            verdict = self.breaker.record_failure
            self._counted_failure(fault.error)
            raise fault.error from None
        except AutoDocsError as error:
            self._counted_failure(error)
            raise
        else:
            verdict = self.breaker.record_success
            return data
        finally:
            verdict(probe)

    async def _attempts(self, url: str, deadline: float, probe: bool) -> dict[str, Any]:
        """Attempts until one succeeds, the policy or the deadline says stop, or the circuit opened meanwhile."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._limited_attempt(url, deadline)
            except _Fault as fault:
                delay = self._retry_delay(fault, attempt, deadline)
                if delay is None or (not probe and self.breaker.state is BreakerState.OPEN):
                    raise
                self._counts["retries"] += 1
                log.info(
                    "upstream_retry",
                    url=url,
                    attempt=attempt,
                    delay_s=round(delay, 3),
                    reason=fault.error.message,
                )
                await self._clock.sleep(delay)

    def _retry_delay(self, fault: _Fault, attempt: int, deadline: float) -> float | None:
        if not fault.retryable or not self.config.retry.may_retry(attempt):
            return None
        delay = self.config.retry.delay_s(attempt - 1, fault.retry_after_s, self._rng)
        if self._clock.monotonic() + delay >= deadline:
            return None
        return delay

    def _counted_failure(self, error: AutoDocsError) -> None:
        self._counts["failed"] += 1
        self._failures_by_code[error.code.value] = self._failures_by_code.get(error.code.value, 0) + 1

    async def _limited_attempt(self, url: str, deadline: float) -> dict[str, Any]:
        try:
            waited = await self.limiter.acquire(deadline)
        except RateLimitExceeded as exc:
            raise AutoDocsError(
                ErrorCode.UPSTREAM_SATURATED,
                f"rate limit reached: the next upstream slot is {exc.wait_s:.1f} s away, past this call's deadline",
                suggestion="Too many distinct packages requested at once; retry in a minute.",
                retryable=True,
                details={"wait_s": round(exc.wait_s, 3)},
            ) from None
        if waited > 0:
            log.info("upstream_rate_limited", url=url, waited_s=round(waited, 3))
        data = await self._attempt(url, deadline)
        self._counts["ok"] += 1
        return data

    async def _attempt(self, url: str, deadline: float) -> dict[str, Any]:
        """One attempt, bounded by ``attempt_timeout_s`` so that a hung attempt leaves time for another one.

        The wait for a pool connection is part of the attempt and bounded by the same time, never a fixed figure
        shorter than the call's own deadline.
        """
        remaining = deadline - self._clock.monotonic()
        if remaining <= 0:
            raise _Fault(_timed_out(f"no answer from PyPI within {self.config.request_timeout_s:g} s"), retryable=False)
        budget = min(remaining, self.config.attempt_timeout_s)
        self._counts["attempts"] += 1
        try:
            async with asyncio.timeout(budget):
                return await self._request(url, budget)
        except TimeoutError:
            raise _Fault(_timed_out(f"no answer from PyPI within {budget:.3g} s"), retryable=True) from None
        except httpx2.PoolTimeout:
            self._counts["pool_timeouts"] += 1
            log.warning("upstream_pool_exhausted", url=url, **pool_stats(self._transport))
            raise AutoDocsError(
                ErrorCode.UPSTREAM_SATURATED,
                f"upstream saturated: no pool connection free within {min(budget, self.config.pool.pool_timeout_s):.3g}"
                " s",
                suggestion="The server is at its upstream connection limit; retry shortly.",
                retryable=True,
            ) from None
        except httpx2.TimeoutException as exc:
            raise _Fault(_timed_out(f"PyPI timed out ({type(exc).__name__})"), retryable=True) from None
        except httpx2.TransportError as exc:
            raise _Fault(_unavailable(f"connection to PyPI failed ({type(exc).__name__})"), retryable=True) from None

    async def _request(self, url: str, remaining: float) -> dict[str, Any]:
        timeout = httpx2.Timeout(
            connect=min(self.config.pool.connect_timeout_s, remaining),
            read=remaining,
            write=remaining,
            pool=min(self.config.pool.pool_timeout_s, remaining),
        )
        for _hop in range(MAX_REDIRECTS + 1):
            async with self._client.stream("GET", url, timeout=timeout) as response:
                if response.status_code in _REDIRECTS:
                    url = self._same_origin_location(url, response.headers.get("location"))
                    continue
                return await self._judge(url, response)
        raise _Fault(_invalid(f"more than {MAX_REDIRECTS} redirects"), retryable=False)

    def _same_origin_location(self, url: str, location: str | None) -> str:
        if not location:
            raise _Fault(_invalid("redirect without a Location header"), retryable=False)
        try:
            target = urljoin(url, location)
            parts = urlsplit(target)
            origin = (parts.scheme, parts.hostname, parts.port)
        except ValueError:  # e.g. an unclosed IPv6 bracket or a port out of range
            error = _invalid("redirect to an unparseable Location", location=location[:200])
            raise _Fault(error, retryable=False) from None
        if origin != self._origin:
            raise _Fault(_invalid("redirect to another origin refused", location=location[:200]), retryable=False)
        return target

    async def _judge(self, url: str, response: httpx2.Response) -> dict[str, Any]:
        status = response.status_code
        if status == 404:
            raise _Answered(
                AutoDocsError(
                    ErrorCode.PACKAGE_NOT_FOUND,
                    "not found on PyPI",
                    suggestion="Check the package name and version.",
                )
            )
        if 400 <= status < 500 and not is_retryable_status(status):
            raise _Answered(_unavailable(f"PyPI refused the request with HTTP {status}", status=status))
        if status != 200:
            retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
            error = _unavailable(f"PyPI answered HTTP {status}", status=status)
            raise _Fault(error, retryable=is_retryable_status(status), retry_after_s=retry_after)
        body = await self._read_capped(response)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack
            raise _Fault(
                _invalid(f"PyPI sent a body that is not JSON ({type(exc).__name__})"), retryable=True
            ) from None
        if not isinstance(data, dict):
            raise _Fault(_invalid(f"PyPI sent JSON {type(data).__name__}, expected an object"), retryable=True)
        return data

    async def _read_capped(self, response: httpx2.Response) -> bytes:
        cap = self.config.body_cap_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise _Fault(_too_large(f"of {int(declared)} bytes", cap), retryable=False)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            self._counts["bytes_received"] += len(chunk)
            if size > cap:
                raise _Fault(_too_large("body", cap), retryable=False)
            chunks.append(chunk)
        return b"".join(chunks)

    def _log_transition(self, old: BreakerState, new: BreakerState, reason: str) -> None:
        level = log.warning if new is BreakerState.OPEN else log.info
        level(
            "upstream_breaker_transition",
            breaker=self.breaker_name,
            old=old.value,
            new=new.value,
            reason=reason,
        )

    @property
    def breaker_name(self) -> str:
        return self._origin[1] or self.config.base_url

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def stats(self) -> dict[str, Any]:
        return {
            "base_url": self.config.base_url,
            "inflight_fetches": len(self._inflight),
            **self._counts,
            "failures_by_code": dict(self._failures_by_code),
            "pool": {
                **pool_stats(self._transport),
                "max_connections": self.config.pool.max_connections,
                "max_keepalive": self.config.pool.max_keepalive,
            },
            "breaker": self.breaker.stats(),
            "limiter": self.limiter.stats(),
        }

    async def aclose(self) -> None:
        """Cancel fetches still in flight, then close every pooled connection."""
        self._closed = True
        pending = [shared.task for shared in self._inflight.values()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self._client.aclose()

"""Assembles the MCP server: resources owned by the lifespan, the tools, and the tool-call accounting middleware.

``ServerState`` is the one object the lifespan, the middleware, the tools and the HTTP routes share. It is created
per server by ``build_server`` (never at import time), so two servers in one process do not share pools or caches.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, SetLevelRequestParams, TextContent, ToolAnnotations

from autodocs_mcp.allocations import AllocationTracker
from autodocs_mcp.arguments import ArgumentChecker
from autodocs_mcp.client_logs import ClientLogLevels
from autodocs_mcp.config import Settings
from autodocs_mcp.errors import AutoDocsError, ErrorCode, quote_value
from autodocs_mcp.lookups import unknown_name_errors
from autodocs_mcp.metrics import RequestMetrics, python_heap
from autodocs_mcp.resources import install_docs_resources
from autodocs_mcp.service import DocsService
from autodocs_mcp.store import ReleaseStore
from autodocs_mcp.tool_schemas import SPECS_BY_NAME, ToolSpec
from autodocs_mcp.upstream import UpstreamClient

log = structlog.get_logger("autodocs_mcp.app")

TOOL_NAMES = tuple(SPECS_BY_NAME)


@dataclass
class Resources:
    """Everything with a socket, a file or a task in it; closed in reverse order of creation."""

    upstream: UpstreamClient
    store: ReleaseStore
    """Everything the server remembers about releases, in memory and on disk."""
    service: DocsService


@dataclass
class ServerState:
    settings: Settings
    metrics: RequestMetrics = field(default_factory=RequestMetrics)
    resources: Resources | None = None
    started_at: float = field(default_factory=time.monotonic)
    draining: bool = False
    known_tools: set[str] = field(default_factory=lambda: set(TOOL_NAMES))
    """Tool names the accounting middleware passes on to the SDK; a server that adds a tool adds its name here."""
    sessions_open: Any = None
    session_stats: Any = None
    """Admission figures of the HTTP session gate (cap, evicted, refused); absent on stdio."""
    arguments: ArgumentChecker = field(default_factory=lambda: ArgumentChecker(SPECS_BY_NAME))
    """Checks every call's arguments against the published input schema (a server adding a tool adds its spec)."""
    client_logs: ClientLogLevels = field(init=False, repr=False)
    """Each session's ``logging/setLevel``; tool calls forward their log events at or above it."""
    allocations: AllocationTracker = field(init=False, repr=False)
    """tracemalloc for this server's life (``AUTODOCS_TRACEMALLOC_FRAMES``) and its one-at-a-time snapshots."""

    def __post_init__(self) -> None:
        self.allocations = AllocationTracker(self.settings.tracemalloc_frames)
        self.client_logs = ClientLogLevels(self.settings.max_sessions)

    @property
    def ready(self) -> bool:
        if self.resources is None or self.draining:
            return False
        return str(self.resources.upstream.breaker.state) != "open"

    def snapshot(self) -> dict[str, Any]:
        resources = self.resources
        return {
            "requests": self.metrics.snapshot(),
            "upstream": resources.upstream.stats() if resources else {},
            "cache": resources.store.stats() if resources else {},
            "sessions_open": self.sessions_open() if callable(self.sessions_open) else 0,
            **(self.session_stats() if callable(self.session_stats) else {}),
            "ready": self.ready,
            "draining": self.draining,
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "python": python_heap(),
        }

    def require(self) -> Resources:
        if self.resources is None or self.draining:
            raise AutoDocsError(
                ErrorCode.SHUTTING_DOWN,
                "the server is starting or shutting down",
                suggestion="Retry in a few seconds.",
                retryable=True,
            )
        return self.resources


def open_resources(settings: Settings) -> Resources:
    upstream = UpstreamClient.from_settings(settings)
    store = ReleaseStore.from_settings(settings, upstream)
    return Resources(upstream=upstream, store=store, service=DocsService(settings, store))


CACHE_FLUSH_TIMEOUT_S = 10.0


async def close_resources(resources: Resources) -> None:
    """Reverse order of creation: durable cache first (bounded wait), then the upstream sockets."""
    try:
        async with asyncio.timeout(CACHE_FLUSH_TIMEOUT_S):
            await resources.store.close()
    except TimeoutError:
        log.error("cache_flush_timed_out", timeout_s=CACHE_FLUSH_TIMEOUT_S, pending=resources.store.stats())
    await resources.upstream.aclose()


EMERGENCY_FLUSH_S = 2.0


async def emergency_flush(state: ServerState) -> None:
    """On a forced exit, give cache writes already started a short, bounded chance to become durable."""
    resources = state.resources
    if resources is None:
        return
    try:
        async with asyncio.timeout(EMERGENCY_FLUSH_S):
            await resources.store.flush()
    except TimeoutError:
        log.error("emergency_flush_timed_out", timeout_s=EMERGENCY_FLUSH_S)


async def prune_periodically(store: ReleaseStore, interval_s: float) -> None:
    """Keep the disk tier within AUTODOCS_MAX_VERSIONS and AUTODOCS_CLEANUP_DAYS for a server that runs for weeks."""
    while True:
        try:
            removed = await store.prune()
            log.info("cache_pruned", **removed)
        except Exception:
            log.exception("cache_prune_failed")
        await asyncio.sleep(interval_s)


def _lifespan(state: ServerState) -> Any:
    @asynccontextmanager
    async def lifespan(_server: MCPServer[Any]) -> AsyncIterator[ServerState]:
        # Tracing starts first and stops last, so the resources' own allocations are in every snapshot.
        with state.allocations.tracing():
            state.resources = open_resources(state.settings)
            log.info(
                "server_started",
                upstream=state.settings.pypi_url,
                cache_dir=str(state.settings.cache_dir),
                pool_max_connections=state.settings.pool_max_connections,
                tracemalloc_frames=state.settings.tracemalloc_frames,
                memory_budget_bytes=state.settings.memory_budget_bytes,
            )
            for line in state.settings.deprecations():
                log.warning("setting_deprecated", detail=line)
            maintenance = asyncio.create_task(
                prune_periodically(state.resources.store, state.settings.prune_interval), name="cache maintenance"
            )
            try:
                yield state
            finally:
                maintenance.cancel()
                await asyncio.gather(maintenance, return_exceptions=True)
                resources, state.resources = state.resources, None
                if resources is not None:
                    await close_resources(resources)
                log.info("resources_closed")

    return lifespan


def ok_result(payload: dict[str, Any], text: str | None = None) -> CallToolResult:
    body = text if text is not None else json.dumps(payload, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=body)], structured_content=payload)


def error_result(error: AutoDocsError) -> CallToolResult:
    payload = {"success": False, "error": error.to_dict()}
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(payload, ensure_ascii=False))],
        structured_content=payload,
        is_error=True,
    )


def _outcome(result: HandlerResult) -> str:
    """``ok``, the error code of a structured tool error, or ``error`` (SDK-level failures such as bad arguments)."""
    if isinstance(result, CallToolResult):
        is_error, structured = result.is_error, result.structured_content
    elif isinstance(result, dict):
        is_error, structured = bool(result.get("isError")), result.get("structuredContent")
    else:
        return "ok"
    if not is_error:
        return "ok"
    error = structured.get("error") if isinstance(structured, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else "error"


def tool_call_accounting(state: ServerState) -> Any:
    """Middleware that counts every ``tools/call`` on entry and exit: the in-flight gauge cannot be forgotten."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        raw = ctx.params.get("name") if ctx.params else None
        tool = raw if isinstance(raw, str) and raw in state.known_tools else "unknown"
        state.metrics.started()
        started = time.perf_counter()
        outcome = "cancelled"
        try:
            # The SDK echoes an unknown name whole ("Unknown tool: <1 MB of it>", control characters included)
            # into what is usually a model's prompt; answer with a cut, escaped echo and the names that exist.
            result: HandlerResult
            async with state.client_logs.during(ctx):
                arguments = ctx.params.get("arguments") if ctx.params else None
                problem = state.arguments.problem(tool, {} if arguments is None else arguments)
                if isinstance(raw, str) and tool == "unknown":
                    result = unknown_tool(raw, state.known_tools)
                elif problem is not None:
                    log.info("tool_arguments_rejected", tool=tool, rule=problem.details.get("rule"))
                    result = error_result(problem)
                else:
                    result = await call_next(ctx)
            outcome = _outcome(result)
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception:
            outcome = "exception"
            raise
        finally:
            state.metrics.finished(tool, outcome, time.perf_counter() - started)

    return middleware


def unknown_tool(name: str, known: Collection[str]) -> CallToolResult:
    return error_result(
        AutoDocsError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown tool {quote_value(name)}",
            suggestion=f"Call one of: {', '.join(sorted(known))}.",
        )
    )


async def _run(state: ServerState, action: Any) -> CallToolResult:
    try:
        resources = state.require()
        payload, text = await action(resources)
        return ok_result(payload, text)
    except AutoDocsError as error:
        return error_result(error)
    except Exception:
        log.exception("tool_failed")
        return error_result(
            AutoDocsError(ErrorCode.INTERNAL, "internal error; the server logged the details", retryable=True)
        )


def build_server(settings: Settings) -> tuple[MCPServer[Any], ServerState]:
    state = ServerState(settings=settings)
    tools = _tools(state)
    if settings.conformance_fixtures:  # AUTODOCS_CONFORMANCE_FIXTURES=1: the conformance suite's tools, never shipped
        from autodocs_mcp.conformance_fixtures import install_fixtures

        tools += install_fixtures(state)
    server: MCPServer[Any] = MCPServer(
        "autodocs-mcp",
        version="0.1.0",
        instructions="Version-specific documentation of Python packages from PyPI, with dependency context.",
        lifespan=_lifespan(state),
        log_level=settings.log_level,
        middleware=[tool_call_accounting(state)],
        tools=tools,
        # Nothing here changes while the server runs, so nobody needs to listen for changes: without the
        # subscriptions/listen stream the 2026-07-28 capabilities say listChanged/subscribe false, as the
        # handshake revision already does.
        subscriptions=False,
    )
    install_docs_resources(server, state)
    server.middleware.append(unknown_name_errors(server))
    # MCPServer has no public seam for logging/setLevel; the low-level server's add_request_handler is public and
    # registering it is what makes the `logging` capability appear.
    server._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, state.client_logs.set_level)
    return server, state


def published_tool(spec: ToolSpec, fn: Any) -> Tool:
    """The SDK's tool for ``fn``, advertised with the catalogue's schemas, title and hints instead of the ones the
    SDK derives from the signature (which cannot say "no other arguments", give bounds, or describe an answer that
    is a ``CallToolResult``). The SDK reads ``fn_metadata.output_schema`` live; it validates nothing against it."""
    hints = spec.hints
    annotations = ToolAnnotations(
        title=spec.title,
        read_only_hint=hints.read_only,
        destructive_hint=hints.destructive,
        idempotent_hint=hints.idempotent,
        open_world_hint=hints.open_world,
    )
    tool = Tool.from_function(fn, name=spec.name, title=spec.title, description=spec.description)
    signature = frozenset(tool.fn_metadata.arg_model.model_fields)
    if signature != spec.argument_names:  # the catalogue and the function must name the same arguments
        raise ValueError(f"{spec.name}: function takes {sorted(signature)}, schema says {sorted(spec.argument_names)}")
    tool.annotations = annotations
    tool.parameters = spec.input_schema
    tool.fn_metadata.output_schema = spec.output_schema
    return tool


def _tools(state: ServerState) -> list[Tool]:
    """The eight tools; what they promise (arguments, answers, hints) lives in ``tool_schemas``, checked by the
    accounting middleware before they run, so the signatures here only name the arguments."""

    async def scan_dependencies(project_path: str) -> CallToolResult:
        async def act(r: Resources) -> tuple[dict[str, Any], None]:
            return await r.service.scan(project_path), None

        return await _run(state, act)

    async def get_package_docs(
        package_name: str, version_constraint: str | None = None, query: str | None = None
    ) -> CallToolResult:
        async def act(r: Resources) -> tuple[dict[str, Any], str]:
            payload = await r.service.package_docs(package_name, version_constraint, query)
            # The markdown is the text content; repeating it in the structured content would double every reply.
            return payload, str(payload.pop("documentation"))

        return await _run(state, act)

    async def get_package_docs_with_context(
        package_name: str,
        version_constraint: str | None = None,
        include_dependencies: bool = True,
        context_scope: str = "smart",
        max_dependencies: int | None = None,
        max_tokens: int | None = None,
    ) -> CallToolResult:
        async def act(r: Resources) -> tuple[dict[str, Any], None]:
            payload = await r.service.package_docs_with_context(
                package_name, version_constraint, include_dependencies, context_scope, max_dependencies, max_tokens
            )
            return payload, None

        return await _run(state, act)

    async def refresh_cache() -> CallToolResult:
        async def act(r: Resources) -> tuple[dict[str, Any], None]:
            return await r.service.refresh_cache(), None

        return await _run(state, act)

    async def get_cache_stats() -> CallToolResult:
        async def act(r: Resources) -> tuple[dict[str, Any], None]:
            return r.service.cache_stats(), None

        return await _run(state, act)

    async def health_check() -> CallToolResult:
        async def act(r: Resources) -> tuple[dict[str, Any], None]:
            return await health_report(state, r), None

        return await _run(state, act)

    async def ready_check() -> CallToolResult:
        async def act(_r: Resources) -> tuple[dict[str, Any], None]:
            return {"success": True, "ready": state.ready, "draining": state.draining}, None

        return await _run(state, act)

    async def get_metrics() -> CallToolResult:
        async def act(_r: Resources) -> tuple[dict[str, Any], None]:
            return {"success": True, "metrics": state.snapshot()}, None

        return await _run(state, act)

    functions = (
        scan_dependencies,
        get_package_docs,
        get_package_docs_with_context,
        refresh_cache,
        get_cache_stats,
        health_check,
        ready_check,
        get_metrics,
    )
    return [published_tool(SPECS_BY_NAME[fn.__name__], fn) for fn in functions]


async def health_report(state: ServerState, resources: Resources) -> dict[str, Any]:
    upstream = resources.upstream.stats()
    pool = upstream["pool"]
    breaker: dict[str, Any] = upstream["breaker"]
    breaker_state = str(breaker["state"])
    headroom = int(pool["max_connections"]) - int(pool["open"]) + int(pool["idle"])
    writable = await asyncio.to_thread(resources.store.is_writable)
    checks: dict[str, dict[str, Any]] = {
        "upstream_breaker": {"status": "ok" if breaker_state == "closed" else "degraded", "state": breaker_state},
        "cache": {"status": "ok" if writable else "degraded", "writable": writable},
        "pool": {
            "status": "ok" if int(pool["queued"]) == 0 else "degraded",
            "headroom": headroom,
            "queued": pool["queued"],
            "max_connections": pool["max_connections"],
        },
    }
    overall = "healthy" if all(c["status"] == "ok" for c in checks.values()) else "degraded"
    return {"success": True, "status": overall, "checks": checks, "uptime_s": state.snapshot()["uptime_s"]}

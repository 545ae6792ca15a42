"""What the tools do, independent of MCP: resolve, fetch through the cache, render, walk dependencies.

Upstream economy is the point of this module: a warm call makes no upstream request, and a cold call makes exactly
one per distinct package when the resolved version is the project's latest (its metadata rides along in the
project listing), because under load every upstream request is a rate-limit slot and a pool connection.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import structlog
from packaging.specifiers import SpecifierSet

from autodocs_mcp.cache import DocCache
from autodocs_mcp.config import Settings
from autodocs_mcp.dependencies import (
    Dependency,
    fit_to_budget,
    rank_dependencies,
    select_runtime,
    validate_count,
    validate_scope,
)
from autodocs_mcp.docs import RenderedDocs, estimate_tokens, render_docs
from autodocs_mcp.errors import AutoDocsError, ErrorCode
from autodocs_mcp.lru import BoundedLRU
from autodocs_mcp.metadata import CacheFormatError, PackageMetadata, ProjectIndex, parse_project_index, parse_release
from autodocs_mcp.names import validate_package_name, validate_version_constraint
from autodocs_mcp.scanner import scan_project
from autodocs_mcp.upstream import UpstreamClient
from autodocs_mcp.versions import resolve_version

log = structlog.get_logger("autodocs_mcp.service")

PARSED_MEMO_ENTRIES = 512
PARSED_MEMO_BYTES = 32 * 1024 * 1024
INDEX_MEMO_ENTRIES = 4096
INDEX_MEMO_BYTES = 16 * 1024 * 1024
INDEX_BYTES_PER_VERSION = 256
"""A remembered index holds each version string and, once resolved against, its parsed ``Version``: ~240 bytes
per release measured, so a 10,000-release project costs ~2.4 MB; a count bound alone would allow gigabytes."""
RENDER_MEMO_ENTRIES = 128
RENDER_MEMO_BYTES = 16 * 1024 * 1024
NOT_FOUND_ENTRIES = 4096
NOT_FOUND_TTL_S = 300.0
STALE_IF_ERROR = frozenset(
    {
        ErrorCode.UPSTREAM_UNAVAILABLE,
        ErrorCode.UPSTREAM_TIMEOUT,
        ErrorCode.UPSTREAM_INVALID_RESPONSE,
        ErrorCode.UPSTREAM_SATURATED,
    }
)
"""Upstream failures for which an expired project index is served rather than the error (RFC 5861's
stale-if-error): on a bad day a listing an hour old is a better answer than none, and the answer says it is stale."""
MAX_DEPENDENCIES = 50
MIN_TOKENS = 100
MAX_TOKENS = 1_000_000


@dataclass(frozen=True)
class Fetched:
    meta: PackageMetadata
    from_cache: bool
    upstream_requests: int
    stale: bool = False
    """The version was resolved against an expired project index because the upstream was failing."""


@dataclass(frozen=True)
class Project:
    index: ProjectIndex
    payload: dict[str, Any] | None = None
    """The raw listing when it was just fetched (it carries the latest release's metadata)."""
    stale: bool = False


def _exact_pin(spec: SpecifierSet | None) -> str | None:
    """The version a ``==X`` constraint pins, so a warm pinned call needs not even the project index."""
    if spec is None or len(spec) != 1:
        return None
    clause = next(iter(spec))
    if clause.operator == "==" and "*" not in clause.version:
        return clause.version
    return None


class DocsService:
    def __init__(self, settings: Settings, upstream: UpstreamClient, cache: DocCache) -> None:
        self._settings = settings
        self._upstream = upstream
        self._cache = cache
        self._dependency_slots = asyncio.Semaphore(settings.max_concurrent)
        # Re-validating a cached dict into a PackageMetadata / ProjectIndex costs more than the rest of a warm call,
        # so the parsed objects of hot packages are kept too (bounded; the index only for AUTODOCS_INDEX_TTL).
        self._parsed: BoundedLRU[tuple[str, str], PackageMetadata] = BoundedLRU(PARSED_MEMO_ENTRIES, PARSED_MEMO_BYTES)
        self._indexes: BoundedLRU[str, tuple[ProjectIndex, float]] = BoundedLRU(INDEX_MEMO_ENTRIES, INDEX_MEMO_BYTES)
        # Rendering a large description costs more than the rest of a warm call; the same hot packages are asked
        # for again and again, so the last renders are kept (bounded by count and bytes).
        self._rendered: BoundedLRU[tuple[str, str, str | None], RenderedDocs] = BoundedLRU(
            RENDER_MEMO_ENTRIES, RENDER_MEMO_BYTES
        )
        # A name PyPI does not have is asked for again by retrying clients; answering from memory for a while
        # spares the upstream (and its rate-limit slots). Bounded by count and by age.
        self._not_found: BoundedLRU[str, float] = BoundedLRU(NOT_FOUND_ENTRIES, NOT_FOUND_ENTRIES)
        self._not_found_hits = 0
        self._stale_served = 0

    def _render(self, meta: PackageMetadata, query: str | None) -> RenderedDocs:
        key = (meta.name, meta.version, query)
        rendered = self._rendered.get(key)
        if rendered is None:
            rendered = render_docs(meta, query=query, max_chars=self._settings.max_doc_size)
            self._rendered.put(key, rendered, len(rendered.markdown))
        return rendered

    def _known_missing(self, name: str) -> bool:
        seen_at = self._not_found.get(name)
        if seen_at is None:
            return False
        if time.monotonic() - seen_at > NOT_FOUND_TTL_S:
            self._not_found.pop(name)
            return False
        self._not_found_hits += 1
        return True

    def _remember_index(self, name: str, index: ProjectIndex) -> ProjectIndex:
        size = INDEX_BYTES_PER_VERSION * (len(index.versions) + len(index.yanked)) + 1024
        self._indexes.put(name, (index, time.monotonic()), size)
        return index

    def _remember_release(self, name: str, version: str, meta: PackageMetadata) -> PackageMetadata:
        self._parsed.put((name, version), meta, len(meta.description) + 1024)
        return meta

    async def _project(self, name: str) -> Project:
        """The project index, from memory, cache or upstream; an expired one while the upstream is failing."""
        expired: ProjectIndex | None = None
        remembered = self._indexes.get(name)
        if remembered is not None:
            index, at = remembered
            if time.monotonic() - at < self._settings.index_ttl:
                return Project(index)
            expired = index  # kept until a fresh one replaces it, for stale-if-error
        cached = await self._cache.get_index(name)
        if cached is not None:
            try:
                return Project(self._remember_index(name, ProjectIndex.from_cache_dict(cached)))
            except CacheFormatError:
                log.warning("cache_index_unusable", package=name)
        try:
            payload = await self._fetch(f"{quote(name)}/json", name)
        except AutoDocsError as error:
            stale = await self._stale_index(name, expired) if error.code in STALE_IF_ERROR else None
            if stale is None:
                raise
            self._stale_served += 1
            log.warning("serving_stale_index", package=name, reason=error.code.value)
            return Project(stale, stale=True)
        index = parse_project_index(payload, name)
        await self._cache.put_index(name, index.to_cache_dict())
        return Project(self._remember_index(name, index), payload)

    async def _stale_index(self, name: str, expired: ProjectIndex | None) -> ProjectIndex | None:
        if expired is not None:
            return expired
        cached = await self._cache.get_index_any_age(name)
        if cached is None:
            return None
        try:
            return ProjectIndex.from_cache_dict(cached)
        except CacheFormatError:
            return None

    async def _fetch(self, path: str, name: str, version: str | None = None) -> dict[str, Any]:
        if version is None and self._known_missing(name):
            raise _package_not_found(name)
        try:
            return await self._upstream.get_json(path)
        except AutoDocsError as error:
            if error.code is ErrorCode.PACKAGE_NOT_FOUND:
                if version is None:
                    self._not_found.put(name, time.monotonic(), 1)
                    raise _package_not_found(name) from None
                raise AutoDocsError(
                    ErrorCode.VERSION_NOT_FOUND,
                    f"version {version!r} of {name!r} was not found on PyPI",
                    suggestion="Omit version_constraint to get the latest release.",
                ) from None
            raise

    async def _cached_release(self, name: str, version: str) -> PackageMetadata | None:
        remembered = self._parsed.get((name, version))
        if remembered is not None:
            return remembered
        try:
            cached = await self._cache.get_version(name, version)
        except ValueError:  # a version the cache cannot key (e.g. a legacy spelling) is simply not cached
            return None
        if cached is None:
            return None
        try:
            return self._remember_release(name, version, PackageMetadata.from_cache_dict(cached))
        except CacheFormatError:
            log.warning("cache_entry_unusable", package=name, version=version)
            return None

    async def fetch_metadata(self, name: str, spec: SpecifierSet | None) -> Fetched:
        """Resolve ``spec`` for ``name`` and return that release's metadata, cache first."""
        pinned = _exact_pin(spec)
        if pinned is not None:
            hit = await self._cached_release(name, pinned)
            if hit is not None:
                return Fetched(hit, True, 0)
        project = await self._project(name)
        index, payload = project.index, project.payload
        version = resolve_version(index, spec)
        requests = 0 if payload is None else 1
        hit = await self._cached_release(name, version)
        if hit is not None:
            return Fetched(hit, payload is None, requests, project.stale)
        if payload is not None and version == index.latest:
            meta = parse_release(payload, max_description_chars=self._settings.max_doc_size)
        else:
            release = await self._fetch(f"{quote(name)}/{quote(version)}/json", name, version)
            requests += 1
            meta = parse_release(release, max_description_chars=self._settings.max_doc_size)
        await self._cache.put_version(name, meta.version, meta.to_cache_dict())
        return Fetched(self._remember_release(name, version, meta), False, requests)

    async def package_docs(self, package_name: object, version_constraint: object, query: object) -> dict[str, Any]:
        started = time.perf_counter()
        name = validate_package_name(package_name)
        spec = validate_version_constraint(version_constraint)
        query_text = _optional_text(query, "query", 500)
        fetched = await self.fetch_metadata(name, spec)
        rendered = self._render(fetched.meta, query_text)
        return {
            "success": True,
            "package_name": fetched.meta.name,
            "version": fetched.meta.version,
            "requested_constraint": None if spec is None else str(spec),
            "documentation": rendered.markdown,
            "truncated": rendered.truncated,
            "query": query_text,
            "sections_total": rendered.sections_total,
            "sections_matched": rendered.sections_matched,
            "token_estimate": rendered.token_estimate,
            "from_cache": fetched.from_cache,
            "stale": fetched.stale,
            "upstream_requests": fetched.upstream_requests,
            "response_time_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    async def package_docs_with_context(
        self,
        package_name: object,
        version_constraint: object,
        include_dependencies: object,
        context_scope: object,
        max_dependencies: object,
        max_tokens: object,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        name = validate_package_name(package_name)
        spec = validate_version_constraint(version_constraint)
        include = _boolean(include_dependencies, "include_dependencies")
        scope = validate_scope(context_scope)
        dep_limit = self._settings.max_deps if max_dependencies is None else max_dependencies
        dep_limit = validate_count(dep_limit, name="max_dependencies", minimum=0, maximum=MAX_DEPENDENCIES)
        budget = self._settings.max_tokens if max_tokens is None else max_tokens
        budget = validate_count(budget, name="max_tokens", minimum=MIN_TOKENS, maximum=MAX_TOKENS)

        primary = await self.fetch_metadata(name, spec)
        primary_doc = self._render(primary.meta, None)
        chosen: list[Dependency] = []
        invalid: list[str] = []
        if include and scope != "primary_only" and dep_limit > 0:
            selection = select_runtime(primary.meta.requires_dist, self_name=primary.meta.name)
            chosen = rank_dependencies(list(selection.dependencies), scope=scope, max_dependencies=dep_limit)
            invalid = [str(raw)[:200] for raw in selection.invalid]
        results = await asyncio.gather(*(self._dependency(dep.name, dep.specifier) for dep in chosen))
        fetched_deps: list[tuple[str, Fetched, str]] = []
        errors: list[dict[str, Any]] = []
        for dep, outcome in zip(chosen, results, strict=True):
            if isinstance(outcome, AutoDocsError):
                errors.append({"package": dep.name, **outcome.to_dict()})
            else:
                rendered = self._render(outcome.meta, None)
                fetched_deps.append((dep.name, outcome, rendered.markdown))
        items = [(primary.meta.name, primary_doc.markdown), *((n, doc) for n, _f, doc in fetched_deps)]
        kept, dropped = fit_to_budget(items, budget)
        kept_docs = dict(kept)
        dependencies = [
            {
                "package_name": fetched.meta.name,
                "version": fetched.meta.version,
                "summary": fetched.meta.summary,
                "documentation": kept_docs[dep_name],
                "from_cache": fetched.from_cache,
                "stale": fetched.stale,
            }
            for dep_name, fetched, _doc in fetched_deps
            if dep_name in kept_docs
        ]
        primary_text = kept_docs.get(primary.meta.name, primary_doc.markdown)
        total_tokens = sum(estimate_tokens(text) for text in kept_docs.values())
        return {
            "success": True,
            "context": {
                "primary_package": {
                    "package_name": primary.meta.name,
                    "version": primary.meta.version,
                    "documentation": primary_text,
                    "from_cache": primary.from_cache,
                    "stale": primary.stale,
                },
                "runtime_dependencies": dependencies,
                "context_scope": scope,
                "total_packages": 1 + len(dependencies),
                "token_estimate": total_tokens,
                "token_budget": budget,
                "truncated_packages": list(dropped),
                "errors": errors,
                "invalid_requirements": invalid,
            },
            "performance": {
                "response_time_ms": round((time.perf_counter() - started) * 1000, 2),
                "dependencies_requested": len(chosen),
                "dependencies_fetched": len(fetched_deps),
                "dependencies_failed": len(errors),
            },
        }

    async def _dependency(self, name: str, specifier: str) -> Fetched | AutoDocsError:
        """One dependency's metadata, or its error: a failing dependency must not fail the whole context call."""
        spec = SpecifierSet(specifier) if specifier else None  # already parsed once by packaging: valid
        async with self._dependency_slots:
            try:
                return await self.fetch_metadata(name, spec)
            except AutoDocsError as error:
                if spec is not None and error.code is ErrorCode.VERSION_NOT_FOUND:
                    try:
                        return await self.fetch_metadata(name, None)
                    except AutoDocsError as fallback_error:
                        return fallback_error
                return error

    async def scan(self, project_path: object) -> dict[str, Any]:
        result = await asyncio.to_thread(scan_project, project_path)  # type: ignore[arg-type]
        return {"success": True, **result.to_dict()}

    async def refresh_cache(self) -> dict[str, Any]:
        for memo in (self._parsed, self._indexes, self._rendered, self._not_found):
            memo.clear()
        removed = await self._cache.clear()
        return {"success": True, "cleared_entries": removed}

    def cache_stats(self) -> dict[str, Any]:
        return {
            "success": True,
            "cache": self._cache.stats(),
            "rendered_memo": {"entries": len(self._rendered), "bytes": self._rendered.total_size},
            "not_found_memo": {"entries": len(self._not_found), "hits": self._not_found_hits, "ttl_s": NOT_FOUND_TTL_S},
            "stale_served": self._stale_served,
        }


def _package_not_found(name: str) -> AutoDocsError:
    return AutoDocsError(
        ErrorCode.PACKAGE_NOT_FOUND,
        f"package {name!r} was not found on PyPI",
        suggestion="Check the spelling; PyPI names are case-insensitive and treat -, _ and . alike.",
    )


def _optional_text(value: object, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise AutoDocsError(
            ErrorCode.INVALID_ARGUMENT, f"{field} must be a string", suggestion=f"Pass {field} as text."
        )
    text = value.strip()
    if len(text) > limit:
        raise AutoDocsError(
            ErrorCode.INVALID_ARGUMENT,
            f"{field} is {len(text)} characters long; at most {limit} are allowed",
            suggestion=f"Shorten {field}.",
        )
    if any(not ch.isprintable() for ch in text):
        raise AutoDocsError(
            ErrorCode.INVALID_ARGUMENT, f"{field} contains control characters", suggestion="Use plain words."
        )
    return text or None


def _boolean(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    raise AutoDocsError(ErrorCode.INVALID_ARGUMENT, f"{field} must be true or false", suggestion="Pass a boolean.")

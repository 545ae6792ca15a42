"""What the tools do, independent of MCP: validate → resolve → fetch → render, asking the ``ReleaseStore``.

Everything remembered about releases (parsed metadata, indexes, not-found names, rendered documents, the disk) is
the store's; this module holds no memory of its own, so one budget and one ``stats()`` cover it all. What stays
here is the tools' logic: argument checks, version resolution, the dependency walk and the shape of the answers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from packaging.specifiers import SpecifierSet

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
from autodocs_mcp.metadata import PackageMetadata
from autodocs_mcp.names import validate_package_name, validate_version_constraint
from autodocs_mcp.scanner import scan_project
from autodocs_mcp.store import Release, ReleaseStore
from autodocs_mcp.versions import resolve_version

MAX_DEPENDENCIES = 50
MIN_TOKENS = 100
MAX_TOKENS = 1_000_000


def _exact_pin(spec: SpecifierSet | None) -> str | None:
    """The version a ``==X`` constraint pins, so a warm pinned call needs not even the project index."""
    if spec is None or len(spec) != 1:
        return None
    clause = next(iter(spec))
    if clause.operator == "==" and "*" not in clause.version:
        return clause.version
    return None


class DocsService:
    """The tools' logic over one ``ReleaseStore``; stateless apart from the bound on concurrent dependency fetches,
    so nothing here can grow with the traffic."""

    def __init__(self, settings: Settings, store: ReleaseStore) -> None:
        self._settings = settings
        self._store = store
        self._dependency_slots = asyncio.Semaphore(settings.max_concurrent)

    def _render(self, release: Release, query: str | None) -> RenderedDocs:
        return self._store.rendered(release, query, self._render_fresh)

    def _render_fresh(self, meta: PackageMetadata, query: str | None) -> RenderedDocs:
        return render_docs(meta, query=query, max_chars=self._settings.max_doc_size)

    async def fetch_metadata(self, name: str, spec: SpecifierSet | None) -> Release:
        """Resolve ``spec`` for ``name`` and return that release, cache first."""
        pinned = _exact_pin(spec)
        if pinned is not None:
            hit = await self._store.cached_release(name, pinned)
            if hit is not None:
                return hit
        project = await self._store.project(name)
        version = resolve_version(project.index, spec)
        return await self._store.release(name, version, project)

    async def package_docs(self, package_name: object, version_constraint: object, query: object) -> dict[str, Any]:
        started = time.perf_counter()
        name = validate_package_name(package_name)
        spec = validate_version_constraint(version_constraint)
        query_text = _optional_text(query, "query", 500)
        fetched = await self.fetch_metadata(name, spec)
        rendered = self._render(fetched, query_text)
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
        primary_doc = self._render(primary, None)
        chosen: list[Dependency] = []
        invalid: list[str] = []
        if include and scope != "primary_only" and dep_limit > 0:
            selection = select_runtime(primary.meta.requires_dist, self_name=primary.meta.name)
            chosen = rank_dependencies(list(selection.dependencies), scope=scope, max_dependencies=dep_limit)
            invalid = [str(raw)[:200] for raw in selection.invalid]
        results = await asyncio.gather(*(self._dependency(dep.name, dep.specifier) for dep in chosen))
        fetched_deps: list[tuple[str, Release, str]] = []
        errors: list[dict[str, Any]] = []
        for dep, outcome in zip(chosen, results, strict=True):
            if isinstance(outcome, AutoDocsError):
                errors.append({"package": dep.name, **outcome.to_dict()})
            else:
                rendered = self._render(outcome, None)
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

    async def _dependency(self, name: str, specifier: str) -> Release | AutoDocsError:
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
        return {"success": True, "cleared_entries": await self._store.clear()}

    def cache_stats(self) -> dict[str, Any]:
        stats = self._store.stats()
        rendered = stats["tiers"]["rendered"]
        not_found = stats["tiers"]["not_found"]
        return {
            "success": True,
            "cache": stats,
            "rendered_memo": {"entries": rendered["entries"], "bytes": rendered["bytes"]},
            "not_found_memo": {
                "entries": not_found["entries"],
                "hits": stats["not_found_hits"],
                "ttl_s": stats["not_found_ttl_s"],
            },
            "stale_served": stats["stale_served"],
        }


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

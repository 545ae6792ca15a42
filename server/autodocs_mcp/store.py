"""The one owner of everything the server remembers about releases, in memory and on disk.

What it remembers: parsed release metadata, parsed project indexes, names PyPI does not have, rendered documents
(the in-memory tiers, ``budget.Tier``, which share one ``MemoryBudget``), and the files of the disk tier
(``cache.DocCache`` over ``disk.DiskStore``). Everything about them is decided here and only here:

* **one key function**: ``disk.release_key``/``disk.index_key``, which are ``names.normalize_name`` of a checked
  PEP 508 name (plus ``str(Version(v))``), for every tier alike;
* **one clock**: the injected monotonic ``Clock`` judges every age (index TTL, not-found TTL); the stamps written
  to disk are the same clock read as wall time (``AnchoredWallClock``), because a later process must age them;
* **one place that maps a 404** (``not_found_error``): the upstream only says "404"; whether that means the
  package or one of its versions is missing, and that a missing package is remembered, is decided here;
* **one budget**: the tiers' caps are shares of it and every entry's size is measured when it is stored, so the
  sum of the tiers' bytes is what they hold and never exceeds the budget;
* **one ``stats()``**: entries, bytes and caps of every tier, their totals against the budget, and the disk's.

Upstream economy is the reason for the shape of ``project``/``release``: a warm call makes no upstream request, and
a cold call makes exactly one per distinct package when the resolved version is the project's latest (its metadata
rides along in the project listing), because under load every upstream request is a rate-limit slot and a pool
connection. Not thread-safe: one instance belongs to one event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote

import structlog

from autodocs_mcp.budget import MemoryBudget, Tier
from autodocs_mcp.cache import DocCache
from autodocs_mcp.clock import SYSTEM_CLOCK, AnchoredWallClock, Clock
from autodocs_mcp.config import Settings
from autodocs_mcp.disk import (
    CacheKey,
    first_per_package,
    index_key,
    normalise_version,
    release_key,
    release_matches,
    release_order,
)
from autodocs_mcp.docs import RenderedDocs
from autodocs_mcp.errors import AutoDocsError, ErrorCode
from autodocs_mcp.metadata import CacheFormatError, PackageMetadata, ProjectIndex, parse_project_index, parse_release

log = structlog.get_logger("autodocs_mcp.store")

NOT_FOUND_TTL_S: Final = 300.0
"""How long a name PyPI answered 404 for is answered from memory: retrying clients ask again within seconds, and a
package published meanwhile is found five minutes later at worst."""
STALE_IF_ERROR: Final = frozenset(
    {
        ErrorCode.UPSTREAM_UNAVAILABLE,
        ErrorCode.UPSTREAM_TIMEOUT,
        ErrorCode.UPSTREAM_INVALID_RESPONSE,
        ErrorCode.UPSTREAM_SATURATED,
    }
)
"""Upstream failures for which an expired project index is served rather than the error (RFC 5861's
stale-if-error): on a bad day a listing an hour old is a better answer than none, and the answer says it is stale."""
TIERS: Final = ("releases", "indexes", "rendered", "not_found")


class Upstream(Protocol):
    """What the store needs of the upstream client: one JSON object per path, ``PACKAGE_NOT_FOUND`` on a 404."""

    async def get_json(self, path: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Project:
    key: CacheKey
    """The index's key; its ``package`` is the key spelling every release of the project is filed under."""
    index: ProjectIndex
    payload: dict[str, Any] | None = None
    """The raw listing when it was just fetched (it carries the latest release's metadata); never remembered."""
    stale: bool = False
    """An expired index, served because the upstream was failing."""


@dataclass(frozen=True, slots=True)
class Release:
    key: CacheKey
    meta: PackageMetadata
    from_cache: bool
    upstream_requests: int
    stale: bool = False
    """The version was resolved against an expired project index because the upstream was failing."""


@dataclass(frozen=True, slots=True)
class Indexed:
    """A remembered project index and when it was fetched, on the store's monotonic clock."""

    index: ProjectIndex
    fetched_at: float


# ---------------------------------------------------------------------------------------------------------------
# the decisions, pure


def is_fresh(age_s: float, ttl_s: float) -> bool:
    """Whether something ``age_s`` old may still be trusted for ``ttl_s``. A negative age (a file stamped by a
    process whose clock ran ahead) counts by its size, so a stamp far in the future is not trusted forever."""
    return abs(age_s) <= ttl_s


def not_found_error(name: str, version: str | None) -> AutoDocsError:
    """What an upstream 404 means: the package is missing (``version`` None: the listing was asked for), or one
    release of it is."""
    if version is None:
        return AutoDocsError(
            ErrorCode.PACKAGE_NOT_FOUND,
            f"package {name!r} was not found on PyPI",
            suggestion="Check the spelling; PyPI names are case-insensitive and treat -, _ and . alike.",
        )
    return AutoDocsError(
        ErrorCode.VERSION_NOT_FOUND,
        f"version {version!r} of {name!r} was not found on PyPI",
        suggestion="Omit version_constraint to get the latest release.",
    )


def invalid_name_error(name: str) -> AutoDocsError:
    """A name no key can be built from (a dependency's name over the length cap, say)."""
    return AutoDocsError(
        ErrorCode.INVALID_PACKAGE_NAME,
        f"package name {name[:60]!r} is not a PyPI name this server can look up",
        suggestion="Pass a PyPI distribution name of at most 100 characters.",
    )


def serves_stale(error: AutoDocsError) -> bool:
    return error.code in STALE_IF_ERROR


# ---------------------------------------------------------------------------------------------------------------
# the store


class ReleaseStore:
    """Parsed releases and indexes, not-found names and rendered documents, in memory and on disk."""

    def __init__(
        self,
        directory: Path,
        upstream: Upstream,
        *,
        budget: MemoryBudget | None = None,
        index_ttl_s: float = 3600.0,
        not_found_ttl_s: float = NOT_FOUND_TTL_S,
        max_description_chars: int = 50_000,
        max_versions_per_package: int = 3,
        cleanup_days: int = 90,
        clock: Clock = SYSTEM_CLOCK,
        wall_anchor: float | None = None,
        io_workers: int = 4,
        max_pending_writes: int = 1024,
        max_file_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        if index_ttl_s < 0 or not_found_ttl_s < 0:
            raise ValueError("index_ttl_s and not_found_ttl_s must be >= 0")
        self.budget = budget if budget is not None else MemoryBudget()
        self._upstream = upstream
        self._clock = clock
        self._wall = AnchoredWallClock(clock, wall_anchor)
        self._index_ttl_s = index_ttl_s
        self._not_found_ttl_s = not_found_ttl_s
        self._max_description_chars = max_description_chars
        self._releases: Tier[CacheKey, PackageMetadata] = Tier("releases", self.budget)
        self._indexes: Tier[CacheKey, Indexed] = Tier("indexes", self.budget)
        self._rendered: Tier[tuple[CacheKey, str | None], RenderedDocs] = Tier("rendered", self.budget)
        self._not_found: Tier[str, float] = Tier("not_found", self.budget)
        self._disk = DocCache(
            directory,
            memory_entries=0,
            memory_bytes=0,
            max_versions_per_package=max_versions_per_package,
            cleanup_days=cleanup_days,
            wall_clock=self._wall,
            io_workers=io_workers,
            max_pending_writes=max_pending_writes,
            max_file_bytes=max_file_bytes,
        )
        self._hits = 0
        self._misses = 0
        self._expired = 0
        self._unusable = 0
        self._not_found_hits = 0
        self._stale_served = 0

    @classmethod
    def from_settings(cls, settings: Settings, upstream: Upstream, *, clock: Clock = SYSTEM_CLOCK) -> ReleaseStore:
        return cls(
            settings.cache_dir,
            upstream,
            budget=MemoryBudget(settings.memory_budget_bytes, settings.memory_entries_cap),
            index_ttl_s=settings.index_ttl,
            not_found_ttl_s=settings.not_found_ttl,
            max_description_chars=settings.max_doc_size,
            max_versions_per_package=settings.max_versions,
            cleanup_days=settings.cleanup_days,
            clock=clock,
        )

    # -- project indexes --------------------------------------------------------------------------------------

    async def project(self, name: str) -> Project:
        """The project index of ``name``: from memory, disk or upstream, or an expired one while upstream fails."""
        key = _index_key(name)
        expired: ProjectIndex | None = None
        remembered = self._indexes.get(key)
        if remembered is not None:
            if is_fresh(self._clock.monotonic() - remembered.fetched_at, self._index_ttl_s):
                self._hits += 1
                return Project(key, remembered.index)
            expired = remembered.index  # kept until a fresh one replaces it, for stale-if-error
        entry = await self._disk.read(key)
        newer = self._fresh_index(key)
        if newer is not None:  # fetched by another call while this one read the disk
            self._hits += 1
            return Project(key, newer)
        if entry is not None:
            written_at, data = entry
            age_s = self._wall() - written_at
            parsed = self._index_from_cache(key, data)
            if parsed is not None and is_fresh(age_s, self._index_ttl_s):
                self._remember_index(key, parsed, self._clock.monotonic() - max(age_s, 0.0))
                return Project(key, parsed)
            if parsed is not None:
                self._expired += 1
                expired = expired or parsed
        self._misses += 1
        try:
            payload = await self._get(f"{quote(name)}/json", key.package, None)
        except AutoDocsError as error:
            if expired is None or not serves_stale(error):
                raise
            self._stale_served += 1
            log.warning("serving_stale_index", package=key.package, reason=error.code.value)
            return Project(key, expired, stale=True)
        index = parse_project_index(payload, name)
        self._remember_index(key, index, self._clock.monotonic())
        self._disk.put(key, index.to_cache_dict())
        return Project(key, index, payload)

    def _fresh_index(self, key: CacheKey) -> ProjectIndex | None:
        remembered = self._indexes.get(key)
        if remembered is None or not is_fresh(self._clock.monotonic() - remembered.fetched_at, self._index_ttl_s):
            return None
        return remembered.index

    def _index_from_cache(self, key: CacheKey, data: dict[str, Any]) -> ProjectIndex | None:
        try:
            return ProjectIndex.from_cache_dict(data)
        except CacheFormatError:
            self._unusable += 1
            log.warning("cache_index_unusable", package=key.package)
            return None

    def _remember_index(self, key: CacheKey, index: ProjectIndex, fetched_at: float) -> None:
        _ = index.parsed_versions  # computed before it is measured: resolving needs it, and it is most of the bytes
        self._indexes.put(key, Indexed(index, fetched_at))

    # -- releases ---------------------------------------------------------------------------------------------

    async def cached_release(self, name: str, version: str) -> Release | None:
        """The release from memory or disk only, or ``None`` (also for a version no key can be built from, e.g. a
        legacy spelling: it is simply not cached)."""
        try:
            key = release_key(name, version)
        except ValueError:
            return None
        meta = await self._remembered_release(key)
        return None if meta is None else Release(key, meta, True, 0)

    async def release(self, name: str, version: str, project: Project) -> Release:
        """Release ``version`` of ``name`` (a version ``project`` lists): cached, from the listing just fetched, or
        from upstream."""
        try:
            key = CacheKey(project.key.package, normalise_version(version))
        except ValueError:
            raise not_found_error(name, version) from None
        requests = 0 if project.payload is None else 1
        in_listing = project.payload is not None and version == project.index.latest
        # A release's metadata never changes, so one that rides in the listing just fetched needs no disk read:
        # the file could only hold the same document (a cold call saves a thread hop and a failed open).
        meta = self._memory_release(key) if in_listing else await self._remembered_release(key)
        if meta is not None:
            return Release(key, meta, project.payload is None, requests, project.stale)
        self._misses += 1
        if project.payload is not None and in_listing:
            meta = parse_release(project.payload, max_description_chars=self._max_description_chars)
        else:
            document = await self._get(f"{quote(name)}/{quote(version)}/json", key.package, version)
            requests += 1
            meta = parse_release(document, max_description_chars=self._max_description_chars)
        self._releases.put(key, meta)
        self._disk.put(key, meta.to_cache_dict())
        return Release(key, meta, False, requests)

    def _memory_release(self, key: CacheKey) -> PackageMetadata | None:
        meta = self._releases.get(key)
        if meta is not None:
            self._hits += 1
        return meta

    async def _remembered_release(self, key: CacheKey) -> PackageMetadata | None:
        meta = self._memory_release(key)
        if meta is not None:
            return meta
        entry = await self._disk.read(key)
        newer = self._releases.get(key)
        if newer is not None:  # stored by another call while this one read the disk
            self._hits += 1
            return newer
        if entry is None:
            return None
        try:
            meta = PackageMetadata.from_cache_dict(entry[1])
        except CacheFormatError:
            self._unusable += 1
            log.warning("cache_entry_unusable", package=key.package, version=key.version)
            return None
        self._releases.put(key, meta)
        return meta

    # -- rendered documents -----------------------------------------------------------------------------------

    def rendered(
        self, release: Release, query: str | None, render: Callable[[PackageMetadata, str | None], RenderedDocs]
    ) -> RenderedDocs:
        """The rendering of ``release`` for ``query``, remembered: rendering a large description costs more than
        the rest of a warm call, and the same hot packages are asked for again and again."""
        key = (release.key, query)
        found = self._rendered.get(key)
        if found is None:
            found = render(release.meta, query)
            self._rendered.put(key, found)
        return found

    # -- upstream and not-found memory ------------------------------------------------------------------------

    async def _get(self, path: str, package: str, version: str | None) -> dict[str, Any]:
        """``path`` from upstream, a remembered 404 answered without asking; every 404 is mapped here."""
        if version is None and self._remembered_missing(package):
            self._not_found_hits += 1
            raise not_found_error(package, None)
        try:
            return await self._upstream.get_json(path)
        except AutoDocsError as error:
            if error.code is not ErrorCode.PACKAGE_NOT_FOUND:
                raise
            if version is None:
                self._not_found.put(package, self._clock.monotonic())
            raise not_found_error(package, version) from None

    def _remembered_missing(self, package: str) -> bool:
        seen_at = self._not_found.get(package)
        if seen_at is None:
            return False
        if is_fresh(self._clock.monotonic() - seen_at, self._not_found_ttl_s):
            return True
        self._not_found.pop(package)
        return False

    # -- listing, maintenance, lifecycle ----------------------------------------------------------------------

    async def releases(
        self, limit: int, *, prefix: str = "", after: CacheKey | None = None, per_package: int | None = None
    ) -> list[CacheKey]:
        """Up to ``limit`` releases held in memory or on disk, in ``disk.release_order`` (``DocCache.releases``
        says what ``prefix``, ``after`` and ``per_package`` select)."""
        position = release_order(after) if after is not None else None
        held = {key for key in self._releases.keys() if release_matches(key, prefix, position)}
        held.update(await self._disk.releases(limit, prefix=prefix, after=after, per_package=per_package))
        return first_per_package(sorted(held, key=release_order), per_package, limit)

    async def clear(self) -> int:
        """Forget everything, in memory and on disk; returns how many distinct releases and indexes went."""
        removed = {*self._releases.keys(), *self._indexes.keys()}
        for tier in self._tiers():
            tier.clear()
        removed |= await self._disk.clear()
        return len(removed)

    async def prune(self) -> dict[str, int]:
        """Keep the disk within the per-package version limit and the cleanup age; what goes from disk goes from
        memory too."""
        excess, expired = await self._disk.prune()
        for key in excess + expired:
            self._releases.pop(key)
            self._indexes.pop(key)
        return {"excess_versions": len(excess), "expired": len(expired), "removed": len(excess) + len(expired)}

    async def flush(self) -> None:
        await self._disk.flush()

    async def close(self) -> None:
        await self._disk.close()

    def is_writable(self) -> bool:
        return self._disk.is_writable()

    def scan_invalid(self) -> list[Path]:
        return self._disk.scan_invalid()

    def memory_bytes(self) -> int:
        """The measured bytes all in-memory tiers hold now."""
        return sum(tier.stats()["bytes"] for tier in self._tiers())

    def _tiers(self) -> tuple[Tier[Any, Any], ...]:
        return (self._releases, self._indexes, self._rendered, self._not_found)

    def stats(self) -> dict[str, Any]:
        """Every tier's entries, bytes and caps; ``memory_*`` are their totals against the budget (what the soak
        samples); the rest describes the disk tier and the lookups."""
        tiers = {tier.name: tier.stats() for tier in self._tiers()}
        disk = self._disk.stats()
        return {
            "memory_entries": sum(t["entries"] for t in tiers.values()),
            "memory_bytes": sum(t["bytes"] for t in tiers.values()),
            "memory_entries_limit": self.budget.total_entries,
            "memory_bytes_limit": self.budget.total_bytes,
            "tiers": tiers,
            "hits": self._hits,
            "disk_hits": disk["disk_hits"],
            "misses": self._misses,
            "expired": self._expired,
            "unusable": self._unusable,
            "evictions": sum(t["evictions"] for t in tiers.values()),
            "not_found_hits": self._not_found_hits,
            "stale_served": self._stale_served,
            "writes": disk["writes"],
            "write_errors": disk["write_errors"],
            "writes_dropped": disk["writes_dropped"],
            "writes_refused": disk["writes_refused"],
            "corrupt_removed": disk["corrupt_removed"],
            "disk_entries": disk["disk_entries"],
            "disk_bytes": disk["disk_bytes"],
            "directory": disk["directory"],
            "pending_writes": disk["pending_writes"],
            "writable": disk["writable"],
            "closed": disk["closed"],
            "index_ttl_s": self._index_ttl_s,
            "not_found_ttl_s": self._not_found_ttl_s,
        }


def _index_key(name: str) -> CacheKey:
    try:
        return index_key(name)
    except ValueError:
        raise invalid_name_error(name) from None

"""The disk tier's asynchronous shell: file I/O on a small thread pool, writes behind the caller, bounded.

Why it is shaped this way:

* Disk I/O runs on a dedicated thread pool, never on the event loop (the only exceptions are the one-off folder
  scan in the constructor, and ``scan_invalid``/``is_writable``, which are synchronous by contract). The cache is
  best-effort: a failed write is logged and counted, never raised into the tool call.
* Writes happen behind the caller. Which payload is written when is decided by ``writeback.WriteBehind`` (pure
  state: one writer per key, last write wins, a bounded backlog); the drain here only carries its decisions out.
* Folder fsyncs are batched (``disk.DiskStore.sync_folders``): the first write after a batch schedules the next
  one ``FOLDER_SYNC_DELAY_S`` later, ``FOLDER_SYNC_MAX`` folders waiting start it at once, and every flush runs
  one, so a flushed write's name is durable and an unflushed one is at most that delay from it.
* The file layer itself (crash safety, envelopes, hostile names) is ``disk.DiskStore``; keys come from
  ``disk.release_key``/``disk.index_key`` (``names.normalize_name`` underneath), the one key function.
* Time is the owner's: ``written_at`` stamps come from the ``wall_clock`` it passes (the ``ReleaseStore``'s one
  clock mapped onto wall time) and no age is judged here.
* An optional memory tier of plain dicts in front of the disk serves a dict-level user (the benchmarks time it).
  The server's ``ReleaseStore`` keeps parsed objects in its own budgeted tiers instead and turns this one off
  (``memory_entries=0``), so no release is held twice.

Contract: values returned by ``get_*`` and ``read`` are shared with the memory tier and must not be mutated;
``put`` stores a JSON round-tripped copy, so memory and disk hits return the same shape and a caller mutating its
own dict afterwards changes nothing. One instance belongs to one event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog

from autodocs_mcp.disk import (
    SECONDS_PER_DAY,
    CacheKey,
    Corrupt,
    DiskStore,
    Entry,
    encode_envelope,
    first_per_package,
    index_key,
    release_key,
    release_matches,
    release_order,
)
from autodocs_mcp.lru import BoundedLRU
from autodocs_mcp.writeback import Offer, WriteBehind

log = structlog.get_logger(__name__)

FOLDER_SYNC_DELAY_S = 1.0
"""How long a written file's name may wait for its folder's fsync: a batch then holds every folder a second of
cold calls wrote (their index and release share one), instead of one fsync per file."""
FOLDER_SYNC_MAX = 256
"""Folders waiting that start a batch at once, whatever the delay: the set of unsynced names stays bounded."""


class DocCache:
    """Per-(package, version) metadata plus per-package release indexes on disk, with an optional memory tier."""

    def __init__(
        self,
        directory: Path,
        *,
        memory_entries: int = 1024,
        memory_bytes: int = 64 * 1024 * 1024,
        max_versions_per_package: int = 3,
        cleanup_days: int = 90,
        wall_clock: Callable[[], float] = time.time,
        io_workers: int = 4,
        max_pending_writes: int = 1024,
        max_file_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        if max_versions_per_package < 1 or cleanup_days < 0:
            raise ValueError("max_versions_per_package must be >= 1 and cleanup_days >= 0")
        if io_workers < 1 or max_pending_writes < 1 or max_file_bytes < 1:
            raise ValueError("io_workers, max_pending_writes and max_file_bytes must be >= 1")
        self._directory = Path(directory)
        self._memory: BoundedLRU[CacheKey, Entry] = BoundedLRU(memory_entries, memory_bytes)
        self._max_versions = max_versions_per_package
        self._max_age_s = float(cleanup_days * SECONDS_PER_DAY)
        self._wall_clock = wall_clock
        self._executor = ThreadPoolExecutor(max_workers=io_workers, thread_name_prefix="doccache-io")
        self._writes: WriteBehind[CacheKey] = WriteBehind(max_pending_writes)
        self._writers: dict[CacheKey, asyncio.Task[None]] = {}
        self._flushes: list[tuple[int, asyncio.Future[None]]] = []
        self._sync_timer: asyncio.TimerHandle | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._sync_errors = 0
        self._closed = False
        self._hits = 0
        self._disk_hits = 0
        self._misses = 0
        self._writes_done = 0
        self._write_errors = 0
        self._writes_dropped = 0
        self._writes_refused = 0
        self._corrupt_removed = 0
        self._max_file_bytes = max_file_bytes
        self._disk = self._open_disk(max_file_bytes)

    def _open_disk(self, max_file_bytes: int) -> DiskStore | None:
        """Returns ``None`` (memory-only mode) when the folder cannot be created, scanned or written."""
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            store = DiskStore(self._directory.resolve(), max_file_bytes)
            if not store.probe_writable():
                raise PermissionError("folder is not writable")
            store.startup()
        except OSError as exc:
            log.warning("cache_memory_only", directory=str(self._directory), error=repr(exc))
            return None
        return store

    @property
    def has_disk(self) -> bool:
        """Whether files are read and written (``False``: the folder was unusable at startup, memory only)."""
        return self._disk is not None

    async def read(self, key: CacheKey) -> Entry | None:
        """``(written_at, data)`` from memory or disk, however old; judging the age is the caller's business."""
        entry = self._memory.get(key)
        if entry is not None:
            self._hits += 1
            return entry
        disk = self._disk
        if disk is None or self._closed:
            self._misses += 1
            return None
        result = await asyncio.get_running_loop().run_in_executor(self._executor, disk.read, key)
        newer = self._memory.get(key)
        if isinstance(result, Corrupt):
            self._corrupt_removed += int(result.removed)
        if newer is not None:  # put while the file was being read: the put is the newer value
            self._hits += 1
            return newer
        if result is None or isinstance(result, Corrupt):
            self._misses += 1
            return None
        self._disk_hits += 1
        entry = (result.written_at, result.data)
        self._memory.put(key, entry, result.size)
        return entry

    def put(self, key: CacheKey, data: dict[str, Any]) -> float:
        """Store ``data`` under ``key`` (memory now, disk behind the caller); returns its ``written_at``.

        Raises TypeError/ValueError for data that is not plain JSON: that is a caller bug, not an I/O error.
        """
        data_json = json.dumps(data, separators=(",", ":"), allow_nan=False)
        written_at = self._wall_clock()
        if self._memory.max_entries:
            self._memory.put(key, (written_at, json.loads(data_json)), len(data_json))
        if self._disk is not None:
            self._offer(key, encode_envelope(key.label, written_at, data_json), written_at)
        return written_at

    async def get_version(self, package: str, version: str) -> dict[str, Any] | None:
        entry = await self.read(release_key(package, version))
        return None if entry is None else entry[1]

    async def put_version(self, package: str, version: str, data: dict[str, Any]) -> None:
        self.put(release_key(package, version), data)

    async def get_index(self, package: str) -> dict[str, Any] | None:
        """The project index however old it is (the ``ReleaseStore`` judges its age on its own clock)."""
        entry = await self.read(index_key(package))
        return None if entry is None else entry[1]

    async def put_index(self, package: str, data: dict[str, Any]) -> None:
        self.put(index_key(package), data)

    def forget(self, key: CacheKey) -> None:
        """Drop ``key`` from the memory tier (its file stays): the owner found the entry unusable."""
        self._memory.pop(key)

    async def releases(
        self, limit: int, *, prefix: str = "", after: CacheKey | None = None, per_package: int | None = None
    ) -> list[CacheKey]:
        """Up to ``limit`` releases held on disk (and in this memory tier), in ``release_order``: those whose
        normalised ``package/version`` starts with ``prefix`` (``"req"``: packages starting so; ``"requests/2."``:
        versions of ``requests``), strictly after ``after``, and at most ``per_package`` of each package (``1``
        lists packages).

        Costs one listing of the cache folder plus one of each package folder visited; the file contents are
        never read, so a listed release may still turn out corrupt (and be a miss) when it is read.
        """
        position = release_order(after) if after is not None else None
        held = {key for key in self._memory.keys() if release_matches(key, prefix, position)}
        disk = self._disk
        if disk is not None and not self._closed:
            loop = asyncio.get_running_loop()
            held.update(await loop.run_in_executor(self._executor, disk.releases, prefix, after, per_package, limit))
        return first_per_package(sorted(held, key=release_order), per_package, limit)

    def _offer(self, key: CacheKey, payload: bytes, written_at: float) -> None:
        """Decide first (pure state), then act: start a writer, or count what the put became."""
        decision = self._writes.offer(key, payload, written_at)
        if decision is Offer.START:
            self._writers[key] = asyncio.get_running_loop().create_task(self._drain(key))
        elif decision is Offer.REFUSED:
            self._writes_refused += 1
        elif decision is Offer.DROPPED:
            self._writes_dropped += 1
            log.warning("cache_write_dropped", key=key.label, pending=self._writes.unsettled)

    async def _drain(self, key: CacheKey) -> None:
        """The only writer for ``key``: writes what the backlog hands it until it hands nothing."""
        disk = self._disk
        assert disk is not None, "writers start only with a disk"
        loop = asyncio.get_running_loop()
        try:
            while (pending := self._writes.take(key)) is not None:
                try:
                    await loop.run_in_executor(self._executor, disk.write, key, pending.payload, pending.written_at)
                except Exception as exc:
                    self._write_errors += 1
                    log.warning("cache_write_failed", key=key.label, error=repr(exc))
                else:
                    self._writes_done += 1
                    self._schedule_folder_sync(disk)
                finally:
                    self._writes.finish(key)
                    self._wake_flushes()
        finally:
            self._writers.pop(key, None)
            if self._writes.abandon(key):
                self._writes_dropped += 1
            self._wake_flushes()

    def _schedule_folder_sync(self, disk: DiskStore) -> None:
        """Decide when the folders just written get their fsync: at once past the count bound, else after the
        delay (one timer for all of them)."""
        if disk.unsynced >= FOLDER_SYNC_MAX:
            self._start_folder_sync()
        else:
            self._arm_folder_sync()

    def _arm_folder_sync(self) -> None:
        """One timer for every folder waiting: the first to wait starts it, the rest ride on it."""
        if self._sync_timer is None:
            self._sync_timer = asyncio.get_running_loop().call_later(FOLDER_SYNC_DELAY_S, self._start_folder_sync)

    def _start_folder_sync(self) -> None:
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.get_running_loop().create_task(self._sync_folders())

    async def _sync_folders(self) -> None:
        """One batch of folder fsyncs on an I/O thread; a failure is counted and logged, and its folders wait for
        the next batch."""
        disk = self._disk
        if disk is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, disk.sync_folders)
        except OSError as exc:
            self._sync_errors += 1
            log.warning("cache_folder_sync_failed", error=repr(exc))
        if disk.unsynced and not self._closed:
            # written while this batch ran (their timer found it running), or failed in it: the next batch is theirs
            self._arm_folder_sync()

    def _wake_flushes(self) -> None:
        if not self._flushes:
            return
        still: list[tuple[int, asyncio.Future[None]]] = []
        for ticket, waiter in self._flushes:
            if waiter.done():
                continue
            if self._writes.settled_through(ticket):
                waiter.set_result(None)
            else:
                still.append((ticket, waiter))
        self._flushes = still

    async def flush(self) -> None:
        """Wait until every write accepted so far is durable (or failed and was counted).

        Unbounded by design: the caller owns the deadline (``asyncio.timeout``); cancelling only stops waiting.
        """
        ticket = self._writes.last_ticket
        if not self._writes.settled_through(ticket):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._flushes.append((ticket, waiter))
            try:
                await waiter
            finally:
                self._flushes = [(t, w) for t, w in self._flushes if w is not waiter]
        await self._flush_folders()

    async def _flush_folders(self) -> None:
        """Every folder written so far fsynced: a batch already running may hold some of them, so it is waited
        for, then one more batch takes the rest."""
        if self._disk is None:
            return
        running = self._sync_task
        if running is not None and not running.done():
            await asyncio.shield(running)
        if self._disk.unsynced:
            self._start_folder_sync()
            if self._sync_task is not None:
                await asyncio.shield(self._sync_task)

    async def close(self) -> None:
        """Refuse new writes, flush the accepted ones, and release the I/O threads; later reads are memory-only."""
        if self._closed:
            return
        self._closed = True
        self._writes.close()
        try:
            await self.flush()
        finally:
            if self._sync_timer is not None:
                self._sync_timer.cancel()
                self._sync_timer = None
            self._executor.shutdown(wait=False)

    async def clear(self) -> set[CacheKey]:
        """Remove every entry from memory and disk; returns the distinct keys removed."""
        await self.flush()
        removed = set(self._memory.keys())
        self._memory.clear()
        if self._disk is not None and not self._closed:
            loop = asyncio.get_running_loop()
            removed.update(await loop.run_in_executor(self._executor, self._disk.clear))
        return removed

    async def prune(self) -> tuple[list[CacheKey], list[CacheKey]]:
        """Drop versions beyond the per-package limit (oldest written first) and files older than cleanup_days;
        returns the keys removed as ``(excess versions, expired)``."""
        await self.flush()
        if self._disk is None or self._closed:
            return [], []
        loop = asyncio.get_running_loop()
        excess, expired = await loop.run_in_executor(
            self._executor, self._disk.prune, self._wall_clock(), self._max_versions, self._max_age_s
        )
        for key in excess + expired:
            self._memory.pop(key)
        return excess, expired

    def is_writable(self) -> bool:
        """Probes by creating and removing a temp file (blocking, but one tiny file)."""
        if self._disk is None:
            return DiskStore(self._directory, 1).probe_writable()
        return self._disk.probe_writable()

    def scan_invalid(self) -> list[Path]:
        """Every file in the folder that is not a valid cache file for the key its path names, temp files included."""
        if self._disk is not None:
            return self._disk.scan_invalid()
        if not self._directory.is_dir():
            return []
        return DiskStore(self._directory.resolve(), self._max_file_bytes).scan_invalid()

    def stats(self) -> dict[str, int | float | str]:
        disk_entries, disk_bytes = self._disk.counts() if self._disk is not None else (0, 0)
        return {
            "hits": self._hits,
            "disk_hits": self._disk_hits,
            "misses": self._misses,
            "writes": self._writes_done,
            "write_errors": self._write_errors,
            "writes_dropped": self._writes_dropped,
            "writes_refused": self._writes_refused,
            "folder_syncs": self._disk.folder_syncs if self._disk is not None else 0,
            "folder_sync_errors": self._sync_errors,
            "unsynced_folders": self._disk.unsynced if self._disk is not None else 0,
            "corrupt_removed": self._corrupt_removed,
            "evictions": self._memory.evictions,
            "memory_entries": len(self._memory),
            "memory_bytes": self._memory.total_size,
            "memory_entries_limit": self._memory.max_entries,
            "memory_bytes_limit": self._memory.max_size,
            "disk_entries": disk_entries,
            "disk_bytes": disk_bytes,
            "directory": str(self._directory),
            "pending_writes": self._writes.unsettled,
            "writable": self._disk is not None,
            "closed": self._closed,
        }

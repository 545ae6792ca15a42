"""Crash-safe documentation cache: a bounded memory tier in front of atomically written JSON files.

Why it is shaped this way:

* A released version's metadata never changes, so ``(package, version)`` entries never expire by time; only
  ``prune()`` removes them. The project index (the list of releases) does change, so it carries a TTL.
* Every file is written to a uniquely named temp file in its own folder, fsynced, renamed over the target and the
  folder fsynced. A crash therefore leaves the old file, the new file or a stray ``*.tmp``, never a torn cache
  file. Temp files are named ``.<pid>-<random>.tmp``; at startup any temp file whose writer process is gone (or
  whose name we do not recognise) is removed. A live process's temp file is kept, so two servers may share one
  folder without deleting each other's in-flight writes. A ``*.tmp`` file is never a cache file.
* Every file is an envelope ``{"format": 1, "key": ..., "written_at": ..., "data": {...}}``: a reader checks the
  file belongs to the key it asked for. Anything unreadable is a miss, is removed, and is counted. A file's mtime
  is set to ``written_at`` so pruning needs ``stat`` only, and follows the injected clock.
* Names cannot escape the folder: package names must match the PEP 508 name pattern (ASCII only, then PEP 503
  normalised), versions must parse as PEP 440 versions (then ``str(Version(v))``, so ``01.2`` is ``1.2`` but
  ``1.0`` and ``1.0.0`` stay two entries), and both are length-capped. With validated names only a planted
  symlink could lead outside, so before any disk access the package folder must be a real directory, a write
  also checks the folder's resolved path is inside the cache folder, and files are opened with ``O_NOFOLLOW``.
* Disk I/O runs on a small dedicated thread pool, never on the event loop (the only exception is the one-off
  folder scan in the constructor, and ``scan_invalid``/``is_writable``, which are synchronous by contract). The
  cache is best-effort: a failed write is logged and counted, never raised into the tool call.
* Writes for one key are serialised and coalesced: while one is in flight, only the newest pending payload is
  kept, so the last write wins and the backlog is bounded by ``max_pending_writes``.

Contract: values returned by ``get_*`` are shared with the memory tier and must not be mutated; ``put_*`` stores a
JSON round-tripped copy, so memory and disk hits always return the same shape and a caller mutating its own dict
afterwards changes nothing. One instance belongs to one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import math
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from packaging.version import InvalidVersion, Version

from autodocs_mcp.lru import BoundedLRU

log = structlog.get_logger(__name__)

FORMAT = 1
INDEX_FILE = "_index.json"
CACHE_SUFFIX = ".json"
TEMP_SUFFIX = ".tmp"
MAX_PACKAGE_LENGTH = 200
MAX_VERSION_LENGTH = 100
SECONDS_PER_DAY = 86_400
STALE_TEMP_AGE_S = 3600.0
PROCESS_STARTED = time.time()

_PEP508_NAME = re.compile(r"([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])", re.IGNORECASE | re.ASCII)
_NORMALISED_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", re.ASCII)
_TEMP_NAME = re.compile(r"\.(\d+)-.*\.tmp", re.DOTALL)

Entry = tuple[float, dict[str, Any]]


class CacheKey(NamedTuple):
    """A normalised key; ``version`` is ``None`` for the project index."""

    package: str
    version: str | None

    @property
    def label(self) -> str:
        return f"{self.package}=={self.version}" if self.version is not None else f"{self.package}:index"

    @property
    def file_name(self) -> str:
        return f"{self.version}{CACHE_SUFFIX}" if self.version is not None else INDEX_FILE


def normalise_package(name: str) -> str:
    if len(name) > MAX_PACKAGE_LENGTH or _PEP508_NAME.fullmatch(name) is None:
        raise ValueError(f"invalid package name: {name[:60]!r}")
    return re.sub(r"[-_.]+", "-", name).lower()


def normalise_version(version: str) -> str:
    if len(version) > MAX_VERSION_LENGTH:
        raise ValueError(f"version too long: {version[:60]!r}")
    try:
        normalised = str(Version(version))
    except InvalidVersion as exc:
        raise ValueError(f"invalid version: {version[:60]!r}") from exc
    if len(normalised) > MAX_VERSION_LENGTH:
        raise ValueError(f"version too long: {version[:60]!r}")
    return normalised


@functools.lru_cache(maxsize=8192)
def version_key(package: str, version: str) -> CacheKey:
    """Memoised because a memory hit must cost microseconds and parsing a version costs several."""
    return CacheKey(normalise_package(package), normalise_version(version))


@functools.lru_cache(maxsize=4096)
def index_key(package: str) -> CacheKey:
    return CacheKey(normalise_package(package), None)


def release_order(key: CacheKey) -> tuple[str, Version, str]:
    """The order releases are listed in: by package name, then PEP 440 version, then spelling (``1.0`` before
    ``1.0.0``, which are two entries), so every pair of release keys compares and a listing can resume after one."""
    return key.package, Version(key.version or "0"), key.version or ""


def _release_matches(key: CacheKey, prefix: str, after: tuple[str, Version, str] | None) -> bool:
    return (
        key.version is not None
        and f"{key.package}/{key.version}".startswith(prefix)
        and (after is None or release_order(key) > after)
    )


def _first_per_package(keys: list[CacheKey], per_package: int | None, limit: int) -> list[CacheKey]:
    """``keys`` in release order, at most ``per_package`` of each package, at most ``limit`` in all."""
    if per_package is None:
        return keys[:limit]
    kept: list[CacheKey] = []
    for _package, group in itertools.groupby(keys, key=lambda key: key.package):
        kept += itertools.islice(group, per_package)
        if len(kept) >= limit:
            break
    return kept[:limit]


def key_from_path(package_dir: str, file_name: str) -> CacheKey | None:
    """The key a file at ``<dir>/<package_dir>/<file_name>`` would hold, or ``None`` if no key maps there."""
    if len(package_dir) > MAX_PACKAGE_LENGTH or _NORMALISED_NAME.fullmatch(package_dir) is None:
        return None
    if file_name == INDEX_FILE:
        return CacheKey(package_dir, None)
    stem = file_name.removesuffix(CACHE_SUFFIX)
    if stem == file_name:
        return None
    try:
        return CacheKey(package_dir, stem) if normalise_version(stem) == stem else None
    except ValueError:
        return None


class CorruptEntry(ValueError):
    """A cache file that cannot be trusted; the message says why."""


def encode_envelope(label: str, written_at: float, data_json: str) -> bytes:
    """Built around the already-serialised data so a put serialises the payload once."""
    return (
        f'{{"format":{FORMAT},"key":{json.dumps(label)},"written_at":{json.dumps(written_at)},"data":{data_json}}}'
    ).encode("ascii")


def decode_envelope(raw: bytes, label: str) -> Entry:
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CorruptEntry("not valid JSON") from exc
    if not isinstance(envelope, dict):
        raise CorruptEntry("not a JSON object")
    fmt = envelope.get("format")
    if type(fmt) is not int or fmt != FORMAT:
        raise CorruptEntry(f"unknown format {fmt!r}")
    if envelope.get("key") != label:
        raise CorruptEntry("belongs to another key")
    written_at = envelope.get("written_at")
    if not isinstance(written_at, int | float) or isinstance(written_at, bool) or not math.isfinite(written_at):
        raise CorruptEntry("bad written_at")
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise CorruptEntry("data is not an object")
    return float(written_at), data


def is_stale_temp(name: str, changed_at: float, *, own_pid: int, now: float) -> bool:
    """A temp file is stale unless its name says it belongs to a process that may still be writing it.

    PIDs are reused (a containerised server is often PID 1 on every start), so a file under our own PID is stale
    if it predates this process, and any temp file older than ``STALE_TEMP_AGE_S`` is stale whatever its PID.
    ``changed_at`` is the inode change time, which a writer's ``utime`` cannot move into the past.
    """
    match = _TEMP_NAME.fullmatch(name)
    if match is None or now - changed_at > STALE_TEMP_AGE_S:
        return True
    pid = int(match.group(1))
    if pid == own_pid:
        return changed_at < PROCESS_STARTED
    if pid == 0:
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return True
    except PermissionError:
        return False
    return False


def _read_bounded(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """At most ``limit + 1`` bytes (so the caller can tell "too large"), without allocating ``limit`` up front."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        chunk = os.read(fd, min(opened.st_size, limit) + 1)
        parts = [chunk]
        total = len(chunk)
        while chunk and total <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            parts.append(chunk)
            total += len(chunk)
        return b"".join(parts), opened
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class _Loaded:
    written_at: float
    data: dict[str, Any]
    size: int


@dataclass(frozen=True, slots=True)
class _Corrupt:
    removed: bool


class _DiskStore:
    """The synchronous file layer; every method runs on a worker thread (or at startup)."""

    def __init__(self, root: Path, max_file_bytes: int) -> None:
        self.root = root
        self.max_file_bytes = max_file_bytes
        self._lock = threading.Lock()
        self._entries = 0
        self._bytes = 0

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self._entries, self._bytes

    def _account(self, entries: int, size: int) -> None:
        with self._lock:
            self._entries += entries
            self._bytes += size

    def path_for(self, key: CacheKey) -> Path:
        return self.root / key.package / key.file_name

    def _in_real_folder(self, path: Path) -> bool:
        """Names were validated when the key was built, so only a symlinked package folder can lead outside.

        One ``lstat`` instead of ``resolve()`` (an ``lstat`` per path component) keeps disk hits cheap; the file
        itself is opened with ``O_NOFOLLOW`` and written by rename, which never follows a link.
        """
        try:
            return stat.S_ISDIR(os.lstat(path.parent).st_mode)
        except FileNotFoundError:
            return True

    def probe_writable(self) -> bool:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{os.getpid()}-probe-", suffix=TEMP_SUFFIX, dir=self.root)
            os.close(fd)
            os.unlink(tmp)
        except OSError:
            return False
        return True

    def startup(self) -> int:
        """Remove stale temp files and count the cache files; returns how many temp files were removed."""
        removed = 0
        entries = 0
        size = 0
        own_pid = os.getpid()
        now = time.time()
        for folder in itertools.chain([self.root], (Path(e.path) for e in self._package_folders())):
            with os.scandir(folder) as it:
                for entry in it:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    if entry.name.endswith(TEMP_SUFFIX):
                        changed_at = entry.stat(follow_symlinks=False).st_ctime
                        if is_stale_temp(entry.name, changed_at, own_pid=own_pid, now=now):
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(entry.path)
                                removed += 1
                                log.info("cache_stale_temp_removed", path=entry.path)
                    elif folder != self.root and entry.name.endswith(CACHE_SUFFIX):
                        entries += 1
                        size += entry.stat(follow_symlinks=False).st_size
        self._account(entries, size)
        return removed

    def read(self, key: CacheKey) -> _Loaded | _Corrupt | None:
        path = self.path_for(key)
        try:
            if not self._in_real_folder(path):
                log.warning("cache_path_escape", path=str(path))
                return None
            raw, opened = _read_bounded(path, self.max_file_bytes)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cache_read_failed", path=str(path), error=repr(exc))
            return None
        try:
            if len(raw) > self.max_file_bytes:
                raise CorruptEntry("file too large")
            written_at, data = decode_envelope(raw, key.label)
        except CorruptEntry as exc:
            removed = self._remove_if_unchanged(path, opened)
            log.warning("cache_corrupt_file", path=str(path), reason=str(exc), removed=removed)
            return _Corrupt(removed)
        return _Loaded(written_at, data, len(raw))

    def _remove_if_unchanged(self, path: Path, opened: os.stat_result) -> bool:
        """Skip the removal if a writer replaced the file since we read it: the new file is a valid one."""
        try:
            current = os.stat(path, follow_symlinks=False)
            if (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):
                return False
            os.unlink(path)
        except OSError:
            return False
        self._account(-1, -current.st_size)
        return True

    def write(self, key: CacheKey, payload: bytes, written_at: float) -> None:
        path = self.path_for(key)
        folder = path.parent
        try:
            os.mkdir(folder, 0o700)
            created = True
        except FileExistsError:
            created = False
        if not self._in_real_folder(path) or not folder.resolve().is_relative_to(self.root):
            raise ValueError(f"cache path escapes the cache folder: {path}")
        fd, tmp = tempfile.mkstemp(prefix=f".{os.getpid()}-", suffix=TEMP_SUFFIX, dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.utime(tmp, (written_at, written_at))
            try:
                old_size: int | None = os.stat(path).st_size
            except FileNotFoundError:
                old_size = None
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(folder)
        if created:
            _fsync_dir(self.root)
        if old_size is None:
            self._account(1, len(payload))
        else:
            self._account(0, len(payload) - old_size)

    def _package_folders(self) -> Iterator[os.DirEntry[str]]:
        """Lazily, so a walk over 100,000 package folders never holds a list of them."""
        with os.scandir(self.root) as top:
            for entry in top:
                if entry.is_dir(follow_symlinks=False):
                    yield entry

    def _layout_files(self) -> Iterator[list[tuple[Path, CacheKey, os.stat_result]]]:
        """Per package folder, the files whose path maps to a key; everything else in the folder is left alone.

        One folder at a time: an hourly prune of a cache with 200,000 files must not build a list of all of them
        (~1.2 KB each, measured), whose allocator high-water RSS would keep for the rest of the process's life.
        """
        for folder in self._package_folders():
            found: list[tuple[Path, CacheKey, os.stat_result]] = []
            with contextlib.suppress(FileNotFoundError), os.scandir(folder.path) as it:
                for entry in it:
                    key = key_from_path(folder.name, entry.name)
                    if key is not None and entry.is_file(follow_symlinks=False):
                        with contextlib.suppress(FileNotFoundError):
                            found.append((Path(entry.path), key, entry.stat(follow_symlinks=False)))
            if found:
                yield found

    def releases(self, prefix: str, after: CacheKey | None, per_package: int | None, limit: int) -> list[CacheKey]:
        """What ``DocCache.releases`` asks of the disk: one listing of the cache folder, then only the package
        folders the answer needs, in name order, until ``limit`` releases are found."""
        package_prefix, slash, _ = prefix.partition("/")
        start = max(package_prefix, after.package if after is not None else "")
        names = sorted(
            entry.name
            for entry in self._package_folders()
            if entry.name >= start
            and entry.name.startswith(package_prefix)
            and (not slash or entry.name == package_prefix)
            and len(entry.name) <= MAX_PACKAGE_LENGTH
            and _NORMALISED_NAME.fullmatch(entry.name) is not None
        )
        position = release_order(after) if after is not None else None
        found: list[CacheKey] = []
        for name in names:
            keys: list[CacheKey] = []
            with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(self.root / name) as it:
                for entry in it:
                    key = key_from_path(name, entry.name)
                    if key is not None and _release_matches(key, prefix, position):
                        if entry.is_file(follow_symlinks=False):
                            keys.append(key)
            found += _first_per_package(sorted(keys, key=release_order), per_package, limit)
            if len(found) >= limit:
                break
        return found[:limit]

    def _remove(self, path: Path, size: int) -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        self._account(-1, -size)
        return True

    def _remove_empty_folders(self, folders: set[Path]) -> None:
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()

    def prune(self, now: float, max_versions: int, max_age_s: float) -> tuple[list[CacheKey], list[CacheKey]]:
        excess: list[CacheKey] = []
        expired: list[CacheKey] = []
        for files in self._layout_files():
            versions: list[tuple[Path, CacheKey, os.stat_result]] = []
            removed_here = False
            for path, key, st in files:
                if now - st.st_mtime > max_age_s:
                    if self._remove(path, st.st_size):
                        expired.append(key)
                        removed_here = True
                elif key.version is not None:
                    versions.append((path, key, st))
            versions.sort(key=lambda item: (item[2].st_mtime_ns, item[1].version or ""), reverse=True)
            for path, key, st in versions[max_versions:]:
                if self._remove(path, st.st_size):
                    excess.append(key)
                    removed_here = True
            if removed_here:
                self._remove_empty_folders({files[0][0].parent})
        return excess, expired

    def clear(self) -> list[CacheKey]:
        removed: list[CacheKey] = []
        for files in self._layout_files():
            removed += [key for path, key, st in files if self._remove(path, st.st_size)]
            self._remove_empty_folders({files[0][0].parent})
        return removed

    def scan_invalid(self) -> list[Path]:
        invalid: list[Path] = []
        for current, folders, files in os.walk(self.root):
            here = Path(current)
            invalid += [here / name for name in folders if (here / name).is_symlink()]
            for name in files:
                path = here / name
                key = key_from_path(here.name, name) if here.parent == self.root else None
                if key is None or path.is_symlink() or not self._valid_file(path, key):
                    invalid.append(path)
        return sorted(invalid)

    def _valid_file(self, path: Path, key: CacheKey) -> bool:
        try:
            raw, _ = _read_bounded(path, self.max_file_bytes)
            if len(raw) > self.max_file_bytes:
                return False
            decode_envelope(raw, key.label)
        except (OSError, CorruptEntry):
            return False
        return True


@dataclass(slots=True)
class _PendingWrite:
    """The newest payload waiting for a key; a later put replaces it, so the last write wins."""

    payload: bytes
    written_at: float
    done: asyncio.Future[None]


class DocCache:
    """Per-(package, version) metadata plus per-package release indexes, memory first, then disk."""

    def __init__(
        self,
        directory: Path,
        *,
        memory_entries: int = 1024,
        memory_bytes: int = 64 * 1024 * 1024,
        max_versions_per_package: int = 3,
        cleanup_days: int = 90,
        index_ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
        io_workers: int = 4,
        max_pending_writes: int = 1024,
        max_file_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        if max_versions_per_package < 1 or cleanup_days < 0 or index_ttl_s < 0:
            raise ValueError("max_versions_per_package must be >= 1; cleanup_days and index_ttl_s >= 0")
        if io_workers < 1 or max_pending_writes < 1 or max_file_bytes < 1:
            raise ValueError("io_workers, max_pending_writes and max_file_bytes must be >= 1")
        self._directory = Path(directory)
        self._memory: BoundedLRU[CacheKey, Entry] = BoundedLRU(memory_entries, memory_bytes)
        self._max_versions = max_versions_per_package
        self._max_age_s = float(cleanup_days * SECONDS_PER_DAY)
        self._index_ttl_s = index_ttl_s
        self._clock = clock
        self._max_pending = max_pending_writes
        self._executor = ThreadPoolExecutor(max_workers=io_workers, thread_name_prefix="doccache-io")
        self._pending: dict[CacheKey, _PendingWrite] = {}
        self._writers: dict[CacheKey, asyncio.Task[None]] = {}
        self._unsettled: set[asyncio.Future[None]] = set()
        self._closed = False
        self._hits = 0
        self._disk_hits = 0
        self._misses = 0
        self._expired = 0
        self._writes = 0
        self._write_errors = 0
        self._writes_dropped = 0
        self._writes_refused = 0
        self._corrupt_removed = 0
        self._max_file_bytes = max_file_bytes
        self._disk = self._open_disk(max_file_bytes)

    def _open_disk(self, max_file_bytes: int) -> _DiskStore | None:
        """Returns ``None`` (memory-only mode) when the folder cannot be created, scanned or written."""
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            store = _DiskStore(self._directory.resolve(), max_file_bytes)
            if not store.probe_writable():
                raise PermissionError("folder is not writable")
            store.startup()
        except OSError as exc:
            log.warning("cache_memory_only", directory=str(self._directory), error=repr(exc))
            return None
        return store

    async def get_version(self, package: str, version: str) -> dict[str, Any] | None:
        key = version_key(package, version)
        entry = self._memory.get(key)
        if entry is not None:
            self._hits += 1
            return entry[1]
        return await self._load(key, max_age_s=None)

    async def put_version(self, package: str, version: str, data: dict[str, Any]) -> None:
        self._store(version_key(package, version), data)

    async def get_index(self, package: str) -> dict[str, Any] | None:
        """``None`` when absent or older than ``index_ttl_s``."""
        key = index_key(package)
        entry = self._memory.get(key)
        if entry is None:
            return await self._load(key, max_age_s=self._index_ttl_s)
        if self._fresh(entry[0], self._index_ttl_s):
            self._hits += 1
            return entry[1]
        self._memory.pop(key)
        expired_on_disk = self._expired
        found = await self._load(key, max_age_s=self._index_ttl_s)
        if found is None and self._expired == expired_on_disk:
            self._expired += 1
        return found

    async def get_index_any_age(self, package: str) -> dict[str, Any] | None:
        """The project index however old it is: what stale-if-error serves while the upstream is failing."""
        key = index_key(package)
        entry = self._memory.get(key)
        if entry is not None:
            return entry[1]
        return await self._load(key, max_age_s=None)

    async def put_index(self, package: str, data: dict[str, Any]) -> None:
        self._store(index_key(package), data)

    async def releases(
        self, limit: int, *, prefix: str = "", after: CacheKey | None = None, per_package: int | None = None
    ) -> list[CacheKey]:
        """Up to ``limit`` releases held in memory or on disk, in ``release_order``: those whose normalised
        ``package/version`` starts with ``prefix`` (``"req"``: packages starting so; ``"requests/2."``: versions of
        ``requests``), strictly after ``after``, and at most ``per_package`` of each package (``1`` lists packages).

        Costs one listing of the cache folder plus one of each package folder visited; the file contents are
        never read, so a listed release may still turn out corrupt (and be a miss) when it is read.
        """
        position = release_order(after) if after is not None else None
        held = {key for key in self._memory.keys() if _release_matches(key, prefix, position)}
        disk = self._disk
        if disk is not None and not self._closed:
            loop = asyncio.get_running_loop()
            held.update(await loop.run_in_executor(self._executor, disk.releases, prefix, after, per_package, limit))
        return _first_per_package(sorted(held, key=release_order), per_package, limit)

    def _fresh(self, written_at: float, max_age_s: float) -> bool:
        return abs(self._clock() - written_at) <= max_age_s

    async def _load(self, key: CacheKey, *, max_age_s: float | None) -> dict[str, Any] | None:
        disk = self._disk
        if disk is None or self._closed:
            self._misses += 1
            return None
        result = await asyncio.get_running_loop().run_in_executor(self._executor, disk.read, key)
        if isinstance(result, _Corrupt):
            self._corrupt_removed += int(result.removed)
        newer = self._memory.get(key)
        if newer is not None and (max_age_s is None or self._fresh(newer[0], max_age_s)):
            self._hits += 1
            return newer[1]
        if isinstance(result, _Corrupt):
            self._misses += 1
            return None
        if result is None:
            self._misses += 1
            return None
        if max_age_s is not None and not self._fresh(result.written_at, max_age_s):
            self._expired += 1
            self._misses += 1
            return None
        self._disk_hits += 1
        self._memory.put(key, (result.written_at, result.data), result.size)
        return result.data

    def _store(self, key: CacheKey, data: dict[str, Any]) -> None:
        """Raises TypeError/ValueError for data that is not plain JSON: that is a caller bug, not an I/O error."""
        data_json = json.dumps(data, separators=(",", ":"), allow_nan=False)
        written_at = self._clock()
        self._memory.put(key, (written_at, json.loads(data_json)), len(data_json))
        if self._disk is None:
            return
        if self._closed:
            self._writes_refused += 1
            return
        payload = encode_envelope(key.label, written_at, data_json)
        batch = self._pending.get(key)
        if batch is not None:
            batch.payload = payload
            batch.written_at = written_at
            return
        if len(self._unsettled) >= self._max_pending:
            self._writes_dropped += 1
            log.warning("cache_write_dropped", key=key.label, pending=len(self._unsettled))
            return
        loop = asyncio.get_running_loop()
        batch = _PendingWrite(payload, written_at, loop.create_future())
        self._pending[key] = batch
        self._unsettled.add(batch.done)
        if key not in self._writers:
            self._writers[key] = loop.create_task(self._drain(key, self._disk))

    async def _drain(self, key: CacheKey, disk: _DiskStore) -> None:
        """The only writer for ``key``: picks up the newest pending payload until none is left."""
        loop = asyncio.get_running_loop()
        try:
            while (batch := self._pending.pop(key, None)) is not None:
                try:
                    await loop.run_in_executor(self._executor, disk.write, key, batch.payload, batch.written_at)
                except Exception as exc:
                    self._write_errors += 1
                    log.warning("cache_write_failed", key=key.label, error=repr(exc))
                else:
                    self._writes += 1
                finally:
                    self._settle(batch)
        finally:
            self._writers.pop(key, None)
            leftover = self._pending.pop(key, None)
            if leftover is not None:
                self._writes_dropped += 1
                self._settle(leftover)

    def _settle(self, batch: _PendingWrite) -> None:
        if not batch.done.done():
            batch.done.set_result(None)
        self._unsettled.discard(batch.done)

    async def flush(self) -> None:
        """Wait until every write started so far is durable (or failed and was counted).

        Unbounded by design: the caller owns the deadline (``asyncio.timeout``); cancelling only stops waiting.
        """
        waiting = list(self._unsettled)
        if waiting:
            await asyncio.wait(waiting)

    async def close(self) -> None:
        """Refuse new writes, flush the started ones, and release the I/O threads; later reads are memory-only."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.flush()
        finally:
            self._executor.shutdown(wait=False)

    async def clear(self) -> int:
        """Remove every entry from memory and disk; returns how many distinct entries were removed."""
        await self.flush()
        removed = set(self._memory.keys())
        self._memory.clear()
        if self._disk is not None and not self._closed:
            loop = asyncio.get_running_loop()
            removed.update(await loop.run_in_executor(self._executor, self._disk.clear))
        return len(removed)

    async def prune(self) -> dict[str, int]:
        """Drop versions beyond the per-package limit (oldest written first) and files older than cleanup_days."""
        await self.flush()
        if self._disk is None or self._closed:
            return {"excess_versions": 0, "expired": 0, "removed": 0}
        loop = asyncio.get_running_loop()
        excess, expired = await loop.run_in_executor(
            self._executor, self._disk.prune, self._clock(), self._max_versions, self._max_age_s
        )
        for key in excess + expired:
            self._memory.pop(key)
        return {"excess_versions": len(excess), "expired": len(expired), "removed": len(excess) + len(expired)}

    def is_writable(self) -> bool:
        """Probes by creating and removing a temp file (blocking, but one tiny file)."""
        if self._disk is None:
            return _DiskStore(self._directory, 1).probe_writable()
        return self._disk.probe_writable()

    def scan_invalid(self) -> list[Path]:
        """Every file in the folder that is not a valid cache file for the key its path names, temp files included."""
        if self._disk is not None:
            return self._disk.scan_invalid()
        if not self._directory.is_dir():
            return []
        return _DiskStore(self._directory.resolve(), self._max_file_bytes).scan_invalid()

    def stats(self) -> dict[str, int | float | str]:
        disk_entries, disk_bytes = self._disk.counts() if self._disk is not None else (0, 0)
        return {
            "hits": self._hits,
            "disk_hits": self._disk_hits,
            "misses": self._misses,
            "expired": self._expired,
            "writes": self._writes,
            "write_errors": self._write_errors,
            "writes_dropped": self._writes_dropped,
            "writes_refused": self._writes_refused,
            "corrupt_removed": self._corrupt_removed,
            "evictions": self._memory.evictions,
            "memory_entries": len(self._memory),
            "memory_bytes": self._memory.total_size,
            "memory_entries_limit": self._memory.max_entries,
            "memory_bytes_limit": self._memory.max_size,
            "disk_entries": disk_entries,
            "disk_bytes": disk_bytes,
            "directory": str(self._directory),
            "pending_writes": len(self._unsettled),
            "writable": self._disk is not None,
            "closed": self._closed,
        }

"""The disk tier's file layer: crash-safe JSON files, one per release and one index per package, synchronous.

Why it is shaped this way:

* A released version's metadata never changes, so ``(package, version)`` files never expire by time; only pruning
  removes them. The project index (the list of releases) does change; how old one may be is the owner's call
  (``ReleaseStore``), judged on the ``written_at`` stamp every file carries.
* Every file is written to a uniquely named temp file in its own folder, fsynced and renamed over the target, so a
  crash leaves the old file, the new file or a stray ``*.tmp``, never a torn cache file. The folders' own fsyncs,
  which make the new names survive a power cut, are batched (``sync_folders``): each folder written since the last
  batch is fsynced once, the cache folder once if a package folder was created. Per write they cost a third of
  the disk tier's CPU on a cold call, where the package's index and release land in one folder back to back; a
  name not yet synced can only be lost in a crash, as a miss, never read torn. The owner syncs on a short delay,
  at a count bound, and in every flush.
* Temp files are named ``.<pid>-<random>.tmp``; at startup any temp file whose writer process is gone (or whose
  name we do not recognise) is removed. A live process's temp file is kept, so two servers may share one
  folder without deleting each other's in-flight writes. A ``*.tmp`` file is never a cache file.
* Every file is an envelope ``{"format": 1, "key": ..., "written_at": ..., "data": {...}}``: a reader checks the
  file belongs to the key it asked for. Anything unreadable is a miss, is removed, and is counted. A file's mtime
  is set to ``written_at`` so pruning needs ``stat`` only, and follows the owner's clock.
* Names cannot escape the folder: a key is built only from a PEP 508 name (ASCII only, at most
  ``names.MAX_NAME_CHARS``, then ``names.normalize_name``: the one key function) and a PEP 440 version (then
  ``str(Version(v))``, so ``01.2`` is ``1.2`` but ``1.0`` and ``1.0.0`` stay two entries, at most
  ``names.MAX_VERSION_CHARS``). With validated names only a planted symlink could lead outside, so before any disk
  access the package folder must be a real directory, a write also checks the folder's resolved path is inside the
  cache folder, and files are opened with ``O_NOFOLLOW``.
* Everything here blocks: the owner runs it on worker threads (the one-off folder scan at startup excepted).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from packaging.version import InvalidVersion, Version

from autodocs_mcp.names import MAX_NAME_CHARS, MAX_VERSION_CHARS, PACKAGE_NAME_RE, normalize_name

log = structlog.get_logger(__name__)

FORMAT = 1
INDEX_FILE = "_index.json"
CACHE_SUFFIX = ".json"
TEMP_SUFFIX = ".tmp"
SECONDS_PER_DAY = 86_400
STALE_TEMP_AGE_S = 3600.0
PROCESS_STARTED = time.time()

_TEMP_NAME = re.compile(r"\.(\d+)-.*\.tmp", re.DOTALL)
_N = r"(?:0|[1-9][0-9]*)"
_CANONICAL_VERSION = re.compile(rf"{_N}(?:\.{_N})*(?:(?:a|b|rc){_N})?(?:\.post{_N})?(?:\.dev{_N})?", re.ASCII)
"""Versions that ``str(Version(v))`` leaves as they are: release numbers without leading zeros, then the canonical
spellings of a pre-, post- and dev-release; no epoch, no local part (``tests/unit/test_disk_keys.py`` checks it)."""

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


def package_key_name(name: str) -> str:
    """The key spelling of a package name: ``names.normalize_name`` of a PEP 508 name of at most
    ``names.MAX_NAME_CHARS`` characters. Anything else raises ``ValueError``: it could name a path outside the
    folder, and no valid request carries it."""
    if len(name) > MAX_NAME_CHARS or PACKAGE_NAME_RE.fullmatch(name) is None:
        raise ValueError(f"invalid package name: {name[:60]!r}")
    return normalize_name(name)


def is_key_name(text: str) -> bool:
    """Whether ``text`` is already a key spelling (a folder name a key maps to)."""
    try:
        return package_key_name(text) == text
    except ValueError:
        return False


def normalise_version(version: str) -> str:
    """``str(Version(version))``, checked and capped; a version already in canonical form skips the parse, which
    is most of the cost of building a key on a warm call."""
    if _CANONICAL_VERSION.fullmatch(version) is not None and len(version) <= MAX_VERSION_CHARS:
        return version
    if len(version) > MAX_VERSION_CHARS:
        raise ValueError(f"version too long: {version[:60]!r}")
    try:
        normalised = str(Version(version))
    except InvalidVersion as exc:
        raise ValueError(f"invalid version: {version[:60]!r}") from exc
    if len(normalised) > MAX_VERSION_CHARS:
        raise ValueError(f"version too long: {version[:60]!r}")
    return normalised


def release_key(package: str, version: str) -> CacheKey:
    """The key of one release: every tier, in memory and on disk, files a release under this."""
    return CacheKey(package_key_name(package), normalise_version(version))


def index_key(package: str) -> CacheKey:
    """The key of a package's project index."""
    return CacheKey(package_key_name(package), None)


def release_order(key: CacheKey) -> tuple[str, Version, str]:
    """The order releases are listed in: by package name, then PEP 440 version, then spelling (``1.0`` before
    ``1.0.0``, which are two entries), so every pair of release keys compares and a listing can resume after one."""
    return key.package, Version(key.version or "0"), key.version or ""


def release_matches(key: CacheKey, prefix: str, after: tuple[str, Version, str] | None) -> bool:
    return (
        key.version is not None
        and f"{key.package}/{key.version}".startswith(prefix)
        and (after is None or release_order(key) > after)
    )


def first_per_package(keys: list[CacheKey], per_package: int | None, limit: int) -> list[CacheKey]:
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
    if not is_key_name(package_dir):
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
class Loaded:
    """A file read and checked: its data, when it was written (on the owner's clock) and its size on disk."""

    written_at: float
    data: dict[str, Any]
    size: int


@dataclass(frozen=True, slots=True)
class Corrupt:
    """A file that failed its checks (a miss); ``removed`` says whether this read deleted it."""

    removed: bool


class DiskStore:
    """The synchronous file layer; every method runs on a worker thread (or at startup)."""

    def __init__(self, root: Path, max_file_bytes: int) -> None:
        self.root = root
        self.max_file_bytes = max_file_bytes
        self._lock = threading.Lock()
        self._entries = 0
        self._bytes = 0
        self._unsynced: set[Path] = set()
        self.folder_syncs = 0

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

    def read(self, key: CacheKey) -> Loaded | Corrupt | None:
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
            return Corrupt(removed)
        return Loaded(written_at, data, len(raw))

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
        with self._lock:
            self._unsynced.add(folder)
            if created:
                self._unsynced.add(self.root)
        if old_size is None:
            self._account(1, len(payload))
        else:
            self._account(0, len(payload) - old_size)

    @property
    def unsynced(self) -> int:
        """Folders written since the last ``sync_folders``: names that a power cut could still lose."""
        with self._lock:
            return len(self._unsynced)

    def sync_folders(self) -> int:
        """Fsync every folder written since the last call, once each; returns how many. A folder removed meanwhile
        (pruned or cleared) has nothing left to make durable and is skipped."""
        with self._lock:
            folders, self._unsynced = self._unsynced, set()
        synced = 0
        failed: set[Path] = set()
        error: OSError | None = None
        for folder in sorted(folders, key=lambda path: path == self.root):  # the cache folder last
            try:
                _fsync_dir(folder)
            except FileNotFoundError:
                continue
            except OSError as exc:
                failed.add(folder)
                error = error or exc
            else:
                synced += 1
        with self._lock:
            self._unsynced |= failed  # tried again with the next batch
            self.folder_syncs += synced
        if error is not None:
            raise error
        return synced

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
        """What ``DiskTier.releases`` asks of the disk: one listing of the cache folder, then only the package
        folders the answer needs, in name order, until ``limit`` releases are found."""
        package_prefix, slash, _ = prefix.partition("/")
        start = max(package_prefix, after.package if after is not None else "")
        names = sorted(
            entry.name
            for entry in self._package_folders()
            if entry.name >= start
            and entry.name.startswith(package_prefix)
            and (not slash or entry.name == package_prefix)
            and is_key_name(entry.name)
        )
        position = release_order(after) if after is not None else None
        found: list[CacheKey] = []
        for name in names:
            keys: list[CacheKey] = []
            with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(self.root / name) as it:
                for entry in it:
                    key = key_from_path(name, entry.name)
                    if key is not None and release_matches(key, prefix, position):
                        if entry.is_file(follow_symlinks=False):
                            keys.append(key)
            found += first_per_package(sorted(keys, key=release_order), per_package, limit)
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

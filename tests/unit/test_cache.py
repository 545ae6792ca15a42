"""DocCache (the disk tier) against real temporary folders: crash safety, hostile names, bounds, best-effort writes
and its optional memory tier."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from autodocs_mcp import cache as cache_module
from autodocs_mcp import disk as disk_module
from autodocs_mcp.cache import DocCache
from autodocs_mcp.disk import PROCESS_STARTED, DiskStore, index_key, is_stale_temp, release_key
from tests.support.waiting import eventually

DAY = 86_400.0


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def doc(n: int = 0, **extra: Any) -> dict[str, Any]:
    return {"name": "pkg", "n": n, "summary": "x" * 50, **extra}


def version_file(directory: Path, package: str, version: str) -> Path:
    return directory / package / f"{version}.json"


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def envelope(key: str, data: Any, written_at: float = 1.0) -> bytes:
    return json.dumps({"format": 1, "key": key, "written_at": written_at, "data": data}).encode()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=10)
    return child.pid


@pytest.fixture
def gated_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Holds every disk write until the event is set, to observe the cache while writes are in flight."""
    gate = threading.Event()
    real_write = DiskStore.write

    def write(self: DiskStore, *args: Any) -> None:
        gate.wait(timeout=10)
        real_write(self, *args)

    monkeypatch.setattr(DiskStore, "write", write)
    yield gate
    gate.set()


async def test_a_put_is_served_from_memory(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    await cache.put_version("requests", "2.31.0", doc(1))
    assert await cache.get_version("requests", "2.31.0") == doc(1)
    assert cache.stats()["hits"] == 1
    await cache.close()


async def test_a_new_instance_on_the_same_folder_reads_from_disk_then_memory(cache_dir: Path) -> None:
    first = DocCache(cache_dir)
    await first.put_version("requests", "2.31.0", doc(1))
    await first.put_index("requests", {"releases": ["2.31.0"]})
    await first.close()

    second = DocCache(cache_dir)
    assert second.stats()["disk_entries"] == 2
    assert await second.get_version("requests", "2.31.0") == doc(1)
    assert await second.get_version("requests", "2.31.0") == doc(1)
    assert await second.get_index("requests") == {"releases": ["2.31.0"]}
    stats = second.stats()
    assert (stats["disk_hits"], stats["hits"], stats["misses"]) == (2, 1, 0)
    await second.close()


async def test_names_and_versions_are_normalised_to_one_key(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    await cache.put_version("Foo_Bar.baz", "01.2", doc(7))
    assert await cache.get_version("foo-bar-baz", "1.2") == doc(7)
    await cache.flush()
    assert version_file(cache_dir, "foo-bar-baz", "1.2").is_file()
    await cache.close()


async def test_memory_holds_a_json_copy_so_memory_and_disk_hits_look_the_same(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    data: dict[str, Any] = {"tags": ("a", "b"), "deps": {"x": 1}}
    await cache.put_version("pkg", "1.0", data)
    data["deps"]["x"] = 2
    from_memory = await cache.get_version("pkg", "1.0")
    await cache.close()
    from_disk = await DocCache(cache_dir).get_version("pkg", "1.0")
    assert from_memory == from_disk == {"tags": ["a", "b"], "deps": {"x": 1}}


async def test_data_that_is_not_plain_json_is_a_caller_error(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    with pytest.raises(TypeError):
        await cache.put_version("pkg", "1.0", {"when": object()})
    with pytest.raises(ValueError):
        await cache.put_version("pkg", "1.0", {"score": float("nan")})
    await cache.close()


async def test_a_missing_entry_is_a_miss(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    assert await cache.get_version("absent", "1.0") is None
    assert await cache.get_index("absent") is None
    assert cache.stats()["misses"] == 2
    await cache.close()


async def test_memory_tier_evicts_by_count_and_evicted_entries_come_back_from_disk(cache_dir: Path) -> None:
    cache = DocCache(cache_dir, memory_entries=2)
    for minor in range(3):
        await cache.put_version("pkg", f"1.{minor}", doc(minor))
    stats = cache.stats()
    assert (stats["memory_entries"], stats["evictions"]) == (2, 1)
    await cache.flush()
    assert await cache.get_version("pkg", "1.0") == doc(0)
    assert cache.stats()["disk_hits"] == 1
    await cache.close()


async def test_memory_tier_evicts_by_bytes(cache_dir: Path) -> None:
    one_entry = len(json.dumps(doc(0), separators=(",", ":")))
    cache = DocCache(cache_dir, memory_entries=100, memory_bytes=one_entry * 3)
    for minor in range(5):
        await cache.put_version("pkg", f"1.{minor}", doc(minor))
    stats = cache.stats()
    assert stats["memory_entries"] == 3
    assert stats["evictions"] == 2
    assert int(stats["memory_bytes"]) <= one_entry * 3
    await cache.close()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"format": 1, "key": "pkg==1.0", "written_at": 1.0, "data": {"a"', "truncated JSON"),
        (b"\x00\xff\xfe garbage \x9c", "garbage bytes"),
        (b"[1, 2, 3]", "a JSON array"),
        (envelope("other==1.0", {"a": 1}), "a file for another key"),
        (b"", "an empty file"),
        (envelope("pkg==1.0", [1, 2]), "data that is not an object"),
        (json.dumps({"format": 2, "key": "pkg==1.0", "written_at": 1, "data": {}}).encode(), "an unknown format"),
        (envelope("pkg==1.0", {"a": 1}, written_at=float("inf")), "a non-finite timestamp"),
    ],
)
async def test_a_corrupt_file_is_a_miss_that_is_removed_counted_and_logged(
    cache_dir: Path, content: bytes, reason: str
) -> None:
    path = version_file(cache_dir, "pkg", "1.0")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    cache = DocCache(cache_dir)
    with structlog.testing.capture_logs() as logs:
        assert await cache.get_version("pkg", "1.0") is None, reason
    assert not path.exists()
    stats = cache.stats()
    assert (stats["corrupt_removed"], stats["misses"], stats["disk_entries"]) == (1, 1, 0)
    assert [entry["log_level"] for entry in logs if entry["event"] == "cache_corrupt_file"] == ["warning"]
    await cache.close()


async def test_an_oversized_file_is_treated_as_corrupt(cache_dir: Path) -> None:
    path = version_file(cache_dir, "pkg", "1.0")
    path.parent.mkdir(parents=True)
    path.write_bytes(envelope("pkg==1.0", {"blob": "x" * 2000}))
    cache = DocCache(cache_dir, max_file_bytes=1000)
    assert await cache.get_version("pkg", "1.0") is None
    assert not path.exists()
    await cache.close()


async def test_stale_temp_files_are_removed_at_startup_and_live_ones_kept(cache_dir: Path, dead_pid: int) -> None:
    (cache_dir / "pkg").mkdir(parents=True)
    stale = [
        cache_dir / "pkg" / f".{dead_pid}-abc123.tmp",
        cache_dir / "pkg" / "leftover.tmp",
        cache_dir / f".{dead_pid}-probe-x.tmp",
    ]
    live = cache_dir / "pkg" / f".{os.getpid()}-inflight.tmp"
    for path in [*stale, live]:
        path.write_bytes(b'{"half": ')
    cache = DocCache(cache_dir)
    assert [p for p in stale if p.exists()] == []
    assert live.exists()
    assert cache.scan_invalid() == [live]
    await cache.close()


def test_temp_names_are_judged_by_their_writers_pid_and_age(dead_pid: int) -> None:
    me, now = os.getpid(), time.time()

    def stale(name: str, age_s: float = 0.0) -> bool:
        return is_stale_temp(name, now - age_s, own_pid=me, now=now)

    assert stale(f".{dead_pid}-x.tmp")
    assert stale(".0-x.tmp")
    assert stale(f".{2**70}-x.tmp")
    assert stale("random.tmp")
    assert not stale(f".{me}-x.tmp")
    assert not stale(".1-x.tmp")
    assert stale(".1-x.tmp", age_s=2 * 3600)
    assert is_stale_temp(f".{me}-x.tmp", PROCESS_STARTED - 1, own_pid=me, now=PROCESS_STARTED + 1)


ESCAPING_NAMES = [
    "../etc",
    "/abs",
    "a/b",
    "%2e%2e",
    "..",
    ".",
    "",
    "a\x00b",
    "a\n",
    "-a",
    "a b",
    "a" * 201,
    "é",
    "\u212a",
    "\u017f",
]
INVALID_VERSIONS = ["../1", "1.0/../../x", "", "not-a-version", "1.0\x00", "1" * 101, "/1.0"]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
async def test_hostile_package_names_are_rejected_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    cache_dir = tmp_path / "cache"
    cache = DocCache(cache_dir)
    with pytest.raises(ValueError):
        await cache.put_version(name, "1.0", doc())
    with pytest.raises(ValueError):
        await cache.put_index(name, doc())
    with pytest.raises(ValueError):
        await cache.get_version(name, "1.0")
    with pytest.raises(ValueError):
        await cache.get_index(name)
    await cache.close()
    assert listing(tmp_path) == ["cache"]
    assert listing(cache_dir) == []


@pytest.mark.parametrize("version", INVALID_VERSIONS)
async def test_invalid_versions_are_rejected_and_nothing_is_written(tmp_path: Path, version: str) -> None:
    cache_dir = tmp_path / "cache"
    cache = DocCache(cache_dir)
    with pytest.raises(ValueError):
        await cache.put_version("pkg", version, doc())
    with pytest.raises(ValueError):
        await cache.get_version("pkg", version)
    await cache.close()
    assert listing(tmp_path) == ["cache"]
    assert listing(cache_dir) == []


async def test_a_symlink_planted_in_the_folder_cannot_redirect_reads_or_writes(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    outside = tmp_path / "outside"
    outside.mkdir()
    bait = outside / "1.0.json"
    bait.write_bytes(envelope("evil==1.0", {"secret": 1}))
    cache_dir.mkdir()
    (cache_dir / "evil").symlink_to(outside, target_is_directory=True)
    cache = DocCache(cache_dir)
    assert await cache.get_version("evil", "1.0") is None
    await cache.put_version("evil", "2.0", doc())
    await cache.flush()
    assert listing(outside) == ["1.0.json"]
    assert cache.stats()["write_errors"] == 1
    assert cache.scan_invalid() == [cache_dir / "evil"]
    await cache.close()


async def test_a_symlinked_cache_file_is_never_followed(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    secret = tmp_path / "secret.json"
    secret.write_bytes(envelope("pkg==1.0", {"secret": 1}))
    (cache_dir / "pkg").mkdir(parents=True)
    version_file(cache_dir, "pkg", "1.0").symlink_to(secret)
    cache = DocCache(cache_dir)
    assert await cache.get_version("pkg", "1.0") is None
    assert cache.scan_invalid() == [version_file(cache_dir, "pkg", "1.0")]
    await cache.put_version("pkg", "1.0", doc())
    await cache.close()
    assert secret.read_bytes() == envelope("pkg==1.0", {"secret": 1})
    assert DocCache(cache_dir).scan_invalid() == []


async def test_an_index_is_read_back_however_old_with_the_stamp_of_the_owners_clock(cache_dir: Path) -> None:
    clock = FakeClock()
    cache = DocCache(cache_dir, wall_clock=clock)
    await cache.put_index("pkg", {"releases": ["1.0"]})
    await cache.close()
    clock.now += 365 * DAY
    reopened = DocCache(cache_dir, wall_clock=clock)
    assert await reopened.read(index_key("pkg")) == (1_700_000_000.0, {"releases": ["1.0"]})
    assert os.stat(cache_dir / "pkg" / "_index.json").st_mtime == 1_700_000_000.0
    await reopened.close()


async def test_a_get_racing_a_put_returns_the_newer_value_not_the_older_file(cache_dir: Path) -> None:
    first = DocCache(cache_dir)
    await first.put_version("pkg", "1.0", doc(1))
    await first.close()
    cache = DocCache(cache_dir)
    reading = asyncio.create_task(cache.get_version("pkg", "1.0"))
    await asyncio.sleep(0)  # one scheduling step: the read is now waiting on the disk thread
    await cache.put_version("pkg", "1.0", doc(2))
    assert await reading == doc(2)
    assert cache.stats()["disk_hits"] == 0
    assert await cache.get_version("pkg", "1.0") == doc(2)
    await cache.close()


async def test_prune_keeps_the_most_recently_written_versions_per_package(cache_dir: Path) -> None:
    clock = FakeClock()
    cache = DocCache(cache_dir, max_versions_per_package=3, wall_clock=clock)
    for version in ["5.0", "1.0", "4.0", "2.0", "3.0"]:
        await cache.put_version("pkg", version, doc())
        clock.now += 1.0
    await cache.put_version("other", "1.0", doc())
    await cache.put_index("pkg", {"releases": []})
    excess, expired = await cache.prune()
    assert (sorted(key.label for key in excess), expired) == (["pkg==1.0", "pkg==5.0"], [])
    assert listing(cache_dir / "pkg") == ["2.0.json", "3.0.json", "4.0.json", "_index.json"]
    assert await cache.get_version("pkg", "5.0") is None
    assert await cache.get_version("other", "1.0") == doc()
    assert cache.stats()["disk_entries"] == 5
    await cache.close()


async def test_prune_removes_files_older_than_cleanup_days(cache_dir: Path) -> None:
    clock = FakeClock()
    cache = DocCache(cache_dir, cleanup_days=1, wall_clock=clock)
    await cache.put_version("old", "1.0", doc())
    await cache.put_index("old", {"releases": []})
    clock.now += 0.75 * DAY
    await cache.put_version("new", "1.0", doc())
    clock.now += 0.5 * DAY
    excess, expired = await cache.prune()
    assert (excess, sorted(key.label for key in expired)) == ([], ["old:index", "old==1.0"])
    assert not (cache_dir / "old").exists()
    assert await cache.get_version("old", "1.0") is None
    assert await cache.get_version("new", "1.0") == doc()
    await cache.close()


async def test_clear_removes_memory_and_disk_and_counts_distinct_entries(cache_dir: Path) -> None:
    cache = DocCache(cache_dir, memory_entries=2)
    for minor in range(3):
        await cache.put_version("pkg", f"1.{minor}", doc())
    await cache.put_index("other", {"releases": []})
    unrelated = cache_dir / "notes.txt"
    unrelated.write_text("not ours")
    assert len(await cache.clear()) == 4
    assert await cache.get_version("pkg", "1.2") is None
    assert listing(cache_dir) == ["notes.txt"]
    stats = cache.stats()
    assert (stats["memory_entries"], stats["disk_entries"], stats["disk_bytes"]) == (0, 0, 0)
    await cache.close()


async def test_flush_returns_only_after_pending_writes_are_on_disk(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    for minor in range(20):
        await cache.put_version("pkg", f"1.{minor}", doc(minor))
    assert cache.stats()["pending_writes"] == 20
    await cache.flush()
    assert cache.stats()["pending_writes"] == 0
    assert cache.stats()["writes"] == 20
    assert len(listing(cache_dir / "pkg")) == 20
    assert cache.scan_invalid() == []
    await cache.close()


def test_folders_written_since_the_last_batch_are_fsynced_once_each_and_the_cache_folder_once_it_gained_one(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(disk_module, "_fsync_dir", synced.append)
    cache_dir.mkdir()
    store = DiskStore(cache_dir.resolve(), 1024 * 1024)
    for package in ("alpha", "beta"):
        store.write(index_key(package), envelope(f"{package}:index", {}), 1.0)
        store.write(release_key(package, "1.0"), envelope(f"{package}==1.0", {}), 1.0)
    assert synced == [] and store.unsynced == 3
    assert store.sync_folders() == 3
    root = cache_dir.resolve()
    assert sorted(synced) == sorted([root / "alpha", root / "beta", root]) and synced[-1] == root
    assert store.sync_folders() == 0 and store.unsynced == 0 and store.folder_syncs == 3


def test_a_folder_whose_fsync_fails_waits_for_the_next_batch_and_one_removed_meanwhile_is_skipped(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir.mkdir()
    root = cache_dir.resolve()
    store = DiskStore(root, 1024 * 1024)
    store.write(release_key("alpha", "1.0"), envelope("alpha==1.0", {}), 1.0)
    store.write(release_key("gone", "1.0"), envelope("gone==1.0", {}), 1.0)
    for path in (root / "gone").iterdir():
        path.unlink()
    (root / "gone").rmdir()
    real = disk_module._fsync_dir

    def failing_once(path: Path) -> None:
        if path.name != "alpha":
            return real(path)
        monkeypatch.setattr(disk_module, "_fsync_dir", real)
        raise OSError(5, "I/O error")

    monkeypatch.setattr(disk_module, "_fsync_dir", failing_once)
    with pytest.raises(OSError):
        store.sync_folders()
    assert store.unsynced == 1
    assert store.sync_folders() == 1 and store.unsynced == 0


async def test_a_burst_of_writes_costs_fewer_folder_fsyncs_than_files_and_a_flush_leaves_none_waiting(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real = disk_module._fsync_dir

    def counting(path: Path) -> None:
        synced.append(path)
        real(path)

    monkeypatch.setattr(disk_module, "_fsync_dir", counting)
    cache = DocCache(cache_dir)
    for n in range(20):
        await cache.put_index(f"pkg-{n}", doc(n))
        await cache.put_version(f"pkg-{n}", "1.0", doc(n))
    await cache.flush()
    stats = cache.stats()
    assert stats["writes"] == 40 and stats["unsynced_folders"] == 0
    assert {path.name for path in synced} >= {f"pkg-{n}" for n in range(20)}
    assert len(synced) < 40, "one folder fsync per file written"
    await cache.close()


async def test_written_names_are_made_durable_after_the_delay_without_a_flush(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "FOLDER_SYNC_DELAY_S", 0.05)
    cache = DocCache(cache_dir)
    await cache.put_version("pkg", "1.0", doc())
    await eventually(lambda: cache.stats()["folder_syncs"] >= 2, 10.0, "the delayed folder sync")
    assert cache.stats()["folder_syncs"] == 2 and cache.stats()["unsynced_folders"] == 0
    await cache.close()


async def test_folders_written_while_a_batch_runs_get_the_next_batch_without_another_write(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "FOLDER_SYNC_DELAY_S", 0.02)
    release = threading.Event()
    real = DiskStore.sync_folders
    calls = 0

    def held_first(self: DiskStore) -> int:
        nonlocal calls
        calls += 1
        synced = real(self)
        if calls == 1:
            release.wait(10.0)  # held after taking its folders: what is written now is not in this batch
        return synced

    started = 0
    start = DocCache._start_folder_sync

    def counted_start(self: DocCache) -> None:
        nonlocal started
        started += 1
        start(self)

    monkeypatch.setattr(DiskStore, "sync_folders", held_first)
    monkeypatch.setattr(DocCache, "_start_folder_sync", counted_start)
    cache = DocCache(cache_dir)
    await cache.put_version("first", "1.0", doc())
    await eventually(lambda: calls == 1, 10.0, "the first batch running")
    await cache.put_version("second", "1.0", doc())
    # the second write's timer fires while the first batch is still held, and finds it running
    await eventually(lambda: started == 2 and cache.stats()["unsynced_folders"] > 0, 10.0, "the second timer")
    release.set()
    await eventually(lambda: cache.stats()["unsynced_folders"] == 0, 10.0, "the second folder synced")
    await cache.close()


async def test_flush_waits_for_a_write_held_in_flight(cache_dir: Path, gated_writes: threading.Event) -> None:
    cache = DocCache(cache_dir)
    await cache.put_version("pkg", "1.0", doc())
    flushing = asyncio.create_task(cache.flush())
    done, _ = await asyncio.wait({flushing}, timeout=0.05)
    assert not done
    gated_writes.set()
    await flushing
    assert version_file(cache_dir, "pkg", "1.0").is_file()
    await cache.close()


async def test_pending_writes_are_bounded_and_excess_is_dropped_not_raised(
    cache_dir: Path, gated_writes: threading.Event
) -> None:
    cache = DocCache(cache_dir, max_pending_writes=2)
    for minor in range(4):
        await cache.put_version("pkg", f"1.{minor}", doc())
    stats = cache.stats()
    assert (stats["pending_writes"], stats["writes_dropped"]) == (2, 2)
    assert await cache.get_version("pkg", "1.3") == doc()
    gated_writes.set()
    await cache.close()


async def test_concurrent_puts_to_one_key_leave_one_valid_file_with_the_last_value(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    await asyncio.gather(*(cache.put_version("pkg", "1.0", doc(n)) for n in range(200)))
    await cache.flush()
    assert cache.scan_invalid() == []
    assert listing(cache_dir / "pkg") == ["1.0.json"]
    assert int(cache.stats()["writes"]) < 200
    await cache.close()
    assert await DocCache(cache_dir).get_version("pkg", "1.0") == doc(199)


async def test_puts_racing_with_writes_in_flight_still_end_with_the_last_value(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    for n in range(50):
        await cache.put_version("pkg", "1.0", doc(n))
        if n % 7 == 0:
            await asyncio.sleep(0)
    await cache.close()
    assert await DocCache(cache_dir).get_version("pkg", "1.0") == doc(49)


async def test_an_unwritable_folder_means_memory_only_without_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache = DocCache(blocker / "cache")
    await cache.put_version("pkg", "1.0", doc())
    await cache.put_index("pkg", {"releases": ["1.0"]})
    assert await cache.get_version("pkg", "1.0") == doc()
    assert await cache.get_version("pkg", "2.0") is None
    assert await cache.prune() == ([], [])
    stats = cache.stats()
    assert (stats["writable"], stats["write_errors"], stats["disk_entries"]) == (False, 0, 0)
    assert cache.is_writable() is False
    assert cache.scan_invalid() == []
    assert len(await cache.clear()) == 2
    await cache.close()


@pytest.fixture
def read_only_dir(cache_dir: Path) -> Iterator[Path]:
    cache_dir.mkdir(mode=0o500)
    yield cache_dir
    cache_dir.chmod(0o700)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
async def test_a_read_only_folder_means_memory_only(read_only_dir: Path) -> None:
    cache = DocCache(read_only_dir)
    await cache.put_version("pkg", "1.0", doc())
    assert await cache.get_version("pkg", "1.0") == doc()
    assert cache.stats()["writable"] is False
    assert cache.is_writable() is False
    await cache.close()


async def test_a_write_failing_after_startup_is_counted_and_memory_still_serves(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    (cache_dir / "pkg").write_text("a file where a folder should be")
    with structlog.testing.capture_logs() as logs:
        await cache.put_version("pkg", "1.0", doc())
        await cache.flush()
    assert cache.stats()["write_errors"] == 1
    assert any(entry["event"] == "cache_write_failed" for entry in logs)
    assert await cache.get_version("pkg", "1.0") == doc()
    assert cache.is_writable() is True
    await cache.close()


async def test_a_crash_before_the_rename_keeps_the_old_file_and_leaves_no_temp(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = DocCache(cache_dir)
    await cache.put_version("pkg", "1.0", doc(1))
    await cache.flush()

    def crash(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    await cache.put_version("pkg", "1.0", doc(2))
    await cache.flush()
    monkeypatch.undo()
    assert cache.stats()["write_errors"] == 1
    assert listing(cache_dir / "pkg") == ["1.0.json"]
    await cache.close()
    assert await DocCache(cache_dir).get_version("pkg", "1.0") == doc(1)


async def test_after_close_writes_are_refused_but_memory_still_answers(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    await cache.close()
    await cache.put_version("pkg", "1.0", doc())
    assert await cache.get_version("pkg", "1.0") == doc()
    assert await cache.get_version("pkg", "2.0") is None
    stats = cache.stats()
    assert (stats["writes_refused"], stats["closed"]) == (1, True)
    assert not (cache_dir / "pkg").exists()
    await cache.close()


async def test_the_folder_is_created_private(cache_dir: Path) -> None:
    cache = DocCache(cache_dir / "nested")
    await cache.put_version("pkg", "1.0", doc())
    await cache.flush()
    assert stat.S_IMODE((cache_dir / "nested").stat().st_mode) == 0o700
    assert stat.S_IMODE((cache_dir / "nested" / "pkg").stat().st_mode) == 0o700
    assert stat.S_IMODE(version_file(cache_dir / "nested", "pkg", "1.0").stat().st_mode) == 0o600
    await cache.close()


async def test_scan_invalid_lists_everything_that_is_not_a_valid_cache_file(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    await cache.put_version("pkg", "1.0", doc())
    await cache.put_index("pkg", {"releases": []})
    await cache.flush()
    junk = [
        cache_dir / "stray.json",
        cache_dir / "pkg" / "1.0.0.json.bak",
        cache_dir / "pkg" / "01.0.json",
        cache_dir / "Bad_Name" / "1.0.json",
        cache_dir / "pkg" / "deeper" / "1.0.json",
    ]
    for path in junk:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(envelope("pkg==1.0", {}))
    (cache_dir / "pkg" / "2.0.json").write_bytes(envelope("pkg==1.0", {}))
    assert cache.scan_invalid() == sorted([*junk, cache_dir / "pkg" / "2.0.json"])
    await cache.close()


async def test_stats_report_every_documented_figure(cache_dir: Path) -> None:
    cache = DocCache(cache_dir, memory_entries=10)
    await cache.put_version("pkg", "1.0", doc())
    await cache.flush()
    stats = cache.stats()
    expected = {
        "hits", "disk_hits", "misses", "writes", "write_errors", "corrupt_removed", "evictions",
        "memory_entries", "memory_bytes", "memory_entries_limit", "disk_entries", "disk_bytes", "directory",
        "pending_writes", "writable",
    }  # fmt: skip
    assert expected <= stats.keys()
    assert (stats["memory_entries_limit"], stats["disk_entries"], stats["writable"]) == (10, 1, True)
    assert stats["disk_bytes"] == version_file(cache_dir, "pkg", "1.0").stat().st_size
    assert stats["directory"] == str(cache_dir)
    await cache.close()


CRASH_WRITER = r"""
import asyncio, sys
from pathlib import Path
from autodocs_mcp.cache import DocCache

async def main() -> None:
    cache = DocCache(Path(sys.argv[1]))
    blob = "x" * 200_000
    for i in range(100_000):
        for k in range(6):
            await cache.put_version(f"pkg{k}", f"1.{i % 4}", {"blob": blob, "i": i})
            await cache.put_index(f"pkg{k}", {"i": i})
        print(i, flush=True)
        await cache.flush()

asyncio.run(main())
"""


def _wait_for_progress(log_path: Path, lines: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"writer exited early: {log_path.read_text(errors='replace')}")
        if log_path.exists() and log_path.read_bytes().count(b"\n") >= lines:
            return
        time.sleep(0.02)
    raise TimeoutError(f"writer made no progress: {log_path.read_text(errors='replace')}")


def test_writers_killed_mid_write_leave_only_valid_files_after_a_fresh_start(tmp_path: Path) -> None:
    from tests.support.processes import start_process

    cache_dir = tmp_path / "cache"
    for round_no in range(6):
        proc = start_process([sys.executable, "-c", CRASH_WRITER, str(cache_dir)], tmp_path / f"w{round_no}.log")
        try:
            _wait_for_progress(proc.log_path, 3 + round_no, proc.popen)
            proc.signal_leader(signal.SIGKILL)
            assert proc.popen.wait(timeout=10) == -signal.SIGKILL
        finally:
            proc.stop()

    fresh = DocCache(cache_dir)
    assert fresh.scan_invalid() == []
    assert fresh.stats()["disk_entries"] == len(list(cache_dir.glob("*/*.json")))

    on_disk = sorted(cache_dir.glob("pkg*/1.*.json"))
    assert len(on_disk) >= 6

    async def read_all() -> list[dict[str, Any] | None]:
        found = [await fresh.get_version(path.parent.name, path.stem) for path in on_disk]
        await fresh.close()
        return found

    assert None not in asyncio.run(read_all())
    assert fresh.stats()["corrupt_removed"] == 0


CRASH_AT_STEP = r"""
import asyncio, os, sys
from pathlib import Path
from autodocs_mcp.cache import DocCache

name, nth, when = sys.argv[2], int(sys.argv[3]), sys.argv[4]
real = getattr(os, name)
calls = 0

def dying(*args, **kwargs):
    global calls
    calls += 1
    if calls == nth:
        if when == "torn":
            os.ftruncate(args[0], os.fstat(args[0]).st_size // 2)
        if when == "after":
            real(*args, **kwargs)
        os._exit(137)
    return real(*args, **kwargs)

async def main() -> None:
    cache = DocCache(Path(sys.argv[1]))
    await cache.put_version("pkg", "1.0", {"v": "old", "blob": "o" * 50_000})
    await cache.flush()
    setattr(os, name, dying)
    await cache.put_version("pkg", "1.0", {"v": "new", "blob": "n" * 50_000})
    await cache.flush()
    os._exit(3)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("name", "nth", "when", "survivor"),
    [
        ("fsync", 1, "torn", "old"),
        ("utime", 1, "before", "old"),
        ("replace", 1, "before", "old"),
        ("replace", 1, "after", "new"),
        ("fsync", 2, "before", "new"),
    ],
    ids=["torn-temp-before-fsync", "before-utime", "before-rename", "after-rename", "before-folder-fsync"],
)
def test_a_process_dying_at_any_step_of_a_write_leaves_the_old_or_the_new_file(
    tmp_path: Path, name: str, nth: int, when: str, survivor: str
) -> None:
    from tests.support.processes import start_process

    cache_dir = tmp_path / "cache"
    args = [sys.executable, "-c", CRASH_AT_STEP, str(cache_dir), name, str(nth), when]
    proc = start_process(args, tmp_path / "writer.log")
    try:
        assert proc.popen.wait(timeout=30) == 137, proc.log_text()
    finally:
        proc.stop()

    fresh = DocCache(cache_dir)
    assert fresh.scan_invalid() == []

    async def read() -> dict[str, Any] | None:
        found = await fresh.get_version("pkg", "1.0")
        await fresh.close()
        return found

    found = asyncio.run(read())
    assert found is not None
    assert found["v"] == survivor


def _prune_peak_bytes(root: Path, packages: int) -> int:
    """tracemalloc's peak while pruning a cache of ``packages`` folders with two versions each (nothing to remove)."""
    import tracemalloc

    for n in range(packages):
        folder = root / f"pkg-{n}"
        folder.mkdir(parents=True)
        for version in ("1.0", "2.0"):
            (folder / f"{version}.json").write_bytes(b"{}")
    store = DiskStore(root, 1024)
    tracemalloc.start()
    try:
        assert store.prune(time.time(), max_versions=3, max_age_s=DAY) == ([], [])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_prune_walks_one_package_folder_at_a_time_so_its_memory_does_not_grow_with_the_cache(tmp_path: Path) -> None:
    """A list of every file costs ~1.2 KB per file (12 MB for these 10,000; 240 MB for a 200,000-file cache), and
    RSS keeps that high-water. Folder by folder the peak is a few hundred KB, plus up to ~1 MB when pathlib's
    interning rebuilds the interpreter's table of interned strings: 3 MB separates the two with room to spare."""
    peak = _prune_peak_bytes(tmp_path, 5_000)
    assert peak < 3 * 1024 * 1024, f"prune peaked at {peak / 1e6:.1f} MB for 10,000 files"


RELEASES = [("requests", "2.32.3"), ("requests", "2.9.0"), ("requests", "2.10.0"), ("requests-oauthlib", "1.0")]


async def test_releases_are_listed_by_package_then_pep440_version_from_disk_and_memory_alike(cache_dir: Path) -> None:
    first = DocCache(cache_dir)
    for package, version in RELEASES:
        await first.put_version(package, version, doc())
    await first.put_index("idna", {"versions": []})  # an index is not a release
    await first.close()
    cache = DocCache(cache_dir)  # everything on disk, nothing in memory
    await cache.put_version("Attrs", "23.1", doc())  # in memory and, once written, on disk
    labels = [key.label for key in await cache.releases(10)]
    assert labels == [
        "attrs==23.1",
        "requests==2.9.0",
        "requests==2.10.0",
        "requests==2.32.3",
        "requests-oauthlib==1.0",
    ]
    await cache.close()


async def test_releases_resume_after_a_key_filter_by_prefix_and_keep_per_package(cache_dir: Path) -> None:
    cache = DocCache(cache_dir)
    for package, version in RELEASES:
        await cache.put_version(package, version, doc())
    await cache.flush()
    everything = await cache.releases(10)
    assert await cache.releases(2) == everything[:2]
    assert await cache.releases(10, after=everything[1]) == everything[2:]
    assert [k.label for k in await cache.releases(10, prefix="requests/2.")] == [k.label for k in everything[:3]]
    assert [k.package for k in await cache.releases(10, prefix="req", per_package=1)] == [
        "requests",
        "requests-oauthlib",
    ]
    assert await cache.releases(10, prefix="zz") == []
    await cache.close()
    # a closed cache answers from memory only, in the same order
    assert await cache.releases(10) == everything

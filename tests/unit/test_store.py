"""The release store with an in-memory upstream and a simulated clock: what it remembers, for how long, where, and
what it answers when upstream fails; then 100,000 distinct packages against its memory budget."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from autodocs_mcp.budget import MemoryBudget
from autodocs_mcp.disk import CacheKey, DiskStore
from autodocs_mcp.docs import RenderedDocs, render_docs
from autodocs_mcp.errors import AutoDocsError, ErrorCode
from autodocs_mcp.metadata import PackageMetadata
from autodocs_mcp.metrics import render_prometheus
from autodocs_mcp.store import (
    TIERS,
    Project,
    ReleaseStore,
    is_fresh,
    not_found_error,
    serves_stale,
)
from autodocs_mcp.versions import resolve_version
from tests.support.fakeclock import FakeClock

MIB = 1024 * 1024
ANCHOR = 1_700_000_000.0
TTL = 60.0


def listing(name: str, versions: tuple[str, ...] = ("1.0", "1.1", "2.0"), description: str = "") -> dict[str, Any]:
    """A small PyPI listing in the real API's shape: cheap enough to build 100,000 of."""
    latest = versions[-1]
    return {
        "info": {
            "name": name,
            "version": latest,
            "summary": f"The {name} package.",
            "description": description or f"# {name}\n\nUse it.\n\n## Usage\n\n" + "words " * 200,
            "description_content_type": "text/markdown",
            "requires_dist": ["idna>=2.5"],
            "classifiers": ["Programming Language :: Python :: 3"],
        },
        "releases": {version: [] for version in versions},
    }


class FakeUpstream:
    """PyPI in a dict: ``missing-*`` names answer 404, ``fail`` makes every call fail with that error code."""

    def __init__(self) -> None:
        self.paths: Counter[str] = Counter()
        self.fail: ErrorCode | None = None
        self.description = ""

    async def get_json(self, path: str) -> dict[str, Any]:
        self.paths[path] += 1
        if self.fail is not None:
            raise AutoDocsError(self.fail, "upstream failing", retryable=True)
        name, _, rest = path.partition("/")
        if name.startswith("missing-") or rest not in ("json", "1.0/json", "1.1/json", "2.0/json"):
            raise AutoDocsError(ErrorCode.PACKAGE_NOT_FOUND, "not found on PyPI")
        document = listing(name, description=self.description)
        if rest != "json":
            document["info"]["version"] = rest.removesuffix("/json")
            del document["releases"]
        return document

    @property
    def calls(self) -> int:
        return sum(self.paths.values())


def render(meta: PackageMetadata, query: str | None) -> RenderedDocs:
    return render_docs(meta, query=query, max_chars=50_000)


def memory_only(tmp_path: Path) -> Path:
    """A folder that cannot exist (its parent is a file): a store without disk, so a flood does no I/O."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "cache"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


def make_store(directory: Path, upstream: FakeUpstream, clock: FakeClock, **options: Any) -> ReleaseStore:
    options.setdefault("index_ttl_s", TTL)
    return ReleaseStore(directory, upstream, clock=clock, wall_anchor=ANCHOR, **options)


async def docs(store: ReleaseStore, name: str, version: str | None = None) -> tuple[Project, str]:
    project = await store.project(name)
    chosen = version or resolve_version(project.index, None)
    release = await store.release(name, chosen, project)
    return project, store.rendered(release, None, render).markdown


# ---------------------------------------------------------------------------------------------------------------
# the pure decisions


@pytest.mark.parametrize(("age_s", "fresh"), [(0.0, True), (60.0, True), (60.5, False), (-59.0, True), (-61.0, False)])
def test_an_age_is_fresh_within_the_ttl_either_side_of_now(age_s: float, fresh: bool) -> None:
    assert is_fresh(age_s, 60.0) is fresh


def test_a_404_for_the_listing_means_the_package_is_missing_and_for_a_release_the_version() -> None:
    assert not_found_error("pkg", None).code is ErrorCode.PACKAGE_NOT_FOUND
    missing = not_found_error("pkg", "9.9")
    assert missing.code is ErrorCode.VERSION_NOT_FOUND and "'9.9'" in missing.message


def test_an_expired_index_is_served_for_upstream_failures_but_not_for_answers() -> None:
    assert serves_stale(AutoDocsError(ErrorCode.UPSTREAM_UNAVAILABLE, "down"))
    assert serves_stale(AutoDocsError(ErrorCode.UPSTREAM_TIMEOUT, "slow"))
    assert not serves_stale(not_found_error("pkg", None))
    assert not serves_stale(AutoDocsError(ErrorCode.DOC_TOO_LARGE, "big"))


# ---------------------------------------------------------------------------------------------------------------
# what it remembers


async def test_a_cold_latest_release_costs_one_upstream_request_and_a_warm_one_none(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(tmp_path / "cache", upstream, clock)
    project, text = await docs(store, "widget")
    assert project.payload is not None and upstream.calls == 1
    _, again = await docs(store, "widget")
    assert again == text and upstream.calls == 1
    assert store.stats()["hits"] >= 2
    await store.close()


async def test_a_cold_latest_release_reads_the_disk_once_for_the_index_and_not_for_the_release_it_rides_with(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path / "cache", upstream, clock)
    read: list[str] = []
    original = DiskStore.read

    def counting(self: DiskStore, key: CacheKey) -> object:
        read.append(key.label)
        return original(self, key)

    monkeypatch.setattr(DiskStore, "read", counting)
    await docs(store, "widget")
    assert read == ["widget:index"]
    await store.close()
    restarted = make_store(tmp_path / "cache", upstream, clock)
    project = await restarted.project("widget")
    await restarted.release("widget", "2.0", project)
    assert read == ["widget:index", "widget:index", "widget==2.0"] and upstream.calls == 1
    await restarted.close()


async def test_an_older_release_costs_a_second_request_for_its_own_document(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(tmp_path / "cache", upstream, clock)
    project = await store.project("widget")
    release = await store.release("widget", "1.1", project)
    assert release.meta.version == "1.1" and release.upstream_requests == 2
    assert upstream.paths["widget/1.1/json"] == 1
    await store.close()


async def test_the_index_expires_on_the_injected_clock_and_is_fetched_again(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(memory_only(tmp_path), upstream, clock)
    await store.project("widget")
    clock.jump(TTL)
    assert (await store.project("widget")).payload is None
    clock.jump(1.0)
    assert (await store.project("widget")).payload is not None
    assert upstream.paths["widget/json"] == 2
    await store.close()


async def test_a_restarted_store_ages_the_index_on_disk_by_the_same_clock_read_as_wall_time(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    first = make_store(tmp_path / "cache", upstream, clock)
    await docs(first, "widget")
    await first.close()
    clock.jump(TTL / 2)
    later = ReleaseStore(tmp_path / "cache", upstream, clock=clock, wall_anchor=ANCHOR + TTL / 2, index_ttl_s=TTL)
    _, text = await docs(later, "widget")
    assert upstream.calls == 1, "a fresh index and the release come from disk"
    assert later.stats()["disk_hits"] == 2
    clock.jump(TTL / 2 + 1.0)  # the index was written TTL + 1 s ago by this clock
    assert (await later.project("widget")).payload is not None
    assert later.stats()["expired"] == 1, "the file, read again once memory's copy expired, is as old"
    await later.close()
    assert text.startswith("#")


async def test_an_index_already_expired_on_disk_is_counted_expired_and_fetched_again(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    first = make_store(tmp_path / "cache", upstream, clock)
    await first.project("widget")
    await first.close()
    later = ReleaseStore(tmp_path / "cache", upstream, clock=clock, wall_anchor=ANCHOR + 2 * TTL, index_ttl_s=TTL)
    assert (await later.project("widget")).payload is not None
    assert later.stats()["expired"] == 1 and upstream.paths["widget/json"] == 2
    await later.close()


async def test_while_upstream_fails_an_expired_index_is_served_and_says_it_is_stale(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(memory_only(tmp_path), upstream, clock)
    await docs(store, "widget")
    clock.jump(TTL + 1.0)
    upstream.fail = ErrorCode.UPSTREAM_UNAVAILABLE
    project = await store.project("widget")
    assert project.stale and project.payload is None
    release = await store.release("widget", resolve_version(project.index, None), project)
    assert release.stale and release.from_cache
    assert store.stats()["stale_served"] == 1
    await store.close()


async def test_an_upstream_failure_with_nothing_remembered_is_the_callers_error(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(memory_only(tmp_path), upstream, clock)
    upstream.fail = ErrorCode.UPSTREAM_TIMEOUT
    with pytest.raises(AutoDocsError) as caught:
        await store.project("widget")
    assert caught.value.code is ErrorCode.UPSTREAM_TIMEOUT
    await store.close()


async def test_a_missing_package_is_remembered_for_its_ttl_then_asked_again(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(memory_only(tmp_path), upstream, clock, not_found_ttl_s=300.0)
    for _ in range(3):
        with pytest.raises(AutoDocsError) as caught:
            await store.project("missing-thing")
        assert caught.value.code is ErrorCode.PACKAGE_NOT_FOUND and "'missing-thing'" in caught.value.message
    assert upstream.calls == 1 and store.stats()["not_found_hits"] == 2
    clock.jump(301.0)
    with pytest.raises(AutoDocsError):
        await store.project("missing-thing")
    assert upstream.calls == 2
    await store.close()


async def test_a_missing_release_is_version_not_found_and_not_remembered_as_a_missing_package(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(memory_only(tmp_path), upstream, clock)
    project = await store.project("widget")
    with pytest.raises(AutoDocsError) as caught:
        await store.release("widget", "0.9", project)
    assert caught.value.code is ErrorCode.VERSION_NOT_FOUND
    assert store.stats()["tiers"]["not_found"]["entries"] == 0
    await store.close()


async def test_a_name_no_key_can_be_built_from_is_an_invalid_name_not_a_crash(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(memory_only(tmp_path), upstream, clock)
    with pytest.raises(AutoDocsError) as caught:
        await store.project("a" * 101)
    assert caught.value.code is ErrorCode.INVALID_PACKAGE_NAME and upstream.calls == 0
    assert await store.cached_release("widget", "not a version") is None
    await store.close()


async def test_spellings_of_one_name_and_one_version_share_one_entry(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(memory_only(tmp_path), upstream, clock)
    project = await store.project("My_Widget")
    await store.release("My_Widget", "2.0", project)
    hit = await store.cached_release("my-widget", "02.0")
    assert hit is not None and hit.key.label == "my-widget==2.0"
    assert store.stats()["tiers"]["releases"]["entries"] == 1
    await store.close()


async def test_renders_are_remembered_per_release_and_query(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(memory_only(tmp_path), upstream, clock)
    project = await store.project("widget")
    release = await store.release("widget", "2.0", project)
    calls: list[str | None] = []

    def counting(meta: PackageMetadata, query: str | None) -> RenderedDocs:
        calls.append(query)
        return render(meta, query)

    first = store.rendered(release, None, counting)
    assert store.rendered(release, None, counting) is first
    store.rendered(release, "usage", counting)
    assert calls == [None, "usage"]
    assert store.stats()["tiers"]["rendered"]["entries"] == 2
    await store.close()


async def test_a_disk_hit_is_kept_parsed_and_never_as_a_second_copy(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    first = make_store(tmp_path / "cache", upstream, clock)
    await docs(first, "widget")
    await first.close()
    later = make_store(tmp_path / "cache", upstream, clock)
    release = await later.cached_release("widget", "2.0")
    assert release is not None and release.from_cache and upstream.calls == 1
    tiers = later.stats()["tiers"]
    assert tiers["releases"]["entries"] == 1
    assert later.stats()["memory_entries"] == sum(t["entries"] for t in tiers.values()) == 1
    await later.close()


async def test_clear_forgets_every_tier_and_the_disk(tmp_path: Path, upstream: FakeUpstream, clock: FakeClock) -> None:
    store = make_store(tmp_path / "cache", upstream, clock)
    await docs(store, "widget")
    with pytest.raises(AutoDocsError):
        await store.project("missing-thing")
    assert await store.clear() == 2  # widget's index and its release
    stats = store.stats()
    assert stats["memory_entries"] == stats["memory_bytes"] == stats["disk_entries"] == 0
    await docs(store, "widget")
    assert upstream.paths["widget/json"] == 2
    await store.close()


async def test_prune_drops_from_memory_what_it_drops_from_disk(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    store = make_store(tmp_path / "cache", upstream, clock, max_versions_per_package=1)
    project = await store.project("widget")
    for version in ("1.0", "1.1", "2.0"):
        await store.release("widget", version, project)
        clock.jump(1.0)
    assert await store.prune() == {"excess_versions": 2, "expired": 0, "removed": 2}
    assert store.stats()["tiers"]["releases"]["entries"] == 1
    assert await store.cached_release("widget", "1.0") is None
    await store.close()


async def test_stats_report_entries_bytes_and_caps_of_every_tier_and_their_totals_against_the_budget(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    budget = MemoryBudget(total_bytes=8 * MIB, total_entries=1000)
    store = make_store(tmp_path / "cache", upstream, clock, budget=budget)
    await docs(store, "widget")
    with pytest.raises(AutoDocsError):
        await store.project("missing-thing")
    stats = store.stats()
    assert set(stats["tiers"]) == set(TIERS)
    for name, tier in stats["tiers"].items():
        assert tier["entries"] == 1, name
        assert 0 < tier["bytes"] <= tier["bytes_limit"] == budget.caps(name)[1]
        assert tier["entries_limit"] == budget.caps(name)[0]
    assert stats["memory_entries"] == 4
    assert stats["memory_bytes"] == sum(t["bytes"] for t in stats["tiers"].values()) == store.memory_bytes()
    assert (stats["memory_entries_limit"], stats["memory_bytes_limit"]) == (1000, 8 * MIB)
    await store.close()


# ---------------------------------------------------------------------------------------------------------------
# the budget under a flood


FLOOD = 100_000


async def test_a_flood_of_100000_distinct_packages_keeps_every_tier_under_its_cap_and_all_under_the_budget(
    tmp_path: Path, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """One in ten names is missing (the not-found tier fills too); every tier fills to its cap and then only
    churns. Memory-only, so the figure is the tiers' alone; the real-process version is in
    tests/integration/test_memory_budget.py."""
    budget = MemoryBudget(total_bytes=4 * MIB, total_entries=FLOOD)
    store = make_store(memory_only(tmp_path), upstream, clock, budget=budget)
    peak = 0
    started = time.perf_counter()
    for n in range(FLOOD):
        name = f"missing-{n}" if n % 10 == 0 else f"flood-{n}"
        try:
            await docs(store, name)
        except AutoDocsError as error:
            assert error.code is ErrorCode.PACKAGE_NOT_FOUND
        if n % 1000 == 0:
            stats = store.stats()
            peak = max(peak, stats["memory_bytes"])
            assert stats["memory_bytes"] <= budget.total_bytes
            for tier in stats["tiers"].values():
                assert tier["bytes"] <= tier["bytes_limit"] and tier["entries"] <= tier["entries_limit"]
    elapsed = time.perf_counter() - started
    stats = store.stats()
    assert stats["memory_bytes"] <= budget.total_bytes
    for name, tier in stats["tiers"].items():
        assert tier["evictions"] > 0, f"{name} never filled"
        assert tier["bytes"] >= 0.8 * tier["bytes_limit"], f"{name} holds {tier['bytes']} of {tier['bytes_limit']}"
    text = render_prometheus({"cache": stats})
    for name in TIERS:
        assert f'autodocs_memory_tier_bytes{{tier="{name}"}}' in text
        assert f'autodocs_memory_tier_bytes_limit{{tier="{name}"}}' in text
    print(f"\n{FLOOD:,} packages in {elapsed:.1f} s; peak {peak / MIB:.2f} MiB of {budget.total_bytes / MIB:.0f} MiB")
    await store.close()

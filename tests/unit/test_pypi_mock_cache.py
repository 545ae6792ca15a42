from __future__ import annotations

import pytest

from pypi_mock.cache import CachedResponse, ResponseCache
from pypi_mock.stats import MockStats


def _entry(size: int) -> CachedResponse:
    return CachedResponse("project", "x", b"h" * size, 1)


def test_cache_evicts_the_least_recently_used_entry_beyond_its_count() -> None:
    cache = ResponseCache(max_entries=2)
    cache.put(b"/a", _entry(1))
    cache.put(b"/b", _entry(1))
    assert cache.get(b"/a") is not None
    cache.put(b"/c", _entry(1))
    assert cache.get(b"/b") is None
    assert cache.get(b"/a") is not None
    assert len(cache) == 2


def test_cache_evicts_to_stay_within_its_byte_bound() -> None:
    cache = ResponseCache(max_entries=100, max_bytes=25)
    for key in (b"/a", b"/b", b"/c"):
        cache.put(key, _entry(10))
    assert len(cache) == 2
    assert cache.size_bytes == 20


def test_replacing_an_entry_does_not_leak_its_size() -> None:
    cache = ResponseCache()
    cache.put(b"/a", _entry(10))
    cache.put(b"/a", _entry(4))
    assert cache.size_bytes == 4
    assert cache.stats()["entries"] == 1


def test_cache_counts_hits_and_misses() -> None:
    cache = ResponseCache()
    cache.get(b"/a")
    cache.put(b"/a", _entry(1))
    cache.get(b"/a")
    assert (cache.hits, cache.misses) == (1, 1)


def test_cache_refuses_non_positive_bounds() -> None:
    with pytest.raises(ValueError):
        ResponseCache(max_entries=0)


def test_stats_track_open_and_maximum_connections_and_reset_keeps_open_ones() -> None:
    stats = MockStats()
    stats.connection_opened()
    stats.connection_opened()
    stats.connection_closed()
    stats.requests["project"] += 3
    stats.faults["hang"] += 1
    snapshot = stats.snapshot()
    assert snapshot["connections"] == {"open": 1, "max": 2, "total": 2}
    assert snapshot["requests_total"] == 3
    assert snapshot["faults_total"] == 1
    stats.reset()
    after = stats.snapshot()
    assert after["connections"] == {"open": 1, "max": 1, "total": 1}
    assert after["requests_total"] == 0
    assert after["faults_total"] == 0

"""The bounded LRU on its own: recency order, both bounds, and the accounting that stats() reports."""

from __future__ import annotations

import pytest

from autodocs_mcp.lru import BoundedLRU


def test_get_returns_stored_value_and_none_when_absent() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(max_entries=4, max_size=100)
    lru.put("a", 1, size=10)
    assert lru.get("a") == 1
    assert lru.get("b") is None


def test_count_bound_evicts_least_recently_used_first() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(max_entries=2, max_size=1000)
    lru.put("a", 1, size=1)
    lru.put("b", 2, size=1)
    lru.get("a")
    lru.put("c", 3, size=1)
    assert lru.keys() == ["a", "c"]
    assert lru.evictions == 1


def test_size_bound_evicts_until_the_new_value_fits() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(max_entries=100, max_size=100)
    for name in "abcd":
        lru.put(name, 0, size=30)
    assert lru.keys() == ["b", "c", "d"]
    lru.put("big", 0, size=70)
    assert lru.keys() == ["d", "big"]
    assert lru.total_size == 100
    assert lru.evictions == 3


def test_value_larger_than_the_budget_is_not_stored_and_drops_the_old_value() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(max_entries=10, max_size=50)
    lru.put("k", 1, size=10)
    lru.put("other", 2, size=10)
    assert lru.put("k", 3, size=51) is False
    assert lru.get("k") is None
    assert lru.keys() == ["other"]
    assert lru.total_size == 10


def test_replacing_a_key_adjusts_total_size_without_counting_an_eviction() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(max_entries=10, max_size=100)
    lru.put("k", 1, size=40)
    lru.put("k", 2, size=10)
    assert (len(lru), lru.total_size, lru.get("k"), lru.evictions) == (1, 10, 2, 0)


def test_pop_and_clear_release_size_and_are_not_evictions() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(max_entries=10, max_size=100)
    lru.put("a", 1, size=20)
    lru.put("b", 2, size=30)
    assert lru.pop("a") == 1
    assert lru.pop("a") is None
    assert lru.total_size == 30
    assert lru.clear() == 1
    assert (len(lru), lru.total_size, lru.evictions) == (0, 0, 0)


def test_zero_entry_limit_stores_nothing() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(max_entries=0, max_size=100)
    assert lru.put("a", 1, size=1) is False
    assert len(lru) == 0


def test_negative_limits_and_sizes_are_rejected() -> None:
    with pytest.raises(ValueError):
        BoundedLRU[str, int](max_entries=-1, max_size=1)
    lru: BoundedLRU[str, int] = BoundedLRU(max_entries=1, max_size=1)
    with pytest.raises(ValueError):
        lru.put("a", 1, size=-1)

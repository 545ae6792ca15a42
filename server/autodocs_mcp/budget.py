"""One memory budget for everything the server remembers about releases, split into fixed shares per tier.

Why fixed shares of one budget rather than one least-recently-used list across all tiers: the tiers hold things of
very different worth per byte, and some of them are filled by what clients choose. A client asking one hot package
with a thousand different ``query`` strings fills the rendered tier; one asking for random names that do not exist
fills the not-found tier. Under one shared list either would evict the parsed releases and indexes every other
client's warm calls need. With shares, a flood of one kind churns only its own tier, each tier stays an O(1)
``BoundedLRU``, and the sum of the caps is the budget by construction, so "at the budget" is a state the soak can
see (every tier at its cap) and "past it" cannot happen.

The shares follow what one hot package costs in each tier, measured on the mock's documents (``notes/server.md``):
~20 KB of parsed metadata, ~17 KB rendered, ~2.7 KB of index (far more for projects with thousands of releases),
~0.34 KB per remembered missing name. Releases and renders get the most because a warm call needs both; indexes a
fifth because the big ones are big; missing names a sliver, which at the defaults (64 MiB, 100,000 entries) holds
its 5,000-entry share of the entry cap in about half of its 3.2 MiB.

Sizes are measured (``sizing.deep_size`` of key and value plus ``ENTRY_OVERHEAD``), not estimated from a JSON
length, so the budget is what the tiers really hold, to within a few per cent.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from autodocs_mcp.lru import BoundedLRU
from autodocs_mcp.sizing import deep_size

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MIB: Final = 1024 * 1024
TIER_SHARES: Final = {"releases": 0.40, "rendered": 0.35, "indexes": 0.20, "not_found": 0.05}
"""Each tier's share of the byte budget and of the entry cap; they sum to 1."""
ENTRY_OVERHEAD: Final = 180
"""Bytes ``BoundedLRU`` spends per entry besides key and value (its ``OrderedDict`` slot and link, the
``(value, size)`` tuple, the size integer): measured with tracemalloc over 100,000 entries."""
DEFAULT_BUDGET_MB: Final = 64
DEFAULT_ENTRIES: Final = 100_000


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """Bytes (measured) and entries that all in-memory tiers may hold together."""

    total_bytes: int = DEFAULT_BUDGET_MB * MIB
    total_entries: int = DEFAULT_ENTRIES

    def __post_init__(self) -> None:
        if self.total_bytes < 0 or self.total_entries < 0:
            raise ValueError("a memory budget must be >= 0")

    def caps(self, tier: str) -> tuple[int, int]:
        """``(entries, bytes)`` the named tier may hold: its share of each, rounded down, so the tiers' caps never
        add up to more than the budget."""
        share = TIER_SHARES[tier]
        return int(self.total_entries * share), int(self.total_bytes * share)


class Tier(Generic[K, V]):
    """One in-memory tier: a ``BoundedLRU`` whose entry sizes are measured when they are stored.

    ``None`` values are reserved to mean "absent", as in ``BoundedLRU``. Not thread-safe: one event loop owns it.
    """

    def __init__(self, name: str, budget: MemoryBudget) -> None:
        max_entries, max_bytes = budget.caps(name)
        self.name = name
        self._lru: BoundedLRU[K, V] = BoundedLRU(max_entries, max_bytes)
        self.too_large = 0
        self.get: Callable[[K], V | None] = self._lru.get
        """The value, marked most recently used (the LRU's own method: a hit is on every warm call's path)."""

    def __len__(self) -> int:
        return len(self._lru)

    def put(self, key: K, value: V) -> bool:
        """Store ``value``, evicting the least recently used entries to fit; a value larger than the whole tier is
        not stored (counted in ``too_large``). Returns whether it was stored."""
        size = deep_size((key, value)) + ENTRY_OVERHEAD
        stored = self._lru.put(key, value, size)
        if not stored and self._lru.max_entries > 0:
            self.too_large += 1
        return stored

    def pop(self, key: K) -> V | None:
        return self._lru.pop(key)

    def keys(self) -> list[K]:
        """A snapshot, least recently used first."""
        return self._lru.keys()

    def clear(self) -> int:
        return self._lru.clear()

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._lru),
            "bytes": self._lru.total_size,
            "entries_limit": self._lru.max_entries,
            "bytes_limit": self._lru.max_size,
            "evictions": self._lru.evictions,
            "too_large": self.too_large,
        }

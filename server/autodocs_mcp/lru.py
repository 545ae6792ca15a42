"""A least-recently-used map bounded both by entry count and by a caller-estimated total size.

Two bounds, because either alone fails in production: a count bound lets a few huge values exhaust memory, and a
size bound lets millions of tiny values exhaust the per-entry overhead. Every operation is O(1) (an
``OrderedDict`` keeps recency order), so a large cache costs no more per hit than a small one. Not thread-safe:
the owner uses it from one event loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """``None`` is reserved to mean "absent", so values must never be ``None``."""

    def __init__(self, max_entries: int, max_size: int) -> None:
        if max_entries < 0 or max_size < 0:
            raise ValueError("limits must be >= 0")
        self.max_entries = max_entries
        self.max_size = max_size
        self.evictions = 0
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    @property
    def total_size(self) -> int:
        return self._size

    def get(self, key: K) -> V | None:
        """Return the value and mark it most recently used."""
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V, size: int) -> bool:
        """Store ``value`` as most recently used, evicting the least recently used entries to fit.

        A value larger than the whole size budget is not stored (and any older value under the key is dropped,
        so a reader never sees a stale one); returns whether the value was stored.
        """
        if size < 0:
            raise ValueError("size must be >= 0")
        self.pop(key)
        if size > self.max_size or self.max_entries == 0:
            return False
        self._items[key] = (value, size)
        self._size += size
        while len(self._items) > self.max_entries or self._size > self.max_size:
            _, (_, evicted_size) = self._items.popitem(last=False)
            self._size -= evicted_size
            self.evictions += 1
        return True

    def pop(self, key: K) -> V | None:
        item = self._items.pop(key, None)
        if item is None:
            return None
        self._size -= item[1]
        return item[0]

    def keys(self) -> list[K]:
        """A snapshot, least recently used first."""
        return list(self._items)

    def clear(self) -> int:
        """Drop everything (not counted as evictions); returns how many entries were dropped."""
        dropped = len(self._items)
        self._items.clear()
        self._size = 0
        return dropped

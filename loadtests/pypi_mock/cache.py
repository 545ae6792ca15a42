"""A bounded LRU of ready-to-send responses, so a warm request costs a dict lookup and a socket write."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A complete HTTP response (head and body in one buffer) plus what routing and fault matching need."""

    kind: str
    """Stats kind: ``project``, ``version`` or ``not_found``."""
    name: str
    """Normalised project name, for the fault ``match`` glob."""
    data: bytes
    head_len: int
    """Length of the head including its blank line; ``data[:head_len]`` answers HEAD."""


class ResponseCache:
    """LRU bounded both in entries and in bytes, whichever is reached first."""

    def __init__(self, max_entries: int = 2048, max_bytes: int = 128 * 1024 * 1024) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("cache bounds must be positive")
        self._entries: OrderedDict[bytes, CachedResponse] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: bytes, entry: CachedResponse) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.data)
        self._entries[key] = entry
        self._bytes += len(entry.data)
        while len(self._entries) > self._max_entries or (self._bytes > self._max_bytes and len(self._entries) > 1):
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.data)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._entries), "bytes": self._bytes, "hits": self.hits, "misses": self.misses}

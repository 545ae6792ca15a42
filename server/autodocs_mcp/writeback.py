"""Write-behind as pure state: which keys have a payload waiting, which one is being written, what a put means.

No I/O, no asyncio and no clock here: every method is a decision on plain data, so the rules are tested as rules
and the shell that owns the threads (``DocCache``) only carries decisions out. It is the shape of httpcore's
connection pool, which decides under its lock which request gets which connection and which connections to close,
and does the network I/O afterwards.

The rules:

* one writer per key, so two writes of one key never race on its file;
* last write wins: while a key's write is in flight only the newest payload waits, replacing any older one;
* the backlog is bounded: a put beyond ``max_unsettled`` waiting-or-writing payloads is dropped (memory still
  answers it; the disk just misses one file), never queued without bound;
* nothing is accepted after ``close``;
* every accepted put gets a ticket, so a flush can wait for the writes accepted before it without waiting for
  the ones that keep arriving after it.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Offer(enum.Enum):
    """What a put became."""

    START = "start"
    """Waiting, and no writer runs for the key: the caller starts one."""
    QUEUED = "queued"
    """Waiting behind the key's write in flight; that key's writer takes it next."""
    COALESCED = "coalesced"
    """Replaced the payload already waiting for the key (last write wins)."""
    DROPPED = "dropped"
    """The backlog is full; not written."""
    REFUSED = "refused"
    """Closed; not written."""


@dataclass(slots=True)
class Pending:
    """The newest payload waiting for one key, and the ticket of the oldest put it answers for."""

    payload: bytes
    written_at: float
    ticket: int


class WriteBehind(Generic[K]):
    """The backlog of one write-behind cache. Not thread-safe: its owner uses it from one event loop."""

    def __init__(self, max_unsettled: int) -> None:
        if max_unsettled < 1:
            raise ValueError("max_unsettled must be >= 1")
        self.max_unsettled = max_unsettled
        self.closed = False
        self._waiting: dict[K, Pending] = {}
        self._writing: dict[K, int] = {}
        self._writers: set[K] = set()
        self._issued = 0

    @property
    def unsettled(self) -> int:
        """Payloads accepted and not yet written or failed: waiting plus in flight."""
        return len(self._waiting) + len(self._writing)

    @property
    def last_ticket(self) -> int:
        """The ticket of the latest accepted put; a flush waits until everything up to it has settled."""
        return self._issued

    def offer(self, key: K, payload: bytes, written_at: float) -> Offer:
        if self.closed:
            return Offer.REFUSED
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.payload = payload
            waiting.written_at = written_at
            return Offer.COALESCED
        if self.unsettled >= self.max_unsettled:
            return Offer.DROPPED
        self._issued += 1
        self._waiting[key] = Pending(payload, written_at, self._issued)
        if key in self._writers:
            return Offer.QUEUED
        self._writers.add(key)
        return Offer.START

    def take(self, key: K) -> Pending | None:
        """The payload ``key``'s writer is to write now (it is in flight until ``finish``), or ``None``: nothing
        waits, and the writer is to stop; the next put of the key starts a new one."""
        pending = self._waiting.pop(key, None)
        if pending is None:
            self._writers.discard(key)
            return None
        self._writing[key] = pending.ticket
        return pending

    def finish(self, key: K) -> None:
        """The write in flight for ``key`` is on disk or has failed: either way it has settled."""
        self._writing.pop(key, None)

    def abandon(self, key: K) -> bool:
        """``key``'s writer is gone (cancelled at shutdown): forget it; returns whether a waiting payload was
        dropped with it."""
        self._writers.discard(key)
        self._writing.pop(key, None)
        return self._waiting.pop(key, None) is not None

    def close(self) -> None:
        self.closed = True

    def settled_through(self, ticket: int) -> bool:
        """Whether every put with a ticket up to ``ticket`` has settled (is written, failed or superseded by a
        newer payload that has)."""
        return all(p.ticket > ticket for p in self._waiting.values()) and all(
            t > ticket for t in self._writing.values()
        )

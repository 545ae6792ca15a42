"""Which streamable-HTTP session makes room for a newcomer: decided on plain state, carried out by the HTTP gate.

The SDK refuses every new client with a bare 503 once ``max_sessions`` are open, and an abandoned session (the MCP
Inspector and the conformance suite both leave theirs open) holds its place for the whole idle timeout, 30 minutes
by default. So 1,000 clients that never say goodbye lock everyone else out for half an hour. Here a newcomer at the
cap takes the place of the least recently used *idle* session (no request of it in flight, no stream open), never a
busy one; a per-peer bound keeps one address from holding the whole cap, and a peer at its bound gives up its own
oldest idle session first. Only when every candidate is busy is the newcomer refused, with ``Retry-After``.

``SessionTable`` is the pure part: what the gate has seen of each session and the admission decision. It never
touches the SDK; the gate asks it, then evicts and counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

REFUSED_RETRY_AFTER_S: Final = 2
"""Every session busy: a call takes seconds, so one of them is likely idle again by then."""


@dataclass
class SessionEntry:
    peer: str
    last_seen: float
    in_flight: int = 0


@dataclass(frozen=True)
class Admit:
    """Open the new session; ``evict`` names the idle session that gives up its place first, if one must."""

    evict: str | None = None


@dataclass(frozen=True)
class Refuse:
    reason: str
    retry_after_s: int = REFUSED_RETRY_AFTER_S


class SessionTable:
    """The gate's view of each open session: its peer, its requests in flight and when it was last used."""

    def __init__(self, cap: int, per_peer_cap: int, clock: Callable[[], float] = time.monotonic) -> None:
        if cap < 1 or per_peer_cap < 1:
            raise ValueError("cap and per_peer_cap must be >= 1")
        self._cap = cap
        self._per_peer_cap = min(per_peer_cap, cap)
        self._clock = clock
        self._entries: dict[str, SessionEntry] = {}
        self.evicted = 0
        self.refused = 0

    @property
    def cap(self) -> int:
        return self._cap

    @property
    def per_peer_cap(self) -> int:
        return self._per_peer_cap

    def __len__(self) -> int:
        return len(self._entries)

    def admission(self, peer: str, live: Collection[str]) -> Admit | Refuse:
        """Decide whether a new session for ``peer`` may open, given the IDs the SDK holds open now.

        Entries the SDK no longer holds (deleted, reaped, crashed) are dropped first, so the table is bounded by
        the SDK's own count plus the sessions being opened.
        """
        self._entries = {sid: entry for sid, entry in self._entries.items() if sid in live}
        own = [sid for sid, entry in self._entries.items() if entry.peer == peer]
        if len(own) >= self._per_peer_cap:
            victim = self._least_recent_idle(own)
            if victim is None:
                return self._refuse(f"all {len(own)} sessions of this client are busy (per-client limit)")
            return Admit(victim)
        if len(live) >= self._cap:
            victim = self._least_recent_idle(self._entries)
            if victim is None:
                return self._refuse(f"all {len(live)} sessions are busy (AUTODOCS_MAX_SESSIONS)")
            return Admit(victim)
        return Admit()

    def _refuse(self, reason: str) -> Refuse:
        self.refused += 1
        return Refuse(reason)

    def _least_recent_idle(self, candidates: Collection[str]) -> str | None:
        idle = [(self._entries[sid].last_seen, sid) for sid in candidates if self._entries[sid].in_flight == 0]
        return min(idle)[1] if idle else None

    def evicted_one(self, session_id: str) -> None:
        if self._entries.pop(session_id, None) is not None:
            self.evicted += 1

    def opened(self, session_id: str, peer: str) -> None:
        self._entries[session_id] = SessionEntry(peer=peer, last_seen=self._clock())

    def begin(self, session_id: str) -> bool:
        """A request of a known session starts; False for a session this table has not seen open."""
        entry = self._entries.get(session_id)
        if entry is None:
            return False
        entry.in_flight += 1
        entry.last_seen = self._clock()
        return True

    def in_flight(self, session_id: str) -> int:
        """HTTP requests of a session inside the app now (counted before the app sees them: no race)."""
        entry = self._entries.get(session_id)
        return entry.in_flight if entry is not None else 0

    def end(self, session_id: str) -> None:
        entry = self._entries.get(session_id)
        if entry is not None:
            entry.in_flight = max(0, entry.in_flight - 1)
            entry.last_seen = self._clock()

    def stats(self) -> dict[str, int]:
        return {
            "sessions_max": self._cap,
            "sessions_per_client_max": self._per_peer_cap,
            "sessions_tracked": len(self._entries),
            "sessions_evicted_total": self.evicted,
            "sessions_refused_total": self.refused,
        }

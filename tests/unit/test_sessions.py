"""The session table decides who makes way for a newcomer: the least recently used idle session, never a busy one."""

from __future__ import annotations

import pytest

from autodocs_mcp.session_gate import opens_session, request_ids
from autodocs_mcp.sessions import Admit, Refuse, SessionTable


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def table(cap: int = 3, per_peer: int = 3) -> SessionTable:
    return SessionTable(cap, per_peer, clock=Ticks())


def test_below_the_cap_a_newcomer_is_admitted_without_evicting_anyone() -> None:
    sessions = table()
    sessions.opened("a", "peer-1")
    assert sessions.admission("peer-2", {"a"}) == Admit()


def test_at_the_cap_the_least_recently_used_idle_session_makes_way() -> None:
    sessions = table()
    for sid in ("a", "b", "c"):
        sessions.opened(sid, f"peer-{sid}")
    sessions.begin("a")
    sessions.end("a")  # "a" was used last; "b" is now the least recently used
    assert sessions.admission("peer-new", {"a", "b", "c"}) == Admit("b")


def test_a_busy_session_never_makes_way_and_all_busy_is_a_refusal_with_retry_after() -> None:
    sessions = table()
    for sid in ("a", "b", "c"):
        sessions.opened(sid, f"peer-{sid}")
        sessions.begin(sid)
    decision = sessions.admission("peer-new", {"a", "b", "c"})
    assert isinstance(decision, Refuse) and decision.retry_after_s > 0
    assert sessions.refused == 1
    sessions.end("c")
    assert sessions.admission("peer-new", {"a", "b", "c"}) == Admit("c")


def test_a_client_at_its_own_bound_gives_up_its_own_oldest_idle_session_first() -> None:
    sessions = table(cap=10, per_peer=2)
    sessions.opened("other", "peer-2")
    sessions.opened("mine-1", "peer-1")
    sessions.opened("mine-2", "peer-1")
    assert sessions.admission("peer-1", {"other", "mine-1", "mine-2"}) == Admit("mine-1")
    assert sessions.admission("peer-2", {"other", "mine-1", "mine-2"}) == Admit()


def test_sessions_the_sdk_no_longer_holds_are_forgotten_so_the_table_stays_bounded() -> None:
    sessions = table()
    for sid in ("a", "b", "c"):
        sessions.opened(sid, "peer")
    assert sessions.admission("peer", {"c"}) == Admit()
    assert len(sessions) == 1


def test_evictions_are_counted_once_and_reported_in_the_stats() -> None:
    sessions = table(cap=4, per_peer=4)
    sessions.opened("a", "peer")
    sessions.evicted_one("a")
    sessions.evicted_one("a")
    assert sessions.stats() == {
        "sessions_max": 4,
        "sessions_per_client_max": 4,
        "sessions_tracked": 0,
        "sessions_evicted_total": 1,
        "sessions_refused_total": 0,
    }


def test_the_per_client_bound_never_exceeds_the_cap_and_bounds_below_one_are_refused() -> None:
    assert SessionTable(5, 50).per_peer_cap == 5
    with pytest.raises(ValueError):
        SessionTable(0, 1)


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        (b'{"jsonrpc":"2.0","id":7,"method":"tools/call"}', ["7"]),
        (b'{"jsonrpc":"2.0","id":"7","method":"tools/call"}', ['"7"']),
        (b'{"jsonrpc":"2.0","method":"notifications/initialized"}', []),
        (b'{"jsonrpc":"2.0","id":7,"result":{}}', []),
        (b'[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]', ["1", "2"]),
        (b"not json", []),
        (b"", []),
        (None, []),
    ],
)
def test_request_ids_are_read_from_requests_only_and_told_apart_by_their_json_type(
    body: bytes | None, ids: list[str]
) -> None:
    assert request_ids(body) == ids


@pytest.mark.parametrize(
    ("body", "opens"),
    [
        (b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}', True),
        (b'[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}]', True),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"health_check"}}', False),
        (b'{"jsonrpc":"2.0","id":1,"method":"server/discover"}', False),
        (b'{"jsonrpc":"2.0","method":"notifications/initialized"}', False),
        (b"not json", True),
        (b"", True),
        (None, True),
    ],
)
def test_only_an_initialize_asks_for_a_new_session(body: bytes | None, opens: bool) -> None:
    assert opens_session(body) is opens

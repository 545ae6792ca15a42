"""The write-behind rules as pure state: what a put becomes, what a writer takes next, when a flush may return."""

from __future__ import annotations

import pytest

from autodocs_mcp.writeback import Offer, WriteBehind


def test_the_first_put_of_a_key_asks_for_a_writer_and_the_writer_takes_it() -> None:
    state: WriteBehind[str] = WriteBehind(10)
    assert state.offer("a", b"1", 1.0) is Offer.START
    pending = state.take("a")
    assert pending is not None and (pending.payload, pending.written_at) == (b"1", 1.0)
    assert state.unsettled == 1  # in flight until it finishes
    state.finish("a")
    assert state.unsettled == 0
    assert state.take("a") is None  # nothing more: the writer stops


def test_while_a_key_is_written_the_newest_put_waits_and_older_waiting_ones_are_replaced() -> None:
    state: WriteBehind[str] = WriteBehind(10)
    state.offer("a", b"1", 1.0)
    assert state.take("a") is not None
    assert state.offer("a", b"2", 2.0) is Offer.QUEUED
    assert state.offer("a", b"3", 3.0) is Offer.COALESCED
    state.finish("a")
    pending = state.take("a")
    assert pending is not None and pending.payload == b"3"  # last write wins
    state.finish("a")
    assert state.take("a") is None


def test_one_writer_per_key_however_many_puts_arrive() -> None:
    state: WriteBehind[str] = WriteBehind(10)
    decisions = [state.offer("a", bytes([n]), float(n)) for n in range(5)]
    assert decisions == [Offer.START, *[Offer.COALESCED] * 4]
    assert state.offer("b", b"x", 0.0) is Offer.START


def test_a_full_backlog_drops_new_keys_but_still_coalesces_waiting_ones() -> None:
    state: WriteBehind[str] = WriteBehind(2)
    assert state.offer("a", b"1", 1.0) is Offer.START
    assert state.offer("b", b"1", 1.0) is Offer.START
    assert state.offer("c", b"1", 1.0) is Offer.DROPPED
    assert state.offer("a", b"2", 2.0) is Offer.COALESCED
    assert state.unsettled == 2


def test_after_close_every_put_is_refused() -> None:
    state: WriteBehind[str] = WriteBehind(2)
    state.close()
    assert state.offer("a", b"1", 1.0) is Offer.REFUSED
    assert state.unsettled == 0


def test_a_flush_waits_for_the_puts_before_it_and_not_for_later_ones() -> None:
    state: WriteBehind[str] = WriteBehind(10)
    state.offer("a", b"1", 1.0)
    state.offer("b", b"1", 1.0)
    target = state.last_ticket
    assert not state.settled_through(target)
    state.take("a")
    state.finish("a")
    assert not state.settled_through(target)
    state.take("b")
    state.offer("c", b"1", 1.0)  # after the flush began
    state.finish("b")
    assert state.settled_through(target)
    assert not state.settled_through(state.last_ticket)


def test_a_replaced_payload_settles_only_when_its_replacement_is_written() -> None:
    state: WriteBehind[str] = WriteBehind(10)
    state.offer("a", b"1", 1.0)
    target = state.last_ticket
    state.offer("a", b"2", 2.0)  # coalesced into the waiting payload, same ticket
    state.take("a")
    assert not state.settled_through(target)
    state.finish("a")
    assert state.settled_through(target)


def test_an_abandoned_writer_drops_what_waited_and_the_next_put_starts_a_new_one() -> None:
    state: WriteBehind[str] = WriteBehind(10)
    state.offer("a", b"1", 1.0)
    state.take("a")
    state.offer("a", b"2", 2.0)
    assert state.abandon("a") is True
    assert state.unsettled == 0
    assert state.abandon("a") is False
    assert state.offer("a", b"3", 3.0) is Offer.START


def test_a_backlog_of_nothing_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        WriteBehind(0)

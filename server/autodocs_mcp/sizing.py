"""What a remembered object costs in memory, measured once when it is stored.

The memory budget is only as honest as the sizes it adds up. A JSON length (what the old memory tier counted)
misses every object header, the ``dict`` and ``tuple`` tables and the parsed ``Version`` objects: measured with
tracemalloc on the mock's documents, JSON length is 0.84× of a cached dict's real cost, 0.89× of parsed metadata
and 0.055× (18× low) of a parsed project index. ``deep_size`` walks the object graph with ``sys.getsizeof`` and
lands at 0.99-1.00× of tracemalloc for all of them (``notes/server.md``). It costs ~20 µs for a release's
metadata and ~50-220 µs for an index, paid once per stored entry on the cold path.

Objects reachable from more than one place inside one value are counted once. Objects shared with the rest of the
interpreter (``None``, booleans, small integers, one-character strings, classes) are not the entry's to pay for and
are skipped."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import FunctionType, ModuleType
from typing import Final

_SHARED: Final = (type, ModuleType, FunctionType)
_LEAF_TYPES: Final = frozenset({str, bytes, int, float, complex, bool, type(None)})
_SEQUENCE_TYPES: Final = frozenset({tuple, list, set, frozenset})
SAMPLE: Final = 32


_SLOTS: dict[type, tuple[str, ...]] = {}
"""Slot names per class, found once: walking the MRO for every object doubled the cost of measuring an index. One
entry per class ever measured (a few dozen), so it needs no bound."""


def _slot_names(cls: type) -> tuple[str, ...]:
    known = _SLOTS.get(cls)
    if known is not None:
        return known
    names: list[str] = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else [name for name in slots if name != "__dict__"]
    _SLOTS[cls] = found = tuple(names)
    return found


def _is_shared(obj: object) -> bool:
    """Singletons and cached constants the interpreter hands to everyone: counting them would bill the entry for
    memory it does not hold (a ``None`` field is a pointer, not an object)."""
    kind = type(obj)
    if kind is str:
        return len(obj) <= 1  # type: ignore[arg-type]
    if kind is int:
        return -5 <= obj <= 256  # type: ignore[operator]
    return obj is None or kind is bool or isinstance(obj, _SHARED)


def deep_size(obj: object) -> int:
    """Bytes held by ``obj`` and everything it references that is its own (containers, dataclass fields, slots,
    a ``cached_property`` already computed), each object counted once.

    A sequence longer than ``4 * SAMPLE`` is measured on ``SAMPLE`` evenly spaced items, scaled up to its length:
    a project index of 3,000 releases holds ~40,000 objects (each ``Version`` is a dozen), which would cost ~15 ms
    to walk, while its items are alike enough that a sample of 32 lands within a few per cent.
    """
    seen: set[int] = set()
    total = 0.0
    stack: list[tuple[object, float]] = [(obj, 1.0)]
    while stack:
        current, weight = stack.pop()
        if id(current) in seen or _is_shared(current):
            continue
        seen.add(id(current))
        total += sys.getsizeof(current) * weight
        kind = type(current)
        if kind in _LEAF_TYPES:
            continue
        children: list[object]
        if kind is dict or (kind not in _SEQUENCE_TYPES and isinstance(current, Mapping)):
            children = [*current.keys(), *current.values()]  # type: ignore[attr-defined]
        elif kind in _SEQUENCE_TYPES or isinstance(current, tuple | list | set | frozenset):
            children = list(current)  # type: ignore[call-overload]
        else:
            children = []
            own = getattr(current, "__dict__", None)
            if own is not None and id(own) not in seen:
                # An instance dict's keys are the attribute names, interned and shared by every instance.
                seen.add(id(own))
                total += sys.getsizeof(own) * weight
                children += own.values()
            children += [getattr(current, name) for name in _slot_names(kind) if hasattr(current, name)]
        if len(children) > 4 * SAMPLE and kind is not dict:
            step = len(children) / SAMPLE
            scaled = weight * len(children) / SAMPLE
            stack += [(children[int(i * step)], scaled) for i in range(SAMPLE)]
        else:
            stack += [(child, weight) for child in children]
    return round(total)

"""When the runner takes the target's allocation snapshots, and the thread that takes them off the main loop.

Snapshots are taken after the warm-up, at every fault window's start and end after it, every hour, and at the end
of the run (before the shutdown signal): consecutive pairs then split growth inside fault windows from growth
outside them (``soak.growth_sites``). A snapshot may take seconds on a large heap, so it runs on its own thread,
one at a time; one that is due while another is still running is skipped and said so, never queued without bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from soak.allocations import append_snapshot, fetch_snapshot
from soak.schedule import FaultSchedule

MAX_SNAPSHOTS: Final = 64
SNAPSHOT_TOP: Final = 1000
"""More sites than a report shows: a site entering or leaving the top N between snapshots reads as all growth."""
HOURLY_S: Final = 3600.0
PRIMER_S: Final = 10.0
"""A first snapshot early in the warm-up: taking the first one keeps 12–16 MiB of the server's memory, a step that
belongs in the warm-up (which the trends skip), not at its end."""


def snapshot_plan(duration_s: float, warmup_s: float, schedule: FaultSchedule) -> list[tuple[float, str]]:
    """(time, label) of every planned snapshot before the final one, in time order, at most ``MAX_SNAPSHOTS - 1``."""
    planned: dict[float, str] = {min(PRIMER_S, warmup_s / 2): "primer", warmup_s: "warm-up end"}
    for phase in schedule.phases:
        for at, what in ((phase.start_s, "start"), (phase.end_s, "end")):
            if warmup_s < at < duration_s:
                planned.setdefault(at, f"{phase.name} {what}")
    hour = warmup_s + HOURLY_S
    while hour < duration_s:
        planned.setdefault(hour, "hourly")
        hour += HOURLY_S
    return sorted(planned.items())[: MAX_SNAPSHOTS - 1]


class SnapshotTaker:
    """Takes planned snapshots when their time comes; ``final`` takes the last one synchronously."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        run_dir: Path,
        plan: list[tuple[float, str]],
        clock: Callable[[], float],
        on_event: Callable[..., Any],
        fetch: Callable[..., Mapping[str, Any] | None] = fetch_snapshot,
    ) -> None:
        self._base_url = base_url
        self._headers = dict(headers)
        self._run_dir = run_dir
        self._pending = list(plan)
        self._clock = clock
        self._on_event = on_event
        self._fetch = fetch
        self._thread: threading.Thread | None = None

    def next_at(self) -> float | None:
        return self._pending[0][0] if self._pending else None

    def poll(self, t: float) -> None:
        """Start the snapshot whose time has come (skipping any that a still-running one made late)."""
        due = [item for item in self._pending if item[0] <= t]
        if not due:
            return
        self._pending = self._pending[len(due) :]
        for _at, label in due[:-1]:
            self._on_event("allocation_snapshot_skipped", label=label, why="a later snapshot was already due")
        label = due[-1][1]
        if self._thread is not None and self._thread.is_alive():
            self._on_event("allocation_snapshot_skipped", label=label, why="the previous snapshot is still running")
            return
        self._thread = threading.Thread(target=self._take, args=(label,), name="allocation-snapshot", daemon=True)
        self._thread.start()

    def final(self, timeout_s: float = 30.0) -> None:
        """The end-of-run snapshot, after any running one; bounded by ``timeout_s`` in all."""
        started = time.monotonic()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._on_event("allocation_snapshot_skipped", label="end", why="the previous snapshot did not finish")
                return
        self._pending = []
        self._take("end", max(timeout_s - (time.monotonic() - started), 1.0))

    def _take(self, label: str, timeout_s: float = 30.0) -> None:
        t = self._clock()
        data = self._fetch(self._base_url, self._headers, top=SNAPSHOT_TOP, timeout_s=timeout_s)
        if data is None:
            self._on_event("allocation_snapshot_skipped", label=label, why="the target gave no snapshot")
            return
        append_snapshot(self._run_dir, t, label, data)
        sites = data.get("sites")
        self._on_event(
            "allocation_snapshot",
            label=label,
            sites=len(sites) if isinstance(sites, list) else None,
            traced_bytes=data.get("traced_bytes"),
            elapsed_ms=data.get("elapsed_ms"),
        )

"""The progress line a person watches during a soak: one updating line on a terminal, one line a minute in a log.

A 24-hour run piped into a file must not write 86,400 lines, and a terminal must not scroll at all; both show the
same figures: elapsed and remaining time, load, failures, the server's memory and descriptors, the breaker and the
fault phase in force.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from soak.durations import format_clock

MIB = 1024 * 1024
_CLEAR_TO_EOL = "\x1b[K"


@dataclass(frozen=True)
class ProgressStatus:
    elapsed_s: float
    planned_s: float
    rps: float | None = None
    fail_rps: float | None = None
    failures_total: int | None = None
    rss_bytes: float | None = None
    fds: float | None = None
    breaker_state: str | None = None
    phase: str | None = None


def format_progress(status: ProgressStatus) -> str:
    """One line; figures not known yet show as "-" so the layout stays put."""
    elapsed = min(status.elapsed_s, status.planned_s)
    remaining = max(0.0, status.planned_s - status.elapsed_s)
    percent = 100.0 * elapsed / status.planned_s if status.planned_s > 0 else 100.0
    failures = f"{_num(status.fail_rps, '{:.2f}')}/s"
    if status.failures_total is not None:
        failures += f" ({status.failures_total} total)"
    rss = "-" if status.rss_bytes is None else f"{status.rss_bytes / MIB:.1f} MiB"
    return (
        f"soak {format_clock(elapsed)} / {format_clock(status.planned_s)}"
        f" ({percent:.0f}%, ETA {format_clock(remaining)})"
        f" | {_num(status.rps, '{:.1f}')} req/s | failures {failures}"
        f" | RSS {rss} | FDs {_num(status.fds, '{:.0f}')}"
        f" | breaker {status.breaker_state or '-'} | phase {status.phase or 'none'}"
    )


def _num(value: float | None, template: str) -> str:
    return "-" if value is None else template.format(value)


class ProgressWriter:
    """Redraws one line in place on a TTY; otherwise prints a line at most every ``interval_s`` seconds.

    ``note`` prints a message of its own line without losing the progress line on a terminal.
    """

    def __init__(
        self,
        stream: TextIO,
        is_tty: bool | None = None,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.is_tty = stream.isatty() if is_tty is None else is_tty
        self.interval_s = interval_s
        self._clock = clock
        self._last_written = clock()  # the first line comes one interval in, when there is something to show
        self._shown = ""

    def update(self, line: str) -> bool:
        """Show ``line``; True if anything was written."""
        if self.is_tty:
            self.stream.write("\r" + line + _CLEAR_TO_EOL)
            self._shown = line
            self.stream.flush()
            return True
        now = self._clock()
        if now - self._last_written < self.interval_s:
            return False
        self._last_written = now
        self.stream.write(line + "\n")
        self.stream.flush()
        return True

    def note(self, message: str) -> None:
        if self.is_tty and self._shown:
            self.stream.write("\r" + _CLEAR_TO_EOL + message + "\n" + self._shown + _CLEAR_TO_EOL)
        else:
            self.stream.write(message + "\n")
        self.stream.flush()

    def finish(self, line: str | None = None) -> None:
        """End the progress display, with a last line (always written, whatever the interval)."""
        if self.is_tty:
            if line is not None:
                self.stream.write("\r" + line + _CLEAR_TO_EOL)
            if line is not None or self._shown:
                self.stream.write("\n")
            self._shown = ""
        elif line is not None:
            self.stream.write(line + "\n")
        self.stream.flush()

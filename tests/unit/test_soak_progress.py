"""The progress line: the figures a person watches, redrawn in place on a terminal, once a minute in a log."""

from __future__ import annotations

import io

from soak.progress import MIB, ProgressStatus, ProgressWriter, format_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_line_shows_time_load_failures_resources_breaker_and_phase() -> None:
    line = format_progress(
        ProgressStatus(
            elapsed_s=754,
            planned_s=86_400,
            rps=15.84,
            fail_rps=0.25,
            failures_total=12,
            rss_bytes=80 * MIB,
            fds=37,
            breaker_state="open",
            phase="outage",
        )
    )
    assert line == (
        "soak 0:12:34 / 24:00:00 (1%, ETA 23:47:26) | 15.8 req/s | failures 0.25/s (12 total)"
        " | RSS 80.0 MiB | FDs 37 | breaker open | phase outage"
    )


def test_unknown_figures_show_as_dashes_and_no_phase_as_none() -> None:
    line = format_progress(ProgressStatus(elapsed_s=0, planned_s=120))
    assert line == (
        "soak 0:00:00 / 0:02:00 (0%, ETA 0:02:00) | - req/s | failures -/s | RSS - | FDs - | breaker - | phase none"
    )


def test_elapsed_past_the_plan_reads_as_complete() -> None:
    line = format_progress(ProgressStatus(elapsed_s=130, planned_s=120))
    assert "0:02:00 / 0:02:00 (100%, ETA 0:00:00)" in line


def test_on_a_terminal_the_line_is_redrawn_in_place() -> None:
    stream = io.StringIO()
    writer = ProgressWriter(stream, is_tty=True)
    assert writer.update("first")
    assert writer.update("second")
    assert stream.getvalue() == "\rfirst\x1b[K\rsecond\x1b[K"
    writer.note("breaker opened")
    assert stream.getvalue().endswith("\r\x1b[Kbreaker opened\nsecond\x1b[K")
    writer.finish("done")
    assert stream.getvalue().endswith("\rdone\x1b[K\n")
    assert stream.getvalue().count("\n") == 2


def test_in_a_log_one_line_per_interval_and_the_first_after_one_interval() -> None:
    stream = io.StringIO()
    clock = FakeClock()
    writer = ProgressWriter(stream, is_tty=False, interval_s=60, clock=clock)
    written = []
    for second in range(0, 181, 1):
        clock.now = float(second)
        if writer.update(f"t={second}"):
            written.append(second)
    assert written == [60, 120, 180]
    assert stream.getvalue() == "t=60\nt=120\nt=180\n"


def test_in_a_log_notes_and_the_final_line_are_always_written() -> None:
    stream = io.StringIO()
    writer = ProgressWriter(stream, is_tty=False, interval_s=60, clock=FakeClock())
    assert not writer.update("too early")
    writer.note("interrupted")
    writer.finish("final")
    assert stream.getvalue() == "interrupted\nfinal\n"

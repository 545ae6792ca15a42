"""render_report on synthetic run folders: every output written, readable, and honest about broken criteria."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from soak.gate import Status, Verdict
from soak.plots import FIGURES
from soak.report import REPORT_HTML, SUMMARY_MD, VERDICT_JSON, render_report
from soak.rundir import RunDirError, load_run
from soak.thresholds import Thresholds
from tests.support.synthetic_run import DEFAULT_SHUTDOWN, MB, combine, linear, noise, write_synthetic_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ERRORS = {"name": "upstream-errors", "start_s": 1200.0, "end_s": 1500.0, "faults": {"error_rate": 0.5}}


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Verdict]:
    """A one-hour run with a memory leak and cut calls at shutdown, rendered once for the module."""
    run_dir = write_synthetic_run(
        tmp_path_factory.mktemp("soak") / "run",
        duration_s=3600,
        rss=combine(150 * MB, linear(20 * MB), noise(0.5 * MB, 1)),
        faults=[ERRORS],
        shutdown={**DEFAULT_SHUTDOWN, "cut": 2, "in_flight_at_signal": 7, "completed": 5},
        run_id="night-of-the-leak",
    )
    return run_dir, render_report(run_dir)


def test_render_report_writes_every_output_and_every_figure(broken_run: tuple[Path, Verdict]) -> None:
    run_dir, _ = broken_run
    for name in (VERDICT_JSON, SUMMARY_MD, REPORT_HTML):
        assert (run_dir / name).stat().st_size > 0, name
    for file, *_ in FIGURES:
        assert (run_dir / file).read_bytes().startswith(PNG_MAGIC), file
    assert {f for f, *_ in FIGURES} == {
        "rss.png",
        "fds_threads.png",
        "tcp.png",
        "pool.png",
        "sessions.png",
        "breaker.png",
        "throughput.png",
        "latency.png",
    }
    assert not list(run_dir.glob(".*.tmp"))


def test_verdict_json_round_trips_to_the_returned_verdict(broken_run: tuple[Path, Verdict]) -> None:
    run_dir, verdict = broken_run
    data = json.loads((run_dir / VERDICT_JSON).read_text(encoding="utf-8"))
    assert data["status"] == "broken"
    assert data["run_id"] == "night-of-the-leak"
    assert Verdict.from_dict(data) == verdict
    memory = next(c for c in data["criteria"] if c["name"] == "memory")
    assert set(memory) >= {"name", "status", "figure", "threshold", "reason"}


def test_summary_lists_the_broken_criteria_first_with_their_figures(broken_run: tuple[Path, Verdict]) -> None:
    run_dir, verdict = broken_run
    summary = (run_dir / SUMMARY_MD).read_text(encoding="utf-8")
    assert summary.startswith("# Soak run `night-of-the-leak`: **BROKEN**")
    broken_section = summary.split("## Broken", 1)[1].split("##", 1)[0]
    for item in verdict.with_status(Status.BROKEN):
        assert f"**{item.name}**" in broken_section
        assert item.figure in broken_section
    assert {"memory", "clean shutdown"} <= {c.name for c in verdict.with_status(Status.BROKEN)}
    assert "calls/s offered" in summary and "upstream-errors" in summary


def test_html_is_self_contained_verdict_first_and_states_the_pacing(broken_run: tuple[Path, Verdict]) -> None:
    run_dir, _ = broken_run
    page = (run_dir / REPORT_HTML).read_text(encoding="utf-8")
    assert page.index('id="verdict-status">BROKEN<') < page.index('id="plots"') < page.index('id="criteria"')
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(FIGURES)
    assert not re.search(r"""(src|href)=["']https?:""", page)
    assert "10 users × 2 calls/s each" in page


def test_a_partially_written_last_csv_line_is_dropped_with_a_note(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "run", duration_s=600, partial_last_line=True)
    run = load_run(run_dir)
    assert run.samples.rows == 601
    assert any("partially written last line" in w for w in run.warnings)
    verdict = render_report(run_dir)
    assert any("partially written" in n for n in verdict.notes)
    assert "partially written" in (run_dir / SUMMARY_MD).read_text(encoding="utf-8")


def test_an_interrupted_run_without_events_or_shutdown_still_renders_as_inconclusive(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "run", duration_s=300, shutdown=None, cache_scan=False, run_end=False)
    (run_dir / "events.jsonl").unlink()
    verdict = render_report(run_dir, Thresholds())
    assert verdict.status is Status.INCONCLUSIVE
    assert (run_dir / REPORT_HTML).exists()
    assert any("events.jsonl is missing" in n for n in verdict.notes)


def test_a_header_only_samples_file_renders_an_inconclusive_report(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "run", duration_s=60)
    header = (run_dir / "samples.csv").read_text(encoding="utf-8").splitlines()[0]
    (run_dir / "samples.csv").write_text(header + "\n", encoding="utf-8")
    verdict = render_report(run_dir)
    assert verdict.status is Status.INCONCLUSIVE
    assert verdict.samples == 0


def test_malformed_rows_and_events_are_skipped_not_fatal(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "run", duration_s=120)
    samples = run_dir / "samples.csv"
    lines = samples.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(50, "1,2,3\n")
    samples.write_text("".join(lines), encoding="utf-8")
    with (run_dir / "events.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"t": 5, "kind": "fault_st')
    run = load_run(run_dir)
    assert run.samples.rows == 121
    assert any("wrong number of fields" in w for w in run.warnings)
    assert any("events.jsonl: skipped 1" in w for w in run.warnings)


def test_a_folder_without_run_json_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match=r"run\.json is missing"):
        render_report(tmp_path)
    (tmp_path / "run.json").write_text("{}", encoding="utf-8")
    with pytest.raises(RunDirError, match=r"samples\.csv is missing"):
        load_run(tmp_path)

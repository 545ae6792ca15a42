from __future__ import annotations

from pathlib import Path

import pytest

from soak.runner import ConfigError, RunConfig, index_ttl_s, prepare_run_dir
from soak.schedule import default_schedule


def test_the_default_run_folder_is_absolute_because_children_run_inside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run_dir = prepare_run_dir(RunConfig(duration_s=60), "soak-test")
    assert run_dir.is_absolute()
    assert run_dir == tmp_path / "reports" / "soak-test"


def test_a_relative_out_folder_is_made_absolute_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert prepare_run_dir(RunConfig(duration_s=60, out_dir=Path("runs/one")), "x") == tmp_path / "runs" / "one"


def test_a_folder_that_already_holds_a_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(ConfigError, match="already holds a run"):
        prepare_run_dir(RunConfig(duration_s=60, out_dir=tmp_path), "x")


@pytest.mark.parametrize("duration_s", [60.0, 100.0, 600.0, 2 * 3600.0, 24 * 3600.0])
def test_the_servers_index_ttl_is_no_longer_than_any_fault_phase_so_every_fault_meets_upstream_traffic(
    duration_s: float,
) -> None:
    ttl = index_ttl_s(duration_s)
    shortest = min(p.end_s - p.start_s for p in default_schedule(duration_s).phases)
    assert 1.0 <= ttl <= 120.0
    assert ttl <= max(1.0, shortest + 0.05)
    assert ttl == 120.0 or duration_s < 3600  # long runs keep the 2-minute refresh

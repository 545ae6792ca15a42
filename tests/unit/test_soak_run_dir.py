from __future__ import annotations

from pathlib import Path

import pytest

from soak.runner import ConfigError, RunConfig, prepare_run_dir


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

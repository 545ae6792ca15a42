"""scan_project: path hardening, TOML parsing failures, and dependency extraction from every supported layout."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from autodocs_mcp import scanner
from autodocs_mcp.errors import AutoDocsError, ErrorCode
from autodocs_mcp.scanner import MAX_ENTRIES, ScanResult, scan_project


def _project(tmp_path: Path, text: str | bytes) -> Path:
    target = tmp_path / "pyproject.toml"
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8")
    return tmp_path


def _scan(tmp_path: Path, text: str) -> ScanResult:
    return scan_project(str(_project(tmp_path, text)))


def _fails(path: object, code: ErrorCode, **kwargs: Any) -> AutoDocsError:
    with pytest.raises(AutoDocsError) as caught:
        scan_project(path, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code is code, caught.value.message
    assert caught.value.suggestion
    return caught.value


def _deps(result: ScanResult) -> list[tuple[str, str, str]]:
    return [(d.name, d.specifier, d.source) for d in result.dependencies]


# path validation


@pytest.mark.parametrize("path", [None, 5, ["."], b"/tmp", {"p": 1}])
def test_a_non_string_path_is_rejected(path: object) -> None:
    assert "must be a string" in _fails(path, ErrorCode.INVALID_PROJECT_PATH).message


@pytest.mark.parametrize("path", ["", "   ", "a\x00b", "x" * 10_000])
def test_empty_nul_and_huge_paths_are_rejected_without_full_echo(path: str) -> None:
    assert len(_fails(path, ErrorCode.INVALID_PROJECT_PATH).message) < 200


def test_a_missing_directory_is_rejected(tmp_path: Path) -> None:
    _fails(str(tmp_path / "nope"), ErrorCode.INVALID_PROJECT_PATH)


def test_a_directory_without_pyproject_is_rejected(tmp_path: Path) -> None:
    assert "No pyproject.toml" in _fails(str(tmp_path), ErrorCode.INVALID_PROJECT_PATH).message


def test_passing_the_pyproject_file_itself_suggests_its_directory(tmp_path: Path) -> None:
    _project(tmp_path, "[project]\nname = 'x'\n")
    error = _fails(str(tmp_path / "pyproject.toml"), ErrorCode.INVALID_PROJECT_PATH)
    assert error.suggestion is not None and "directory" in error.suggestion


def test_a_directory_named_pyproject_toml_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").mkdir()
    assert "not a regular file" in _fails(str(tmp_path), ErrorCode.INVALID_PROJECT_PATH).message


def test_a_fifo_named_pyproject_toml_is_rejected_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pyproject.toml")
    assert "not a regular file" in _fails(str(tmp_path), ErrorCode.INVALID_PROJECT_PATH).message


def test_a_fifo_swapped_in_after_the_check_is_caught_by_fstat_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pyproject.toml"
    os.mkfifo(fifo)
    with pytest.raises(AutoDocsError) as caught:
        scanner._read_capped(str(fifo), 1000)
    assert caught.value.code is ErrorCode.INVALID_PROJECT_PATH


def test_a_symlink_swapped_in_after_the_check_is_refused_by_o_nofollow(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("[project]\n")
    link = tmp_path / "pyproject.toml"
    link.symlink_to(real)
    with pytest.raises(AutoDocsError) as caught:
        scanner._read_capped(str(link), 1000)
    assert caught.value.code is ErrorCode.INVALID_PROJECT_PATH


def test_a_symlink_pointing_outside_the_project_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text("[project]\ndependencies = ['requests']\n")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").symlink_to(outside)
    assert "outside" in _fails(str(project), ErrorCode.INVALID_PROJECT_PATH).message


def test_a_symlink_to_a_system_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").symlink_to("/etc/passwd")
    _fails(str(tmp_path), ErrorCode.INVALID_PROJECT_PATH)


def test_a_symlink_inside_the_project_is_followed(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "real.toml").write_text("[project]\ndependencies = ['requests']\n")
    (tmp_path / "pyproject.toml").symlink_to(tmp_path / "conf" / "real.toml")
    assert _deps(scan_project(str(tmp_path))) == [("requests", "", "project")]


def test_a_dangling_symlink_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").symlink_to(tmp_path / "missing.toml")
    _fails(str(tmp_path), ErrorCode.INVALID_PROJECT_PATH)


def test_a_symlinked_project_directory_is_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    _project(real, "[project]\nname = 'demo'\n")
    (tmp_path / "alias").symlink_to(real)
    result = scan_project(str(tmp_path / "alias"))
    assert result.project_path == str(real.resolve())
    assert result.project_name == "demo"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of their mode")
def test_an_unreadable_file_is_rejected(tmp_path: Path) -> None:
    _project(tmp_path, "[project]\n")
    (tmp_path / "pyproject.toml").chmod(0)
    assert "permission denied" in _fails(str(tmp_path), ErrorCode.INVALID_PROJECT_PATH).message


def test_a_permission_error_on_open_is_reported_as_permission_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(tmp_path, "[project]\n")
    (tmp_path / "pyproject.toml").chmod(0)

    def refuse(path: str, flags: int, mode: int = 0o777) -> int:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "open", refuse)
    assert "permission denied" in _fails(str(tmp_path), ErrorCode.INVALID_PROJECT_PATH).message


def test_a_device_node_is_rejected(tmp_path: Path) -> None:
    try:
        os.mknod(tmp_path / "pyproject.toml", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating device nodes needs privileges")
    assert "not a regular file" in _fails(str(tmp_path), ErrorCode.INVALID_PROJECT_PATH).message


# file content validation


def test_a_file_over_the_size_cap_is_rejected(tmp_path: Path) -> None:
    _project(tmp_path, "# " + "x" * 2000 + "\n")
    assert "bytes" in _fails(str(tmp_path), ErrorCode.PROJECT_FILE_INVALID, max_file_bytes=1000).message


def test_a_file_exactly_at_the_size_cap_is_read(tmp_path: Path) -> None:
    text = "[project]\nname = 'x'\n"
    _project(tmp_path, text)
    assert scan_project(str(tmp_path), max_file_bytes=len(text)).project_name == "x"


def test_a_binary_file_is_rejected(tmp_path: Path) -> None:
    _project(tmp_path, bytes(range(256)) * 4)
    _fails(str(tmp_path), ErrorCode.PROJECT_FILE_INVALID)


def test_non_utf8_text_is_rejected(tmp_path: Path) -> None:
    _project(tmp_path, "[project]\nname = 'caf\xe9'\n".encode("latin-1"))
    assert "UTF-8" in _fails(str(tmp_path), ErrorCode.PROJECT_FILE_INVALID).message


def test_a_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    _project(tmp_path, "\ufeff[project]\nname = 'x'\n".encode())
    assert scan_project(str(tmp_path)).project_name == "x"


def test_invalid_toml_is_rejected_with_the_parser_position(tmp_path: Path) -> None:
    _project(tmp_path, "[project\nname = \n")
    assert "line" in _fails(str(tmp_path), ErrorCode.PROJECT_FILE_INVALID).message


@pytest.mark.parametrize(
    "text",
    ["a = " + "[" * 100_000 + "]" * 100_000 + "\n", "a = " + "{b = " * 50_000 + "1" + "}" * 50_000 + "\n"],
    ids=["arrays", "inline-tables"],
)
def test_deeply_nested_toml_is_rejected_not_crashing(tmp_path: Path, text: str) -> None:
    _project(tmp_path, text)
    _fails(str(tmp_path), ErrorCode.PROJECT_FILE_INVALID)


def test_an_empty_file_scans_to_nothing(tmp_path: Path) -> None:
    result = _scan(tmp_path, "")
    assert result.dependencies == () and result.errors == () and result.project_name is None


# PEP 621


def test_pep621_dependencies_and_optional_groups_are_extracted(tmp_path: Path) -> None:
    result = _scan(
        tmp_path,
        """
[project]
name = "demo"
version = "1.0"
dependencies = ["Requests[socks]>=2.0", "tomli; python_version < '3.11'"]
[project.optional-dependencies]
dev = ["pytest>=8"]
""",
    )
    assert result.project_name == "demo" and result.project_version == "1.0"
    assert _deps(result) == [
        ("requests", ">=2.0", "project"),
        ("tomli", "", "project"),
        ("pytest", ">=8", "optional:dev"),
    ]
    assert result.dependencies[0].extras == ("socks",)
    assert result.dependencies[1].markers == 'python_version < "3.11"'


def test_malformed_entries_are_reported_per_entry_not_fatal(tmp_path: Path) -> None:
    result = _scan(tmp_path, '[project]\ndependencies = ["requests", 5, "!!bad", {a = 1}, ["x"]]\n')
    assert _deps(result) == [("requests", "", "project")]
    assert len(result.errors) == 4
    assert {e["source"] for e in result.errors} == {"project"}
    assert all(set(e) == {"source", "entry", "error"} for e in result.errors)


def test_wrongly_typed_sections_are_reported(tmp_path: Path) -> None:
    result = _scan(tmp_path, 'project = 5\n"dependency-groups" = "x"\ntool = []\n')
    assert len(result.errors) == 3
    assert result.dependencies == ()


def test_dependencies_as_a_string_is_reported(tmp_path: Path) -> None:
    result = _scan(tmp_path, '[project]\ndependencies = "requests"\n')
    assert result.errors[0]["source"] == "project"
    assert "array" in result.errors[0]["error"]


def test_long_or_control_character_entries_are_echoed_bounded_and_escaped(tmp_path: Path) -> None:
    result = _scan(tmp_path, '[project]\ndependencies = ["' + "x!" * 5000 + '", "a\\u001b[31m!"]\n')
    assert all(len(e["entry"]) < 100 for e in result.errors)
    assert "\x1b" not in result.errors[1]["entry"]


# PEP 735


def test_dependency_groups_with_includes_are_expanded(tmp_path: Path) -> None:
    result = _scan(
        tmp_path,
        """
[dependency-groups]
test = ["pytest", {include-group = "Lint"}]
lint = ["ruff"]
""",
    )
    assert _deps(result) == [("pytest", "", "group:test"), ("ruff", "", "group:test"), ("ruff", "", "group:lint")]


def test_include_group_cycles_are_reported(tmp_path: Path) -> None:
    result = _scan(
        tmp_path,
        """
[dependency-groups]
a = ["x", {include-group = "b"}]
b = ["y", {include-group = "a"}]
""",
    )
    assert ("x", "", "group:a") in _deps(result) and ("y", "", "group:a") in _deps(result)
    assert any("cycle" in e["error"] for e in result.errors)


def test_include_of_an_unknown_group_and_bad_tables_are_reported(tmp_path: Path) -> None:
    result = _scan(
        tmp_path,
        """
[dependency-groups]
a = [{include-group = "nope"}, {other = "x"}, {include-group = 5}]
""",
    )
    assert len(result.errors) == 3


def test_exponential_include_fan_out_is_bounded_by_the_entry_cap(tmp_path: Path) -> None:
    lines = ["[dependency-groups]"]
    for i in range(40):
        lines.append(f'g{i} = [{{include-group = "g{i + 1}"}}, {{include-group = "g{i + 1}"}}]')
    lines.append('g40 = ["leaf"]')
    result = _scan(tmp_path, "\n".join(lines) + "\n")
    assert result.capped
    assert result.entries_processed == MAX_ENTRIES


def test_very_deep_include_chains_are_cut_not_recursing_forever(tmp_path: Path) -> None:
    lines = ["[dependency-groups]"]
    lines += [f'g{i} = [{{include-group = "g{i + 1}"}}]' for i in range(1500)]
    lines.append('g1500 = ["leaf"]')
    result = _scan(tmp_path, "\n".join(lines) + "\n")
    assert any("deeper than" in e["error"] for e in result.errors)


# Poetry


def test_poetry_dependencies_are_converted_to_pep440(tmp_path: Path) -> None:
    result = _scan(
        tmp_path,
        """
[tool.poetry]
name = "poet"
version = "0.1.0"
[tool.poetry.dependencies]
python = "^3.9"
requests = "^2.28"
click = "~8.1"
anything = "*"
exact = "1.2.3"
rich = { version = ">=13", extras = ["Jupyter"], markers = "sys_platform == 'linux'" }
opt = { version = "^1.0", optional = true }
gitdep = { git = "https://example.org/x.git" }
multi = [{ version = "^1.0", python = "<3.10" }, { version = "^2.0", python = ">=3.10" }]
""",
    )
    assert result.project_name == "poet" and result.project_version == "0.1.0"
    assert _deps(result) == [
        ("requests", ">=2.28,<3.0", "poetry"),
        ("click", ">=8.1,<8.2", "poetry"),
        ("anything", "", "poetry"),
        ("exact", "==1.2.3", "poetry"),
        ("rich", ">=13", "poetry"),
        ("opt", ">=1.0,<2.0", "poetry-optional"),
        ("gitdep", "", "poetry"),
        ("multi", ">=1.0,<2.0", "poetry"),
        ("multi", ">=2.0,<3.0", "poetry"),
    ]
    rich = result.dependencies[4]
    assert rich.extras == ("jupyter",) and rich.markers == 'sys_platform == "linux"'
    assert result.errors == ()


def test_poetry_groups_and_legacy_dev_dependencies_are_extracted(tmp_path: Path) -> None:
    result = _scan(
        tmp_path,
        """
[tool.poetry.dev-dependencies]
pytest = "^7.0"
[tool.poetry.group.docs.dependencies]
sphinx = ">=5"
""",
    )
    assert _deps(result) == [("pytest", ">=7.0,<8.0", "poetry-dev"), ("sphinx", ">=5", "poetry-group:docs")]


def test_poetry_unions_are_recorded_without_a_constraint_and_reported(tmp_path: Path) -> None:
    result = _scan(tmp_path, '[tool.poetry.dependencies]\nx = "^1.0 || ^2.0"\n')
    assert _deps(result) == [("x", "", "poetry")]
    assert "union" in result.errors[0]["error"]


def test_malformed_poetry_entries_are_reported(tmp_path: Path) -> None:
    result = _scan(
        tmp_path,
        """
[tool.poetry.dependencies]
"bad name!" = "1.0"
numeric = 5
badextras = { version = "1", extras = "x" }
badmarker = { version = "1", markers = "not a marker ==" }
badversion = { version = 3 }
emptylist = []
ok = "1.0"
""",
    )
    assert _deps(result) == [("ok", "==1.0", "poetry")]
    assert len(result.errors) == 6


# caps and result shape


def test_entries_beyond_the_cap_are_not_processed_and_the_scan_says_so(tmp_path: Path) -> None:
    deps = ", ".join(f'"pkg{i}"' for i in range(MAX_ENTRIES + 500))
    result = _scan(tmp_path, f"[project]\ndependencies = [{deps}]\n")
    assert len(result.dependencies) == MAX_ENTRIES
    assert result.capped
    assert result.to_dict()["capped"] is True


def test_to_dict_reports_counts_and_every_dependency(tmp_path: Path) -> None:
    result = _scan(
        tmp_path,
        '[project]\nname = "d"\ndependencies = ["a", "b", "!!"]\n[project.optional-dependencies]\nx = ["a"]\n',
    )
    data = result.to_dict()
    assert data["project_name"] == "d"
    assert data["total_dependencies"] == 3
    assert data["unique_packages"] == 2
    assert data["counts_by_source"] == {"project": 2, "optional:x": 1}
    assert data["failed_entries"] == 1
    assert data["dependencies"][0] == {"name": "a", "specifier": "", "extras": [], "markers": None, "source": "project"}


def test_project_identity_with_control_characters_is_dropped(tmp_path: Path) -> None:
    result = _scan(tmp_path, '[project]\nname = "evil\\u001b[2J"\nversion = "1.0"\n')
    assert result.project_name is None and result.project_version == "1.0"

"""Requirement parsing, marker-aware runtime selection, smart ranking and token budgeting."""

from __future__ import annotations

import pytest

from autodocs_mcp.dependencies import (
    Dependency,
    fit_to_budget,
    parse_requirement,
    rank_dependencies,
    runtime_dependencies,
    score_dependency,
    select_runtime,
)
from autodocs_mcp.errors import AutoDocsError, ErrorCode

PY310_LINUX = {
    "python_version": "3.10",
    "python_full_version": "3.10.4",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
}


def _dep(name: str, specifier: str = "", marker: str | None = None) -> Dependency:
    return Dependency(name=name, specifier=specifier, extras=(), marker=marker, raw=name + specifier)


def _names(deps: list[Dependency]) -> list[str]:
    return [d.name for d in deps]


# parse_requirement


def test_a_full_requirement_is_parsed_and_normalised() -> None:
    dep = parse_requirement('Pydantic[Email,dotenv]>=2.0,<3; python_version >= "3.8"')
    assert dep is not None
    assert dep.name == "pydantic"
    assert dep.specifier == "<3,>=2.0"
    assert dep.extras == ("dotenv", "email")
    assert dep.marker == 'python_version >= "3.8"'
    assert dep.raw.startswith("Pydantic")


@pytest.mark.parametrize("raw", ["", "not a requirement!!", ">=1.0", "x" * 2000, "requests>=", "a; python_version >"])
def test_invalid_requirements_return_none(raw: str) -> None:
    assert parse_requirement(raw) is None


@pytest.mark.parametrize("raw", [None, 5, ["requests"], b"requests"])
def test_non_string_requirements_return_none(raw: object) -> None:
    assert parse_requirement(raw) is None  # type: ignore[arg-type]


# runtime_dependencies


def test_requirements_guarded_only_by_an_unrequested_extra_are_excluded() -> None:
    deps = runtime_dependencies(["requests", "click; extra == 'cli'"], environment=PY310_LINUX)
    assert _names(deps) == ["requests"]


def test_requested_extras_include_their_requirements() -> None:
    deps = runtime_dependencies(
        ["requests", "click; extra == 'cli'", "rich; extra == 'fancy'"], extras={"CLI"}, environment=PY310_LINUX
    )
    assert _names(deps) == ["requests", "click"]


def test_environment_markers_are_evaluated_against_the_given_environment() -> None:
    raw = ["tomli; python_version < '3.11'", "pywin32; sys_platform == 'win32'", "uvloop; sys_platform != 'win32'"]
    assert _names(runtime_dependencies(raw, environment=PY310_LINUX)) == ["tomli", "uvloop"]


def test_the_server_environment_is_the_default() -> None:
    assert _names(runtime_dependencies(["always; python_version >= '3'", "never; python_version < '3'"])) == ["always"]


def test_combined_extra_and_environment_markers_need_both() -> None:
    raw = ["a; extra == 'x' and python_version < '3.0'", "b; extra == 'x' and python_version >= '3.0'"]
    assert _names(runtime_dependencies(raw, extras={"x"}, environment=PY310_LINUX)) == ["b"]


def test_duplicates_keep_the_first_applicable_entry() -> None:
    raw = ["numpy>=1.20; python_version < '3.0'", "numpy>=1.26", "numpy>=2"]
    deps = runtime_dependencies(raw, environment=PY310_LINUX)
    assert [(d.name, d.specifier) for d in deps] == [("numpy", ">=1.26")]


def test_invalid_entries_are_skipped_and_reported_by_select_runtime() -> None:
    selection = select_runtime(["requests", "!!bad", 5, "x" * 5000], environment=PY310_LINUX)
    assert _names(list(selection.dependencies)) == ["requests"]
    assert len(selection.invalid) == 3
    assert all(len(item) < 100 for item in selection.invalid)


def test_self_references_are_dropped() -> None:
    selection = select_runtime(["demo[all]; extra == 'all'", "requests"], extras={"all"}, self_name="Demo")
    assert _names(list(selection.dependencies)) == ["requests"]
    assert selection.excluded == 1


def test_markers_with_undefined_comparisons_exclude_the_entry() -> None:
    assert runtime_dependencies(["a; python_version == 'banana'"], environment={"python_version": "x"}) == []


# rank_dependencies


def test_primary_only_returns_nothing() -> None:
    assert rank_dependencies([_dep("pydantic")], scope="primary_only", max_dependencies=5) == []


def test_runtime_scope_keeps_declaration_order_up_to_the_limit() -> None:
    deps = [_dep("six"), _dep("pydantic"), _dep("anyio"), _dep("numpy")]
    assert _names(rank_dependencies(deps, scope="runtime", max_dependencies=3)) == ["six", "pydantic", "anyio"]


def test_smart_scope_ranks_core_libraries_first_and_shims_last() -> None:
    deps = [_dep("typing-extensions", ">=4"), _dep("somelib"), _dep("idna"), _dep("anyio"), _dep("pydantic", ">=2")]
    ranked = _names(rank_dependencies(deps, scope="smart", max_dependencies=10))
    assert ranked == ["pydantic", "anyio", "somelib", "typing-extensions", "idna"]


def test_smart_scope_prefers_constrained_over_unconstrained() -> None:
    deps = [_dep("alpha"), _dep("beta", ">=1")]
    assert _names(rank_dependencies(deps, scope="smart", max_dependencies=2)) == ["beta", "alpha"]


def test_smart_scope_penalises_marker_guarded_backports() -> None:
    deps = [_dep("backport", ">=1", marker="python_version < '3.11'"), _dep("plain", ">=1")]
    assert _names(rank_dependencies(deps, scope="smart", max_dependencies=2)) == ["plain", "backport"]


def test_smart_ties_keep_declaration_order_and_the_result_is_deterministic() -> None:
    deps = [_dep(f"lib{i}") for i in range(20)]
    first = rank_dependencies(deps, scope="smart", max_dependencies=20)
    assert _names(first) == [f"lib{i}" for i in range(20)]
    assert rank_dependencies(deps, scope="smart", max_dependencies=20) == first


def test_a_utility_shim_scores_below_an_unknown_unconstrained_package() -> None:
    assert score_dependency(_dep("typing-extensions", ">=4")) < score_dependency(_dep("unknown"))


def test_zero_max_dependencies_returns_nothing() -> None:
    assert rank_dependencies([_dep("pydantic")], scope="smart", max_dependencies=0) == []


@pytest.mark.parametrize("scope", ["all", "", "SMART", None, 3])
def test_an_unknown_scope_is_an_invalid_argument(scope: object) -> None:
    with pytest.raises(AutoDocsError) as caught:
        rank_dependencies([], scope=scope, max_dependencies=1)  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    assert "smart" in caught.value.message


@pytest.mark.parametrize("limit", [-1, True, 1.5, "3", None])
def test_a_bad_max_dependencies_is_an_invalid_argument(limit: object) -> None:
    with pytest.raises(AutoDocsError) as caught:
        rank_dependencies([], scope="smart", max_dependencies=limit)  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT


# fit_to_budget


def test_everything_is_kept_when_it_fits() -> None:
    items = [("p", "a" * 40), ("d1", "b" * 40), ("d2", "c" * 40)]
    kept, dropped = fit_to_budget(items, 100)
    assert [n for n, _ in kept] == ["p", "d1", "d2"] and dropped == []


def test_dependencies_that_do_not_fit_are_dropped_and_smaller_later_ones_still_tried() -> None:
    items = [("p", "a" * 200), ("big", "b" * 400), ("small", "c" * 40)]
    kept, dropped = fit_to_budget(items, 70)
    assert [n for n, _ in kept] == ["p", "small"]
    assert dropped == ["big"]


def test_the_primary_is_always_kept_and_cut_when_it_alone_exceeds_the_budget() -> None:
    kept, dropped = fit_to_budget([("p", "line\n" * 10_000), ("d", "x")], 100)
    assert kept[0][0] == "p"
    assert len(kept[0][1]) <= 400
    assert "[truncated:" in kept[0][1]
    assert dropped == ["d"]


def test_an_empty_item_list_fits_trivially() -> None:
    assert fit_to_budget([], 10) == ([], [])


@pytest.mark.parametrize("budget", [0, -5, True, 2.5, "100"])
def test_a_bad_budget_is_an_invalid_argument(budget: object) -> None:
    with pytest.raises(AutoDocsError) as caught:
        fit_to_budget([("p", "x")], budget)  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT

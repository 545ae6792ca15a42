"""The argument check in front of every tool: one error shape, naming the argument, never echoing big values."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from autodocs_mcp.app import published_tool
from autodocs_mcp.arguments import ArgumentChecker
from autodocs_mcp.errors import ErrorCode
from autodocs_mcp.tool_schemas import SPECS_BY_NAME, TOOL_SPECS

CHECKER = ArgumentChecker(SPECS_BY_NAME)


@pytest.mark.parametrize("spec", TOOL_SPECS, ids=lambda spec: spec.name)
def test_every_published_schema_is_valid_json_schema_and_closed(spec: Any) -> None:
    Draft202012Validator.check_schema(spec.input_schema)
    Draft202012Validator.check_schema(spec.output_schema)
    assert spec.input_schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("get_package_docs", {"package_name": "requests"}),
        ("get_package_docs", {"package_name": "requests", "version_constraint": None, "query": None}),
        ("get_package_docs_with_context", {"package_name": "x", "max_tokens": 100, "max_dependencies": 0}),
        ("get_package_docs_with_context", {"package_name": "x", "max_tokens": 5000.0}),  # 5000.0 is an integer
        ("get_cache_stats", {}),
        ("no_such_tool", {"anything": 1}),  # not an argument problem: the unknown-tool answer covers it
    ],
)
def test_arguments_that_fit_the_schema_pass(tool: str, arguments: dict[str, Any]) -> None:
    assert CHECKER.problem(tool, arguments) is None


@pytest.mark.parametrize(
    ("tool", "arguments", "argument", "rule"),
    [
        ("get_package_docs", {}, "package_name", "required"),
        ("get_package_docs", {"package_name": True}, "package_name", "type"),
        ("get_package_docs", {"package_name": ""}, "package_name", "minLength"),
        ("get_package_docs", {"package_name": "a" * 101}, "package_name", "maxLength"),
        ("get_package_docs_with_context", {"package_name": "x", "context_scope": "all"}, "context_scope", "enum"),
        ("get_package_docs_with_context", {"package_name": "x", "max_tokens": 99}, "max_tokens", "minimum"),
        ("get_package_docs_with_context", {"package_name": "x", "max_dependencies": 51}, "max_dependencies", "maximum"),
        (
            "get_package_docs_with_context",
            {"package_name": "x", "include_dependencies": 1},
            "include_dependencies",
            "type",
        ),
    ],
)
def test_a_value_that_breaks_the_schema_is_an_invalid_argument_naming_it_and_the_rule(
    tool: str, arguments: dict[str, Any], argument: str, rule: str
) -> None:
    problem = CHECKER.problem(tool, arguments)
    assert problem is not None and problem.code is ErrorCode.INVALID_ARGUMENT
    assert problem.details == {"argument": argument, "rule": rule}
    assert argument in problem.message and problem.suggestion


def test_unknown_arguments_are_named_cut_short_and_counted_beyond_five() -> None:
    arguments = {"package_name": "x", **{f"{'z' * 500}{i}": i for i in range(8)}}
    problem = CHECKER.problem("get_package_docs", arguments)
    assert problem is not None and problem.details["rule"] == "additionalProperties"
    assert "and 3 more" in problem.message and len(problem.message) < 600
    assert problem.suggestion == "Its arguments are: package_name, query, version_constraint."


def test_a_huge_value_is_described_not_echoed() -> None:
    problem = CHECKER.problem("get_package_docs", {"package_name": {"a": ["b"] * 50_000}})
    assert problem is not None and problem.message == "package_name must be a string, got object"
    long_number = CHECKER.problem("get_package_docs_with_context", {"package_name": "x", "max_tokens": 10**300})
    assert long_number is not None and len(long_number.message) < 120


def test_a_function_whose_arguments_differ_from_its_schema_is_refused_at_registration() -> None:
    async def get_cache_stats(verbose: bool = False) -> None:
        return None

    with pytest.raises(ValueError, match="schema says"):
        published_tool(SPECS_BY_NAME["get_cache_stats"], get_cache_stats)

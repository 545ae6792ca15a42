"""What ``tools/list`` promises an assistant, checked against what the real server answers, on both revisions.

The server runs as a process on 127.0.0.1 against the PyPI mock; the official SDK client speaks to it once with the
initialize handshake (``mode="legacy"``) and once the way ``Client(url)`` does by default (2026-07-28). Every answer,
success or error, must validate against the tool's own ``outputSchema``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.support.mcp_client import PROTOCOL_MODES, mcp_session
from tests.support.processes import ManagedProcess, start_server

MAX_ERROR_CHARS = 2_000


@pytest.fixture(scope="module")
def server(pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    proc = start_server(tmp_path_factory.mktemp("contract"), pypi_mock.base_url)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("project")
    (path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "1.0"\ndependencies = ["httpx>=0.27"]\n')
    return path


def good_calls(project: Path) -> list[tuple[str, dict[str, Any]]]:
    """One successful call of every tool."""
    return [
        ("scan_dependencies", {"project_path": str(project)}),
        ("get_package_docs", {"package_name": "requests", "version_constraint": None, "query": "install"}),
        ("get_package_docs_with_context", {"package_name": "fastapi", "max_dependencies": 2, "max_tokens": 5000}),
        ("get_cache_stats", {}),
        ("health_check", {}),
        ("ready_check", {}),
        ("get_metrics", {}),
        ("refresh_cache", {}),
    ]


# (tool, arguments, the argument the error must name)
SCHEMA_FAILURES: list[tuple[str, dict[str, Any], str]] = [
    ("get_package_docs", {}, "package_name"),
    ("get_package_docs", {"package_name": 123}, "package_name"),
    ("get_package_docs", {"package_name": None}, "package_name"),
    ("get_package_docs", {"package_name": {"a": ["b"] * 50_000}}, "package_name"),
    ("get_package_docs", {"package_name": "x" * 200_000}, "package_name"),
    ("get_package_docs", {"package_name": "requests", "version": "1.0"}, "version"),
    ("get_package_docs", {"package_name": "requests", "query": ["a"]}, "query"),
    (
        "get_package_docs_with_context",
        {"package_name": "requests", "include_dependencies": "yes"},
        "include_dependencies",
    ),
    ("get_package_docs_with_context", {"package_name": "requests", "context_scope": "s" * 100_000}, "context_scope"),
    ("get_package_docs_with_context", {"package_name": "requests", "max_tokens": 10**30}, "max_tokens"),
    ("get_package_docs_with_context", {"package_name": "requests", "max_dependencies": 1.5}, "max_dependencies"),
    ("scan_dependencies", {"project_path": ""}, "project_path"),
    ("health_check", {"x" * 1000: 1}, "x" * 40),
]


async def listed_tools(url: str, mode: str) -> dict[str, Any]:
    async with mcp_session(url, mode=mode) as client:
        return {tool.name: tool for tool in (await client.list_tools()).tools}


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_every_tool_is_described_well_enough_for_an_assistant_to_call_it(
    server: ManagedProcess, mode: str
) -> None:
    tools = await listed_tools(f"{server.base_url}/mcp", mode)
    assert len(tools) == 8
    for name, tool in tools.items():
        assert tool.title and tool.description and len(tool.description) > 60, name
        annotations = tool.annotations
        assert annotations is not None, name
        assert None not in (annotations.read_only_hint, annotations.idempotent_hint, annotations.open_world_hint)
        schema = tool.input_schema
        Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False, name
        for argument, rules in schema["properties"].items():
            assert rules.get("description"), f"{name}.{argument} has no description"
            kinds = rules["type"] if isinstance(rules["type"], list) else [rules["type"]]
            if "string" in kinds:
                assert "maxLength" in rules or "enum" in rules, f"{name}.{argument} has no bound"
            if "integer" in kinds:
                assert {"minimum", "maximum"} <= set(rules), f"{name}.{argument} has no bounds"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", name
        Draft202012Validator.check_schema(tool.output_schema)
    assert tools["get_package_docs_with_context"].input_schema["properties"]["context_scope"]["enum"]
    assert tools["get_package_docs"].annotations.open_world_hint is True
    assert tools["get_cache_stats"].annotations.read_only_hint is True
    assert tools["refresh_cache"].annotations.read_only_hint is False


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_every_answer_validates_against_the_tools_output_schema(
    server: ManagedProcess, mock_url: str, project: Path, mode: str
) -> None:
    url = f"{server.base_url}/mcp"
    tools = await listed_tools(url, mode)
    calls = good_calls(project) + [(tool, args) for tool, args, _name in SCHEMA_FAILURES]
    calls.append(("get_package_docs", {"package_name": "missing-widget"}))  # a tool's own error, not the schema's
    seen = set()
    async with mcp_session(url, mode=mode) as client:
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            assert result.structured_content is not None, tool
            errors = list(Draft202012Validator(tools[tool].output_schema).iter_errors(result.structured_content))
            assert errors == [], f"{tool}: {errors[0].message[:300]}"
            assert result.structured_content["success"] is (not result.is_error), tool
            seen.add(tool)
    assert seen == set(tools), "every tool was called"


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_arguments_that_break_the_schema_get_invalid_argument_naming_the_argument_without_an_echo(
    server: ManagedProcess, mode: str
) -> None:
    async with mcp_session(f"{server.base_url}/mcp", mode=mode) as client:
        for tool, arguments, argument in SCHEMA_FAILURES:
            result = await client.call_tool(tool, arguments)
            text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
            assert result.is_error, (tool, argument)
            payload = result.structured_content or {}
            assert payload["success"] is False
            error = payload["error"]
            assert error["code"] == "invalid_argument", (tool, argument, error)
            assert argument in error["message"], (argument, error["message"])
            assert len(text) < MAX_ERROR_CHARS and len(json.dumps(payload)) < MAX_ERROR_CHARS, (tool, argument)
            assert json.loads(text) == payload, "the text content is the same answer, for clients without structure"

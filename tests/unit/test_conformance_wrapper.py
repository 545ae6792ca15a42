"""``make conformance`` without Node: the wrapper's checks of the expected-failures file, how it reads the suite's
output, and the fixture switch it relies on (the suite's fixture tools exist only with
``AUTODOCS_CONFORMANCE_FIXTURES=1``). The suite itself runs only in ``make conformance``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autodocs_mcp.app import TOOL_NAMES, build_server
from autodocs_mcp.config import Settings
from autodocs_mcp.conformance_fixtures import FIXTURES
from conformance.run import (
    EXPECTED_FAILURES,
    FAILED,
    MUST_PASS,
    Expected,
    HarnessError,
    InspectorOutcome,
    SuiteOutcome,
    expected_failure_problems,
    listed_scenarios,
    not_run,
    parse_expected_failures,
    report,
    scenario_results,
    server_env,
)

KNOWN = {"tools-call-image", "tools-call-audio", "prompts-get-simple", *MUST_PASS}


def problems_of(text: str, known: set[str] = KNOWN) -> list[str]:
    return expected_failure_problems(parse_expected_failures(text), known)


def test_a_reason_is_the_comment_above_an_entry_or_on_its_line_and_a_blank_line_ends_it() -> None:
    entries = parse_expected_failures(
        "# header, not a reason\n"
        "server:\n"
        "  # first line of the reason\n"
        "  # second line\n"
        "  - tools-call-image\n"
        "  - tools-call-audio  # said on the line\n"
        "  # a comment that a blank line cuts off\n"
        "\n"
        "  - prompts-get-simple\n"
        "client:\n"
        "  # not a server entry\n"
        "  - some-client-scenario\n"
    )
    assert entries == [
        Expected("tools-call-image", "first line of the reason second line", 5),
        Expected("tools-call-audio", "said on the line", 6),
        Expected("prompts-get-simple", "", 9),
    ]


def test_an_entry_without_a_reason_is_refused() -> None:
    problems = problems_of("server:\n  # why\n  - tools-call-image\n  - tools-call-audio\n")
    assert len(problems) == 1
    assert "tools-call-audio: no reason" in problems[0]


def test_an_entry_naming_no_scenario_of_the_suite_is_refused() -> None:
    problems = problems_of("server:\n  # renamed upstream since\n  - tools-call-picture\n")
    assert len(problems) == 1
    assert "tools-call-picture: not a server scenario of the suite" in problems[0]


@pytest.mark.parametrize("scenario", sorted(MUST_PASS))
def test_a_scenario_this_server_must_pass_may_not_be_an_expected_failure(scenario: str) -> None:
    problems = problems_of(f"server:\n  # a good-sounding excuse\n  - {scenario}\n")
    assert len(problems) == 1
    assert f"{scenario}: must pass" in problems[0]


def test_an_entry_listed_twice_is_refused() -> None:
    problems = problems_of("server:\n  # why\n  - tools-call-image\n  # again\n  - tools-call-image\n")
    assert len(problems) == 1
    assert "listed twice" in problems[0]


def test_a_file_without_server_entries_is_refused() -> None:
    assert problems_of("client:\n  # why\n  - tools-call-image\n") == [
        f"{EXPECTED_FAILURES.name}: no 'server:' entries found"
    ]


def test_a_line_under_server_that_is_not_a_plain_entry_stops_the_run() -> None:
    with pytest.raises(HarnessError, match=r":3: not a '- scenario' entry"):
        parse_expected_failures('server:\n  # why\n  - "tools-call-image"\n')


def test_the_checked_in_expected_failures_file_gives_every_entry_a_reason_and_excuses_no_must_pass_scenario() -> None:
    entries = parse_expected_failures(EXPECTED_FAILURES.read_text())
    assert entries
    # Whether each name is still a scenario of the suite needs the suite itself (make conformance checks it).
    assert expected_failure_problems(entries, {entry.scenario for entry in entries}) == []


def test_server_scenario_names_are_read_from_the_suites_list_output() -> None:
    output = (
        "Server scenarios (test against a server):\n"
        "  - server-initialize [2025-06-18,2025-11-25]\n"
        "  - json-schema-2020-12 [2025-11-25]\n"
        "  - dns-rebinding-protection\n"
        "- not-indented, not a scenario line\n"
    )
    assert listed_scenarios(output) == {"server-initialize", "json-schema-2020-12", "dns-rebinding-protection"}


def write_checks(results: Path, scenario: str, *statuses: str) -> None:
    folder = results / f"server-{scenario}-2026-12-03T06-00-51-906Z"
    folder.mkdir(parents=True)
    checks = [{"id": f"{scenario}-{i}", "status": status} for i, status in enumerate(statuses)]
    (folder / "checks.json").write_text(json.dumps(checks))


def test_a_scenario_with_a_failure_or_a_warning_check_counts_as_failed_as_the_suite_counts_it(
    tmp_path: Path,
) -> None:
    write_checks(tmp_path, "ping", "SUCCESS")
    write_checks(tmp_path, "server-sse-multiple-streams", "SUCCESS", "INFO", "SUCCESS")
    write_checks(tmp_path, "tools-call-image", "FAILURE")
    write_checks(tmp_path, "tools-call-with-logging", "SUCCESS", "WARNING")
    passed, failed = scenario_results(tmp_path)
    assert passed == ["ping", "server-sse-multiple-streams"]
    assert failed == ["tools-call-image", "tools-call-with-logging"]


def suite(passed: list[str], failed: list[str]) -> SuiteOutcome:
    return SuiteOutcome(status=0, passed=passed, failed=failed, seconds=1.0)


SHIPPED_INSPECTOR = InspectorOutcome(status=0, tools=sorted(TOOL_NAMES), warnings=0, seconds=0.5)


def test_an_expected_failure_the_suite_did_not_run_fails_the_run(tmp_path: Path) -> None:
    # The suite ignores a baseline entry for a scenario it did not run (a pending one), so the wrapper catches it.
    outcome = suite([*sorted(MUST_PASS)], ["tools-call-image"])
    expected = {"tools-call-image", "json-schema-2020-12"}
    assert not_run(expected, outcome) == ["json-schema-2020-12"]
    assert report(outcome, SHIPPED_INSPECTOR, expected, tmp_path) == FAILED


def test_the_run_passes_when_the_suite_passes_the_must_pass_scenarios_and_the_inspector_lists_the_eight_tools(
    tmp_path: Path,
) -> None:
    outcome = suite([*sorted(MUST_PASS)], ["tools-call-image"])
    assert report(outcome, SHIPPED_INSPECTOR, {"tools-call-image"}, tmp_path) == 0


def test_the_run_fails_when_a_must_pass_scenario_failed_even_if_the_suite_exited_zero(tmp_path: Path) -> None:
    outcome = suite(["logging-set-level"], ["tools-call-with-logging"])
    assert report(outcome, SHIPPED_INSPECTOR, set(), tmp_path) == FAILED


def test_the_run_fails_when_the_shipped_server_lists_a_tool_beyond_the_eight(tmp_path: Path) -> None:
    inspector = InspectorOutcome(status=0, tools=[*TOOL_NAMES, "test_simple_text"], warnings=0, seconds=0.5)
    assert report(suite(sorted(MUST_PASS), []), inspector, set(), tmp_path) == FAILED


def test_the_servers_under_test_get_none_of_the_callers_autodocs_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTODOCS_HTTP_TOKEN", "a-token-of-the-callers-own")
    monkeypatch.setenv("AUTODOCS_RESPONSE_MODE", "sse")
    env = server_env(pypi_url="http://127.0.0.1:1/pypi", conformance_fixtures="1")
    assert {key: value for key, value in env.items() if key.startswith("AUTODOCS_")} == {
        "AUTODOCS_PYPI_URL": "http://127.0.0.1:1/pypi",
        "AUTODOCS_CONFORMANCE_FIXTURES": "1",
    }


# --- the fixture switch ------------------------------------------------------------------------------------------


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, cache_dir=tmp_path, **values)  # type: ignore[call-arg]


async def test_a_shipped_server_lists_only_its_eight_documentation_tools_and_no_fixture(tmp_path: Path) -> None:
    server, state = build_server(settings(tmp_path))
    listed = {tool.name for tool in await server.list_tools()}
    assert listed == set(TOOL_NAMES)
    assert len(listed) == 8
    assert not set(FIXTURES) & state.known_tools


async def test_the_fixture_switch_adds_the_suites_fixture_tools_beside_the_eight(tmp_path: Path) -> None:
    server, state = build_server(settings(tmp_path, conformance_fixtures=True))
    listed = {tool.name for tool in await server.list_tools()}
    assert listed == set(TOOL_NAMES) | {"test_simple_text", "test_error_handling", "test_tool_with_logging"}
    assert set(FIXTURES) <= state.known_tools
    assert all(state.arguments.problem(name, {}) is None for name in FIXTURES)
    assert state.arguments.problem("test_simple_text", {"extra": 1}) is not None


async def test_the_fixture_tools_answer_as_the_suite_specifies(tmp_path: Path) -> None:
    server, _state = build_server(settings(tmp_path, conformance_fixtures=True))
    text = await server.call_tool("test_simple_text", {})
    error = await server.call_tool("test_error_handling", {})
    assert text.model_dump(exclude_none=True)["content"] == [
        {"type": "text", "text": "This is a simple text response for testing."}
    ]
    assert error.model_dump(exclude_none=True)["is_error"] is True

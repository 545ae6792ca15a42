"""The failure rule of the Locust user: which tool results are failed calls, and what the failures are called."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_locust import failure_rule, protocol
from mcp_locust.failure_rule import DEFAULT_RULE, FailureRule, describe_rule, parse_failure_rule, payload_failure
from mcp_locust.protocol import Outcome

IS_ERROR_ONLY = parse_failure_rule("is-error")


def text_result(text: str, *, is_error: bool = False) -> dict[str, Any]:
    """What servers without structured output send: the payload only as the text of the first content item."""
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def json_result(payload: object, *, is_error: bool = False) -> dict[str, Any]:
    return text_result(json.dumps(payload), is_error=is_error)


def structured_result(structured: object, *, is_error: bool = False, text: str = "") -> dict[str, Any]:
    return {**text_result(text, is_error=is_error), "structuredContent": structured}


def autodoc_failure(code: str = "network_error") -> dict[str, Any]:
    """The shape autodoc-mcp 0.5.1 answered every call with: isError false, failure only in the payload."""
    return {"success": False, "error": {"code": code, "message": "could not reach PyPI", "recoverable": True}}


def test_the_default_rule_enables_all_three_checks() -> None:
    assert parse_failure_rule("default") == DEFAULT_RULE
    assert DEFAULT_RULE.is_error and DEFAULT_RULE.success_false and DEFAULT_RULE.error_object


def test_the_is_error_rule_enables_only_the_is_error_check() -> None:
    assert IS_ERROR_ONLY == FailureRule(frozenset({"is_error"}))
    assert IS_ERROR_ONLY.name == "is-error"


def test_a_comma_separated_list_selects_exactly_the_named_checks() -> None:
    rule = parse_failure_rule(" is_error , success_false ")
    assert rule.checks == {"is_error", "success_false"}
    assert rule.name == "is_error,success_false"
    assert parse_failure_rule(rule.name) == rule


def test_a_list_naming_all_checks_is_the_default_rule_by_name() -> None:
    assert parse_failure_rule("error_object,success_false,is_error").name == "default"


@pytest.mark.parametrize("text", ["nope", "is_error,nope", "IS_ERROR", "is_errors"])
def test_an_unknown_name_is_refused_with_the_known_names_listed(text: str) -> None:
    with pytest.raises(ValueError, match="known: default, is-error, is_error, success_false, error_object"):
        parse_failure_rule(text)


@pytest.mark.parametrize("text", ["", " , "])
def test_a_rule_that_names_no_check_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="names no check"):
        parse_failure_rule(text)


def test_the_description_of_the_default_rule_names_all_three_checks() -> None:
    assert describe_rule(DEFAULT_RULE) == (
        "a call fails when isError is true, or its structured content (or JSON text) says success: false "
        "or holds an error object"
    )


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("is-error", "a call fails when isError is true"),
        ("success_false", "a call fails when its structured content (or JSON text) says success: false"),
        (
            "is_error,error_object",
            "a call fails when isError is true, or its structured content (or JSON text) holds an error object",
        ),
    ],
)
def test_the_description_names_only_the_enabled_checks(text: str, description: str) -> None:
    assert describe_rule(parse_failure_rule(text)) == description


def test_is_error_results_keep_their_reasons_under_every_rule() -> None:
    result = structured_result(autodoc_failure("package_not_found"), is_error=True)
    for rule in (DEFAULT_RULE, IS_ERROR_ONLY):
        assert protocol.judge_tool_result(result, rule=rule) == Outcome(False, "tool error: package_not_found", result)


def test_structured_success_false_is_a_failure_named_by_its_code() -> None:
    result = structured_result(autodoc_failure())
    assert protocol.judge_tool_result(result) == Outcome(False, "payload: success=false (network_error)", result)


def test_success_false_in_the_json_text_is_a_failure_when_there_is_no_structured_content() -> None:
    result = json_result(autodoc_failure())
    assert protocol.judge_tool_result(result).reason == "payload: success=false (network_error)"


def test_success_false_without_an_error_code_is_a_failure_with_a_bare_reason() -> None:
    result = json_result({"success": False, "error": "could not fetch requests 2.31.0: timeout after 30s"})
    assert protocol.judge_tool_result(result).reason == "payload: success=false"


@pytest.mark.parametrize("success", [0, None, "false", "False", []])
def test_only_success_exactly_false_fires_the_success_check(success: object) -> None:
    assert payload_failure(structured_result({"success": success}), DEFAULT_RULE) is None


@pytest.mark.parametrize("error", [{"code": "rate_limited"}, {"message": "m"}, "boom"])
def test_a_non_empty_error_object_or_string_is_a_failure_even_without_success_false(error: object) -> None:
    verdict = payload_failure(structured_result({"error": error}), DEFAULT_RULE)
    assert verdict is not None and verdict.reason.startswith("payload: error object")


@pytest.mark.parametrize("error", [{}, "", None, [], ["x"], 0, False])
def test_empty_or_odd_error_values_are_not_error_objects(error: object) -> None:
    assert payload_failure(structured_result({"success": True, "error": error}), DEFAULT_RULE) is None


def test_the_error_object_reason_carries_a_short_code() -> None:
    result = structured_result({"error": {"code": "rate_limited"}})
    assert protocol.judge_tool_result(result).reason == "payload: error object (rate_limited)"


@pytest.mark.parametrize("code", ["x" * 49, "no such package requests-9", "", 404])
def test_long_free_text_or_non_string_codes_stay_out_of_the_reason(code: object) -> None:
    result = structured_result({"success": False, "error": {"code": code}})
    assert protocol.judge_tool_result(result).reason == "payload: success=false"


def test_a_reason_stays_short_even_with_the_longest_code_it_shows() -> None:
    reason = protocol.judge_tool_result(structured_result({"error": {"code": "c" * 48}})).reason
    assert len(reason) <= 80


def test_the_is_error_rule_counts_payload_failures_as_successes() -> None:
    assert protocol.judge_tool_result(structured_result(autodoc_failure()), rule=IS_ERROR_ONLY).ok


def test_a_rule_without_the_error_object_check_ignores_error_objects() -> None:
    rule = parse_failure_rule("is_error,success_false")
    assert protocol.judge_tool_result(structured_result({"error": {"code": "x"}}), rule=rule).ok
    assert not protocol.judge_tool_result(structured_result({"success": False}), rule=rule).ok


def test_a_rule_without_the_is_error_check_ignores_is_error() -> None:
    rule = parse_failure_rule("success_false")
    assert protocol.judge_tool_result(text_result("Error executing tool x", is_error=True), rule=rule).ok


def test_a_success_payload_is_a_success() -> None:
    assert protocol.judge_tool_result(structured_result({"success": True, "docs": "..."})).ok
    assert protocol.judge_tool_result(json_result({"success": True, "errors": [{"error": "nested"}]})).ok


def test_structured_content_wins_over_the_json_text() -> None:
    result = structured_result({"success": True}, text=json.dumps(autodoc_failure()))
    assert protocol.judge_tool_result(result).ok


@pytest.mark.parametrize(
    "result",
    [
        json_result([{"success": False}]),
        json_result(42),
        json_result("success: false"),
        text_result('{"success": false,'),
        text_result("{" * 100_000),
        text_result('{"a": ' + "[" * 100_000 + "]" * 100_000 + ', "success": false}'),
        text_result("not json at all"),
        structured_result([{"success": False}]),
        structured_result("oops", text=json.dumps(autodoc_failure())),
        {"content": "not a list"},
        {"content": [None, 7, {"type": "image", "data": "..."}]},
        {"content": [{"type": "text", "text": None}]},
        {},
    ],
)
def test_odd_payloads_never_raise_and_are_not_payload_failures(result: dict[str, Any]) -> None:
    assert protocol.judge_tool_result(result).ok
    assert not protocol.judge_tool_result({**result, "isError": True}).ok


def test_only_the_first_text_item_is_parsed() -> None:
    result = {"content": [{"type": "text", "text": "ok"}, {"type": "text", "text": json.dumps(autodoc_failure())}]}
    assert protocol.judge_tool_result(result).ok


def test_the_first_text_item_is_found_after_other_content_types() -> None:
    result = {"content": [{"type": "image", "data": "..."}, {"type": "text", "text": json.dumps(autodoc_failure())}]}
    assert not protocol.judge_tool_result(result).ok


def test_a_text_longer_than_the_cap_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    text = json.dumps(autodoc_failure())
    monkeypatch.setattr(failure_rule, "MAX_JSON_TEXT_CHARS", len(text) - 1)
    assert protocol.judge_tool_result(text_result(text)).ok
    monkeypatch.setattr(failure_rule, "MAX_JSON_TEXT_CHARS", len(text))
    assert not protocol.judge_tool_result(text_result(text)).ok


def test_the_json_text_is_parsed_at_most_once_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_loads = json.loads

    def counting_loads(text: str) -> Any:
        calls.append(text)
        return real_loads(text)

    monkeypatch.setattr(json, "loads", counting_loads)
    protocol.judge_tool_result(json_result(autodoc_failure("package_not_found")), "package_not_found")
    protocol.judge_tool_result(json_result({"error": "boom"}))
    assert len(calls) == 2


def test_an_is_error_result_is_judged_without_parsing_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failure_rule, "payload_object", None)  # would raise TypeError if called
    assert not protocol.judge_tool_result(json_result(autodoc_failure(), is_error=True)).ok


def test_an_expected_error_reported_in_the_payload_counts_as_success() -> None:
    assert protocol.judge_tool_result(structured_result(autodoc_failure("package_not_found")), "package_not_found").ok
    assert protocol.judge_tool_result(json_result(autodoc_failure("package_not_found")), "package_not_found").ok


def test_an_expected_error_matches_a_long_code_exactly_even_if_the_reason_leaves_it_out() -> None:
    code = "package_not_found_in_any_configured_index_or_mirror"
    assert protocol.judge_tool_result(structured_result(autodoc_failure(code)), code).ok


def test_a_payload_failure_with_another_code_fails_an_expected_error_call() -> None:
    result = structured_result(autodoc_failure("network_error"), text="package_not_found")
    outcome = protocol.judge_tool_result(result, "package_not_found")
    assert outcome == Outcome(False, "expected package_not_found, got payload: success=false (network_error)", result)


def test_a_payload_failure_without_a_code_matches_an_expected_error_by_its_text() -> None:
    result = json_result({"success": False, "error": "package_not_found: missing-foo"})
    assert protocol.judge_tool_result(result, "package_not_found").ok
    assert not protocol.judge_tool_result(result, "invalid_package_name").ok


def test_an_expected_error_call_fails_when_its_rule_ignores_the_payload() -> None:
    outcome = protocol.judge_tool_result(structured_result(autodoc_failure("x")), "x", IS_ERROR_ONLY)
    assert outcome.reason == "expected x, got success"


def test_an_expected_is_error_still_matches_as_before() -> None:
    result = structured_result(autodoc_failure("invalid_package_name"), is_error=True)
    assert protocol.judge_tool_result(result, "invalid_package_name").ok


def test_the_rule_reaches_the_judgement_through_classify_tool_call() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": structured_result(autodoc_failure())}).encode()
    assert protocol.classify_tool_call(200, "application/json", body, 1).reason.startswith("payload: success=false")
    assert protocol.classify_tool_call(200, "application/json", body, 1, rule=IS_ERROR_ONLY).ok

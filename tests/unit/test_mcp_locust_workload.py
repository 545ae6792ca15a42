"""The scenario workload: Zipf name popularity, the weighted mix, and call templates."""

from __future__ import annotations

import collections
import json
import random
from pathlib import Path

import pytest

from mcp_locust.workload import (
    DEFAULT_MIX,
    HOT_NAMES,
    NamePool,
    ToolTemplate,
    build_workload,
    parse_mix,
    parse_templates,
)


def test_the_pool_starts_with_the_hot_names_and_fills_the_tail_with_synthetic_cold_names() -> None:
    pool = NamePool(2000, 1.1)
    assert len(pool) == 2000
    assert pool.names[: len(HOT_NAMES)] == HOT_NAMES
    assert pool.names[len(HOT_NAMES)] == f"pkg-{len(HOT_NAMES):05d}"
    assert pool.names[-1] == "pkg-01999"
    assert len(set(pool.names)) == 2000


def test_a_pool_smaller_than_the_hot_head_is_only_hot_names() -> None:
    assert NamePool(3, 1.0).names == HOT_NAMES[:3]


def test_zipf_probabilities_fall_as_a_power_of_the_rank_and_sum_to_one() -> None:
    pool = NamePool(1000, 1.1)
    assert pool.probability(0) / pool.probability(1) == pytest.approx(2**1.1)
    assert pool.probability(9) / pool.probability(99) == pytest.approx(10**1.1)
    assert sum(pool.probability(rank) for rank in range(1000)) == pytest.approx(1.0)


def test_drawn_names_follow_the_zipf_head_and_still_reach_the_tail() -> None:
    pool = NamePool(2000, 1.1)
    rng = random.Random(42)
    counts = collections.Counter(pool.pick(rng) for _ in range(20_000))
    assert counts[pool.names[0]] / 20_000 == pytest.approx(pool.probability(0), rel=0.1)
    assert counts[pool.names[0]] > counts[pool.names[1]] > counts[pool.names[9]]
    assert sum(count for name, count in counts.items() if name.startswith("pkg-")) > 2_000


def test_exponent_zero_is_uniform() -> None:
    pool = NamePool(4, 0.0)
    assert [pool.probability(rank) for rank in range(4)] == pytest.approx([0.25] * 4)


@pytest.mark.parametrize(("size", "exponent"), [(0, 1.1), (10, -0.5)])
def test_a_pool_rejects_impossible_parameters(size: int, exponent: float) -> None:
    with pytest.raises(ValueError):
        NamePool(size, exponent)


def test_the_mix_is_parsed_in_order_with_spaces_tolerated_and_zero_weights_dropped() -> None:
    mix = parse_mix(" a=80, b = 8 ,c=0,")
    assert mix.entries == (("a", 80.0), ("b", 8.0))


def test_the_default_mix_names_the_six_targets() -> None:
    assert parse_mix(DEFAULT_MIX).keys == (
        "get_package_docs",
        "get_package_docs_with_context",
        "get_cache_stats",
        "health_check",
        "invalid_name",
        "missing_package",
    )


def test_the_mix_draws_targets_in_proportion_to_their_weights() -> None:
    mix = parse_mix("a=3,b=1")
    rng = random.Random(7)
    counts = collections.Counter(mix.pick(rng) for _ in range(8000))
    assert counts["a"] / 8000 == pytest.approx(0.75, abs=0.02)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "not of the form"),
        ("=3", "not of the form"),
        ("a=x", "not a number"),
        ("a=-1", ">= 0"),
        ("a=nan", ">= 0"),
        ("a=inf", ">= 0"),
        ("a=1,a=2", "twice"),
        ("a=0", "no target"),
        ("", "no target"),
    ],
)
def test_a_bad_mix_is_rejected_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mix(text)


def test_templates_replace_the_name_placeholder_inside_nested_strings_only() -> None:
    template = ToolTemplate("t", {"a": "{name}", "b": ["x-{name}", 3], "c": {"d": "{name}!!"}, "e": None})
    assert template.render("flask") == {"a": "flask", "b": ["x-flask", 3], "c": {"d": "flask!!"}, "e": None}
    assert template.arguments["a"] == "{name}"


def test_templates_parse_from_json_with_the_tool_defaulting_to_the_key() -> None:
    text = json.dumps(
        {
            "echo": {"arguments": {"text": "{name}"}},
            "echo_fail": {"tool": "echo", "arguments": {}, "expect_error": "boom"},
        }
    )
    templates = parse_templates(text)
    assert templates["echo"] == ToolTemplate("echo", {"text": "{name}"}, None)
    assert templates["echo_fail"] == ToolTemplate("echo", {}, "boom")


def test_no_templates_is_an_empty_set() -> None:
    assert parse_templates("") == {} and parse_templates("{}") == {}


def test_templates_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "templates.json"
    path.write_text('{"ping": {}}')
    assert parse_templates(str(path)) == {"ping": ToolTemplate("ping")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{nope", "not valid JSON"),
        ('{"a": 1}', "must be an object"),
        ('{"a": {"argumentz": {}}}', "unknown fields: argumentz"),
        ('{"a": {"tool": ""}}', "tool must be"),
        ('{"a": {"arguments": []}}', "arguments must be"),
        ('{"a": {"expect_error": 3}}', "expect_error must be"),
    ],
)
def test_bad_templates_are_rejected_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_templates(text)


def test_the_default_workload_calls_our_tools_and_expects_the_two_errors() -> None:
    workload = build_workload(DEFAULT_MIX, 100, 1.1)
    assert workload.targets["invalid_name"].tool == "get_package_docs"
    assert workload.targets["invalid_name"].expect_error == "invalid_package_name"
    assert workload.targets["missing_package"].render("x") == {"package_name": "missing-x"}
    assert workload.targets["missing_package"].expect_error == "package_not_found"


def test_a_mix_key_without_a_template_calls_that_tool_without_arguments() -> None:
    workload = build_workload("ping=1", 10, 1.0)
    target, arguments = workload.draw(random.Random(1))
    assert (target.tool, arguments, target.expect_error) == ("ping", {}, None)


def test_user_templates_override_the_defaults_by_key() -> None:
    workload = build_workload("health_check=1", 10, 1.0, '{"health_check": {"tool": "ready_check"}}')
    assert workload.targets["health_check"].tool == "ready_check"

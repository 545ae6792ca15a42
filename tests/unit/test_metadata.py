"""Validation of hostile upstream PyPI JSON into ProjectIndex and PackageMetadata."""

from __future__ import annotations

import json
from typing import Any

import pytest

from autodocs_mcp.errors import AutoDocsError, ErrorCode
from autodocs_mcp.metadata import (
    MAX_CLASSIFIERS,
    MAX_LICENSE_CHARS,
    MAX_PROJECT_URLS,
    MAX_SUMMARY_CHARS,
    CacheFormatError,
    PackageMetadata,
    ProjectIndex,
    parse_project_index,
    parse_release,
)


def _payload(info: dict[str, Any] | None = None, releases: object = None) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "Demo_Pkg", "version": "1.2.0", "summary": "A demo."}
    base.update(info or {})
    payload: dict[str, Any] = {"info": base}
    if releases is not None:
        payload["releases"] = releases
    return payload


def _file(*, yanked: bool = False) -> dict[str, Any]:
    return {"filename": "demo.whl", "yanked": yanked}


def _invalid(payload: object, call: str = "release") -> AutoDocsError:
    with pytest.raises(AutoDocsError) as caught:
        if call == "release":
            parse_release(payload, max_description_chars=1000)
        else:
            parse_project_index(payload, "demo-pkg")
    assert caught.value.code is ErrorCode.UPSTREAM_INVALID_RESPONSE
    return caught.value


# parse_project_index


def test_index_lists_valid_versions_sorted_ascending_keeping_upstream_spelling() -> None:
    releases = {"1.10": [_file()], "1.2.0": [_file()], "1.9": [_file()], "2.0b1": [_file()]}
    index = parse_project_index(_payload(releases=releases), "demo-pkg")
    assert index.versions == ("1.2.0", "1.9", "1.10", "2.0b1")
    assert index.name == "Demo_Pkg"
    assert index.latest == "1.2.0"


def test_index_ignores_invalid_and_non_string_version_keys() -> None:
    releases: dict[object, object] = {"not a version": [_file()], "1.0": [_file()], "2004d": [], 5: [], "x" * 500: []}
    index = parse_project_index(_payload(releases=releases), "demo-pkg")
    assert index.versions == ("1.0",)


def test_index_keeps_releases_without_files_and_sets_fully_yanked_ones_apart() -> None:
    releases = {"1.0": [], "1.1": [_file(yanked=True)], "1.2.0": [_file(yanked=True), _file()]}
    index = parse_project_index(_payload(releases=releases), "demo-pkg")
    assert index.versions == ("1.0", "1.2.0")
    assert index.yanked == ("1.1",)


def test_index_drops_releases_whose_file_list_is_malformed() -> None:
    releases = {"1.0": "oops", "1.1": [1, 2], "1.2.0": [_file()], "1.3": None}
    index = parse_project_index(_payload(releases=releases), "demo-pkg")
    assert index.versions == ("1.2.0",)


def test_index_deduplicates_equal_versions_keeping_the_first_spelling() -> None:
    index = parse_project_index(_payload(releases={"1.0": [], "1.0.0": [], "1.2.0": []}), "demo-pkg")
    assert index.versions == ("1.0", "1.2.0")


@pytest.mark.parametrize("releases", [None, "nope", [], {}])
def test_index_falls_back_to_info_version_when_releases_are_missing_or_malformed(releases: object) -> None:
    payload = _payload()
    payload["releases"] = releases
    assert parse_project_index(payload, "demo-pkg").versions == ("1.2.0",)


def test_index_accepts_a_name_that_differs_only_in_normalisation() -> None:
    assert parse_project_index(_payload(), "DEMO.pkg").name == "Demo_Pkg"


def test_index_for_a_different_project_than_requested_is_invalid() -> None:
    with pytest.raises(AutoDocsError) as caught:
        parse_project_index(_payload(), "other")
    assert caught.value.code is ErrorCode.UPSTREAM_INVALID_RESPONSE


@pytest.mark.parametrize("payload", [None, [], "x", 5, {"info": None}, {"info": []}, {}])
def test_index_of_a_non_object_payload_or_missing_info_is_invalid(payload: object) -> None:
    _invalid(payload, "index")


def test_index_with_thousands_of_releases_is_capped() -> None:
    releases: dict[str, list[object]] = {f"0.0.{i}": [] for i in range(20_000)}
    index = parse_project_index(_payload(info={"version": "0.0.1"}, releases=releases), "demo-pkg")
    assert len(index.versions) == 10_000


def test_index_round_trips_through_its_cache_dict() -> None:
    index = parse_project_index(_payload(releases={"1.0": [], "1.1": [_file(yanked=True)], "1.2.0": []}), "demo-pkg")
    restored = ProjectIndex.from_cache_dict(json.loads(json.dumps(index.to_cache_dict())))
    assert restored == index


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"format": 99},
        {"format": 1, "name": "x", "latest": "1", "versions": "1", "yanked": []},
        {"format": 1, "name": "x", "latest": "1", "versions": ["bad version"], "yanked": []},
        {"format": 1, "name": 5, "latest": "1", "versions": [], "yanked": []},
    ],
)
def test_a_corrupt_cached_index_raises_cache_format_error(data: object) -> None:
    with pytest.raises(CacheFormatError):
        ProjectIndex.from_cache_dict(data)


# parse_release: essentials


@pytest.mark.parametrize("payload", [None, [], "x", 5, 1.5, {"info": None}, {"info": "x"}, {"releases": {}}])
def test_release_of_a_non_object_payload_or_missing_info_is_invalid(payload: object) -> None:
    error = _invalid(payload)
    assert error.retryable


@pytest.mark.parametrize("name", [None, "", "   ", 5, ["demo"], "a/b", "x" * 101, "bad name", "évil"])
def test_release_with_an_unusable_name_is_invalid(name: object) -> None:
    assert "info.name" in _invalid(_payload({"name": name})).message


@pytest.mark.parametrize("version", [None, "", 5, ["1.0"], "not-a-version!", "1" * 100, '1.0"; rm -rf'])
def test_release_with_an_unusable_version_is_invalid(version: object) -> None:
    assert "info.version" in _invalid(_payload({"version": version})).message


def test_invalid_response_messages_do_not_echo_huge_values() -> None:
    assert len(_invalid(_payload({"name": "n" * 1_000_000})).message) < 300


# parse_release: field-by-field coercion


def test_a_well_formed_release_keeps_every_field() -> None:
    meta = parse_release(
        _payload(
            {
                "description": "# Demo\n\nText.",
                "description_content_type": "text/markdown",
                "home_page": "https://example.org",
                "project_urls": {"Docs": "https://docs.example.org", "Source": "http://src.example.org"},
                "requires_dist": ["requests>=2", "click; extra == 'cli'"],
                "requires_python": ">=3.9",
                "license": "MIT",
                "author": "Ann",
                "keywords": "demo, docs",
                "classifiers": ["Programming Language :: Python"],
            }
        ),
        max_description_chars=1000,
    )
    assert meta.name == "Demo_Pkg" and meta.version == "1.2.0" and meta.summary == "A demo."
    assert meta.description == "# Demo\n\nText." and not meta.description_truncated
    assert meta.project_urls == {"Docs": "https://docs.example.org", "Source": "http://src.example.org"}
    assert meta.requires_dist == ("requests>=2", "click; extra == 'cli'")
    assert meta.keywords == ("demo", "docs")
    assert meta.license == "MIT" and meta.author == "Ann" and meta.requires_python == ">=3.9"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("summary", ["a", "list"]),
        ("summary", 5),
        ("description", {"x": 1}),
        ("home_page", 12),
        ("requires_python", []),
        ("license", {"text": "MIT"}),
        ("author", None),
        ("description_content_type", 3),
    ],
)
def test_wrongly_typed_optional_fields_are_dropped_not_fatal(field: str, value: object) -> None:
    meta = parse_release(_payload({field: value}), max_description_chars=1000)
    assert meta.name == "Demo_Pkg"
    restored = meta.to_cache_dict()[field]
    assert restored in (None, "")


def test_requires_dist_as_a_string_is_dropped() -> None:
    assert parse_release(_payload({"requires_dist": "requests>=2"}), max_description_chars=10).requires_dist == ()


def test_requires_dist_keeps_only_reasonable_strings() -> None:
    raw = ["requests", 5, None, ["x"], "a" * 5000, "click\x00>=1", "rich\n>=1", "   ", " numpy >=1 "]
    meta = parse_release(_payload({"requires_dist": raw}), max_description_chars=10)
    assert meta.requires_dist == ("requests", "numpy >=1")


def test_project_urls_keep_only_http_urls_with_string_labels() -> None:
    urls = {
        "Docs": "https://ok.example",
        "Evil": "javascript:alert(1)",
        "File": "file:///etc/passwd",
        "NoHost": "https://",
        "Spaces": "https://a b.example",
        "Number": 5,
        "Long": "https://x.example/" + "a" * 5000,
    }
    meta = parse_release(_payload({"project_urls": urls}), max_description_chars=10)
    assert meta.project_urls == {"Docs": "https://ok.example"}


@pytest.mark.parametrize("urls", ["https://x", ["https://x"], 5, None])
def test_project_urls_that_are_not_a_dict_become_empty(urls: object) -> None:
    assert parse_release(_payload({"project_urls": urls}), max_description_chars=10).project_urls == {}


def test_project_urls_count_is_capped() -> None:
    urls = {f"L{i}": f"https://x.example/{i}" for i in range(500)}
    meta = parse_release(_payload({"project_urls": urls}), max_description_chars=10)
    assert len(meta.project_urls) == MAX_PROJECT_URLS


def test_home_page_must_be_http() -> None:
    assert parse_release(_payload({"home_page": "ftp://x.example"}), max_description_chars=10).home_page is None
    assert parse_release(_payload({"home_page": "UNKNOWN"}), max_description_chars=10).home_page is None


def test_description_is_truncated_at_the_limit_with_a_flag() -> None:
    meta = parse_release(_payload({"description": "x" * 5000}), max_description_chars=1000)
    assert len(meta.description) == 1000
    assert meta.description_truncated


def test_description_control_characters_are_removed_but_newlines_kept() -> None:
    meta = parse_release(_payload({"description": "a\x00b\x1b[31mc\r\nd\te\x7f"}), max_description_chars=100)
    assert meta.description == "ab[31mc\nd\te"


def test_single_line_fields_collapse_whitespace_and_controls() -> None:
    meta = parse_release(_payload({"summary": "  multi\nline\x00 summary\t "}), max_description_chars=10)
    assert meta.summary == "multi line summary"


def test_every_string_field_is_capped() -> None:
    huge = "y" * 1_000_000
    meta = parse_release(
        _payload({"summary": huge, "license": huge, "author": huge, "requires_python": huge}),
        max_description_chars=10,
    )
    assert meta.summary is not None and len(meta.summary) == MAX_SUMMARY_CHARS
    assert meta.license is not None and len(meta.license) == MAX_LICENSE_CHARS
    assert meta.summary.endswith("…")
    assert all(len(v) <= 500 for v in (meta.author or "", meta.requires_python or ""))


def test_classifier_count_and_keyword_count_are_capped() -> None:
    meta = parse_release(
        _payload({"classifiers": [f"C :: {i}" for i in range(5000)], "keywords": [f"k{i}" for i in range(5000)]}),
        max_description_chars=10,
    )
    assert len(meta.classifiers) == MAX_CLASSIFIERS
    assert len(meta.keywords) == 50


def test_license_falls_back_to_license_expression() -> None:
    meta = parse_release(_payload({"license": None, "license_expression": "Apache-2.0"}), max_description_chars=10)
    assert meta.license == "Apache-2.0"


def test_keywords_given_as_space_separated_string_are_split() -> None:
    assert parse_release(_payload({"keywords": "a b  c"}), max_description_chars=10).keywords == ("a", "b", "c")


# cache round trip


def test_release_round_trips_through_its_cache_dict_via_json() -> None:
    meta = parse_release(
        _payload(
            {
                "description": "d" * 50,
                "project_urls": {"Docs": "https://d.example"},
                "requires_dist": ["a", "b>=1"],
                "classifiers": ["X"],
                "keywords": "k",
            }
        ),
        max_description_chars=20,
    )
    restored = PackageMetadata.from_cache_dict(json.loads(json.dumps(meta.to_cache_dict())))
    assert restored == meta
    assert restored.description_truncated


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"format": 2, "name": "x", "version": "1"},
        {"format": 1, "name": None, "version": "1.0"},
        {"format": 1, "name": "x", "version": "bad version"},
    ],
)
def test_corrupt_cached_metadata_raises_cache_format_error(data: object) -> None:
    with pytest.raises(CacheFormatError):
        PackageMetadata.from_cache_dict(data)


def test_cached_metadata_is_revalidated_on_load() -> None:
    data = parse_release(_payload(), max_description_chars=10).to_cache_dict()
    data["project_urls"] = {"x": "javascript:alert(1)"}
    data["requires_dist"] = "requests"
    restored = PackageMetadata.from_cache_dict(data)
    assert restored.project_urls == {} and restored.requires_dist == ()

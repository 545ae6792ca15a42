"""Package-name and version-constraint validation, and how errors echo user input (errors.py)."""

from __future__ import annotations

import time

import pytest
from packaging.specifiers import SpecifierSet

from autodocs_mcp.errors import AutoDocsError, ErrorCode, quote_value
from autodocs_mcp.names import normalize_name, validate_package_name, validate_version_constraint


def _error(call: object, *args: object) -> AutoDocsError:
    assert callable(call)
    with pytest.raises(AutoDocsError) as caught:
        call(*args)
    return caught.value


# errors.py


def test_error_to_dict_has_code_message_suggestion_and_retryable() -> None:
    error = AutoDocsError(ErrorCode.UPSTREAM_TIMEOUT, "slow", suggestion="wait", retryable=True)
    assert error.to_dict() == {"code": "upstream_timeout", "message": "slow", "suggestion": "wait", "retryable": True}


def test_error_to_dict_includes_details_only_when_given() -> None:
    error = AutoDocsError(ErrorCode.INTERNAL, "boom", details={"package": "x"})
    assert error.to_dict()["details"] == {"package": "x"}
    assert "details" not in AutoDocsError(ErrorCode.INTERNAL, "boom").to_dict()


def test_error_str_is_the_message() -> None:
    assert str(AutoDocsError(ErrorCode.INTERNAL, "boom")) == "boom"


def test_quote_value_cuts_long_strings_with_an_ellipsis() -> None:
    quoted = quote_value("a" * 10_000)
    assert len(quoted) < 90
    assert quoted.endswith("…'")


def test_quote_value_escapes_control_characters() -> None:
    quoted = quote_value("x\x00\x1b[31m\ny")
    assert "\x00" not in quoted and "\x1b" not in quoted and "\n" not in quoted
    assert "\\x00" in quoted and "\\x1b" in quoted


def test_quote_value_describes_containers_without_repr_of_their_contents() -> None:
    nested: list[object] = []
    for _ in range(10_000):
        nested = [nested]
    assert quote_value(nested) == "<list of 1 items>"
    assert quote_value({"a": 1}) == "<dict of 1 items>"
    assert quote_value(object()) == "<object>"


# normalize_name


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Requests", "requests"),
        ("typing_extensions", "typing-extensions"),
        ("zope.interface", "zope-interface"),
        ("A__B--C..d", "a-b-c-d"),
    ],
)
def test_normalize_name_follows_pep_503(raw: str, normal: str) -> None:
    assert normalize_name(raw) == normal


# validate_package_name


@pytest.mark.parametrize("raw", ["requests", "  Requests  ", "Typing_Extensions", "a", "x1", "zope.interface"])
def test_valid_names_are_returned_normalised(raw: str) -> None:
    assert validate_package_name(raw) == normalize_name(raw.strip())


@pytest.mark.parametrize("raw", [None, 5, 1.5, True, ["requests"], {"name": "x"}, b"requests"])
def test_non_string_names_are_rejected_naming_the_type(raw: object) -> None:
    error = _error(validate_package_name, raw)
    assert error.code is ErrorCode.INVALID_PACKAGE_NAME
    assert "must be a string" in error.message
    assert error.suggestion


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "a/b",
        "../etc",
        "..",
        ".",
        "-a",
        "a-",
        "has space",
        "foo\x00",
        "foo\nbar",
        "\x1b[31mred",
        "名前",
        "a" * 101,
        "requests;rm",
        "https://evil",
    ],
)
def test_invalid_names_are_rejected_with_a_suggestion(raw: str) -> None:
    error = _error(validate_package_name, raw)
    assert error.code is ErrorCode.INVALID_PACKAGE_NAME
    assert error.suggestion
    assert "\x00" not in error.message and "\x1b" not in error.message


def test_a_trailing_newline_does_not_slip_past_the_name_regex() -> None:
    assert validate_package_name("requests\n") == "requests"
    _error(validate_package_name, "requests\n\x00")


def test_name_with_extras_is_rejected_and_the_suggestion_names_the_bare_package() -> None:
    error = _error(validate_package_name, "requests[socks]")
    assert "extras" in error.message
    assert error.suggestion is not None and "'requests'" in error.suggestion


def test_name_with_a_version_is_rejected_pointing_at_version_constraint() -> None:
    error = _error(validate_package_name, "requests>=2.0")
    assert error.suggestion is not None and "version_constraint" in error.suggestion


def test_a_huge_name_is_rejected_fast_and_not_echoed_in_full() -> None:
    started = time.perf_counter()
    error = _error(validate_package_name, "a" * 5_000_000)
    assert time.perf_counter() - started < 0.05
    assert len(error.message) < 300


# validate_version_constraint


@pytest.mark.parametrize("raw", [None, "", "   ", "latest", "LATEST", "*"])
def test_empty_latest_and_star_mean_no_constraint(raw: str | None) -> None:
    assert validate_version_constraint(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2.1.0", "==2.1.0"),
        (" 2.1.0 ", "==2.1.0"),
        ("1.2.*", "==1.2.*"),
        ("2.0rc1", "==2.0rc1"),
        (">=1.0,<2", "<2,>=1.0"),
        ("~=2.1", "~=2.1"),
        ("== 1.0", "==1.0"),
        ("!=1.5", "!=1.5"),
    ],
)
def test_valid_constraints_parse_and_bare_versions_become_exact_pins(raw: str, expected: str) -> None:
    spec = validate_version_constraint(raw)
    assert isinstance(spec, SpecifierSet)
    assert str(spec) == expected


@pytest.mark.parametrize("raw", [5, 1.0, ["==1"], {"v": 1}, b"1.0"])
def test_non_string_constraints_are_rejected(raw: object) -> None:
    error = _error(validate_version_constraint, raw)
    assert error.code is ErrorCode.INVALID_VERSION_CONSTRAINT
    assert "must be a string" in error.message


@pytest.mark.parametrize("raw", ["banana", ">>1", "=>1.0", "1.0 2.0", "\x00", ">=1.0+local", "==", "@1"])
def test_invalid_constraints_name_the_bad_clause(raw: str) -> None:
    error = _error(validate_version_constraint, raw)
    assert error.code is ErrorCode.INVALID_VERSION_CONSTRAINT
    assert "clause" in error.message or "not a valid" in error.message
    assert error.suggestion


def test_poetry_caret_is_rejected_with_its_pep440_equivalent_in_the_suggestion() -> None:
    error = _error(validate_version_constraint, "^1.2")
    assert error.suggestion is not None and ">=1.2,<2.0" in error.suggestion


def test_space_separated_clauses_get_a_comma_hint() -> None:
    error = _error(validate_version_constraint, ">=1.0 <2.0")
    assert error.suggestion is not None and "comma" in error.suggestion


def test_a_stray_comma_is_reported_as_an_empty_clause() -> None:
    assert "empty clause" in _error(validate_version_constraint, ">=1,,<2").message


def test_more_than_twenty_clauses_are_rejected() -> None:
    error = _error(validate_version_constraint, ",".join(["!=1.0"] * 21))
    assert "21 clauses" in error.message


def test_thousands_of_clauses_are_rejected_fast() -> None:
    started = time.perf_counter()
    _error(validate_version_constraint, ",".join([">=1.0"] * 10_000))
    assert time.perf_counter() - started < 0.05


def test_over_long_constraints_are_rejected_fast_without_echo() -> None:
    started = time.perf_counter()
    error = _error(validate_version_constraint, "=" * 2_000_000)
    assert time.perf_counter() - started < 0.05
    assert len(error.message) < 200


@pytest.mark.parametrize("raw", ["==" + "1." * 99 + "1", ">=" * 100, "==1.0" + "a" * 195, "~=" + "9" * 198])
def test_pathological_constraints_under_the_length_cap_fail_or_parse_quickly(raw: str) -> None:
    started = time.perf_counter()
    try:
        validate_version_constraint(raw)
    except AutoDocsError as error:
        assert error.code is ErrorCode.INVALID_VERSION_CONSTRAINT
    assert time.perf_counter() - started < 0.05

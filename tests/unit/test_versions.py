"""Release resolution under PEP 440 / PEP 592 rules, and Poetry → PEP 440 translation."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet

from autodocs_mcp.errors import AutoDocsError, ErrorCode
from autodocs_mcp.metadata import ProjectIndex
from autodocs_mcp.versions import MAX_LISTED_VERSIONS, poetry_to_pep440, resolve_version


def _index(*versions: str, latest: str | None = None, yanked: tuple[str, ...] = ()) -> ProjectIndex:
    return ProjectIndex(name="demo", latest=latest or versions[-1], versions=versions, yanked=yanked)


# resolve_version


def test_no_constraint_picks_the_newest_stable_release() -> None:
    assert resolve_version(_index("1.0", "1.5", "2.0b1", latest="1.5"), None) == "1.5"


def test_no_constraint_with_only_prereleases_falls_back_to_info_version() -> None:
    assert resolve_version(_index("1.0a1", "1.0b2", "1.0rc1", latest="1.0b2"), None) == "1.0b2"


def test_no_constraint_with_only_prereleases_and_unlisted_latest_picks_the_highest() -> None:
    assert resolve_version(_index("1.0a1", "1.0rc1", latest="0.9"), None) == "1.0rc1"


def test_no_constraint_and_no_versions_returns_info_version() -> None:
    assert resolve_version(ProjectIndex(name="demo", latest="3.0", versions=()), None) == "3.0"


def test_constraint_picks_the_highest_matching_release() -> None:
    assert resolve_version(_index("1.0", "1.4", "1.9", "2.0"), SpecifierSet(">=1.0,<2")) == "1.9"


def test_prereleases_are_skipped_when_a_final_release_matches() -> None:
    assert resolve_version(_index("1.0", "2.0b1"), SpecifierSet(">=1.0")) == "1.0"


def test_prereleases_are_used_when_nothing_else_matches() -> None:
    assert resolve_version(_index("1.0", "2.0b1"), SpecifierSet(">=2.0.dev0")) == "2.0b1"
    assert resolve_version(_index("1.0", "2.0b1", "2.0b2"), SpecifierSet(">1.0")) == "2.0b2"


def test_a_specifier_naming_a_prerelease_admits_prereleases() -> None:
    assert resolve_version(_index("2.0b1", "2.0b2", "2.0"), SpecifierSet("==2.0b1")) == "2.0b1"


def test_the_upstream_spelling_is_returned() -> None:
    assert resolve_version(_index("1.0", "2.0.0"), SpecifierSet("==2")) == "2.0.0"


def test_an_exact_pin_reaches_a_yanked_release() -> None:
    index = _index("1.0", "1.2", yanked=("1.1",))
    assert resolve_version(index, SpecifierSet("==1.1")) == "1.1"


def test_ranges_never_select_a_yanked_release() -> None:
    index = _index("1.0", yanked=("1.1",))
    with pytest.raises(AutoDocsError):
        resolve_version(index, SpecifierSet(">1.0"))


def test_no_match_lists_a_few_versions_newest_first() -> None:
    index = _index(*(f"1.{i}" for i in range(30)))
    with pytest.raises(AutoDocsError) as caught:
        resolve_version(index, SpecifierSet(">=5"))
    error = caught.value
    assert error.code is ErrorCode.VERSION_NOT_FOUND
    assert "1.29, 1.28, 1.27" in error.message
    assert "1.5," not in error.message
    assert "and 20 older" in error.message
    assert error.details["available"][0] == "1.29"
    assert len(error.details["available"]) == MAX_LISTED_VERSIONS
    assert error.suggestion


# poetry_to_pep440


@pytest.mark.parametrize(
    ("poetry", "pep440"),
    [
        ("^1.2.3", ">=1.2.3,<2.0.0"),
        ("^1.2", ">=1.2,<2.0"),
        ("^1", ">=1,<2"),
        ("^0.2.3", ">=0.2.3,<0.3.0"),
        ("^0.0.3", ">=0.0.3,<0.0.4"),
        ("^0.0", ">=0.0,<0.1"),
        ("^0", ">=0,<1"),
        ("^1.2.3b1", ">=1.2.3b1,<2.0.0"),
        ("~1.2.3", ">=1.2.3,<1.3.0"),
        ("~1.2", ">=1.2,<1.3"),
        ("~1", ">=1,<2"),
        ("~=1.2", "~=1.2"),
        ("*", ""),
        ("", ""),
        ("1.2.3", "==1.2.3"),
        ("1.2.*", "==1.2.*"),
        ("=1.2", "==1.2"),
        (">=1.2,<2.0", ">=1.2,<2.0"),
        (">= 1.2 < 2.0", ">=1.2,<2.0"),
        ("!=1.5", "!=1.5"),
        ("^1!2.0", ">=1!2.0,<1!3.0"),
    ],
)
def test_poetry_constraints_translate_to_pep440(poetry: str, pep440: str) -> None:
    assert poetry_to_pep440(poetry) == pep440
    SpecifierSet(pep440)


@pytest.mark.parametrize(
    "bad", ["^1.0 || ^2.0", "1.0 | 2.0", "^banana", "~1.*", ">>1", "x" * 300, ",".join(["1"] * 30)]
)
def test_untranslatable_poetry_constraints_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        poetry_to_pep440(bad)

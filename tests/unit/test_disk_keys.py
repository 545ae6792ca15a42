"""The one key function every tier files releases under: ``names.normalize_name`` of a checked name, and
``str(Version(v))`` of a checked version (with a fast path for versions already in that form)."""

from __future__ import annotations

import itertools

import pytest
from packaging.version import Version

from autodocs_mcp.disk import CacheKey, index_key, is_key_name, normalise_version, release_key
from autodocs_mcp.names import MAX_NAME_CHARS, normalize_name

SPELLINGS = [
    "1", "1.0", "1.0.0", "01.2", "1.02", "2.32.3", "0.0.1", "10.0", "1.0a1", "1.0a01", "1.0alpha1", "1.0-rc1",
    "1.0RC1", "1.0c1", "1.0b2", "1.0.post1", "1.0-1", "1.0post1", "1.0.dev0", "1.0dev", "1.0.dev", "1.0a1.post2.dev3",
    "1!2.0", "1.0+local", "1.0+local.1", "v1.0", "V1.0", " 1.0", "1.0.0.0.0", "2024.10.31", "0a0", "1.0.rc1",
    "1.0-dev1", "1.0_post1", "1.0.POST1", "0001", "1.0a", "1.0.post",
]  # fmt: skip


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_version_key_is_what_pep440_normalisation_makes_of_it_fast_path_or_not(spelling: str) -> None:
    assert normalise_version(spelling) == str(Version(spelling))


def test_every_combination_of_canonical_parts_survives_normalisation_unchanged() -> None:
    releases = ["0", "1", "10", "1.0", "2.32.3", "0.0.0.1"]
    pres = ["", "a0", "b1", "rc12"]
    posts = ["", ".post0", ".post7"]
    devs = ["", ".dev0", ".dev3"]
    for parts in itertools.product(releases, pres, posts, devs):
        spelling = "".join(parts)
        assert normalise_version(spelling) == str(Version(spelling)) == spelling


@pytest.mark.parametrize("bad", ["", "not-a-version", "1.0/../x", "1" * 101, "1.0\x00"])
def test_a_version_no_key_can_be_built_from_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise_version(bad)


def test_names_are_keyed_by_names_normalize_name_and_releases_by_name_and_version() -> None:
    assert (
        release_key("Foo_Bar.baz", "01.2") == CacheKey(normalize_name("Foo_Bar.baz"), "1.2") == ("foo-bar-baz", "1.2")
    )
    assert index_key("Foo__bar") == CacheKey("foo-bar", None)


@pytest.mark.parametrize("bad", ["", "a" * (MAX_NAME_CHARS + 1), "-a", "a b", "../etc", "é", "a\n"])
def test_a_name_that_is_not_a_pep508_name_of_at_most_the_name_cap_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        index_key(bad)


@pytest.mark.parametrize(("folder", "is_key"), [("requests", True), ("Requests", False), ("a.b", False), ("a-b", True)])
def test_only_a_key_spelling_is_a_folder_a_key_maps_to(folder: str, is_key: bool) -> None:
    assert is_key_name(folder) is is_key

from __future__ import annotations

import pytest

from pypi_mock.names import exists, is_valid_name, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("FastAPI", "fastapi"),
        ("typing_extensions", "typing-extensions"),
        ("Typing.Extensions", "typing-extensions"),
        ("zope.interface", "zope-interface"),
        ("a__b--c..d", "a-b-c-d"),
        ("A-_.B", "a-b"),
    ],
)
def test_normalize_follows_pep_503(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("name", ["a", "Z9", "flask", "pydantic-core", "zope.interface", "x_y", "1password"])
def test_pep_508_names_are_valid(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize(
    "name", ["", "-leading", "trailing-", ".dot", "sp ace", "semi;colon", "ümlaut", "a/b", "a" * 201]
)
def test_names_outside_pep_508_syntax_are_invalid(name: str) -> None:
    assert not is_valid_name(name)


def test_every_valid_name_exists_except_the_missing_family() -> None:
    assert exists("anything-at-all")
    assert not exists("missing-thing")
    assert not exists("Missing_Thing")
    assert not exists("not valid")

"""Choosing a release for a constraint, and translating Poetry constraints into PEP 440.

Resolution follows packaging's pre-release rule (``SpecifierSet.filter(..., prereleases=None)``): pre-releases
are candidates only when the specifier names one explicitly or when nothing else matches. With no constraint the
newest stable release wins. A release whose files are all yanked is reachable only through an exact ``==`` pin, as
PEP 592 asks.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from autodocs_mcp.errors import AutoDocsError, ErrorCode, quote_value

if TYPE_CHECKING:
    from autodocs_mcp.metadata import ProjectIndex

MAX_LISTED_VERSIONS = 10
MAX_POETRY_CONSTRAINT_CHARS = 200
MAX_POETRY_CLAUSES = 20

_OPERATOR_SPACE_RE = re.compile(r"(\^|~=|~|===|==|!=|<=|>=|<|>|=)\s+")
_CLAUSE_SPLIT_RE = re.compile(r"[,\s]+")
_CLAUSE_RE = re.compile(r"(?P<op>\^|~=|~|===|==|!=|<=|>=|<|>|=)?(?P<version>.+)")


def resolve_version(index: ProjectIndex, spec: SpecifierSet | None) -> str:
    """Return the upstream spelling of the release to document, or raise ``VERSION_NOT_FOUND``."""
    parsed = index.parsed_versions
    if spec is None:
        stable = [text for version, text in parsed if not version.is_prerelease]
        if stable:
            return stable[-1]
        if not parsed or index.latest in index.versions:
            return index.latest
        return parsed[-1][1]
    by_version = dict(parsed)
    matches = list(spec.filter(by_version, prereleases=None))
    if matches:
        return by_version[max(matches)]
    pinned = _yanked_exact_pin(index, spec)
    if pinned is not None:
        return pinned
    raise _not_found(index, spec)


def _yanked_exact_pin(index: ProjectIndex, spec: SpecifierSet) -> str | None:
    clauses = list(spec)
    if len(clauses) != 1 or clauses[0].operator not in ("==", "===") or "*" in clauses[0].version:
        return None
    for text in index.yanked:
        if spec.contains(text, prereleases=True):
            return text
    return None


def _not_found(index: ProjectIndex, spec: SpecifierSet) -> AutoDocsError:
    newest_first = [text for _, text in reversed(index.parsed_versions)]
    shown = newest_first[:MAX_LISTED_VERSIONS]
    more = len(newest_first) - len(shown)
    listing = ", ".join(shown) + (f" (and {more} older)" if more > 0 else "")
    constraint = str(spec) or "(any)"
    return AutoDocsError(
        ErrorCode.VERSION_NOT_FOUND,
        f"No release of {index.name} matches {quote_value(constraint)}. "
        f"Available versions, newest first: {listing or 'none'}.",
        suggestion="Pick one of the listed versions, loosen the constraint, or omit it for the latest release.",
        details={"package": index.name, "constraint": constraint, "available": shown},
    )


def poetry_to_pep440(constraint: str) -> str:
    """Translate a Poetry constraint (``^1.2``, ``~1.2``, ``1.2.3``, ``>= 1.0 < 2``, ``*``) into PEP 440.

    Caret bumps the leftmost non-zero component (``^1.2.3`` → ``>=1.2.3,<2.0.0``, ``^0.2.3`` → ``>=0.2.3,<0.3.0``,
    ``^0.0.3`` → ``>=0.0.3,<0.0.4``); tilde bumps the minor, or the major when only it is given. A bare version is
    an exact pin. ``||`` unions have no PEP 440 form and raise ``ValueError``, as does anything unparseable.
    """
    text = constraint.strip()
    if len(text) > MAX_POETRY_CONSTRAINT_CHARS:
        raise ValueError(f"constraint is longer than {MAX_POETRY_CONSTRAINT_CHARS} characters")
    if "||" in text or "|" in text:
        raise ValueError("'||' unions cannot be expressed as a PEP 440 specifier")
    clauses = [c for c in _CLAUSE_SPLIT_RE.split(_OPERATOR_SPACE_RE.sub(r"\1", text)) if c]
    if len(clauses) > MAX_POETRY_CLAUSES:
        raise ValueError(f"more than {MAX_POETRY_CLAUSES} clauses")
    converted: list[str] = []
    for clause in clauses:
        if clause == "*":
            continue
        converted.extend(_convert_clause(clause))
    result = ",".join(converted)
    try:
        SpecifierSet(result)
    except InvalidSpecifier:
        raise ValueError(f"{quote_value(text)} is not a valid version constraint") from None
    return result


def _convert_clause(clause: str) -> list[str]:
    match = _CLAUSE_RE.fullmatch(clause)
    if match is None:
        raise ValueError(f"{quote_value(clause)} is not a valid version constraint")
    operator, version = match.group("op"), match.group("version")
    if operator in ("^", "~"):
        return [f">={version}", f"<{_upper_bound(version, caret=operator == '^')}"]
    if operator is None or operator == "=":
        return [f"=={version}"]
    return [f"{operator}{version}"]


def _upper_bound(text: str, *, caret: bool) -> str:
    try:
        version = Version(text)
    except InvalidVersion:
        raise ValueError(f"{quote_value(text)} is not a valid version") from None
    release = version.release
    major = release[0]
    minor = release[1] if len(release) > 1 else 0
    if caret:
        if major != 0 or len(release) == 1:
            bumped: tuple[int, ...] = (major + 1,)
        elif minor != 0 or len(release) == 2:
            bumped = (0, minor + 1)
        else:
            bumped = (0, 0, release[2] + 1)
    elif len(release) == 1:
        bumped = (major + 1,)
    else:
        bumped = (major, minor + 1)
    padded = bumped + (0,) * (len(release) - len(bumped))
    epoch = f"{version.epoch}!" if version.epoch else ""
    return epoch + ".".join(str(part) for part in padded)

"""Validation of the two user inputs every docs tool takes: a package name and a version constraint.

Both checks are bounded before any regex or parser runs, so a hostile multi-megabyte argument is rejected in
constant time. Errors echo the input only through ``quote_value`` (cut and escaped) and carry a suggestion that
tells the caller, usually a model, exactly what to send instead.
"""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from autodocs_mcp.errors import AutoDocsError, ErrorCode, quote_value, type_name
from autodocs_mcp.versions import poetry_to_pep440

MAX_NAME_CHARS = 100
MAX_CONSTRAINT_CHARS = 200
MAX_CONSTRAINT_CLAUSES = 20
MAX_VERSION_CHARS = 100
"""The longest release version accepted, as the cache keys it (``cache.MAX_VERSION_LENGTH``)."""

PACKAGE_NAME_RE = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE | re.ASCII)
"""PEP 508 distribution name; always used with ``fullmatch`` so a trailing newline cannot sneak through."""

_NORMALIZE_RE = re.compile(r"[-_.]+")
_LEADING_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_BARE_VERSION_RE = re.compile(r"v?[0-9][0-9A-Za-z.!+*_-]*")
_VERSION_OPERATOR_RE = re.compile(r"\s*(===|==|~=|!=|<=|>=|<|>|\^|~|@)")
_ANY_VERSION = frozenset({"latest", "*"})

_NAME_EXAMPLE = "Pass a PyPI distribution name such as 'requests' or 'typing-extensions'."
_CONSTRAINT_EXAMPLE = (
    "Use a PEP 440 specifier such as '>=2.0,<3', '==2.1.0' or '~=2.1', "
    "or omit version_constraint for the latest release."
)


def normalize_name(name: str) -> str:
    """PEP 503 normalisation: the one spelling used for cache keys, comparisons and URLs."""
    return _NORMALIZE_RE.sub("-", name).lower()


def _name_error(message: str, suggestion: str = _NAME_EXAMPLE) -> AutoDocsError:
    return AutoDocsError(ErrorCode.INVALID_PACKAGE_NAME, message, suggestion=suggestion)


def validate_package_name(raw: object) -> str:
    """Return the normalised name, or raise ``INVALID_PACKAGE_NAME`` saying what is wrong and what to send."""
    if not isinstance(raw, str):
        raise _name_error(f"package_name must be a string, got {type_name(raw)}.")
    if len(raw) > MAX_NAME_CHARS * 4:
        raise _name_error(
            f"package_name is too long ({len(raw)} characters; at most {MAX_NAME_CHARS}): {quote_value(raw)}."
        )
    name = raw.strip()
    if not name:
        raise _name_error("package_name is empty.")
    if len(name) > MAX_NAME_CHARS:
        raise _name_error(
            f"package_name is too long ({len(name)} characters; at most {MAX_NAME_CHARS}): {quote_value(name)}."
        )
    if PACKAGE_NAME_RE.fullmatch(name) is not None:
        return normalize_name(name)
    leading = _LEADING_NAME_RE.match(name)
    base = leading.group(0) if leading else None
    rest = name[leading.end() :] if leading else name
    if base and rest.lstrip().startswith("["):
        raise _name_error(
            f"package_name {quote_value(name)} includes extras, which are not part of a package name.",
            f"Pass the bare name {quote_value(base)}; extras do not change a package's documentation.",
        )
    if base and _VERSION_OPERATOR_RE.match(rest):
        raise _name_error(
            f"package_name {quote_value(name)} includes a version constraint.",
            f"Pass package_name={quote_value(base)} and the constraint separately as version_constraint.",
        )
    raise _name_error(
        f"package_name {quote_value(name)} is not a valid PyPI distribution name "
        "(letters, digits, '.', '_' and '-' only; must start and end with a letter or digit).",
    )


def _constraint_error(message: str, suggestion: str = _CONSTRAINT_EXAMPLE) -> AutoDocsError:
    return AutoDocsError(ErrorCode.INVALID_VERSION_CONSTRAINT, message, suggestion=suggestion)


def validate_version_constraint(raw: object) -> SpecifierSet | None:
    """Parse a user constraint; None means "latest". A bare version such as ``2.1.0`` means ``==2.1.0``."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _constraint_error(f"version_constraint must be a string, got {type_name(raw)}.")
    if len(raw) > MAX_CONSTRAINT_CHARS * 4:
        raise _constraint_error(
            f"version_constraint is too long ({len(raw)} characters; at most {MAX_CONSTRAINT_CHARS})."
        )
    text = raw.strip()
    if not text or text.lower() in _ANY_VERSION:
        return None
    if len(text) > MAX_CONSTRAINT_CHARS:
        raise _constraint_error(
            f"version_constraint is too long ({len(text)} characters; at most {MAX_CONSTRAINT_CHARS})."
        )
    clauses = text.split(",")
    if len(clauses) > MAX_CONSTRAINT_CLAUSES:
        raise _constraint_error(
            f"version_constraint has {len(clauses)} clauses; at most {MAX_CONSTRAINT_CLAUSES} are accepted."
        )
    if len(clauses) == 1 and _BARE_VERSION_RE.fullmatch(text):
        text = "==" + text
        clauses = [text]
    for clause in clauses:
        _check_clause(clause, text)
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise _constraint_error(f"version_constraint {quote_value(text)} is not a valid PEP 440 specifier.") from None


def validate_exact_version(raw: str) -> str:
    """One release's version, as a resource URI names it: a PEP 440 version, no operator, no wildcard.

    Returns the normalised spelling (``str(Version(raw))``); raises ``INVALID_VERSION_CONSTRAINT`` otherwise.
    """
    if len(raw) > MAX_VERSION_CHARS:
        raise _constraint_error(
            f"version is too long ({len(raw)} characters; at most {MAX_VERSION_CHARS}).",
            "Name one release, such as '2.32.3'.",
        )
    try:
        return str(Version(raw))
    except InvalidVersion:
        raise _constraint_error(
            f"version {quote_value(raw)} is not a PEP 440 version.", "Name one release, such as '2.32.3'."
        ) from None


def _check_clause(clause: str, whole: str) -> None:
    """Name the first bad clause, with a targeted hint for the mistakes people actually make."""
    stripped = clause.strip()
    if not stripped:
        raise _constraint_error(f"version_constraint {quote_value(whole)} has an empty clause (a stray comma).")
    try:
        Specifier(stripped)
    except InvalidSpecifier:
        pass
    else:
        return
    if stripped.startswith("^") or (stripped.startswith("~") and not stripped.startswith("~=")):
        try:
            equivalent = poetry_to_pep440(stripped)
        except ValueError:
            hint = _CONSTRAINT_EXAMPLE
        else:
            hint = f"Caret and tilde ranges are Poetry/npm syntax; the PEP 440 equivalent is {equivalent!r}."
        raise _constraint_error(
            f"version_constraint clause {quote_value(stripped)} is not PEP 440 syntax.", hint
        ) from None
    if " " in stripped:
        raise _constraint_error(
            f"version_constraint clause {quote_value(stripped)} is not a valid specifier.",
            "Separate clauses with commas, e.g. '>=1.0,<2.0'.",
        ) from None
    raise _constraint_error(
        f"version_constraint clause {quote_value(stripped)} is not a valid PEP 440 specifier."
    ) from None

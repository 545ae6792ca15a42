"""Project-name rules, so the mock accepts and refuses exactly the names the real index would."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[-_.]+")
# PEP 508 name syntax: ASCII letters and digits, with "-", "_" or "." allowed only between them.
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
MAX_NAME_LENGTH = 200

MISSING_PREFIX = "missing-"


def normalize(name: str) -> str:
    """PEP 503 normalisation: every spelling of one project maps to one key (and one response body)."""
    return _SEPARATORS.sub("-", name).lower()


def is_valid_name(name: str) -> bool:
    """True for a PEP 508 project name; length-capped so a hostile URL cannot make the builder work hard."""
    return 0 < len(name) <= MAX_NAME_LENGTH and _VALID_NAME.match(name) is not None


def exists(name: str) -> bool:
    """Every valid name exists, except the ``missing-`` family reserved for not-found paths in tests."""
    return is_valid_name(name) and not normalize(name).startswith(MISSING_PREFIX)

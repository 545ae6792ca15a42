"""The single exception type the tools turn into structured tool errors.

Every failure a caller can act on is an ``AutoDocsError`` carrying a stable ``code``; the tool layer renders
``to_dict()`` and never leaks tracebacks. Messages may echo user input, so ``quote_value`` bounds and escapes it:
a tool error must never become a megabyte echo or smuggle control characters into a terminal or a model prompt.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

ECHO_LIMIT = 80
"""How many characters of a user-supplied value a message may echo before it is cut with an ellipsis."""

_ELLIPSIS = "…"


class ErrorCode(StrEnum):
    INVALID_PACKAGE_NAME = "invalid_package_name"
    INVALID_VERSION_CONSTRAINT = "invalid_version_constraint"
    INVALID_ARGUMENT = "invalid_argument"
    PACKAGE_NOT_FOUND = "package_not_found"
    VERSION_NOT_FOUND = "version_not_found"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    UPSTREAM_SATURATED = "upstream_saturated"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_INVALID_RESPONSE = "upstream_invalid_response"
    DOC_TOO_LARGE = "doc_too_large"
    INVALID_PROJECT_PATH = "invalid_project_path"
    PROJECT_FILE_INVALID = "project_file_invalid"
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal_error"


class AutoDocsError(Exception):
    """A failure with a stable code, a human message, an optional hint and whether retrying may help."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        suggestion: str | None = None,
        retryable: bool = False,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.suggestion = suggestion
        self.retryable = retryable
        self.details: dict[str, Any] = dict(details) if details else {}

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "code": self.code.value,
            "message": self.message,
            "suggestion": self.suggestion,
            "retryable": self.retryable,
        }
        if self.details:
            result["details"] = dict(self.details)
        return result

    def __repr__(self) -> str:
        return f"AutoDocsError({self.code.value!r}, {self.message!r})"


def quote_value(value: object, limit: int = ECHO_LIMIT) -> str:
    """Render a user value for a message: strings repr-escaped and cut at ``limit``, other types by type name.

    Non-strings are described rather than repr'd because repr of a hostile container is unbounded in time,
    size and recursion depth.
    """
    if isinstance(value, str):
        if len(value) > limit:
            cut = repr(value[:limit])
            return cut[:-1] + _ELLIPSIS + cut[-1]
        return repr(value)
    if value is None or isinstance(value, bool | int | float):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + _ELLIPSIS
    if isinstance(value, list | tuple | dict | set | frozenset):
        return f"<{type(value).__name__} of {len(value)} items>"
    return f"<{type(value).__name__}>"


def type_name(value: object) -> str:
    """Name a JSON-ish type the way a caller who wrote the input would recognise it."""
    names = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)

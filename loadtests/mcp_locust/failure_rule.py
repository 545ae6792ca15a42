"""Which tool results count as failed calls: ``isError``, and servers that report failure in the payload instead.

Many MCP servers answer a failed call with ``isError: false`` and say so in the payload (``{"success": false,
"error": ...}``); the public ``autodoc-mcp`` 0.5.1 did that for every call, and a soak that only looked at
``isError`` counted 0 failures out of 9,592. A ``FailureRule`` is a small frozen set of named checks, so the
command line (``--mcp-failure-rule``), the Locust user and the soak report all speak of the same rule.

Pure and Locust-free: the payload is inspected at most once per call, only the first text item is parsed as JSON
(and only when it is short enough), and no payload shape makes it raise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

IS_ERROR = "is_error"
SUCCESS_FALSE = "success_false"
ERROR_OBJECT = "error_object"
CHECKS: tuple[str, ...] = (IS_ERROR, SUCCESS_FALSE, ERROR_OBJECT)

DEFAULT_RULE_NAME = "default"
NAMED_RULES: Mapping[str, tuple[str, ...]] = {DEFAULT_RULE_NAME: CHECKS, "is-error": (IS_ERROR,)}

# A multi-megabyte docs page is not a status object; parsing it on every call would cost the load generator more
# than the call itself, so longer texts count as "no payload object".
MAX_JSON_TEXT_CHARS = 1 << 20

# Only codes that look like identifiers go into a failure reason: Locust groups failures by the exact reason, and a
# free-text "code" (or an error message) would give every request its own row.
_GROUPABLE_CODE = re.compile(r"[A-Za-z0-9_.:/-]{1,48}")


@dataclass(frozen=True)
class FailureRule:
    """The enabled checks; a call fails when any of them fires."""

    checks: frozenset[str]

    @property
    def is_error(self) -> bool:
        return IS_ERROR in self.checks

    @property
    def success_false(self) -> bool:
        return SUCCESS_FALSE in self.checks

    @property
    def error_object(self) -> bool:
        return ERROR_OBJECT in self.checks

    @property
    def inspects_payload(self) -> bool:
        return self.success_false or self.error_object

    @property
    def name(self) -> str:
        """The canonical spelling, which parses back to the same rule: a named rule if one matches, else the list."""
        for name, checks in NAMED_RULES.items():
            if self.checks == frozenset(checks):
                return name
        return ",".join(check for check in CHECKS if check in self.checks)


DEFAULT_RULE = FailureRule(frozenset(CHECKS))


@dataclass(frozen=True)
class PayloadFailure:
    """A payload check that fired: its groupable reason, and the payload's ``error.code`` string, if it gave one.

    ``code`` is kept whole (an expected-error call matches it exactly); the reason only shows it when it is short.
    """

    reason: str
    code: str | None = None


def parse_failure_rule(text: str) -> FailureRule:
    """``"default"``, ``"is-error"`` or a comma-separated list of check (or rule) names; unknown names raise.

    Items are united, so ``"is-error,success_false"`` is the same rule as ``"is_error,success_false"``.
    """
    checks: set[str] = set()
    for part in text.split(","):
        item = part.strip()
        if not item:
            continue
        if item in NAMED_RULES:
            checks.update(NAMED_RULES[item])
        elif item in CHECKS:
            checks.add(item)
        else:
            raise ValueError(f"unknown failure check or rule {item!r} (known: {', '.join(_known_names())})")
    if not checks:
        raise ValueError(f"failure rule {text!r} names no check (known: {', '.join(_known_names())})")
    return FailureRule(frozenset(checks))


def _known_names() -> list[str]:
    return [*NAMED_RULES, *CHECKS]


def describe_rule(rule: FailureRule) -> str:
    """One line for a person (the soak report shows it): which results this run counted as failed calls."""
    clauses: list[str] = []
    if rule.is_error:
        clauses.append("isError is true")
    payload = [
        phrase
        for enabled, phrase in (
            (rule.success_false, "says success: false"),
            (rule.error_object, "holds an error object"),
        )
        if enabled
    ]
    if payload:
        clauses.append("its structured content (or JSON text) " + " or ".join(payload))
    return "a call fails when " + ", or ".join(clauses)


def payload_object(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """``structuredContent`` when the result has it, else the first text item when that is a JSON object.

    A result with ``structuredContent`` that is not an object has no payload object: the text is then only its
    rendering, and guessing from it would judge the same call by two different documents.
    """
    structured = result.get("structuredContent")
    if structured is not None:
        return structured if isinstance(structured, dict) else None
    text = _first_text(result.get("content"))
    if text is None or len(text) > MAX_JSON_TEXT_CHARS or not text.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _first_text(content: object) -> str | None:
    if not isinstance(content, list):
        return None
    for item in content:
        if isinstance(item, dict) and item.get("type") == "text":
            text = item.get("text")
            return text if isinstance(text, str) else None
    return None


def payload_failure(result: Mapping[str, Any], rule: FailureRule) -> PayloadFailure | None:
    """What the enabled payload checks say about a result; ``None`` when none fires (``isError`` is not looked at)."""
    if not rule.inspects_payload:
        return None
    payload = payload_object(result)
    if payload is None:
        return None
    error = payload.get("error")
    if rule.success_false and payload.get("success") is False:
        return _failure("payload: success=false", error)
    if rule.error_object and isinstance(error, dict | str) and len(error) > 0:
        return _failure("payload: error object", error)
    return None


def _failure(label: str, error: object) -> PayloadFailure:
    """Free text (an error message, a code with spaces in it) never becomes part of a reason."""
    code = error.get("code") if isinstance(error, dict) else None
    if not isinstance(code, str) or not code:
        return PayloadFailure(label)
    return PayloadFailure(f"{label} ({code})" if _GROUPABLE_CODE.fullmatch(code) else label, code)

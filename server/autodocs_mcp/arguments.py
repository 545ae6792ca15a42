"""Check a tool call's arguments against the tool's published input schema, before the SDK sees them.

The SDK's own check answers with pydantic's full text, input values included (a megabyte argument comes back as
a megabyte error) and with no stable code; it also ignores arguments the tool does not have. Here every failure is
an ``AutoDocsError(INVALID_ARGUMENT)`` that names the argument and the rule it broke, echoing at most a short,
escaped excerpt of a string and never a container, so an assistant can correct its call from the answer alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from autodocs_mcp.errors import AutoDocsError, ErrorCode, quote_value, type_name
from autodocs_mcp.tool_schemas import ToolSpec

MAX_NAMED_EXTRAS = 5
"""How many unknown argument names one error lists; the rest are counted."""


class ArgumentChecker:
    """One compiled validator per tool (compiling costs far more than validating)."""

    def __init__(self, specs: Mapping[str, ToolSpec]) -> None:
        self._specs = dict(specs)
        self._validators = {name: Draft202012Validator(spec.input_schema) for name, spec in specs.items()}

    def problem(self, tool: str, arguments: object) -> AutoDocsError | None:
        """The first thing wrong with ``arguments`` for ``tool``, or None when they fit its schema.

        Unknown argument names come first (a misspelt name is the likeliest mistake and explains a "missing" one),
        then missing required arguments, then the first bad value.
        """
        spec = self._specs.get(tool)
        if spec is None or not isinstance(arguments, dict):
            return None  # an unknown tool or a malformed request is not an argument problem
        extras = sorted(key for key in arguments if key not in spec.argument_names)
        if extras:
            return _unknown_arguments(spec, extras)
        missing = [name for name in spec.input_schema.get("required", ()) if name not in arguments]
        if missing:
            return _missing_arguments(spec, missing)
        error = next(iter(self._validators[tool].iter_errors(arguments)), None)
        if error is None:
            return None
        return _bad_value(spec, error)


def _unknown_arguments(spec: ToolSpec, extras: list[str]) -> AutoDocsError:
    named = ", ".join(quote_value(name, limit=40) for name in extras[:MAX_NAMED_EXTRAS])
    more = f" and {len(extras) - MAX_NAMED_EXTRAS} more" if len(extras) > MAX_NAMED_EXTRAS else ""
    allowed = ", ".join(sorted(spec.argument_names)) or "none"
    noun = "argument" if len(extras) == 1 else "arguments"
    return AutoDocsError(
        ErrorCode.INVALID_ARGUMENT,
        f"{spec.name} has no {noun} {named}{more}",
        suggestion=f"Its arguments are: {allowed}.",
        details={"arguments": [name[:40] for name in extras[:MAX_NAMED_EXTRAS]], "rule": "additionalProperties"},
    )


def _missing_arguments(spec: ToolSpec, missing: list[str]) -> AutoDocsError:
    names = ", ".join(missing)
    return AutoDocsError(
        ErrorCode.INVALID_ARGUMENT,
        f"{spec.name} needs {names}",
        suggestion=_describe(spec, missing[0]),
        details={"argument": missing[0], "rule": "required"},
    )


def _bad_value(spec: ToolSpec, error: ValidationError) -> AutoDocsError:
    argument = str(error.absolute_path[0]) if error.absolute_path else ""
    rule = str(error.validator)
    value = error.instance
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if rule == "type":
        wanted = " or ".join(_json_type(t) for t in _as_list(schema.get("type")))
        message = f"{argument} must be {wanted}, got {type_name(value)}"
    elif rule == "enum":
        message = f"{argument} {quote_value(value)} is not one of {', '.join(map(str, schema.get('enum', ())))}"
    elif rule in ("minimum", "maximum"):
        message = f"{argument} must be from {schema.get('minimum')} to {schema.get('maximum')}, got {_number(value)}"
    elif rule == "maxLength":
        message = f"{argument} is {_length(value)} characters long; at most {schema.get('maxLength')} are allowed"
    elif rule == "minLength":
        message = f"{argument} is empty"
    else:
        message = f"{argument or 'the arguments'} break the rule {rule!r} of the input schema"
    return AutoDocsError(
        ErrorCode.INVALID_ARGUMENT,
        message,
        suggestion=_describe(spec, argument),
        details={"argument": argument, "rule": rule},
    )


def _describe(spec: ToolSpec, argument: str) -> str | None:
    """The argument's own description from the schema: what to send instead."""
    properties: Mapping[str, Any] = spec.input_schema.get("properties", {})
    description = properties.get(argument, {}).get("description")
    return str(description) if description else None


def _as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _json_type(name: object) -> str:
    return {"string": "a string", "integer": "an integer", "boolean": "true or false", "null": "null"}.get(
        str(name), f"a {name}"
    )


def _length(value: object) -> str:
    return str(len(value)) if isinstance(value, str) else "?"


def _number(value: object) -> str:
    """A number as a caller wrote it, shortened: ``10**30`` must not come back as 31 digits of echo."""
    text = repr(value)
    return text if len(text) <= 20 else f"{text[:8]}…({len(text)} digits)"

"""What each tool promises an assistant: its title, when to use it, its arguments, its answer's shape and hints.

An assistant picks a tool and fills its arguments from ``tools/list`` alone, so this catalogue is the contract:
every argument has a description, its bounds and allowed values; ``additionalProperties: false`` turns a misspelt
argument into an error instead of a silently ignored one; every tool has an ``outputSchema`` that both its success
and its error answers validate against (``anyOf``: the success shape, or ``{"success": false, "error": ...}``).

The bounds are the tools' own limits (``names``, ``docs``, ``scanner``, ``service``), imported rather than
repeated, so the schema cannot promise more than the tool accepts. Pure data: no I/O, no SDK objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autodocs_mcp.dependencies import SCOPES
from autodocs_mcp.docs import MAX_QUERY_CHARS
from autodocs_mcp.errors import ErrorCode
from autodocs_mcp.names import MAX_CONSTRAINT_CHARS, MAX_NAME_CHARS
from autodocs_mcp.scanner import MAX_PATH_CHARS
from autodocs_mcp.service import MAX_DEPENDENCIES, MAX_TOKENS, MIN_TOKENS

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The dialect MCP assumes for a schema without ``$schema`` (2025-11-25); validators here use it too."""


@dataclass(frozen=True)
class Hints:
    """MCP tool annotations: what a client may assume before calling (it shows them, or asks before a write)."""

    read_only: bool
    idempotent: bool
    open_world: bool
    destructive: bool = False


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    hints: Hints

    @property
    def argument_names(self) -> frozenset[str]:
        return frozenset(self.input_schema.get("properties", {}))


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional argument an assistant may also send as ``null`` (many do, for "not given")."""
    kind = schema["type"]
    return {**schema, "type": [kind, "null"]}


PACKAGE_NAME: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME_CHARS,
    "description": "PyPI distribution name, e.g. 'requests' or 'typing-extensions' (case, '-', '_' and '.' do not "
    "matter). The bare name only: no version and no extras such as '[http2]'.",
    "examples": ["requests", "fastapi"],
}
VERSION_CONSTRAINT: dict[str, Any] = _nullable(
    {
        "type": "string",
        "maxLength": MAX_CONSTRAINT_CHARS,
        "description": "PEP 440 version specifier, e.g. '>=2.0,<3', '==2.31.0' or '~=2.1'. Omit it (or send "
        "null) for the latest stable release.",
        "examples": [">=2.0,<3", "==2.31.0"],
    }
)
QUERY: dict[str, Any] = _nullable(
    {
        "type": "string",
        "maxLength": MAX_QUERY_CHARS,
        "description": "A few words (at most 20) to keep only the documentation sections that mention them, e.g. "
        "'authentication retries'. Omit it for the whole documentation.",
    }
)

SUCCESS_TRUE: dict[str, Any] = {"const": True, "description": "true: the call did what was asked"}


def _success(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"success": SUCCESS_TRUE, **properties},
        "required": ["success", *required],
    }


ERROR_ANSWER: dict[str, Any] = {
    "type": "object",
    "description": "A failure the caller can act on: a stable code, a message, a hint and whether a retry may help.",
    "properties": {
        "success": {"const": False},
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "enum": [code.value for code in ErrorCode]},
                "message": {"type": "string"},
                "suggestion": {"type": ["string", "null"]},
                "retryable": {"type": "boolean"},
                "details": {"type": "object"},
            },
            "required": ["code", "message", "suggestion", "retryable"],
        },
    },
    "required": ["success", "error"],
}


def _answer(success: dict[str, Any]) -> dict[str, Any]:
    """The tool's outputSchema: its success shape, or the shared error shape."""
    return {"type": "object", "anyOf": [success, ERROR_ANSWER]}


def _arguments(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


OBJECT: dict[str, Any] = {"type": "object"}
STRING: dict[str, Any] = {"type": "string"}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
INTEGER: dict[str, Any] = {"type": "integer"}
NUMBER: dict[str, Any] = {"type": "number"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


DOCS_SUCCESS = _success(
    {
        "package_name": STRING,
        "version": STRING,
        "requested_constraint": NULLABLE_STRING,
        "truncated": BOOLEAN,
        "query": NULLABLE_STRING,
        "sections_total": INTEGER,
        "sections_matched": INTEGER,
        "token_estimate": INTEGER,
        "from_cache": BOOLEAN,
        "stale": BOOLEAN,
        "upstream_requests": INTEGER,
        "response_time_ms": NUMBER,
    },
    ["package_name", "version", "truncated", "from_cache"],
)

PACKAGE_DOCS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "package_name": STRING,
        "version": STRING,
        "documentation": STRING,
        "from_cache": BOOLEAN,
        "stale": BOOLEAN,
    },
    "required": ["package_name", "version", "documentation"],
}
CONTEXT_SUCCESS = _success(
    {
        "context": {
            "type": "object",
            "properties": {
                "primary_package": PACKAGE_DOCS,
                "runtime_dependencies": _array(
                    {**PACKAGE_DOCS, "properties": {**PACKAGE_DOCS["properties"], "summary": NULLABLE_STRING}}
                ),
                "context_scope": {"type": "string", "enum": list(SCOPES)},
                "total_packages": INTEGER,
                "token_estimate": INTEGER,
                "token_budget": INTEGER,
                "truncated_packages": _array(STRING),
                "errors": _array(OBJECT),
                "invalid_requirements": _array(STRING),
            },
            "required": ["primary_package", "runtime_dependencies", "token_estimate", "token_budget", "errors"],
        },
        "performance": OBJECT,
    },
    ["context"],
)

SCAN_SUCCESS = _success(
    {
        "project_path": STRING,
        "project_name": NULLABLE_STRING,
        "project_version": NULLABLE_STRING,
        "dependencies": _array(
            {
                "type": "object",
                "properties": {
                    "name": STRING,
                    "specifier": STRING,
                    "extras": _array(STRING),
                    "markers": NULLABLE_STRING,
                    "source": STRING,
                },
                "required": ["name", "specifier", "source"],
            }
        ),
        "total_dependencies": INTEGER,
        "unique_packages": INTEGER,
        "counts_by_source": {"type": "object", "additionalProperties": INTEGER},
        "errors": _array(OBJECT),
        "failed_entries": INTEGER,
        "entries_processed": INTEGER,
        "capped": BOOLEAN,
        "max_entries": INTEGER,
    },
    ["project_path", "dependencies", "total_dependencies", "errors"],
)

STATUS = {"type": "string", "enum": ["ok", "degraded"]}

TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="scan_dependencies",
        title="Scan a project's dependencies",
        description="List the dependencies a Python project declares in its pyproject.toml (PEP 621, PEP 735 "
        "dependency groups and Poetry), with their version specifiers. Use it first when helping with a project, "
        "to learn which packages and versions to fetch documentation for. Reads the local file system only.",
        input_schema=_arguments(
            {
                "project_path": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_PATH_CHARS,
                    "description": "Absolute path of the project directory that contains pyproject.toml (the "
                    "directory, not the file), on the machine the server runs on.",
                    "examples": ["/home/me/src/my-app"],
                }
            },
            ("project_path",),
        ),
        output_schema=_answer(SCAN_SUCCESS),
        hints=Hints(read_only=True, idempotent=True, open_world=False),
    ),
    ToolSpec(
        name="get_package_docs",
        title="Get a package's documentation",
        description="Documentation of one PyPI package at the version that matches a constraint: summary, install "
        "line, links and the package's description as markdown (the text content; the structured content has "
        "the resolved version and sizes). Use it when you need the API or usage of a specific package version; "
        "pass `query` to keep only the sections about a topic.",
        input_schema=_arguments(
            {"package_name": PACKAGE_NAME, "version_constraint": VERSION_CONSTRAINT, "query": QUERY},
            ("package_name",),
        ),
        output_schema=_answer(DOCS_SUCCESS),
        hints=Hints(read_only=True, idempotent=True, open_world=True),
    ),
    ToolSpec(
        name="get_package_docs_with_context",
        title="Get a package's documentation with its dependencies",
        description="A package's documentation plus that of its most relevant runtime dependencies (e.g. "
        "FastAPI with Starlette and Pydantic), fitted to a token budget. Use it when answering needs the "
        "libraries a package builds on; use get_package_docs for one package alone.",
        input_schema=_arguments(
            {
                "package_name": PACKAGE_NAME,
                "version_constraint": VERSION_CONSTRAINT,
                "include_dependencies": {
                    "type": "boolean",
                    "default": True,
                    "description": "false returns the primary package only.",
                },
                "context_scope": {
                    "type": "string",
                    "enum": list(SCOPES),
                    "default": "smart",
                    "description": "Which dependencies: 'smart' ranks well-known core libraries first, 'runtime' "
                    "keeps declaration order, 'primary_only' includes none.",
                },
                "max_dependencies": _nullable(
                    {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": MAX_DEPENDENCIES,
                        "description": "At most this many dependencies (default: the server's AUTODOCS_MAX_DEPS, 8).",
                    }
                ),
                "max_tokens": _nullable(
                    {
                        "type": "integer",
                        "minimum": MIN_TOKENS,
                        "maximum": MAX_TOKENS,
                        "description": "Token budget for all documentation together (about 4 characters a token; "
                        "default: the server's AUTODOCS_MAX_TOKENS, 30000). Dependencies that do not fit are "
                        "named in context.truncated_packages.",
                    }
                ),
            },
            ("package_name",),
        ),
        output_schema=_answer(CONTEXT_SUCCESS),
        hints=Hints(read_only=True, idempotent=True, open_world=True),
    ),
    ToolSpec(
        name="refresh_cache",
        title="Clear the documentation cache",
        description="Drop every cached release and listing (memory and disk), so the next calls fetch fresh "
        "metadata from PyPI. Use it only when a release published minutes ago is missing; it makes the next "
        "calls slower.",
        input_schema=_arguments({}),
        output_schema=_answer(_success({"cleared_entries": INTEGER}, ["cleared_entries"])),
        hints=Hints(read_only=False, idempotent=True, open_world=False),
    ),
    ToolSpec(
        name="get_cache_stats",
        title="Cache statistics",
        description="The cache's hits, misses, entries, bytes and limits. Use it to see whether answers come from "
        "the cache or to diagnose slow calls.",
        input_schema=_arguments({}),
        output_schema=_answer(
            _success({"cache": OBJECT, "rendered_memo": OBJECT, "not_found_memo": OBJECT}, ["cache"])
        ),
        hints=Hints(read_only=True, idempotent=True, open_world=False),
    ),
    ToolSpec(
        name="health_check",
        title="Server health",
        description="Whether the server is healthy: the upstream circuit breaker's state, whether the cache is "
        "writable and the connection pool's headroom. Use it when documentation calls fail with upstream errors.",
        input_schema=_arguments({}),
        output_schema=_answer(
            _success(
                {
                    "status": {"type": "string", "enum": ["healthy", "degraded"]},
                    "checks": {
                        "type": "object",
                        "properties": {
                            "upstream_breaker": {
                                "type": "object",
                                "properties": {"status": STATUS, "state": STRING},
                            },
                            "cache": {"type": "object", "properties": {"status": STATUS, "writable": BOOLEAN}},
                            "pool": {"type": "object", "properties": {"status": STATUS, "headroom": INTEGER}},
                        },
                    },
                    "uptime_s": NUMBER,
                },
                ["status", "checks"],
            )
        ),
        hints=Hints(read_only=True, idempotent=True, open_world=False),
    ),
    ToolSpec(
        name="ready_check",
        title="Server readiness",
        description="Whether the server can serve documentation calls right now (false while starting, draining "
        "for a shutdown, or while the upstream circuit is open).",
        input_schema=_arguments({}),
        output_schema=_answer(_success({"ready": BOOLEAN, "draining": BOOLEAN}, ["ready", "draining"])),
        hints=Hints(read_only=True, idempotent=True, open_world=False),
    ),
    ToolSpec(
        name="get_metrics",
        title="Server metrics",
        description="The server's metrics snapshot (calls by tool and outcome, latency histograms, upstream pool, "
        "breaker, limiter and cache figures): the same data GET /metrics renders. For operators, not for "
        "answering questions about packages.",
        input_schema=_arguments({}),
        output_schema=_answer(_success({"metrics": OBJECT}, ["metrics"])),
        hints=Hints(read_only=True, idempotent=True, open_world=False),
    ),
)

SPECS_BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in TOOL_SPECS}

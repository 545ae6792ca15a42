"""Each cached release's documentation as an MCP resource, ``autodocs://{package}/{version}``.

- ``resources/list``: the releases the store holds (memory or disk), ``RESOURCE_PAGE_SIZE`` a page, in release
  order (package name, then PEP 440 version). The cursor names the page's last release, so a page boundary stays
  put while the cache fills or prunes: no release that stays in the cache is listed twice or skipped.
- ``resources/templates/list``: the one template, registered with the SDK as a template resource.
- ``resources/read``: the markdown ``get_package_docs`` answers for that version, through the same
  ``DocsService.package_docs`` call (``==version``): a cached release is served from the cache, a miss is fetched,
  cached and rendered exactly as the tool does. An invalid or unknown package or version is -32602.
- ``completion/complete`` for the template: ``package`` from the cached package names (prefix of the PEP 503
  normalised name), ``version`` from the cached versions of the ``package`` already chosen.

Nothing here changes while a client watches (no subscriptions, no list-changed notifications): a client that
wants a fresh listing asks again.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

import structlog
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    ListResourcesResult,
    PaginatedRequestParams,
    PromptReference,
    Resource,
)

from autodocs_mcp.disk import CacheKey, release_key
from autodocs_mcp.errors import AutoDocsError, ErrorCode, quote_value
from autodocs_mcp.names import (
    MAX_NAME_CHARS,
    MAX_VERSION_CHARS,
    normalize_name,
    validate_exact_version,
    validate_package_name,
)

if TYPE_CHECKING:
    from autodocs_mcp.app import Resources, ServerState

log = structlog.get_logger("autodocs_mcp.resources")

SCHEME = "autodocs://"
URI_TEMPLATE = SCHEME + "{package}/{version}"
MIME_TYPE = "text/markdown"

RESOURCE_PAGE_SIZE = 100
"""Releases per ``resources/list`` page: a page is ~13 KB of JSON and costs one listing of the cache folder plus
one of each package folder it covers (figures in notes/server.md), so a client browsing a cache of 100,000
releases pays per page, not for the whole cache at once."""
COMPLETION_VALUES = 100
"""Values per ``completion/complete`` answer: the most MCP allows (``values`` "must not exceed 100 items");
``hasMore`` says when the cache holds more matches."""
MAX_URI_CHARS = 512
"""The longest URI ``resources/read`` looks at: ``autodocs://``, a name of at most 100 characters, ``/`` and a
version of at most 100, with room for percent-encoding. A longer one names no release here and is refused before
the SDK matches it against the template (the SDK's own bound is 64 KiB)."""
MAX_CURSOR_CHARS = 400
"""A cursor is the base64 of ``package/version`` (at most ~270 characters); a longer one is not ours."""
URI_DATA_LIMIT = 200
"""How much of a refused URI an error's ``data`` carries back (the message quotes at most 80 characters)."""

CALLER_ERRORS = frozenset(
    {
        ErrorCode.INVALID_PACKAGE_NAME,
        ErrorCode.INVALID_VERSION_CONSTRAINT,
        ErrorCode.PACKAGE_NOT_FOUND,
        ErrorCode.VERSION_NOT_FOUND,
    }
)
"""Failures that mean the URI names no release: -32602. Anything else (upstream down, shutting down) is -32603."""

_PARTIAL_NAME = re.compile(r"[a-z0-9-]*", re.ASCII)


class PlainResourceError(MCPError):
    """An error whose message is already plain and bounded; ``lookups`` passes it on as it is."""


def uri_of(key: CacheKey) -> str:
    """Normalised names and versions use only URI-safe characters (``[a-z0-9-]``, ``[0-9a-z.!+]``)."""
    return f"{SCHEME}{key.package}/{key.version}"


def encode_cursor(key: CacheKey) -> str:
    return base64.urlsafe_b64encode(f"{key.package}/{key.version}".encode("ascii")).decode("ascii")


def decode_cursor(cursor: str | None) -> CacheKey | None:
    """The release a page ended with, or -32602 for a cursor this server did not hand out."""
    if cursor is None:
        return None
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        package, version = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii").split("/")
        return release_key(package, version)
    except (ValueError, binascii.Error):
        raise PlainResourceError(
            INVALID_PARAMS, "invalid cursor: pass a nextCursor from resources/list, or none for the first page"
        ) from None


def refused_uri(uri: str) -> PlainResourceError | None:
    """The answer to a URI too long to name a release, before any matching; ``None`` for one worth matching."""
    if len(uri) <= MAX_URI_CHARS:
        return None
    return PlainResourceError(
        INVALID_PARAMS,
        f"unknown resource {quote_value(uri)}: {len(uri)} characters long, and no resource URI here is over "
        f"{MAX_URI_CHARS}",
        data={"uri": uri[:URI_DATA_LIMIT]},
    )


def _read_error(uri: str, package: str, error: AutoDocsError) -> PlainResourceError:
    if error.code in CALLER_ERRORS:
        reason = error.message
        if error.code is ErrorCode.INVALID_PACKAGE_NAME:
            reason = f"{quote_value(package)} is not a PyPI package name"
        log.info("unknown_resource", uri=quote_value(uri), code=error.code.value)
        return PlainResourceError(
            INVALID_PARAMS, f"unknown resource {quote_value(uri)}: {reason}", data={"uri": uri[:URI_DATA_LIMIT]}
        )
    log.warning("resource_read_failed", uri=quote_value(uri), code=error.code.value)
    return PlainResourceError(
        INTERNAL_ERROR,
        f"could not read {quote_value(uri)}: {error.message}",
        data={"uri": uri[:URI_DATA_LIMIT], "code": error.code.value, "retryable": error.retryable},
    )


def _require(state: ServerState) -> Resources:
    try:
        return state.require()
    except AutoDocsError as error:
        raise PlainResourceError(INTERNAL_ERROR, error.message, data={"retryable": error.retryable}) from None


def install_docs_resources(server: MCPServer[Any], state: ServerState) -> None:
    """The template, the paginated listing and completion. MCPServer's own ``resources/list`` ignores the cursor
    and it has no typed seam for completion, so both are registered on the low-level server (public
    ``add_request_handler``), which is also what makes the ``completions`` capability appear."""

    async def read_docs(package: str, version: str, ctx: Context[Any, Any]) -> str:
        sent = ctx.request_context.params.get("uri") if ctx.request_context.params else None
        uri = sent if isinstance(sent, str) else f"{SCHEME}{package}/{version}"  # errors quote the URI as sent
        try:
            name = validate_package_name(package)
            exact = validate_exact_version(version)
            payload = await _require(state).service.package_docs(name, f"=={exact}", None)
        except AutoDocsError as error:
            raise _read_error(uri, package, error) from None
        return str(payload["documentation"])

    async def list_releases(
        _ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams
    ) -> ListResourcesResult:
        after = decode_cursor(params.cursor)
        found = await _require(state).store.releases(RESOURCE_PAGE_SIZE + 1, after=after)
        page = found[:RESOURCE_PAGE_SIZE]
        return ListResourcesResult(
            resources=[
                Resource(
                    uri=uri_of(key),
                    name=f"{key.package}=={key.version}",
                    title=f"{key.package} {key.version} documentation",
                    mime_type=MIME_TYPE,
                )
                for key in page
            ],
            next_cursor=encode_cursor(page[-1]) if len(found) > RESOURCE_PAGE_SIZE else None,
        )

    async def complete(_ctx: ServerRequestContext[Any, Any], params: CompleteRequestParams) -> CompleteResult:
        values, more = await _completions(state, params)
        return CompleteResult(completion=Completion(values=values, has_more=more))

    server.resource(
        URI_TEMPLATE,
        name="package_docs",
        title="Package documentation",
        description=(
            "The rendered documentation of one release of a PyPI package, as get_package_docs gives it for that "
            "version: autodocs://requests/2.32.3. resources/list names the releases already cached; reading any "
            "other release fetches it from PyPI first."
        ),
        mime_type=MIME_TYPE,
    )(read_docs)
    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("resources/list", PaginatedRequestParams, list_releases)
    lowlevel.add_request_handler("completion/complete", CompleteRequestParams, complete)


async def _completions(state: ServerState, params: CompleteRequestParams) -> tuple[list[str], bool]:
    ref, argument = params.ref, params.argument
    if isinstance(ref, PromptReference):
        raise PlainResourceError(INVALID_PARAMS, f"unknown prompt {quote_value(ref.name)}; this server has no prompts")
    if ref.uri != URI_TEMPLATE:
        raise PlainResourceError(
            INVALID_PARAMS, f"unknown resource template {quote_value(ref.uri)}; this server has {URI_TEMPLATE}"
        )
    if argument.name == "package":
        partial = normalize_name(argument.value.strip())
        if len(partial) > MAX_NAME_CHARS or _PARTIAL_NAME.fullmatch(partial) is None:
            return [], False
        found = await _require(state).store.releases(COMPLETION_VALUES + 1, prefix=partial, per_package=1)
        names = [key.package for key in found]
        return names[:COMPLETION_VALUES], len(names) > COMPLETION_VALUES
    if argument.name == "version":
        chosen = (params.context.arguments or {}).get("package") if params.context else None
        partial = argument.value.strip().lower()
        try:
            package = validate_package_name(chosen)
        except AutoDocsError:
            return [], False  # no package chosen yet (or not a name): nothing to offer
        if len(partial) > MAX_VERSION_CHARS or "/" in partial:
            return [], False
        found = await _require(state).store.releases(COMPLETION_VALUES + 1, prefix=f"{package}/{partial}")
        versions = [str(key.version) for key in found]
        return versions[:COMPLETION_VALUES], len(versions) > COMPLETION_VALUES
    raise PlainResourceError(
        INVALID_PARAMS, f"{URI_TEMPLATE} has no argument {quote_value(argument.name)}; complete package or version"
    )

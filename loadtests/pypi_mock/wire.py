"""HTTP/1.1 response bytes: heads, JSON replies and the oversize body, built once and reused where possible."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from http import HTTPStatus

Header = tuple[str, str]

NOT_FOUND_BODY = b'{"message":"Not Found"}'
_OVERSIZE_PREFIX = b'{"padding":"'
_OVERSIZE_SUFFIX = b'"}'
_FILLER = b"x" * (256 * 1024)


def head(status: int, content_type: str, content_length: int, extra: Sequence[Header] = ()) -> bytes:
    """Status line and headers, ending with the blank line."""
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Server: pypi-mock",
        f"Content-Type: {content_type}",
        f"Content-Length: {content_length}",
        *(f"{name}: {value}" for name, value in extra),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response(
    status: int, body: bytes, content_type: str = "application/json", extra: Sequence[Header] = ()
) -> tuple[bytes, int]:
    """A whole response as one buffer, and the length of its head (what HEAD sends)."""
    head_bytes = head(status, content_type, len(body), extra)
    return head_bytes + body, len(head_bytes)


def json_response(status: int, payload: object, extra: Sequence[Header] = ()) -> tuple[bytes, int]:
    return response(status, json.dumps(payload, separators=(",", ":")).encode(), extra=extra)


def with_connection_header(data: bytes, head_len: int, value: bytes) -> tuple[bytes, memoryview]:
    """Split a cached response into a head carrying ``Connection: <value>`` and the untouched body."""
    return data[: head_len - 2] + b"Connection: " + value + b"\r\n\r\n", memoryview(data)[head_len:]


def oversize_body(size: int) -> Iterator[memoryview | bytes]:
    """``size`` bytes of (valid, if read to the end) JSON, as views into one reused chunk: never built whole."""
    framed = size >= len(_OVERSIZE_PREFIX) + len(_OVERSIZE_SUFFIX)
    remaining = size - (len(_OVERSIZE_PREFIX) + len(_OVERSIZE_SUFFIX) if framed else 0)
    if framed:
        yield _OVERSIZE_PREFIX
    filler = memoryview(_FILLER)
    while remaining > 0:
        step = min(remaining, len(_FILLER))
        yield filler[:step]
        remaining -= step
    if framed:
        yield _OVERSIZE_SUFFIX

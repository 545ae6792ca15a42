"""A deliberately hostile package index, run as its own process: ``python hostile_upstream.py --port P``.

The PyPI mock misbehaves in the ways a struggling upstream does (latency, errors, resets). This one misbehaves the
ways a broken or malicious one would: lying headers, wrong JSON types, bodies a parser chokes on, redirect games.
It speaks HTTP/1.1 over raw asyncio streams because a framework would refuse to send most of these answers.

``GET /pypi/<scenario>/json`` (and ``/pypi/<scenario>/<version>/json``) picks the behaviour by project name; names
starting ``many-releases`` get a valid project with 5,000 releases, and any other name that is not a scenario gets
a valid document, so ``ok-*`` names work as a well-behaved upstream.
``GET /_log`` returns ``{"requests": [[monotonic_s, path], ...], "counts": {scenario: n}}`` (bounded), and
``GET /_log/reset`` clears it: the limiter test reads upstream arrival times from here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

MAX_HEADER_BYTES = 65_536
LOG_LIMIT = 200_000
TEN_MB = 10 * 1024 * 1024
FIVE_MB = 5 * 1024 * 1024
DEEP_LEVELS = 100_000

Writer = asyncio.StreamWriter
Handler = Callable[[Writer, str, str], Awaitable[bool]]
"""Writes one answer; returns whether the connection may serve another request."""

requests_log: deque[tuple[float, str]] = deque(maxlen=LOG_LIMIT)
counts: Counter[str] = Counter()


def document(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "name": name,
        "version": "1.0.0",
        "summary": f"{name}: a package served by the hostile upstream",
        "description": f"# {name}\n\nUsage notes.\n",
        "description_content_type": "text/markdown",
        "requires_dist": [],
        "requires_python": ">=3.8",
        "license": "MIT",
    }
    info.update(overrides or {})
    return {"info": info, "releases": {"1.0.0": []}, "urls": [], "last_serial": 1}


def head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(writer: Writer, status: int, body: bytes, extra: list[tuple[str, str]] | None = None) -> bool:
    reason = {200: "OK", 302: "Found", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *(extra or [])]
    writer.write(head(status, reason.get(status, "Whatever"), headers) + body)
    await writer.drain()
    return True


async def send_json(writer: Writer, payload: object) -> bool:
    return await send(writer, 200, json.dumps(payload).encode())


async def ok(writer: Writer, name: str, _path: str) -> bool:
    return await send_json(writer, document(name))


async def wrong_types(writer: Writer, name: str, _path: str) -> bool:
    return await send_json(
        writer,
        document(
            name,
            {
                "summary": 12345,
                "description": ["not", "text"],
                "description_content_type": {"a": 1},
                "requires_dist": "requests>=2",
                "requires_python": 3.11,
                "license": ["MIT"],
                "author": {"name": "x"},
                "keywords": 42,
                "classifiers": {"Framework": "Django"},
                "project_urls": ["http://a", "http://b"],
                "home_page": 7,
            },
        ),
    )


async def bad_name_type(writer: Writer, name: str, _path: str) -> bool:
    return await send_json(writer, document(name, {"name": 123}))


async def bad_version_type(writer: Writer, name: str, _path: str) -> bool:
    return await send_json(writer, document(name, {"version": {"major": 1}}))


async def info_is_a_list(writer: Writer, _name: str, _path: str) -> bool:
    return await send_json(writer, {"info": ["name", "version"], "releases": {}})


async def top_level_array(writer: Writer, _name: str, _path: str) -> bool:
    return await send_json(writer, [1, 2, 3])


def absurd_requirements() -> list[Any]:
    entries: list[Any] = [
        "x" * 1_000_000,
        "evil\x00name>=1",
        "../../../../etc/passwd",
        "/etc/passwd",
        "name>=1,<2\nInjected: header",
        ["nested", ["list"]],
        {"name": "object"},
        12345,
        None,
        "ok-dep-a>=0.1",
        "ok-dep-b[" + ",".join(f"extra{i}" for i in range(150)) + "]",
        "ok-dep-c; " + "(" * 300 + 'python_version > "3"' + ")" * 300,
        "ok-dep-d" + ",".join(f">={i}.0" for i in range(150)),
        "absurd-requires>=1",
    ]
    entries += [f"ok-filler-{i}>=1.0" for i in range(20_000)]
    return entries


async def absurd_requires(writer: Writer, name: str, _path: str) -> bool:
    return await send_json(writer, document(name, {"requires_dist": absurd_requirements()}))


async def huge_description(writer: Writer, name: str, _path: str) -> bool:
    return await send_json(writer, document(name, {"description": "A" * TEN_MB}))


async def big_description(writer: Writer, name: str, _path: str) -> bool:
    return await send_json(writer, document(name, {"description": "B" * FIVE_MB}))


async def non_utf8(writer: Writer, _name: str, _path: str) -> bool:
    body = b'{"info": {"name": "non-utf8", "version": "1.0.0", "summary": "\xff\xfe\xc3\x28 bad bytes"}}'
    return await send(writer, 200, body)


async def deep_nesting(writer: Writer, _name: str, _path: str) -> bool:
    body = b'{"info": ' + b"[" * DEEP_LEVELS + b"]" * DEEP_LEVELS + b"}"
    return await send(writer, 200, body)


async def deep_objects(writer: Writer, _name: str, _path: str) -> bool:
    body = b'{"info": ' + b'{"a": ' * DEEP_LEVELS + b"1" + b"}" * DEEP_LEVELS + b"}"
    return await send(writer, 200, body)


async def redirect_loop(writer: Writer, _name: str, path: str) -> bool:
    return await send(writer, 302, b"", [("Location", path)])


async def redirect_away(writer: Writer, _name: str, path: str) -> bool:
    return await send(writer, 302, b"", [("Location", f"http://evil.example{path}")])


async def redirect_unparseable(writer: Writer, _name: str, _path: str) -> bool:
    return await send(writer, 302, b"", [("Location", "http://[::1/pypi/x/json")])


async def redirect_bad_port(writer: Writer, _name: str, _path: str) -> bool:
    return await send(writer, 302, b"", [("Location", "http://127.0.0.1:99999/pypi/x/json")])


async def body_ends_early(writer: Writer, name: str, _path: str) -> bool:
    body = json.dumps(document(name)).encode()
    writer.write(head(200, "OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body) + 5000))]))
    writer.write(body)
    await writer.drain()
    return False


async def length_too_short(writer: Writer, name: str, _path: str) -> bool:
    """Declares fewer bytes than it sends; the rest would be read as the next response on a reused connection."""
    body = json.dumps(document(name)).encode()
    writer.write(head(200, "OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body) // 2))]))
    writer.write(body + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    await writer.drain()
    return True


async def length_huge(writer: Writer, _name: str, _path: str) -> bool:
    writer.write(head(200, "OK", [("Content-Type", "application/json"), ("Content-Length", str(10**12))]))
    writer.write(b'{"info": {}}')
    await writer.drain()
    return False


async def length_garbage(writer: Writer, _name: str, _path: str) -> bool:
    writer.write(head(200, "OK", [("Content-Type", "application/json"), ("Content-Length", "twelve")]))
    writer.write(b'{"info": {}}')
    await writer.drain()
    return False


async def header_flood(writer: Writer, _name: str, _path: str) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    for i in range(20_000):
        writer.write(f"X-Flood-{i}: {'v' * 40}\r\n".encode())
        if i % 500 == 0:
            await writer.drain()
    writer.write(b"\r\n")
    await writer.drain()
    return False


async def endless_body(writer: Writer, _name: str, _path: str) -> bool:
    writer.write(head(200, "OK", [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]))
    chunk = b" " * 65_536
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    for _ in range(4_096):  # 256 MiB at most: far past any sane cap, and still a bounded helper
        writer.write(framed)
        await writer.drain()
    return False


MANY_RELEASES = 5_000


async def many_releases(writer: Writer, name: str, _path: str) -> bool:
    """A project with 5,000 releases: a big index to parse and to remember (the server examines up to 10,000)."""
    payload = document(name)
    payload["releases"] = {f"{i // 1000}.{i // 10 % 100}.{i % 10}": [] for i in range(MANY_RELEASES)}
    payload["info"]["version"] = "9.99.9"
    return await send_json(writer, payload)


async def status_999(writer: Writer, _name: str, _path: str) -> bool:
    return await send(writer, 999, b"{}")


def retry_after(value: str, status: int = 503) -> Handler:
    async def handler(writer: Writer, _name: str, _path: str) -> bool:
        return await send(writer, status, b'{"message": "later"}', [("Retry-After", value)])

    return handler


SCENARIOS: dict[str, Handler] = {
    "wrong-types": wrong_types,
    "bad-name-type": bad_name_type,
    "bad-version-type": bad_version_type,
    "info-is-a-list": info_is_a_list,
    "top-level-array": top_level_array,
    "absurd-requires": absurd_requires,
    "huge-description": huge_description,
    "big-description": big_description,
    "non-utf8": non_utf8,
    "deep-nesting": deep_nesting,
    "deep-objects": deep_objects,
    "redirect-loop": redirect_loop,
    "redirect-away": redirect_away,
    "redirect-unparseable": redirect_unparseable,
    "redirect-bad-port": redirect_bad_port,
    "body-ends-early": body_ends_early,
    "length-too-short": length_too_short,
    "length-huge": length_huge,
    "length-garbage": length_garbage,
    "header-flood": header_flood,
    "endless-body": endless_body,
    "status-999": status_999,
    "retry-after-huge": retry_after("999999999999"),
    "retry-after-negative": retry_after("-5", status=429),
    "retry-after-future-date": retry_after(formatdate(time.time() + 3600, usegmt=True)),
    "retry-after-past-date": retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
    "retry-after-garbage": retry_after("soon, maybe"),
}


async def admin(writer: Writer, path: str) -> bool:
    if path == "/_log/reset":
        requests_log.clear()
        counts.clear()
        return await send_json(writer, {"reset": True})
    return await send_json(writer, {"requests": list(requests_log), "counts": dict(counts)})


async def read_head(reader: asyncio.StreamReader) -> str | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    request_line = raw.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    return parts[1] if len(parts) == 3 else None


async def serve_connection(reader: asyncio.StreamReader, writer: Writer) -> None:
    try:
        while (path := await read_head(reader)) is not None:
            if path.startswith("/_log"):
                keep = await admin(writer, path)
            else:
                segments = [s for s in path.split("?", 1)[0].split("/") if s]
                name = segments[1] if len(segments) >= 3 and segments[0] == "pypi" else "unknown"
                requests_log.append((time.monotonic(), path))
                handler = SCENARIOS.get(name) or (many_releases if name.startswith("many-releases") else ok)
                counts[name if name in SCENARIOS else handler.__name__] += 1
                keep = await handler(writer, name, path)
            if not keep:
                break
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def main(port: int) -> None:
    server = await asyncio.start_server(serve_connection, "127.0.0.1", port, limit=MAX_HEADER_BYTES)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))

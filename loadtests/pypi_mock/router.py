"""Map a ``/pypi/...`` request target to a cached, ready-to-send response."""

from __future__ import annotations

from urllib.parse import unquote

from pypi_mock import data, wire
from pypi_mock.cache import CachedResponse, ResponseCache
from pypi_mock.names import normalize

_NOT_FOUND = wire.response(404, wire.NOT_FOUND_BODY)


def lookup(cache: ResponseCache, target: bytes) -> CachedResponse:
    """The response for a ``/pypi/`` target; built on a miss, then kept in the LRU under the raw target."""
    entry = cache.get(target)
    if entry is None:
        entry = build(target)
        cache.put(target, entry)
    return entry


def build(target: bytes) -> CachedResponse:
    path = unquote(target.split(b"?", 1)[0].decode("latin-1"))
    parts = path.split("/")
    # "/pypi/<name>/json" → ["", "pypi", name, "json"]; with a version, one more part before "json".
    if len(parts) not in (4, 5) or parts[1] != "pypi" or parts[-1] != "json":
        return _not_found(parts[2] if len(parts) > 2 else "")
    name = parts[2]
    project = data.build_project(name)
    if project is None:
        return _not_found(name)
    extra = [("X-PyPI-Last-Serial", str(project.last_serial))]
    if len(parts) == 4:
        body, head_len = wire.response(200, data.encode(data.project_document(project)), extra=extra)
        return CachedResponse("project", project.name, body, head_len)
    document = data.version_document(project, parts[3])
    if document is None:
        return _not_found(name)
    body, head_len = wire.response(200, data.encode(document), extra=extra)
    return CachedResponse("version", project.name, body, head_len)


def _not_found(name: str) -> CachedResponse:
    return CachedResponse("not_found", normalize(name), _NOT_FOUND[0], _NOT_FOUND[1])

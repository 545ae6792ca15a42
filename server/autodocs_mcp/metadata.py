"""Validation of upstream PyPI JSON, which we treat as hostile input.

Only ``info.name`` and ``info.version`` are essential: when they are unusable the whole response is an
``UPSTREAM_INVALID_RESPONSE``. Every other field is coerced or dropped on its own, so one odd field in a real
package's metadata never costs the user the whole page. Every string is length-capped and stripped of control
characters (newlines and tabs survive in the description only), every list is count-capped, and every URL must be
http(s): what leaves this module is safe to cache, to render as markdown and to hand to a model.

Versions decision (``parse_project_index``): a release is offered when its key is a valid PEP 440 version and it
has at least one non-yanked file *or no files listed at all* (a registry or mirror that omits file lists must still
be usable). Releases whose files are all yanked are kept apart in ``yanked`` so that an exact ``==`` pin can still
reach them (PEP 592). Invalid version keys are ignored. When ``releases`` is missing, malformed or empty, the index
falls back to ``info.version`` alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from packaging.version import InvalidVersion, Version

from autodocs_mcp.errors import AutoDocsError, ErrorCode, quote_value, type_name
from autodocs_mcp.names import PACKAGE_NAME_RE, normalize_name

CACHE_FORMAT = 1
"""Bumped whenever the cached dict shape changes, so stale cache entries read as misses, not as garbage."""

MAX_NAME_CHARS = 100
MAX_VERSION_CHARS = 64
MAX_SUMMARY_CHARS = 500
MAX_CONTENT_TYPE_CHARS = 100
MAX_URL_CHARS = 2_000
MAX_URL_LABEL_CHARS = 100
MAX_PROJECT_URLS = 50
MAX_REQUIREMENT_CHARS = 1_000
MAX_REQUIREMENTS = 500
MAX_REQUIRES_PYTHON_CHARS = 200
MAX_LICENSE_CHARS = 200
MAX_AUTHOR_CHARS = 200
MAX_KEYWORD_CHARS = 100
MAX_KEYWORDS = 50
MAX_CLASSIFIER_CHARS = 200
MAX_CLASSIFIERS = 200
MAX_RELEASES = 10_000
"""Release keys examined per project; the largest real projects have a few thousand."""

_ELLIPSIS = "…"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_SINGLE_LINE_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\s]+")
_KEYWORD_SPLIT_RE = re.compile(r"[,\s]+")
_ANY_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class CacheFormatError(ValueError):
    """A cached dict could not be turned back into a model; the cache should treat it as a miss."""


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def _single_line(value: object, limit: int) -> str | None:
    """A capped one-line string, or None when the value is not a usable string.

    The input is cut before cleaning so a hostile multi-megabyte field costs no more than ``limit`` work.
    """
    if not isinstance(value, str):
        return None
    cleaned = _SINGLE_LINE_RE.sub(" ", value[: limit * 4]).strip()
    return _cap(cleaned, limit) if cleaned else None


def _multi_line(value: object, limit: int) -> tuple[str, bool]:
    """A capped multi-line text with control characters removed, and whether it was cut."""
    if not isinstance(value, str):
        return "", False
    truncated = len(value) > limit
    text = value[:limit] if truncated else value
    text = _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text, truncated


def _http_url(value: object) -> str | None:
    url = _single_line(value, MAX_URL_CHARS + 1)
    if url is None or len(url) > MAX_URL_CHARS or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _string_list(value: object, *, max_items: int, max_chars: int) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    items: list[str] = []
    for raw in value[: max_items * 2]:
        item = _single_line(raw, max_chars)
        if item is not None:
            items.append(item)
            if len(items) == max_items:
                break
    return tuple(items)


def _requirements(value: object) -> tuple[str, ...]:
    """Requirement strings, dropping anything that is not a reasonably sized string.

    Over-long entries and entries holding control characters are dropped rather than cut or cleaned: an edited
    requirement is a different, wrong requirement.
    """
    if not isinstance(value, list | tuple):
        return ()
    items: list[str] = []
    for raw in value[: MAX_REQUIREMENTS * 2]:
        if not isinstance(raw, str) or len(raw) > MAX_REQUIREMENT_CHARS or _ANY_CONTROL_RE.search(raw):
            continue
        item = _single_line(raw, MAX_REQUIREMENT_CHARS)
        if item is not None:
            items.append(item)
            if len(items) == MAX_REQUIREMENTS:
                break
    return tuple(items)


def _keywords(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = _KEYWORD_SPLIT_RE.split(value[: MAX_KEYWORDS * MAX_KEYWORD_CHARS])
    return tuple(k for k in _string_list(value, max_items=MAX_KEYWORDS, max_chars=MAX_KEYWORD_CHARS) if k)


def _project_urls(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    urls: dict[str, str] = {}
    for raw_label, raw_url in islice(value.items(), MAX_PROJECT_URLS * 2):
        label = _single_line(raw_label, MAX_URL_LABEL_CHARS)
        url = _http_url(raw_url)
        if label is not None and url is not None and label not in urls:
            urls[label] = url
            if len(urls) == MAX_PROJECT_URLS:
                break
    return urls


def _invalid(message: str, **details: Any) -> AutoDocsError:
    return AutoDocsError(
        ErrorCode.UPSTREAM_INVALID_RESPONSE,
        message,
        suggestion="The package index returned unusable metadata; try again later or another version.",
        retryable=True,
        details=details or None,
    )


def _info(payload: object) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise _invalid(f"PyPI response is not a JSON object (got {type_name(payload)}).")
    info = payload.get("info")
    if not isinstance(info, Mapping):
        raise _invalid(f"PyPI response has no usable 'info' object (got {type_name(info)}).")
    return info


def _essential_name(info: Mapping[str, Any]) -> str:
    name = info.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME_CHARS:
        raise _invalid(f"PyPI response has no usable info.name (got {quote_value(name)}).")
    name = name.strip()
    if PACKAGE_NAME_RE.fullmatch(name) is None:
        raise _invalid(f"PyPI response has an invalid info.name {quote_value(name)}.")
    return name


def _essential_version(info: Mapping[str, Any]) -> str:
    version = info.get("version")
    if isinstance(version, str) and 0 < len(version.strip()) <= MAX_VERSION_CHARS:
        version = version.strip()
        try:
            Version(version)
        except InvalidVersion:
            pass
        else:
            return version
    raise _invalid(f"PyPI response has no usable info.version (got {quote_value(version)}).")


def _release_state(files: object) -> str:
    """Classify one ``releases`` entry as "available", "yanked" or "invalid"."""
    if not isinstance(files, list):
        return "invalid"
    if not files:
        return "available"
    for item in files:
        if isinstance(item, Mapping) and item.get("yanked") is not True:
            return "available"
    if all(isinstance(item, Mapping) for item in files):
        return "yanked"
    return "invalid"


@dataclass(frozen=True)
class ProjectIndex:
    """What ``/pypi/<name>/json`` says about a project: its canonical name, offered versions and latest.

    ``versions`` and ``yanked`` are sorted ascending by PEP 440 order and deduplicated by version equality,
    keeping the upstream spelling (which is what the per-version URL needs).
    """

    name: str
    latest: str
    versions: tuple[str, ...]
    yanked: tuple[str, ...] = ()

    @cached_property
    def parsed_versions(self) -> tuple[tuple[Version, str], ...]:
        return tuple((Version(v), v) for v in self.versions)

    def to_cache_dict(self) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "name": self.name,
            "latest": self.latest,
            "versions": list(self.versions),
            "yanked": list(self.yanked),
        }

    @classmethod
    def from_cache_dict(cls, data: object) -> ProjectIndex:
        if not isinstance(data, Mapping) or data.get("format") != CACHE_FORMAT:
            raise CacheFormatError("not a cached project index of the current format")
        fields = (data.get("name"), data.get("latest"), data.get("versions"), data.get("yanked"))
        name, latest, versions, yanked = fields
        if not (isinstance(name, str) and isinstance(latest, str)):
            raise CacheFormatError("cached project index lacks name or latest")
        if not (isinstance(versions, list) and isinstance(yanked, list)):
            raise CacheFormatError("cached project index lacks version lists")
        try:
            Version(latest)
            return cls(
                name=name,
                latest=latest,
                versions=_sorted_versions(versions),
                yanked=_sorted_versions(yanked),
            )
        except InvalidVersion as exc:
            raise CacheFormatError("cached project index holds an invalid version") from exc


def _sorted_versions(keys: list[Any]) -> tuple[str, ...]:
    """Sort and deduplicate version strings; raise InvalidVersion on anything unparseable."""
    seen: dict[Version, str] = {}
    for key in keys:
        if not isinstance(key, str):
            raise InvalidVersion(repr(type(key)))
        seen.setdefault(Version(key), key)
    return tuple(seen[v] for v in sorted(seen))


def parse_project_index(payload: object, requested: str) -> ProjectIndex:
    """Validate a project-level JSON document fetched for the (normalised) name ``requested``."""
    info = _info(payload)
    name = _essential_name(info)
    if normalize_name(name) != normalize_name(requested):
        raise _invalid(
            f"PyPI answered for {quote_value(name)} when {quote_value(requested)} was requested.",
            requested=requested,
        )
    latest = _essential_version(info)
    releases = payload.get("releases") if isinstance(payload, Mapping) else None
    available: dict[Version, str] = {}
    yanked: dict[Version, str] = {}
    if isinstance(releases, Mapping):
        for index, (key, files) in enumerate(releases.items()):
            if index >= MAX_RELEASES:
                break
            if not isinstance(key, str) or len(key) > MAX_VERSION_CHARS:
                continue
            try:
                version = Version(key)
            except InvalidVersion:
                continue
            state = _release_state(files)
            if state == "available":
                available.setdefault(version, key)
            elif state == "yanked":
                yanked.setdefault(version, key)
    if not available and not yanked:
        available[Version(latest)] = latest
    for version in available:
        yanked.pop(version, None)
    return ProjectIndex(
        name=name,
        latest=latest,
        versions=tuple(available[v] for v in sorted(available)),
        yanked=tuple(yanked[v] for v in sorted(yanked)),
    )


@dataclass(frozen=True)
class PackageMetadata:
    """The validated, capped metadata of one release: everything the docs renderer and resolver need."""

    name: str
    version: str
    summary: str | None = None
    description: str = ""
    description_truncated: bool = False
    description_content_type: str | None = None
    home_page: str | None = None
    project_urls: dict[str, str] = field(default_factory=dict)
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    license: str | None = None
    author: str | None = None
    keywords: tuple[str, ...] = ()
    classifiers: tuple[str, ...] = ()

    def to_cache_dict(self) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "name": self.name,
            "version": self.version,
            "summary": self.summary,
            "description": self.description,
            "description_truncated": self.description_truncated,
            "description_content_type": self.description_content_type,
            "home_page": self.home_page,
            "project_urls": dict(self.project_urls),
            "requires_dist": list(self.requires_dist),
            "requires_python": self.requires_python,
            "license": self.license,
            "author": self.author,
            "keywords": list(self.keywords),
            "classifiers": list(self.classifiers),
        }

    @classmethod
    def from_cache_dict(cls, data: object) -> PackageMetadata:
        """Rebuild from ``to_cache_dict`` output, re-validating it because a cache file is only bytes on disk."""
        if not isinstance(data, Mapping) or data.get("format") != CACHE_FORMAT:
            raise CacheFormatError("not cached package metadata of the current format")
        description = data.get("description")
        limit = len(description) if isinstance(description, str) else 0
        try:
            meta = _build(data, max_description_chars=limit)
        except AutoDocsError as exc:
            raise CacheFormatError(exc.message) from exc
        return replace(meta, description_truncated=data.get("description_truncated") is True)


def _build(info: Mapping[str, Any], *, max_description_chars: int) -> PackageMetadata:
    description, truncated = _multi_line(info.get("description"), max(0, max_description_chars))
    license_text = _single_line(info.get("license"), MAX_LICENSE_CHARS) or _single_line(
        info.get("license_expression"), MAX_LICENSE_CHARS
    )
    return PackageMetadata(
        name=_essential_name(info),
        version=_essential_version(info),
        summary=_single_line(info.get("summary"), MAX_SUMMARY_CHARS),
        description=description,
        description_truncated=truncated,
        description_content_type=_single_line(info.get("description_content_type"), MAX_CONTENT_TYPE_CHARS),
        home_page=_http_url(info.get("home_page")),
        project_urls=_project_urls(info.get("project_urls")),
        requires_dist=_requirements(info.get("requires_dist")),
        requires_python=_single_line(info.get("requires_python"), MAX_REQUIRES_PYTHON_CHARS),
        license=license_text,
        author=_single_line(info.get("author"), MAX_AUTHOR_CHARS),
        keywords=_keywords(info.get("keywords")),
        classifiers=_string_list(info.get("classifiers"), max_items=MAX_CLASSIFIERS, max_chars=MAX_CLASSIFIER_CHARS),
    )


def parse_release(payload: object, *, max_description_chars: int) -> PackageMetadata:
    """Validate a release-level JSON document (``/pypi/<name>/<version>/json``)."""
    return _build(_info(payload), max_description_chars=max_description_chars)

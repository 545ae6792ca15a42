"""Synthetic, deterministic PyPI JSON documents in the real API's shape.

Every value comes from a ``random.Random`` seeded by a hash of the normalised name, so one name gives a
byte-identical body in every process and on every run, and any valid name "exists". Well-known names take their
versions, summary and dependency edges from :mod:`pypi_mock.catalog`; the prose stays synthetic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from pypi_mock import text
from pypi_mock.catalog import COMMON_DEPENDENCIES, WELL_KNOWN, KnownProject
from pypi_mock.names import exists, normalize

JsonObject = dict[str, Any]

_EPOCH = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
_LICENSE_CLASSIFIERS = {
    "MIT": "License :: OSI Approved :: MIT License",
    "Apache-2.0": "License :: OSI Approved :: Apache Software License",
    "BSD-3-Clause": "License :: OSI Approved :: BSD License",
    "BSD-2-Clause": "License :: OSI Approved :: BSD License",
}
_GENERIC_LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause")
_PYTHON_MINORS = (8, 9, 10, 11, 12, 13)
_EXTRA_TEMPLATES = (
    ("test", ("pytest>=7.0", "pluggy>=1.3")),
    ("cli", ("click>=8.0", "rich>=13.0")),
    ("http", ("httpx>=0.24", "h11>=0.13")),
    ("yaml", ("pyyaml>=6.0",)),
)
_MARKERS = ('python_version < "3.11"', 'sys_platform == "win32"', 'platform_python_implementation == "CPython"')


@dataclass(frozen=True, slots=True)
class Project:
    """One project's full data; documents for the project and version endpoints are cut from it."""

    name: str
    """The normalised name."""
    info: JsonObject
    """``info`` for the latest stable version."""
    releases: dict[str, list[JsonObject]]
    """Version → files, oldest first; pre-releases included."""
    yanked: dict[str, str]
    """Yanked version → reason."""
    last_serial: int


def _seeded(name: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"))


def _generic_versions(rng: random.Random) -> list[str]:
    major, minor, patch = rng.choice((0, 0, 1, 1, 2, 3, 4)), rng.randint(0, 9), 0
    versions = [f"{major}.{minor}.{patch}"]
    for _ in range(rng.randint(4, 9)):
        roll = rng.random()
        if roll < 0.6:
            patch += 1
        elif roll < 0.9:
            minor, patch = minor + 1, 0
        else:
            major, minor, patch = major + 1, 0, 0
        versions.append(f"{major}.{minor}.{patch}")
    return versions


def _prerelease_after(latest: str) -> str:
    parts = Version(latest).release
    major = parts[0]
    minor = parts[1] if len(parts) > 1 else 0
    return f"{major}.{minor + 1}.0rc1"


def _generic_requires(rng: random.Random) -> list[str]:
    requires = []
    for spec in rng.sample(COMMON_DEPENDENCIES, rng.randint(0, 3)):
        if rng.random() < 0.3:
            spec = f"{spec}; {rng.choice(_MARKERS)}"
        requires.append(spec)
    for extra, specs in rng.sample(_EXTRA_TEMPLATES, rng.randint(0, 2)):
        requires += [f'{spec}; extra == "{extra}"' for spec in specs]
    return requires


def _extras(requires_dist: list[str]) -> list[str]:
    found: list[str] = []
    for requirement in requires_dist:
        marker = requirement.partition(";")[2]
        if 'extra == "' in marker:
            extra = marker.split('extra == "', 1)[1].split('"', 1)[0]
            if extra not in found:
                found.append(extra)
    return found


def _classifiers(requires_python: str, license_name: str, rng: random.Random) -> list[str]:
    floor = 8
    if requires_python.startswith(">=3."):
        floor = int(requires_python[4:].split(".")[0].split(",")[0])
    classifiers = [
        "Development Status :: " + rng.choice(("4 - Beta", "5 - Production/Stable")),
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Programming Language :: Python",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: Software Development :: Libraries :: Python Modules",
        "Typing :: Typed",
    ]
    classifiers += [f"Programming Language :: Python :: 3.{minor}" for minor in _PYTHON_MINORS if minor >= floor]
    if license_name in _LICENSE_CLASSIFIERS:
        classifiers.append(_LICENSE_CLASSIFIERS[license_name])
    return sorted(classifiers)


def _file_entry(
    name: str,
    version: str,
    *,
    sdist: bool,
    uploaded: dt.datetime,
    size: int,
    requires_python: str,
    yanked_reason: str | None,
) -> JsonObject:
    dist = name.replace("-", "_")
    filename = f"{dist}-{version}.tar.gz" if sdist else f"{dist}-{version}-py3-none-any.whl"
    seed = f"{name}/{filename}".encode()
    blake = hashlib.blake2b(seed, digest_size=32).hexdigest()
    md5 = hashlib.md5(seed, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(seed).hexdigest()
    return {
        "comment_text": "",
        "digests": {"blake2b_256": blake, "md5": md5, "sha256": sha256},
        "downloads": -1,
        "filename": filename,
        "has_sig": False,
        "md5_digest": md5,
        "packagetype": "sdist" if sdist else "bdist_wheel",
        "python_version": "source" if sdist else "py3",
        "requires_python": requires_python or None,
        "size": size,
        "upload_time": uploaded.strftime("%Y-%m-%dT%H:%M:%S"),
        "upload_time_iso_8601": uploaded.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "url": f"https://files.pythonhosted.org/packages/{blake[:2]}/{blake[2:4]}/{blake[4:]}/{filename}",
        "yanked": yanked_reason is not None,
        "yanked_reason": yanked_reason,
    }


def _release_dates(rng: random.Random, count: int) -> list[dt.datetime]:
    moment = _EPOCH + dt.timedelta(days=rng.randint(0, 900))
    dates = []
    for _ in range(count):
        moment += dt.timedelta(
            days=rng.randint(7, 150), seconds=rng.randint(0, 86_399), microseconds=rng.randint(0, 999_999)
        )
        dates.append(moment)
    return dates


def build_project(name: str) -> Project | None:
    """The project behind ``name`` (any spelling), or None when the index would answer 404."""
    if not exists(name):
        return None
    key = normalize(name)
    rng = _seeded(key)
    known: KnownProject | None = WELL_KNOWN.get(key)
    if known is not None:
        display, summary, stable = known.display_name, known.summary, list(known.versions)
        requires_python, license_name = known.requires_python, known.license
        requires_dist, repository = list(known.requires_dist), known.repository
    else:
        display, summary, stable = key, text.summary(rng), _generic_versions(rng)
        requires_python = f">={rng.choice(('3.8', '3.9', '3.10'))}"
        license_name = rng.choice(_GENERIC_LICENSES)
        requires_dist, repository = _generic_requires(rng), f"example-org/{key}"
    prerelease = _prerelease_after(stable[-1])
    versions = [*stable, prerelease]
    yanked: dict[str, str] = {}
    if len(stable) >= 2:
        yanked[stable[rng.randint(0, len(stable) - 2)]] = "Broken build; use a later release"
    dates = _release_dates(rng, len(versions))
    releases: dict[str, list[JsonObject]] = {}
    for version, uploaded in zip(versions, dates, strict=True):
        reason = yanked.get(version)
        wheel_size = rng.randint(8_000, 900_000)
        releases[version] = [
            _file_entry(
                key,
                version,
                sdist=False,
                uploaded=uploaded,
                size=wheel_size,
                requires_python=requires_python,
                yanked_reason=reason,
            ),
            _file_entry(
                key,
                version,
                sdist=True,
                uploaded=uploaded + dt.timedelta(seconds=rng.randint(1, 90)),
                size=int(wheel_size * rng.uniform(0.8, 3.0)),
                requires_python=requires_python,
                yanked_reason=reason,
            ),
        ]
    extras = _extras(requires_dist)
    author, author_email = text.person(rng)
    changelog = [(v, d.strftime("%Y-%m-%d")) for v, d in zip(reversed(versions), reversed(dates), strict=True)]
    description = text.description(
        rng,
        display_name=display,
        summary_line=summary,
        requires_python=requires_python,
        extras=extras,
        license_name=license_name,
        changelog=changelog,
    )
    github = f"https://github.com/{repository}"
    latest = stable[-1]
    info: JsonObject = {
        "author": author,
        "author_email": author_email,
        "bugtrack_url": None,
        "classifiers": _classifiers(requires_python, license_name, rng),
        "description": description,
        "description_content_type": "text/markdown",
        "docs_url": None,
        "download_url": "",
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        "dynamic": None,
        "home_page": github,
        "keywords": ", ".join(sorted(set(rng.choices(text.WORDS[:120], k=rng.randint(2, 6))))),
        "license": license_name,
        "license_expression": license_name,
        "license_files": None,
        "maintainer": "",
        "maintainer_email": "",
        "name": display,
        "package_url": f"https://pypi.org/project/{display}/",
        "platform": None,
        "project_url": f"https://pypi.org/project/{display}/",
        "project_urls": {
            "Changelog": f"{github}/releases",
            "Documentation": f"https://{key}.readthedocs.io/",
            "Homepage": github,
            "Issues": f"{github}/issues",
            "Source": github,
        },
        "provides_extra": extras or None,
        "release_url": f"https://pypi.org/project/{display}/{latest}/",
        "requires_dist": requires_dist or None,
        "requires_python": requires_python or None,
        "summary": summary,
        "version": latest,
        "yanked": False,
        "yanked_reason": None,
    }
    return Project(
        name=key, info=info, releases=releases, yanked=yanked, last_serial=rng.randint(10_000_000, 26_000_000)
    )


def find_version(project: Project, requested: str) -> str | None:
    """The release matching ``requested`` exactly or by PEP 440 equality (``2.1.0-RC1`` is ``2.1.0rc1``)."""
    if requested in project.releases:
        return requested
    try:
        wanted = Version(requested)
    except InvalidVersion:
        return None
    for version in project.releases:
        if Version(version) == wanted:
            return version
    return None


def project_document(project: Project) -> JsonObject:
    """The body of ``GET /pypi/<name>/json``."""
    return {
        "info": project.info,
        "last_serial": project.last_serial,
        "releases": project.releases,
        "urls": project.releases[project.info["version"]],
        "vulnerabilities": [],
    }


def version_document(project: Project, version: str) -> JsonObject | None:
    """The body of ``GET /pypi/<name>/<version>/json`` (no ``releases``, as on PyPI), or None if unknown."""
    found = find_version(project, version)
    if found is None:
        return None
    reason = project.yanked.get(found)
    info = dict(project.info)
    info["version"] = found
    info["release_url"] = f"https://pypi.org/project/{info['name']}/{found}/"
    info["yanked"] = reason is not None
    info["yanked_reason"] = reason
    return {
        "info": info,
        "last_serial": project.last_serial,
        "urls": project.releases[found],
        "vulnerabilities": [],
    }


def encode(document: JsonObject) -> bytes:
    """Compact, key-order-preserving JSON, so the same document is always the same bytes."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def project_json(name: str) -> bytes | None:
    project = build_project(name)
    return None if project is None else encode(project_document(project))


def version_json(name: str, version: str) -> bytes | None:
    project = build_project(name)
    if project is None:
        return None
    document = version_document(project, version)
    return None if document is None else encode(document)

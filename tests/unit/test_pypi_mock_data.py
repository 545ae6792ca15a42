from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from pypi_mock import data
from pypi_mock.catalog import WELL_KNOWN
from pypi_mock.names import normalize

INFO_KEYS = {
    "author", "author_email", "bugtrack_url", "classifiers", "description", "description_content_type",
    "docs_url", "download_url", "downloads", "dynamic", "home_page", "keywords", "license", "license_expression",
    "license_files", "maintainer", "maintainer_email", "name", "package_url", "platform", "project_url",
    "project_urls", "provides_extra", "release_url", "requires_dist", "requires_python", "summary", "version",
    "yanked", "yanked_reason",
}  # fmt: skip
FILE_KEYS = {
    "comment_text", "digests", "downloads", "filename", "has_sig", "md5_digest", "packagetype", "python_version",
    "requires_python", "size", "upload_time", "upload_time_iso_8601", "url", "yanked", "yanked_reason",
}  # fmt: skip
ISSUE_WELL_KNOWN = (
    "fastapi django flask requests pydantic pydantic-core httpx starlette numpy pandas uvicorn click jinja2 "
    "werkzeug anyio sniffio idna certifi urllib3 charset-normalizer typing-extensions annotated-types h11 "
    "httpcore sqlalchemy python-dateutil pytz six"
).split()
SAMPLE_NAMES = ["fastapi", "numpy", "socksio", "made-up-package", "x", "Some.Odd_Name"]


def _project(name: str) -> data.Project:
    project = data.build_project(name)
    assert project is not None
    return project


def _document(name: str) -> dict[str, object]:
    body = data.project_json(name)
    assert body is not None
    document: dict[str, object] = json.loads(body)
    return document


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_project_document_has_the_pypi_shape(name: str) -> None:
    document = _document(name)
    assert set(document) == {"info", "last_serial", "releases", "urls", "vulnerabilities"}
    info = document["info"]
    assert isinstance(info, dict)
    assert set(info) == INFO_KEYS
    assert info["description_content_type"] == "text/markdown"
    assert info["yanked"] is False
    assert isinstance(info["classifiers"], list) and info["classifiers"]
    assert set(info["project_urls"]) >= {"Homepage", "Documentation", "Source"}
    assert info["package_url"] == info["project_url"] == f"https://pypi.org/project/{info['name']}/"
    assert info["release_url"] == f"https://pypi.org/project/{info['name']}/{info['version']}/"
    assert isinstance(document["last_serial"], int)
    assert document["vulnerabilities"] == []
    releases = document["releases"]
    assert isinstance(releases, dict)
    assert document["urls"] == releases[info["version"]]
    for files in releases.values():
        assert {f["packagetype"] for f in files} == {"bdist_wheel", "sdist"}
        for entry in files:
            assert set(entry) == FILE_KEYS
            assert re.fullmatch(r"[0-9a-f]{32}", entry["digests"]["md5"])
            assert re.fullmatch(r"[0-9a-f]{64}", entry["digests"]["sha256"])
            assert entry["url"].startswith("https://files.pythonhosted.org/packages/")
            assert entry["url"].endswith("/" + entry["filename"])
            assert entry["size"] > 0
            assert dt.datetime.fromisoformat(entry["upload_time_iso_8601"]).tzinfo is not None
            assert entry["filename"].endswith(".whl" if entry["packagetype"] == "bdist_wheel" else ".tar.gz")


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_description_is_sectioned_markdown_of_a_few_to_tens_of_kilobytes(name: str) -> None:
    description = _project(name).info["description"]
    assert 2_000 <= len(description) <= 100_000
    headings = re.findall(r"^## (.+)$", description, flags=re.MULTILINE)
    assert headings[:5] == ["Installation", "Quickstart", "Configuration", "API", "Changelog"]


def test_descriptions_vary_in_size_across_names() -> None:
    sizes = [len(_project(f"sized-{i}").info["description"]) for i in range(60)]
    assert min(sizes) < 10_000 < 20_000 < max(sizes)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_project_has_a_newer_prerelease_and_latest_is_the_newest_stable(name: str) -> None:
    project = _project(name)
    versions = [Version(v) for v in project.releases]
    assert versions == sorted(versions)
    assert versions[-1].is_prerelease
    assert versions[-1] > Version(project.info["version"])
    assert Version(project.info["version"]) == max(v for v in versions if not v.is_prerelease)


def test_a_yanked_release_marks_all_its_files_and_is_never_the_latest() -> None:
    project = _project("fastapi")
    assert len(project.yanked) == 1
    ((version, reason),) = project.yanked.items()
    assert version != project.info["version"]
    assert all(f["yanked"] and f["yanked_reason"] == reason for f in project.releases[version])
    others = [f for v, files in project.releases.items() if v != version for f in files]
    assert not any(f["yanked"] for f in others)


def test_version_document_describes_that_version_without_releases() -> None:
    project = _project("fastapi")
    yanked = next(iter(project.yanked))
    document = data.version_document(project, yanked)
    assert document is not None
    assert set(document) == {"info", "last_serial", "urls", "vulnerabilities"}
    assert document["info"]["version"] == yanked
    assert document["info"]["yanked"] is True
    assert document["info"]["release_url"].endswith(f"/{yanked}/")
    assert document["urls"] == project.releases[yanked]


def test_version_lookup_accepts_pep_440_equivalent_spellings_and_rejects_unknown_ones() -> None:
    project = _project("fastapi")
    prerelease = list(project.releases)[-1]
    assert data.find_version(project, prerelease.replace("rc", "-RC")) == prerelease
    assert data.version_document(project, "99.0") is None
    assert data.version_document(project, "not a version") is None


def test_unknown_and_invalid_names_have_no_project() -> None:
    assert data.build_project("missing-anything") is None
    assert data.build_project("-bad-") is None
    assert data.project_json("has space") is None
    assert data.version_json("missing-x", "1.0") is None


def test_every_spelling_of_a_name_gives_the_same_bytes() -> None:
    assert data.project_json("Typing_Extensions") == data.project_json("typing.extensions")
    assert data.project_json("My__Odd.Name") == data.project_json("my-odd-name")
    assert data.project_json("my-odd-name") != data.project_json("my-odd-name-2")


def test_bodies_are_byte_identical_across_processes() -> None:
    names = ["fastapi", "zz-generated", "Foo.Bar"]
    script = (
        "import hashlib, sys\n"
        "from pypi_mock import data\n"
        "for n in sys.argv[1:]: print(hashlib.sha256(data.project_json(n)).hexdigest())\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, *names], capture_output=True, text=True, check=True, timeout=60
    )
    here = [hashlib.sha256(data.project_json(n) or b"").hexdigest() for n in names]
    assert child.stdout.split() == here


def test_requires_dist_are_pep_508_with_specifiers_extras_and_markers() -> None:
    requires = [Requirement(r) for r in _project("fastapi").info["requires_dist"]]
    names = {normalize(r.name) for r in requires}
    assert {"starlette", "pydantic", "typing-extensions"} <= names
    assert all(str(r.specifier) for r in requires if r.marker is None)
    assert {"all", "standard"} <= set(_project("fastapi").info["provides_extra"])
    assert any("extra" in str(r.marker) for r in requires)
    uvicorn = [Requirement(r) for r in _project("uvicorn").info["requires_dist"]]
    assert any("sys_platform" in str(r.marker) for r in uvicorn)


def test_every_well_known_name_from_the_issue_is_in_the_catalog() -> None:
    assert set(ISSUE_WELL_KNOWN) <= set(WELL_KNOWN)
    assert _project("Django").info["name"] == "Django"


@pytest.mark.parametrize("name", sorted(WELL_KNOWN))
def test_well_known_dependencies_resolve_and_admit_the_latest_target_version(name: str) -> None:
    for line in _project(name).info["requires_dist"] or []:
        requirement = Requirement(line)
        target = data.build_project(requirement.name)
        assert target is not None, f"{name} requires unresolvable {requirement.name}"
        assert normalize(requirement.name) in WELL_KNOWN, f"{name} leaves the catalog via {line}"
        assert requirement.specifier.contains(target.info["version"]), f"{line} excludes {target.info['version']}"


def test_generated_projects_depend_only_on_resolvable_catalog_projects() -> None:
    for i in range(150):
        for line in _project(f"generated-{i}").info["requires_dist"] or []:
            requirement = Requirement(line)
            target = WELL_KNOWN.get(normalize(requirement.name))
            assert target is not None, line
            assert requirement.specifier.contains(target.versions[-1]), line

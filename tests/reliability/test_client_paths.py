"""Path attacks: package names and versions that try to escape the cache folder, hostile ``project_path`` targets.

Names reach the cache as folder names and versions as file names, so every answer is checked twice: the tool
must refuse (or serve a legitimate package), and afterwards the cache folder may hold only files of its own
layout, with nothing new next to it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import Attack, Ledger, McpHttp
from tests.support.processes import ManagedProcess
from tests.support.serverstats import wait_for_cache_writes

ESCAPING_NAMES = [
    "../x",
    "../../../../etc/passwd",
    "/etc/passwd",
    "/tmp/pwned",
    "..",
    ".",
    "~root",
    "$HOME",
    "%2e%2e%2fetc%2fpasswd",
    "..%2f..%2fetc",
    "%2e%2e",
    "..\\..\\windows\\system32",
    "C:\\Windows",
    "\\\\server\\share",
    "a/../../b",
    "requests/../../x",
    "requests%00.json",
    "requests\x00",
    "．．／etc",  # fullwidth dots and slash
    "ｒｅｑｕｅｓｔｓ",  # fullwidth letters
    "req\u2215uests",  # division slash
    "req\u2044uests",  # fraction slash
    "req\u29f8uests",  # big solidus
    "reque\u0455ts",  # Cyrillic dze, a lookalike of s
    "_index",
]
VALID_LOOKALIKES = ["requests.json", "index", "con", "nul", "tmp", "etc-passwd"]
"""Valid PEP 508 names that look like files or devices: served normally, cached under their normalised name."""
ESCAPING_VERSIONS = [
    "==../../etc/passwd",
    "==1.0/../../../x",
    "==1.0%2f..%2f..",
    "==/etc/passwd",
    "==1.0\\..\\..",
    "===../../../etc/passwd",
    "===/tmp/pwned",
    "== 1.0/..",
]
CACHE_FILE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?/(_index|[a-z0-9.!+]+)\.json")
REFUSALS = {"invalid_package_name", "invalid_version_constraint", "version_not_found", "package_not_found"}


def beside(cache_dir: Path) -> set[Path]:
    """Everything in the cache folder's parent that is not the cache folder or inside it."""
    return {p for p in cache_dir.parent.rglob("*") if cache_dir not in (p, *p.parents)}


def test_package_names_and_versions_never_reach_outside_the_cache_dir(
    plain_server: ManagedProcess, ledger: Ledger
) -> None:
    attack = Attack(
        "clients: path escapes in package names and versions", plain_server.pid, plain_server.base_url, ledger
    )
    cache_dir = Path(str(plain_server.extra["cache_dir"])).resolve()
    before = beside(cache_dir)
    with McpHttp(plain_server.base_url) as mcp:
        for name in ESCAPING_NAMES:
            for tool in ("get_package_docs", "get_package_docs_with_context"):
                reply = mcp.call(tool, {"package_name": name})
                attack.check(reply.code == "invalid_package_name", f"{tool}({name!r}): {reply.code}")
        for constraint in ESCAPING_VERSIONS:
            reply = mcp.call("get_package_docs", {"package_name": "requests", "version_constraint": constraint})
            attack.check(reply.code in REFUSALS, f"requests {constraint!r}: {reply.code} {reply.text[:120]}")
        for name in VALID_LOOKALIKES:
            reply = mcp.call("get_package_docs", {"package_name": name})
            attack.check(reply.code == "ok", f"{name!r} is a valid name: {reply.code}")
    wait_for_cache_writes(plain_server.base_url)
    new = beside(cache_dir) - before
    attack.check(not new, f"new paths beside the cache: {sorted(map(str, new))}")
    for path in cache_dir.rglob("*"):
        relative = path.relative_to(cache_dir).as_posix()
        if path.is_dir() and not path.is_symlink():
            attack.check("/" not in relative, f"nested folder in the cache: {relative}")
            continue
        attack.check(not path.is_symlink() and CACHE_FILE.fullmatch(relative) is not None, f"cache file {relative}")
    for planted in ("/tmp/pwned", "/tmp/pwned.json", "/etc/passwd.json"):
        attack.check(not os.path.exists(planted), f"{planted} exists")
    attack.assert_clean()


def write_project(root: Path, name: str, content: bytes) -> Path:
    project = root / name
    project.mkdir()
    (project / "pyproject.toml").write_bytes(content)
    return project


@pytest.fixture
def hostile_projects(tmp_path: Path) -> list[tuple[str, str, str]]:
    """(label, project_path, expected code) for every hostile target; "ok" where a scan must succeed."""
    root = tmp_path
    cases: list[tuple[str, str, str]] = []

    def add(label: str, path: Path | str, code: str) -> None:
        cases.append((label, str(path), code))

    regular = root / "a-file.txt"
    regular.write_text("not a directory")
    add("a regular file", regular, "invalid_project_path")
    add(
        "the pyproject.toml file itself",
        write_project(root, "direct", b"[project]\nname='x'\n") / "pyproject.toml",
        "invalid_project_path",
    )
    for device in ("/dev/zero", "/dev/urandom", "/dev/null"):
        add(device, device, "invalid_project_path")
    fifo_dir = root / "fifo-project"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / "pyproject.toml")
    add("pyproject.toml is a FIFO", fifo_dir, "invalid_project_path")
    fifo = root / "a-fifo"
    os.mkfifo(fifo)
    add("project_path is a FIFO", fifo, "invalid_project_path")
    for label, target in (("/etc/passwd", "/etc/passwd"), ("/dev/zero", "/dev/zero"), ("/dev/urandom", "/dev/urandom")):
        linked = root / f"link-{Path(target).name}"
        linked.mkdir()
        (linked / "pyproject.toml").symlink_to(target)
        add(f"pyproject.toml symlinked out to {label}", linked, "invalid_project_path")
    loop = root / "symlink-loop"
    loop.mkdir()
    (loop / "a").symlink_to(loop / "pyproject.toml")
    (loop / "pyproject.toml").symlink_to(loop / "a")
    add("pyproject.toml in a symlink loop", loop, "invalid_project_path")
    dangling = root / "dangling"
    dangling.mkdir()
    (dangling / "pyproject.toml").symlink_to(root / "nowhere")
    add("dangling pyproject.toml symlink", dangling, "invalid_project_path")
    inner = write_project(root, "inner-link", b"")
    (inner / "real.toml").write_text('[project]\nname = "inner"\ndependencies = ["requests>=2"]\n')
    (inner / "pyproject.toml").unlink()
    (inner / "pyproject.toml").symlink_to(inner / "real.toml")
    add("pyproject.toml symlinked inside the project", inner, "ok")
    tree_link = root / "link-to-etc"
    tree_link.symlink_to("/etc")
    add("project_path symlinked to /etc", tree_link, "invalid_project_path")
    dir_named = root / "dir-named"
    (dir_named / "pyproject.toml").mkdir(parents=True)
    add("pyproject.toml is a directory", dir_named, "invalid_project_path")
    huge = root / "huge"
    huge.mkdir()
    with (huge / "pyproject.toml").open("wb") as out:
        out.truncate(50 * 1024 * 1024)  # 50 MB, sparse: the size check must refuse it before any read
    add("50 MB pyproject.toml", huge, "project_file_invalid")
    add("binary pyproject.toml", write_project(root, "binary", os.urandom(64 * 1024)), "project_file_invalid")
    add("NUL bytes", write_project(root, "nul", b"[project]\x00name = 'x'\n"), "project_file_invalid")
    add(
        "UTF-16 pyproject.toml",
        write_project(root, "utf16", "[project]\nname='x'\n".encode("utf-16")),
        "project_file_invalid",
    )
    add(
        "100k nested arrays",
        write_project(root, "deep", b"a = " + b"[" * 100_000 + b"]" * 100_000 + b"\n"),
        "project_file_invalid",
    )
    add(
        "100k nested inline tables",
        write_project(root, "deep-tables", b"a = " + b"{b = " * 100_000 + b"1" + b"}" * 100_000),
        "project_file_invalid",
    )
    add("not TOML (HTML)", write_project(root, "html", b"<html><body>404</body></html>"), "project_file_invalid")
    add("not TOML (JSON)", write_project(root, "json", b'{"project": {"name": "x"}}'), "project_file_invalid")
    add(
        "duplicate tables",
        write_project(root, "dupes", b"[project]\nname='a'\n[project]\nname='b'\n"),
        "project_file_invalid",
    )
    many = (
        b"[project]\nname = 'many'\ndependencies = [\n"
        + b"".join(b'  "pkg%d>=1",\n' % i for i in range(30_000))
        + b"]\n"
    )
    add("30,000 dependencies (under 1 MB)", write_project(root, "many", many), "ok")
    add("/", "/", "invalid_project_path")
    add("/proc/self", "/proc/self", "invalid_project_path")
    add("relative ../../..", "../../..", "invalid_project_path")
    # Empty and over-long paths break the input schema (1–4096 characters), which answers invalid_argument.
    add("empty", "", "invalid_argument")
    add("NUL in the path", f"{root}/x\x00y", "invalid_project_path")
    add("5,000-character path", "/" + "a" * 5_000, "invalid_argument")
    return cases


def test_hostile_project_paths_get_structured_errors_in_bounded_time(
    plain_server: ManagedProcess, ledger: Ledger, hostile_projects: list[tuple[str, str, str]]
) -> None:
    attack = Attack(
        "clients: project_path at files, devices, FIFOs, symlinks, 50 MB/binary/100k-deep TOML",
        plain_server.pid,
        plain_server.base_url,
        ledger,
    )
    with McpHttp(plain_server.base_url) as mcp:
        for label, path, expected in hostile_projects:
            reply = mcp.call("scan_dependencies", {"project_path": path})
            details: dict[str, Any] = reply.structured
            attack.check(
                reply.code == expected and reply.seconds <= 5.0,
                f"{label}: {reply.code} in {reply.seconds:.2f}s, want {expected} ({reply.text[:160]!r})",
            )
            if expected == "ok":
                attack.check(details.get("total_dependencies", 0) >= 1, f"{label}: {details.get('total_dependencies')}")
    attack.assert_clean()

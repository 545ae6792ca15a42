"""Reading a project's declared dependencies from its ``pyproject.toml``, and nothing else on disk.

The path comes from a model, so it is hostile until checked: the directory must exist, and its ``pyproject.toml``
must be a regular file inside it (a symlink may point elsewhere in the project, never out of it). The file is
stat'ed before opening so a FIFO or device is never opened, opened with ``O_NOFOLLOW | O_NONBLOCK`` so a swap
between check and open cannot redirect or block us, re-checked with ``fstat``, and read to at most
``max_file_bytes + 1`` bytes.

Extraction covers PEP 621 (``[project]``), PEP 735 (``[dependency-groups]``) and Poetry (``[tool.poetry]``). A bad
entry becomes a per-entry error; only an unreadable or unparseable file fails the scan. Work is capped at
``MAX_ENTRIES`` entries (include-group expansions count too, so include fan-out cannot explode).

Dependency ``source`` values: ``project``, ``optional:<group>``, ``group:<name>``, ``poetry``,
``poetry-optional`` (Poetry ``optional = true``), ``poetry-group:<group>`` and ``poetry-dev``.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import InvalidMarker, Marker

from autodocs_mcp.dependencies import parse_requirement
from autodocs_mcp.errors import AutoDocsError, ErrorCode, quote_value, type_name
from autodocs_mcp.names import MAX_NAME_CHARS, PACKAGE_NAME_RE, normalize_name
from autodocs_mcp.versions import poetry_to_pep440

PYPROJECT = "pyproject.toml"
MAX_ENTRIES = 2_000
MAX_PATH_CHARS = 4_096
MAX_MARKER_CHARS = 500
MAX_INCLUDE_DEPTH = 32
_READ_CHUNK = 65_536


@dataclass(frozen=True)
class ScannedDependency:
    name: str
    specifier: str
    extras: tuple[str, ...]
    markers: str | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "specifier": self.specifier,
            "extras": list(self.extras),
            "markers": self.markers,
            "source": self.source,
        }


@dataclass(frozen=True)
class ScanResult:
    project_path: str
    project_name: str | None
    project_version: str | None
    dependencies: tuple[ScannedDependency, ...]
    errors: tuple[dict[str, str], ...]
    entries_processed: int
    capped: bool

    def counts_by_source(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for dependency in self.dependencies:
            counts[dependency.source] = counts.get(dependency.source, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "project_path": self.project_path,
            "project_name": self.project_name,
            "project_version": self.project_version,
            "dependencies": [d.to_dict() for d in self.dependencies],
            "total_dependencies": len(self.dependencies),
            "unique_packages": len({d.name for d in self.dependencies}),
            "counts_by_source": self.counts_by_source(),
            "errors": [dict(e) for e in self.errors],
            "failed_entries": len(self.errors),
            "entries_processed": self.entries_processed,
            "capped": self.capped,
            "max_entries": MAX_ENTRIES,
        }


def _path_error(message: str, suggestion: str | None = None) -> AutoDocsError:
    return AutoDocsError(
        ErrorCode.INVALID_PROJECT_PATH,
        message,
        suggestion=suggestion or "Pass the absolute path of a project directory that contains a pyproject.toml.",
    )


def _file_error(message: str) -> AutoDocsError:
    return AutoDocsError(
        ErrorCode.PROJECT_FILE_INVALID,
        message,
        suggestion="Make pyproject.toml valid UTF-8 TOML that Python's tomllib accepts, then scan again.",
    )


def _project_directory(project_path: object) -> str:
    if not isinstance(project_path, str):
        raise _path_error(f"project_path must be a string, got {type_name(project_path)}.")
    if not project_path.strip():
        raise _path_error("project_path is empty.")
    if len(project_path) > MAX_PATH_CHARS or "\x00" in project_path:
        raise _path_error(f"project_path {quote_value(project_path)} is not a usable path.")
    root = os.path.realpath(os.path.expanduser(project_path.strip()))
    try:
        info = os.stat(root)
    except OSError:
        raise _path_error(f"project_path {quote_value(project_path)} does not exist or cannot be accessed.") from None
    if not stat.S_ISDIR(info.st_mode):
        hint = (
            "Pass the directory that contains pyproject.toml, not the file itself."
            if os.path.basename(root) == PYPROJECT
            else None
        )
        raise _path_error(f"project_path {quote_value(project_path)} is not a directory.", hint)
    return root


def _pyproject_path(root: str) -> str:
    candidate = os.path.join(root, PYPROJECT)
    try:
        link_info = os.lstat(candidate)
    except FileNotFoundError:
        raise _path_error(f"No pyproject.toml in {quote_value(root)}.") from None
    except OSError:
        raise _path_error(f"pyproject.toml in {quote_value(root)} cannot be accessed.") from None
    if stat.S_ISLNK(link_info.st_mode):
        target = os.path.realpath(candidate)
        if os.path.commonpath([root, target]) != root:
            raise _path_error("pyproject.toml is a symlink that points outside the project directory.")
        candidate = target
    try:
        info = os.stat(candidate)
    except OSError:
        raise _path_error("pyproject.toml is a dangling symlink or cannot be accessed.") from None
    if not stat.S_ISREG(info.st_mode):
        raise _path_error("pyproject.toml is not a regular file (it is a directory, FIFO, socket or device).")
    return candidate


def _read_capped(path: str, max_file_bytes: int) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        raise _path_error("pyproject.toml cannot be read: permission denied.") from None
    except OSError as exc:
        raise _path_error(f"pyproject.toml cannot be opened ({exc.strerror or 'error'}).") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _path_error("pyproject.toml is not a regular file.")
        if info.st_size > max_file_bytes:
            raise _file_error(f"pyproject.toml is {info.st_size} bytes; at most {max_file_bytes} are read.")
        chunks: list[bytes] = []
        remaining = max_file_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(_READ_CHUNK, remaining))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except PermissionError:
        raise _path_error("pyproject.toml cannot be read: permission denied.") from None
    except OSError as exc:
        raise _path_error(f"pyproject.toml cannot be read ({exc.strerror or 'error'}).") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_file_bytes:
        raise _file_error(f"pyproject.toml is larger than {max_file_bytes} bytes.")
    return data


def _parse_toml(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _file_error(f"pyproject.toml is not valid UTF-8 (bad byte at offset {exc.start}).") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _file_error(f"pyproject.toml is not valid TOML: {quote_value(str(exc), 160)}.") from None
    except RecursionError:
        raise _file_error("pyproject.toml is nested too deeply to parse.") from None


@dataclass
class _Collector:
    """Accumulates results and enforces the entry cap across every section."""

    dependencies: list[ScannedDependency] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    processed: int = 0
    capped: bool = False

    def take(self) -> bool:
        """Count one unit of work; False once the cap is reached."""
        if self.processed >= MAX_ENTRIES:
            self.capped = True
            return False
        self.processed += 1
        return True

    def error(self, source: str, entry: object, message: str) -> None:
        if len(self.errors) < MAX_ENTRIES:
            self.errors.append({"source": source, "entry": quote_value(entry), "error": message})

    def requirement(self, source: str, raw: object) -> None:
        if not self.take():
            return
        if not isinstance(raw, str):
            self.error(source, raw, f"expected a PEP 508 requirement string, got {type_name(raw)}")
            return
        dependency = parse_requirement(raw)
        if dependency is None:
            self.error(source, raw, "not a valid PEP 508 requirement")
            return
        self.dependencies.append(
            ScannedDependency(dependency.name, dependency.specifier, dependency.extras, dependency.marker, source)
        )


def _table(container: Mapping[str, Any], key: str, source: str, out: _Collector) -> Mapping[str, Any] | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        out.error(source, value, f"expected a table, got {type_name(value)}")
        return None
    return value


def _requirement_list(value: object, source: str, out: _Collector) -> None:
    if not isinstance(value, list):
        out.error(source, value, f"expected an array of requirement strings, got {type_name(value)}")
        return
    for raw in value:
        if out.capped:
            return
        out.requirement(source, raw)


def _group_key(name: object) -> str | None:
    return normalize_name(name) if isinstance(name, str) and PACKAGE_NAME_RE.fullmatch(name) else None


def _pep621(data: Mapping[str, Any], out: _Collector) -> tuple[str | None, str | None]:
    project = _table(data, "project", "project", out)
    if project is None:
        return None, None
    project_name, project_version = _identity_text(project.get("name")), _identity_text(project.get("version"))
    if "dependencies" in project:
        _requirement_list(project["dependencies"], "project", out)
    optional = _table(project, "optional-dependencies", "optional", out)
    for group, entries in (optional or {}).items():
        _requirement_list(entries, f"optional:{_label(group)}", out)
    return project_name, project_version


def _label(name: object) -> str:
    """A section label built from a TOML key: bounded and printable, whatever the key held."""
    text = str(name)
    return text[:MAX_NAME_CHARS] if text.isprintable() else quote_value(text)


def _pep735(data: Mapping[str, Any], out: _Collector) -> None:
    groups = _table(data, "dependency-groups", "dependency-groups", out)
    if groups is None:
        return
    by_key: dict[str, tuple[str, object]] = {}
    for name, entries in groups.items():
        key = _group_key(name)
        if key is None:
            out.error("dependency-groups", name, "not a valid dependency group name")
        elif key in by_key:
            out.error("dependency-groups", name, "duplicate dependency group after name normalisation")
        else:
            by_key[key] = (name, entries)
    for key, (name, _entries) in by_key.items():
        _expand_group(key, f"group:{_label(name)}", by_key, (), out)


def _expand_group(
    key: str,
    source: str,
    groups: Mapping[str, tuple[str, object]],
    stack: tuple[str, ...],
    out: _Collector,
) -> None:
    """Add a group's entries, following ``{include-group = "x"}`` with an explicit stack for cycle detection."""
    _name, entries = groups[key]
    if not isinstance(entries, list):
        out.error(source, entries, f"expected an array, got {type_name(entries)}")
        return
    path = (*stack, key)
    if len(path) > MAX_INCLUDE_DEPTH:
        out.error(source, key, f"include-group nesting is deeper than {MAX_INCLUDE_DEPTH} levels")
        return
    for entry in entries:
        if out.capped:
            return
        if not isinstance(entry, Mapping):
            out.requirement(source, entry)
            continue
        if not out.take():
            return
        include = entry.get("include-group")
        if set(entry) != {"include-group"} or not isinstance(include, str):
            out.error(source, entry, 'a table entry must be exactly {include-group = "<name>"}')
            continue
        target = _group_key(include)
        if target is None or target not in groups:
            out.error(source, include, "include-group names an unknown dependency group")
        elif target in path:
            cycle = " -> ".join((*path, target))
            out.error(source, include, f"include-group cycle: {quote_value(cycle)}")
        else:
            _expand_group(target, source, groups, path, out)


def _poetry(data: Mapping[str, Any], out: _Collector) -> None:
    tool = _table(data, "tool", "tool", out)
    poetry = _table(tool, "poetry", "poetry", out) if tool is not None else None
    if poetry is None:
        return
    main = _table(poetry, "dependencies", "poetry", out)
    if main is not None:
        _poetry_table(main, "poetry", out)
    dev = _table(poetry, "dev-dependencies", "poetry-dev", out)
    if dev is not None:
        _poetry_table(dev, "poetry-dev", out)
    groups = _table(poetry, "group", "poetry-group", out)
    for group_name, group in (groups or {}).items():
        source = f"poetry-group:{_label(group_name)}"
        if not isinstance(group, Mapping):
            out.error(source, group, f"expected a table, got {type_name(group)}")
            continue
        entries = _table(group, "dependencies", source, out)
        if entries is not None:
            _poetry_table(entries, source, out)


def _poetry_table(table: Mapping[str, Any], source: str, out: _Collector) -> None:
    for raw_name, spec in table.items():
        if out.capped:
            return
        if isinstance(raw_name, str) and raw_name.strip().lower() == "python":
            continue
        if not isinstance(raw_name, str) or PACKAGE_NAME_RE.fullmatch(raw_name) is None:
            if out.take():
                out.error(source, raw_name, "not a valid package name")
            continue
        name = normalize_name(raw_name)
        constraints = spec if isinstance(spec, list) else [spec]
        if not constraints and out.take():
            out.error(source, raw_name, "empty list of constraints")
        for constraint in constraints:
            if not out.take():
                return
            _poetry_entry(name, constraint, source, out)


def _poetry_entry(name: str, spec: object, source: str, out: _Collector) -> None:
    """One Poetry constraint: a version string or a table with version/extras/markers/optional."""
    extras: tuple[str, ...] = ()
    markers: str | None = None
    if isinstance(spec, str):
        version: object = spec
    elif isinstance(spec, Mapping):
        version = spec.get("version", "*")
        raw_extras = spec.get("extras", [])
        if not isinstance(raw_extras, list) or not all(isinstance(e, str) and _group_key(e) for e in raw_extras):
            out.error(source, name, "extras must be an array of extra names")
            return
        extras = tuple(sorted({normalize_name(e) for e in raw_extras}))
        raw_markers = spec.get("markers")
        if raw_markers is not None:
            if not isinstance(raw_markers, str) or len(raw_markers) > MAX_MARKER_CHARS:
                out.error(source, name, f"markers must be a string of at most {MAX_MARKER_CHARS} characters")
                return
            try:
                markers = str(Marker(raw_markers)) if raw_markers.strip() else None
            except InvalidMarker:
                out.error(source, raw_markers, "not a valid PEP 508 environment marker")
                return
        if spec.get("optional") is True and source == "poetry":
            source = "poetry-optional"
    else:
        out.error(source, name, f"expected a version string or table, got {type_name(spec)}")
        return
    if not isinstance(version, str):
        out.error(source, name, f"version must be a string, got {type_name(version)}")
        return
    try:
        specifier = poetry_to_pep440(version)
    except ValueError as exc:
        out.error(source, f"{name} = {version}", f"{exc}; recorded without a version constraint")
        specifier = ""
    out.dependencies.append(ScannedDependency(name, specifier, extras, markers, source))


def scan_project(project_path: str, *, max_file_bytes: int = 1_000_000) -> ScanResult:
    """Validate the path, read and parse ``pyproject.toml``, and extract every declared dependency."""
    root = _project_directory(project_path)
    data = _parse_toml(_read_capped(_pyproject_path(root), max_file_bytes))
    out = _Collector()
    name, version = _pep621(data, out)
    _pep735(data, out)
    _poetry(data, out)
    if name is None:
        poetry_name, poetry_version = _poetry_identity(data)
        name, version = poetry_name, version or poetry_version
    return ScanResult(
        project_path=root,
        project_name=name,
        project_version=version,
        dependencies=tuple(out.dependencies),
        errors=tuple(out.errors),
        entries_processed=out.processed,
        capped=out.capped,
    )


def _poetry_identity(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    tool = data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, Mapping) else None
    if not isinstance(poetry, Mapping):
        return None, None
    return _identity_text(poetry.get("name")), _identity_text(poetry.get("version"))


def _identity_text(value: object) -> str | None:
    """A project name or version as declared, if it is a short printable string."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if text and len(text) <= MAX_NAME_CHARS and text.isprintable() else None

"""The README a newcomer follows: its configuration table against ``Settings`` (every variable, its default and the
limits ``config.py`` enforces), and the stdio client configs, one of them aimed at ``make mock``."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from annotated_types import Ge, Gt, Le

from autodocs_mcp.config import MIB, Settings, env_name

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `(AUTODOCS_[A-Z_]+)` \| (.*?) \| (.*?) \| (.*?) \|$", re.MULTILINE)

# Limits that involve a second variable, as config.py's cross-field check enforces them.
CROSS_FIELD = {
    "max_retry_delay": "greater than `AUTODOCS_BASE_RETRY_DELAY`",
    "pool_max_keepalive": "at most `AUTODOCS_POOL_MAX_CONNECTIONS`",
    "max_response_bytes": "at least `AUTODOCS_MAX_DOC_SIZE`",
}
# What the allowed cell must say for the settings that are not numbers.
WORDED = {
    "pypi_url": ("`http://`", "`https://`", "no query or fragment"),
    "cache_dir": ("folder",),
    "http_host": ("host name or IP address",),
    "http_token": ("at least 16 printable characters, no spaces",),
    "conformance_fixtures": ("`true`", "`false`"),
}


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def rows() -> dict[str, tuple[str, str, str]]:
    found = ROW.findall(section("Configuration"))
    table = {variable: (default, allowed, meaning) for variable, default, allowed, meaning in found}
    assert len(table) == len(found), "a variable has two rows"
    return table


def figure(value: float, field: str) -> str:
    """A number as the README writes it: thousands separated, bytes in binary units, seconds without ``.0``."""
    if field.endswith("_bytes") and value >= 1024 and value % 1024 == 0:
        for unit, size in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)):
            if value % size == 0:
                return f"{int(value // size)} {unit}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:g}"


def documented_default(field: str) -> str:
    value = Settings.model_fields[field].default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Path):
        return "`~/" + str(value.relative_to(Path.home())) + "`"
    if isinstance(value, int | float):
        return figure(value, field).replace(",", "")
    return f"`{value}`" if "://" in str(value) else str(value)


def bounds(field: str) -> str | None:
    metadata = Settings.model_fields[field].metadata
    low = next((m for m in metadata if isinstance(m, Ge | Gt)), None)
    high = next((m.le for m in metadata if isinstance(m, Le)), None)
    if low is None or high is None:
        return None
    if isinstance(low, Gt):
        return f"> {figure(low.gt, field)}, ≤ {figure(high, field)}"
    return f"{figure(low.ge, field)}–{figure(high, field)}"


def test_the_configuration_table_has_one_row_for_each_setting_and_no_other() -> None:
    assert set(rows()) == {env_name(field) for field in Settings.model_fields}


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_each_documented_default_is_the_one_config_py_applies(field: str) -> None:
    default, _, _ = rows()[env_name(field)]
    expected = documented_default(field)
    assert default == expected or default.startswith(expected + " "), (default, expected)


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_each_documented_variable_states_the_limits_config_py_enforces(field: str) -> None:
    _, allowed, meaning = rows()[env_name(field)]
    annotation = Settings.model_fields[field].annotation
    expected = bounds(field)
    if expected is not None:
        assert allowed.startswith(expected), (allowed, expected)
    elif typing.get_origin(annotation) is typing.Literal:
        assert all(f"`{value}`" in allowed for value in typing.get_args(annotation)), allowed
    else:
        assert all(words in allowed for words in WORDED[field]), allowed
    if field in CROSS_FIELD:
        assert CROSS_FIELD[field] in allowed
    if annotation is float:
        assert "(s)" in meaning, "durations say they are seconds"


def stdio_configs() -> list[dict[str, Any]]:
    text = section("Using the server from an AI assistant (stdio)")
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]


def test_the_stdio_configs_run_the_venvs_server_and_one_of_them_aims_it_at_the_mock_make_mock_starts() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    mock_port = re.search(r"^MOCK_PORT \?= (\d+)$", makefile, re.MULTILINE)
    assert mock_port is not None
    entries = [entry for config in stdio_configs() for entry in config["mcpServers"].values()]
    assert entries and all(entry["command"] == "/path/to/repo/.venv/bin/autodocs-mcp" for entry in entries)
    aimed = [entry["env"] for entry in entries if "AUTODOCS_PYPI_URL" in entry["env"]]
    real = [entry["env"] for entry in entries if "AUTODOCS_PYPI_URL" not in entry["env"]]
    assert len(aimed) == 1 and len(real) == 1
    assert aimed[0]["AUTODOCS_PYPI_URL"] == f"http://127.0.0.1:{mock_port.group(1)}/pypi"
    assert aimed[0]["AUTODOCS_CACHE_DIR"] != real[0]["AUTODOCS_CACHE_DIR"], "the mock's docs get a cache of their own"
    assert "`make mock`" in section("Using the server from an AI assistant (stdio)")

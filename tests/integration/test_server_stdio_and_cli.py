"""The console script as users run it: stdio for AI assistants, and readable configuration errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mcp import Client, StdioServerParameters

from tests.support.processes import VENV_BIN, guarded_env, server_env


def test_bad_configuration_exits_2_with_one_readable_line_per_problem(tmp_path: Path) -> None:
    env = guarded_env(
        {"AUTODOCS_RATE_LIMIT_RPM": "lots", "AUTODOCS_PYPI_URL": "ftp://nowhere", "AUTODOCS_POOL_TIMEOUT": "-1"}
    )
    done = subprocess.run(
        [str(VENV_BIN / "autodocs-mcp"), "--transport", "http"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3
    assert "Traceback" not in done.stderr
    joined = "\n".join(lines)
    for variable in (
        "AUTODOCS_RATE_LIMIT_RPM='lots'",
        "AUTODOCS_PYPI_URL='ftp://nowhere'",
        "AUTODOCS_POOL_TIMEOUT='-1'",
    ):
        assert variable in joined
    assert done.stdout == ""


async def test_the_stdio_server_answers_tool_calls_and_keeps_stdout_clean(mock_url: str, tmp_path: Path) -> None:
    env = guarded_env(server_env(mock_url, tmp_path / "cache"))
    params = StdioServerParameters(command=str(VENV_BIN / "autodocs-mcp"), args=[], env=env, cwd=str(tmp_path))
    async with Client(params, mode="legacy") as client:
        result = await client.call_tool("get_package_docs", {"package_name": "idna"})
        assert not result.is_error
        assert result.structured_content and result.structured_content["package_name"].lower() == "idna"
        bad = await client.call_tool("get_package_docs", {"package_name": "no/slashes"})
        assert bad.is_error
        again = await client.call_tool("get_package_docs", {"package_name": "idna"})
        assert again.structured_content and again.structured_content["from_cache"] is True

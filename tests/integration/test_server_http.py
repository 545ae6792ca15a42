"""``autodocs-mcp --transport http`` as a real process against a real ``pypi-mock``, driven with the ``mcp`` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from packaging.version import Version
from prometheus_client.parser import text_string_to_metric_families

from pypi_mock.admin import set_faults
from tests.support.mcp_client import mcp_session
from tests.support.mockstats import pypi_requests
from tests.support.processes import ManagedProcess, start_server
from tests.support.serverstats import wait_for_cache_writes
from tests.support.waiting import eventually

TOOLS = {
    "scan_dependencies": {"project_path"},
    "get_package_docs": {"package_name", "version_constraint", "query"},
    "get_package_docs_with_context": {
        "package_name",
        "version_constraint",
        "include_dependencies",
        "context_scope",
        "max_dependencies",
        "max_tokens",
    },
    "refresh_cache": set(),
    "get_cache_stats": set(),
    "health_check": set(),
    "ready_check": set(),
    "get_metrics": set(),
}


@pytest.fixture(scope="module")
def server(pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    proc = start_server(tmp_path_factory.mktemp("server"), pypi_mock.base_url)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def mcp_url(server: ManagedProcess, mock_url: str) -> str:
    return f"{server.base_url}/mcp"


async def call(url: str, tool: str, args: dict[str, Any] | None = None) -> tuple[bool, dict[str, Any], str]:
    async with mcp_session(url) as client:
        result = await client.call_tool(tool, args or {})
    text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
    return result.is_error, dict(result.structured_content or {}), text


async def test_the_tools_keep_the_public_names_and_arguments(mcp_url: str) -> None:
    async with mcp_session(mcp_url) as client:
        listed = (await client.list_tools()).tools
    assert {tool.name: set(tool.input_schema.get("properties", {})) for tool in listed} == TOOLS


async def test_package_docs_cold_fetch_once_then_serve_warm_without_upstream(mcp_url: str, mock_url: str) -> None:
    before = pypi_requests(mock_url)
    is_error, cold, text = await call(mcp_url, "get_package_docs", {"package_name": "Flask"})
    assert not is_error
    assert cold["package_name"].lower() == "flask" and cold["from_cache"] is False
    assert pypi_requests(mock_url) == before + 1, "one upstream request per distinct cold package"
    assert text.startswith("#") and "pip install" in text
    assert len(text) <= 50_000

    is_error, warm, _ = await call(mcp_url, "get_package_docs", {"package_name": "flask"})
    assert not is_error and warm["from_cache"] is True and warm["version"] == cold["version"]
    assert pypi_requests(mock_url) == before + 1, "a warm call makes no upstream request"


async def test_a_version_constraint_resolves_to_an_older_release(mcp_url: str, mock_url: str) -> None:
    releases = httpx2.get(f"{mock_url}/pypi/click/json").json()["releases"]
    stable = sorted((Version(v) for v in releases if not Version(v).is_prerelease), reverse=True)
    latest, older = stable[0], stable[1]
    before = pypi_requests(mock_url)
    is_error, result, _ = await call(
        mcp_url, "get_package_docs", {"package_name": "click", "version_constraint": f"<{latest}"}
    )
    assert not is_error, result
    assert Version(result["version"]) == older
    assert pypi_requests(mock_url) - before in (1, 2), "listing (if cold) plus the older release's metadata"
    before = pypi_requests(mock_url)
    _e, again, _ = await call(
        mcp_url, "get_package_docs", {"package_name": "click", "version_constraint": f"=={older}"}
    )
    assert again["from_cache"] is True and pypi_requests(mock_url) == before


async def test_a_query_keeps_only_matching_sections(mcp_url: str) -> None:
    _e, full, full_text = await call(mcp_url, "get_package_docs", {"package_name": "httpx"})
    is_error, filtered, text = await call(mcp_url, "get_package_docs", {"package_name": "httpx", "query": "install"})
    assert not is_error
    assert 0 < filtered["sections_matched"] < full["sections_total"]
    assert len(text) < len(full_text)
    assert "documentation" not in filtered, "the markdown travels once, as the text content"


async def test_dependency_context_of_a_framework_includes_its_core_dependencies(mcp_url: str) -> None:
    is_error, result, _ = await call(
        mcp_url, "get_package_docs_with_context", {"package_name": "fastapi", "context_scope": "smart"}
    )
    assert not is_error, result
    context = result["context"]
    names = {dep["package_name"].lower() for dep in context["runtime_dependencies"]}
    assert {"starlette", "pydantic"} <= names
    assert context["errors"] == []
    assert context["token_estimate"] <= context["token_budget"]

    _e, primary_only, _ = await call(
        mcp_url, "get_package_docs_with_context", {"package_name": "fastapi", "context_scope": "primary_only"}
    )
    assert primary_only["context"]["runtime_dependencies"] == []


async def test_a_failing_dependency_gives_a_partial_result_with_its_error(mcp_url: str, mock_url: str) -> None:
    set_faults(mock_url, {"error_rate": 1.0, "match": "starlette"})
    is_error, result, _ = await call(
        mcp_url, "get_package_docs_with_context", {"package_name": "fastapi", "context_scope": "runtime"}
    )
    assert not is_error
    failed = {err["package"]: err["code"] for err in result["context"]["errors"]}
    names = {dep["package_name"].lower() for dep in result["context"]["runtime_dependencies"]}
    # starlette may already be warm from an earlier test; if it was fetched it succeeded from the cache
    assert failed.get("starlette", "upstream_unavailable") == "upstream_unavailable"
    assert "pydantic" in names


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"package_name": "../../etc/passwd"}, "invalid_package_name"),
        ({"package_name": "x" * 5000}, "invalid_argument"),  # longer than the schema's maxLength
        ({"package_name": "bad\x00name"}, "invalid_package_name"),
        ({"package_name": "missing-widget"}, "package_not_found"),
        ({"package_name": "requests", "version_constraint": ">=999"}, "version_not_found"),
        ({"package_name": "requests", "version_constraint": "not a spec!!"}, "invalid_version_constraint"),
        ({"package_name": "requests", "version_constraint": ",".join([">=1"] * 500)}, "invalid_argument"),
    ],
)
async def test_bad_arguments_get_a_structured_error_with_a_stable_code(
    mcp_url: str, args: dict[str, Any], code: str
) -> None:
    is_error, result, text = await call(mcp_url, "get_package_docs", args)
    assert is_error
    assert result["success"] is False
    assert result["error"]["code"] == code
    assert result["error"]["message"] and "suggestion" in result["error"]
    assert len(text) < 2000, "errors never echo huge inputs"
    # the server keeps serving
    ok_error, _r, _t = await call(mcp_url, "ready_check")
    assert not ok_error


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"package_name": "fastapi", "context_scope": "everything"}, "invalid_argument"),
        ({"package_name": "fastapi", "max_dependencies": 10_000}, "invalid_argument"),
        ({"package_name": "fastapi", "max_tokens": 5}, "invalid_argument"),
    ],
)
async def test_bad_context_arguments_get_invalid_argument(mcp_url: str, args: dict[str, Any], code: str) -> None:
    is_error, result, _ = await call(mcp_url, "get_package_docs_with_context", args)
    assert is_error and result["error"]["code"] == code


async def test_an_upstream_outage_is_reported_as_upstream_unavailable(mcp_url: str, mock_url: str) -> None:
    set_faults(mock_url, {"error_rate": 1.0, "error_status": 502, "match": "outage-*"})
    is_error, result, _ = await call(mcp_url, "get_package_docs", {"package_name": "outage-one"})
    assert is_error and result["error"]["code"] == "upstream_unavailable"
    assert result["error"]["retryable"] is True


async def test_an_oversize_upstream_body_is_doc_too_large(mcp_url: str, mock_url: str) -> None:
    set_faults(mock_url, {"oversize_rate": 1.0, "oversize_bytes": 40_000_000, "match": "huge-*"})
    is_error, result, _ = await call(mcp_url, "get_package_docs", {"package_name": "huge-thing"})
    assert is_error and result["error"]["code"] == "doc_too_large"


async def test_scan_dependencies_reads_a_project(mcp_url: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.0"\ndependencies = ["fastapi>=0.100", "httpx[http2]>=0.27"]\n'
        '[project.optional-dependencies]\ndev = ["pytest>=8"]\n'
    )
    is_error, result, _ = await call(mcp_url, "scan_dependencies", {"project_path": str(tmp_path)})
    assert not is_error, result
    names = {dep["name"] for dep in result["dependencies"]}
    assert {"fastapi", "httpx", "pytest"} <= names

    is_error, result, _ = await call(mcp_url, "scan_dependencies", {"project_path": str(tmp_path / "nope")})
    assert is_error and result["error"]["code"] == "invalid_project_path"


async def test_a_missing_package_is_remembered_for_a_while_instead_of_asking_pypi_again(
    mcp_url: str, mock_url: str
) -> None:
    first_error, first, _ = await call(mcp_url, "get_package_docs", {"package_name": "missing-remembered"})
    before = pypi_requests(mock_url)
    again_error, again, _ = await call(mcp_url, "get_package_docs", {"package_name": "missing-remembered"})
    assert first_error and again_error
    assert first["error"]["code"] == again["error"]["code"] == "package_not_found"
    assert pypi_requests(mock_url) == before
    _e, stats, _ = await call(mcp_url, "get_cache_stats")
    assert stats["not_found_memo"]["hits"] >= 1


async def test_cache_stats_refresh_health_ready_and_metrics_tools_answer(server: ManagedProcess, mcp_url: str) -> None:
    await call(mcp_url, "get_package_docs", {"package_name": "jinja2"})
    wait_for_cache_writes(server.base_url)
    _e, stats, _ = await call(mcp_url, "get_cache_stats")
    assert stats["cache"]["writes"] >= 1
    _e, health, _ = await call(mcp_url, "health_check")
    assert health["checks"]["cache"]["writable"] is True
    assert health["checks"]["upstream_breaker"]["state"] in ("closed", "half_open", "open")
    _e, ready, _ = await call(mcp_url, "ready_check")
    assert ready["ready"] is True
    _e, metrics, _ = await call(mcp_url, "get_metrics")
    assert metrics["metrics"]["requests"]["calls"]["get_package_docs"]["ok"] >= 1
    _e, refreshed, _ = await call(mcp_url, "refresh_cache")
    assert refreshed["cleared_entries"] >= 1


async def test_probes_and_prometheus_metrics_are_served(server: ManagedProcess, mcp_url: str) -> None:
    await call(mcp_url, "get_package_docs", {"package_name": "werkzeug"})
    async with httpx2.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200
        text = (await http.get("/metrics")).text
        as_json = (await http.get("/metrics", params={"format": "json"})).json()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for name in (
        "autodocs_tool_calls",
        "autodocs_tool_call_duration_seconds",
        "autodocs_tool_calls_in_flight",
        "autodocs_upstream_pool_connections",
        "autodocs_upstream_pool_queued_requests",
        "autodocs_breaker_state",
        "autodocs_breaker_transitions",
        "autodocs_limiter_admitted",
        "autodocs_cache_hits",
        "autodocs_cache_entries",
        "autodocs_sessions_open",
        "autodocs_sessions_max",
        "autodocs_sessions_evicted",
        "autodocs_sessions_refused",
        "autodocs_python_allocated_blocks",
    ):
        assert name in families, name
    calls = {
        (s.labels["tool"], s.labels["outcome"]): s.value
        for s in families["autodocs_tool_calls"].samples
        if s.name == "autodocs_tool_calls_total"
    }
    assert calls[("get_package_docs", "ok")] >= 1
    assert as_json["requests"]["calls"]["get_package_docs"]["ok"] >= 1
    assert as_json["upstream"]["pool"]["max_connections"] == 20
    assert as_json["sessions_max"] == 1000 and as_json["sessions_evicted_total"] == 0
    blocks = families["autodocs_python_allocated_blocks"].samples[0].value
    assert blocks > 10_000 and as_json["python"]["allocated_blocks"] > 10_000  # a live interpreter, not a zero


async def test_sse_response_mode_serves_the_same_tools(pypi_mock: ManagedProcess, tmp_path: Path) -> None:
    proc = start_server(tmp_path, pypi_mock.base_url, "--response-mode", "sse")
    try:
        is_error, result, _ = await call(f"{proc.base_url}/mcp", "get_package_docs", {"package_name": "anyio"})
        assert not is_error and result["package_name"].lower() == "anyio"
        async with httpx2.AsyncClient() as http:
            response = await http.post(
                f"{proc.base_url}/mcp",
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "0"},
                    },
                },
                headers={"Accept": "application/json, text/event-stream"},
            )
        assert response.headers["content-type"].startswith("text/event-stream")
    finally:
        proc.stop()


async def test_a_bearer_token_guards_mcp_and_metrics_but_not_the_probes(
    pypi_mock: ManagedProcess, tmp_path: Path
) -> None:
    token = "test-token-0123456789abcdef"
    proc = start_server(tmp_path, pypi_mock.base_url, AUTODOCS_HTTP_TOKEN=token)
    try:
        async with httpx2.AsyncClient(base_url=proc.base_url) as http:
            init = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "0"},
                },
            }
            accept = {"Accept": "application/json, text/event-stream"}
            assert (await http.post("/mcp", json=init, headers=accept)).status_code == 401
            wrong = {**accept, "Authorization": "Bearer wrong-token-0123456789abcd"}
            assert (await http.post("/mcp", json=init, headers=wrong)).status_code == 401
            basic = {**accept, "Authorization": f"Basic {token}"}
            assert (await http.post("/mcp", json=init, headers=basic)).status_code == 401
            assert (await http.get("/metrics")).status_code == 401
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
        async with mcp_session(f"{proc.base_url}/mcp", headers={"Authorization": f"Bearer {token}"}) as client:
            result = await client.call_tool("get_package_docs", {"package_name": "sniffio"})
        assert not result.is_error
    finally:
        proc.stop()


def _all_cache_files_valid(cache_dir: Path) -> list[str]:
    problems = []
    for path in cache_dir.rglob("*"):
        if path.is_file():
            try:
                json.loads(path.read_bytes())
            except ValueError:
                problems.append(str(path))
            if not path.name.endswith(".json"):
                problems.append(str(path))
    return problems


async def test_killing_the_server_mid_burst_leaves_only_valid_cache_files(
    pypi_mock: ManagedProcess, tmp_path: Path
) -> None:
    import asyncio
    import signal

    cache_dir = tmp_path / "cache"
    proc = start_server(tmp_path / "first", pypi_mock.base_url, cache_dir=str(cache_dir))
    names = [f"crash-pkg-{i}" for i in range(60)]
    url = f"{proc.base_url}/mcp"
    try:
        async with mcp_session(url) as client:
            tasks = [asyncio.create_task(client.call_tool("get_package_docs", {"package_name": n})) for n in names]
            await eventually(lambda: any(cache_dir.rglob("*.json")), what="first cache file")
            proc.signal_leader(signal.SIGKILL)
            await asyncio.gather(*tasks, return_exceptions=True)
    except BaseException:  # the client sees the connection die; that is the point of the test
        pass
    finally:
        proc.stop()
    assert proc.popen.returncode == -signal.SIGKILL

    restarted = start_server(tmp_path / "second", pypi_mock.base_url, cache_dir=str(cache_dir))
    try:
        assert _all_cache_files_valid(cache_dir) == []
        for name in names[:10]:
            is_error, result, _ = await call(f"{restarted.base_url}/mcp", "get_package_docs", {"package_name": name})
            assert not is_error, result
        wait_for_cache_writes(restarted.base_url)
        assert _all_cache_files_valid(cache_dir) == []
    finally:
        restarted.stop()

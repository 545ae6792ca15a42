"""What the server says it can do, on both protocol revisions, and how it answers a prompt or resource it lacks.

The real server process on 127.0.0.1, spoken to by the official SDK client with the handshake (``legacy``) and
the 2026-07-28 revision (``auto``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types import INVALID_PARAMS, METHOD_NOT_FOUND, ResourceTemplateReference

from tests.support.mcp_client import PROTOCOL_MODES, mcp_session
from tests.support.processes import ManagedProcess, start_server


@pytest.fixture(scope="module")
def server(pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    proc = start_server(tmp_path_factory.mktemp("capabilities"), pypi_mock.base_url)
    try:
        yield proc
    finally:
        proc.stop()


def log_events(proc: ManagedProcess) -> list[dict[str, object]]:
    assert proc.log_path is not None
    events = []
    for line in proc.log_path.read_text(errors="replace").splitlines():
        if line.startswith('{"'):  # not the startup banner's JSON snippet
            events.append(json.loads(line))
    return events


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_capabilities_advertise_exactly_what_is_served_and_nothing_that_changes_or_can_be_subscribed_to(
    server: ManagedProcess, mode: str
) -> None:
    async with mcp_session(f"{server.base_url}/mcp", mode=mode) as client:
        capabilities = client.server_capabilities
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        assert capabilities.tools is not None and not capabilities.tools.list_changed
        assert capabilities.resources is not None
        assert not capabilities.resources.subscribe and not capabilities.resources.list_changed
        assert capabilities.prompts is not None and not capabilities.prompts.list_changed
        assert capabilities.completions is not None  # the docs template's package and version arguments
        assert capabilities.logging is not None
        # what is advertised is served
        assert (await client.list_prompts()).prompts == []
        assert len((await client.list_tools()).tools) == 8
        assert (await client.list_resources()).resources == []  # an empty cache holds no releases yet
        templates = (await client.list_resource_templates()).resource_templates
        assert [template.uri_template for template in templates] == ["autodocs://{package}/{version}"]
        completion = ResourceTemplateReference(uri="autodocs://{package}/{version}")
        assert (await client.complete(completion, {"name": "package", "value": "req"})).completion.values == []
        with pytest.raises(MCPError) as subscribe, pytest.warns(MCPDeprecationWarning):  # gone in 2026-07-28
            await client.subscribe_resource("autodocs://requests/2.32.3")
        assert subscribe.value.code == METHOD_NOT_FOUND


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_an_unknown_prompt_or_resource_is_invalid_params_with_a_plain_message_logged_at_info(
    server: ManagedProcess, mode: str
) -> None:
    long_name = "p" * 10_000
    async with mcp_session(f"{server.base_url}/mcp", mode=mode) as client:
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt(long_name)
        with pytest.raises(MCPError) as resource:
            await client.read_resource("autodocs://nope/" + "r" * 10_000)
    assert prompt.value.code == INVALID_PARAMS and resource.value.code == INVALID_PARAMS
    assert prompt.value.message.startswith("unknown prompt 'ppp") and len(prompt.value.message) < 200
    assert resource.value.message.startswith("unknown resource 'autodocs://nope/") and len(resource.value.message) < 200
    events = log_events(server)
    assert any(e.get("event") == "unknown_prompt" and e.get("level") == "info" for e in events)
    assert not [e for e in events if e.get("level") == "error" or "exc_info" in e or "exception" in e]

"""The HTTP startup banner's text: a URL a client can use, whatever address the server was bound to."""

from __future__ import annotations

import json

from autodocs_mcp.banner import TOKEN_PLACEHOLDER, banner, client_config, mcp_url


def test_the_url_names_the_bound_host_and_port_and_the_mcp_path() -> None:
    assert mcp_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/mcp"
    assert mcp_url("docs.internal", 9000) == "http://docs.internal:9000/mcp"


def test_a_bind_all_address_is_shown_as_loopback_with_a_word_for_other_machines() -> None:
    assert mcp_url("0.0.0.0", 8000) == "http://127.0.0.1:8000/mcp"
    assert mcp_url("::", 8000) == "http://[::1]:8000/mcp"
    assert "other machines use this machine's address" in banner("0.0.0.0", 8000, token_required=False)
    assert "other machines" not in banner("127.0.0.1", 8000, token_required=False)


def test_an_ipv6_host_is_bracketed_in_the_url() -> None:
    assert mcp_url("::1", 8000) == "http://[::1]:8000/mcp"


def test_the_json_config_in_the_banner_is_the_one_clients_are_given() -> None:
    text = banner("127.0.0.1", 8123, token_required=True)
    start = text.index('{\n  "mcpServers"')
    pasted, _ = json.JSONDecoder().raw_decode(text, start)
    assert pasted == client_config("http://127.0.0.1:8123/mcp", token_required=True)
    assert pasted["mcpServers"]["autodocs"]["headers"] == {"Authorization": f"Bearer {TOKEN_PLACEHOLDER}"}


def test_without_a_token_the_configs_carry_no_authorization_header() -> None:
    text = banner("127.0.0.1", 8000, token_required=False)
    assert "Authorization" not in text and "--header" not in text

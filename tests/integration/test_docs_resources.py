"""Cached releases as MCP resources (``autodocs://{package}/{version}``), through the real server and the SDK client.

The server runs as a process on 127.0.0.1 against the PyPI mock, over a cache folder seeded beforehand with
``SEEDED_PACKAGES`` x 2 releases of the mock's own documents (as a restarted server finds a warm cache), so the
listing has more than two pages. The official SDK client speaks to it on both revisions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, PromptReference, ResourceTemplateReference, TextResourceContents
from packaging.version import Version

from autodocs_mcp.cache import DocCache
from autodocs_mcp.metadata import parse_release
from autodocs_mcp.resources import COMPLETION_VALUES, RESOURCE_PAGE_SIZE, URI_TEMPLATE
from pypi_mock.data import build_project, version_json
from tests.support.mcp_client import PROTOCOL_MODES, mcp_session
from tests.support.processes import ManagedProcess, start_server

SEEDED_PACKAGES = 120
"""Two releases each: 240 releases, three pages of ``RESOURCE_PAGE_SIZE``, and more than ``COMPLETION_VALUES``
package names starting with ``seeded-``."""
TEMPLATE = ResourceTemplateReference(uri=URI_TEMPLATE)


def seeded_name(number: int) -> str:
    return f"seeded-{number:03d}"


async def seed(cache_dir: Path) -> set[str]:
    """The mock's documents for two releases of each seeded package, cached the way the server caches them."""
    cache = DocCache(cache_dir)
    uris = set()
    for number in range(SEEDED_PACKAGES):
        name = seeded_name(number)
        project = build_project(name)
        assert project is not None
        for version in sorted(project.releases, key=Version)[:2]:
            meta = parse_release(json.loads(version_json(name, version) or b"null"), max_description_chars=50_000)
            await cache.put_version(name, meta.version, meta.to_cache_dict())
            uris.add(f"autodocs://{name}/{Version(meta.version)}")
    await cache.close()
    return uris


@pytest.fixture(scope="module")
def server(pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    folder = tmp_path_factory.mktemp("resources")
    seeded = asyncio.run(seed(folder / "cache"))
    proc = start_server(folder, pypi_mock.base_url, cache_dir=str(folder / "cache"))
    proc.extra["seeded"] = seeded
    try:
        yield proc
    finally:
        proc.stop()


async def all_pages(client: Client) -> list[list[Any]]:
    pages = []
    cursor: str | None = None
    while True:
        page = await client.list_resources(cursor=cursor)
        pages.append(page.resources)
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor must move on"


async def docs_text(client: Client, package: str, version: str) -> str:
    result = await client.call_tool("get_package_docs", {"package_name": package, "version_constraint": version})
    assert not result.is_error, result.structured_content
    return result.content[0].text  # type: ignore[union-attr]


async def read_text(client: Client, uri: str) -> TextResourceContents:
    contents = (await client.read_resource(uri)).contents
    assert len(contents) == 1 and isinstance(contents[0], TextResourceContents)
    return contents[0]


def log_events(proc: ManagedProcess) -> list[dict[str, Any]]:
    assert proc.log_path is not None
    lines = proc.log_path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith('{"')]  # not the startup banner's JSON snippet


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_release_fetched_by_get_package_docs_is_listed_and_reads_back_the_same_documentation(
    server: ManagedProcess, mode: str
) -> None:
    async with mcp_session(f"{server.base_url}/mcp", mode=mode) as client:
        text = await docs_text(client, "requests", "2.32.3")
        listed = {resource.uri: resource for page in await all_pages(client) for resource in page}
        assert "autodocs://requests/2.32.3" in listed
        resource = listed["autodocs://requests/2.32.3"]
        assert resource.mime_type == "text/markdown" and resource.name == "requests==2.32.3"
        contents = await read_text(client, "autodocs://requests/2.32.3")
        assert contents.text == text and contents.mime_type == "text/markdown"
        assert contents.uri == "autodocs://requests/2.32.3"
        # any spelling of the name reads the same release
        assert (await read_text(client, "autodocs://Requests/2.32.3")).text == text


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_reading_a_release_not_yet_cached_fetches_it_as_the_tool_does_and_then_lists_it(
    server: ManagedProcess, mode: str
) -> None:
    version = "0.26.0" if mode == "legacy" else "0.25.2"
    uri = f"autodocs://httpx/{version}"
    async with mcp_session(f"{server.base_url}/mcp", mode=mode) as client:
        listed = {resource.uri for page in await all_pages(client) for resource in page}
        assert uri not in listed
        read = (await read_text(client, uri)).text
        result = await client.call_tool("get_package_docs", {"package_name": "httpx", "version_constraint": version})
        assert result.structured_content is not None and result.structured_content["from_cache"] is True
        assert result.content[0].text == read  # type: ignore[union-attr]
        assert uri in {resource.uri for page in await all_pages(client) for resource in page}


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_the_listing_walks_every_cached_release_in_pages_of_a_bounded_size_in_a_stable_order(
    server: ManagedProcess, mode: str
) -> None:
    async with mcp_session(f"{server.base_url}/mcp", mode=mode) as client:
        pages = await all_pages(client)
        again = await all_pages(client)
    uris = [resource.uri for page in pages for resource in page]
    assert len(pages) >= 3 and all(0 < len(page) <= RESOURCE_PAGE_SIZE for page in pages)
    assert len(pages[0]) == RESOURCE_PAGE_SIZE
    assert len(uris) == len(set(uris)), "no release is listed twice"
    assert server.extra["seeded"] <= set(uris)
    order = [(uri.split("/")[2], Version(uri.split("/")[3])) for uri in uris]
    assert order == sorted(order), "by package, then version"
    assert [resource.uri for page in again for resource in page] == uris


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_the_one_template_is_listed_with_its_mime_type(server: ManagedProcess, mode: str) -> None:
    async with mcp_session(f"{server.base_url}/mcp", mode=mode) as client:
        templates = (await client.list_resource_templates()).resource_templates
    assert [(t.uri_template, t.mime_type) for t in templates] == [("autodocs://{package}/{version}", "text/markdown")]
    assert templates[0].description and "get_package_docs" in templates[0].description


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_completion_offers_cached_package_names_by_normalised_prefix_and_the_cached_versions_of_one(
    server: ManagedProcess, mode: str
) -> None:
    project = build_project("seeded-007")
    assert project is not None
    cached = [str(Version(v)) for v in sorted(project.releases, key=Version)[:2]]

    async def complete(name: str, value: str, package: str | None = None) -> Any:
        context = None if package is None else {"package": package}
        return (await client.complete(TEMPLATE, {"name": name, "value": value}, context_arguments=context)).completion

    async with mcp_session(f"{server.base_url}/mcp", mode=mode) as client:
        some = await complete("package", "seeded-01")
        spelled = await complete("package", "Seeded_01")
        many = await complete("package", "seed")
        none = await complete("package", "zz-not-cached")
        versions = await complete("version", "", package="seeded-007")
        by_prefix = await complete("version", cached[1][:3], package="Seeded.007")
        no_package = await complete("version", "1")
        with pytest.raises(MCPError) as prompt:
            await client.complete(PromptReference(name="nope"), {"name": "arg", "value": ""})
        with pytest.raises(MCPError) as argument:
            await client.complete(TEMPLATE, {"name": "colour", "value": ""})
    assert some.values == [seeded_name(n) for n in range(10, 20)] and not some.has_more
    assert spelled.values == some.values
    assert len(many.values) == COMPLETION_VALUES and many.has_more
    assert many.values == sorted(many.values) and all(value.startswith("seed") for value in many.values)
    assert none.values == [] and no_package.values == []
    assert versions.values == cached
    assert cached[1] in by_prefix.values and all(v.startswith(cached[1][:3]) for v in by_prefix.values)
    assert prompt.value.code == INVALID_PARAMS and prompt.value.message.startswith("unknown prompt 'nope'")
    assert argument.value.code == INVALID_PARAMS and "colour" in argument.value.message


# (URI, what the message must say after "unknown resource '...")
UNKNOWN = [
    ("autodocs://missing-widget/1.0", "not found on PyPI"),
    ("autodocs://requests/9.9.9", "No release of requests matches"),
    ("autodocs://requests/not-a-version", "is not a PEP 440 version"),
    ("autodocs://requests/>=2.0", "is not a PEP 440 version"),
    ("autodocs://requests/", "is not a PEP 440 version"),
    ("autodocs://re%20quests/2.0", "is not a PyPI package name"),
    ("autodocs://requests/" + "9" * 300, "at most 100"),
    ("autodocs://requests/" + "r" * 10_000, "characters long"),
    ("autodocs://requests/2.32.3/extra", "resources/list names the ones this server has"),
    ("autodocs://requests/..", "resources/list names the ones this server has"),
    ("https://pypi.org/project/requests", "resources/list names the ones this server has"),
]


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_an_unknown_or_invalid_uri_or_cursor_is_invalid_params_with_a_plain_message(
    server: ManagedProcess, mode: str
) -> None:
    async with mcp_session(f"{server.base_url}/mcp", mode=mode) as client:
        for uri, reason in UNKNOWN:
            with pytest.raises(MCPError) as raised:
                await client.read_resource(uri)
            error = raised.value
            assert error.code == INVALID_PARAMS, (uri, error.code, error.message)
            assert error.message.startswith(f"unknown resource {uri[:20]!r}"[:-1]), (uri, error.message)
            assert reason in error.message, (uri, error.message)
            assert len(error.message) < 400 and "\n" not in error.message and "Traceback" not in error.message
        for cursor in ("not a cursor", "x" * 5000, "c2VlZGVk"):
            with pytest.raises(MCPError) as bad_cursor:
                await client.list_resources(cursor=cursor)
            assert bad_cursor.value.code == INVALID_PARAMS
            assert bad_cursor.value.message.startswith("invalid cursor")
    events = log_events(server)
    assert any(e.get("event") == "unknown_resource" and e.get("level") == "info" for e in events)
    assert not [e for e in events if e.get("level") == "error" or "exc_info" in e or "exception" in e]

"""The memory budget on a real server process against the real PyPI mock: distinct cold packages (one in ten
missing) until every in-memory tier has filled and churned, with ``/metrics`` read between batches.

The budget is small (2 MiB, 400 entries) so a few hundred names fill every tier; the 100,000-package flood through
the store itself is ``tests/unit/test_store.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from autodocs_mcp.budget import TIER_SHARES
from tests.reliability.harness import AsyncMcpHttp
from tests.support.processes import ManagedProcess, start_server
from tests.support.serverstats import metrics

MIB = 1024 * 1024
BUDGET_MB = 2
ENTRIES = 400
NAMES = 600
BATCH = 50


@pytest.fixture(scope="module")
def server(pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    proc = start_server(
        tmp_path_factory.mktemp("budget"),
        pypi_mock.base_url,
        AUTODOCS_MEMORY_BUDGET_MB=str(BUDGET_MB),
        AUTODOCS_MEMORY_CACHE_ENTRIES=str(ENTRIES),
    )
    try:
        yield proc
    finally:
        proc.stop()


def name_of(number: int) -> str:
    return f"missing-budget-{number}" if number % 10 == 0 else f"budget-flood-{number}"


async def cold_calls(base_url: str, numbers: range) -> list[str | None]:
    async with AsyncMcpHttp(base_url, connections=8) as mcp:
        replies = await asyncio.gather(*(mcp.call("get_package_docs", {"package_name": name_of(n)}) for n in numbers))
    return [reply.code for reply in replies]


def test_distinct_cold_packages_fill_every_tier_to_its_share_and_the_sum_stays_under_the_budget(
    server: ManagedProcess,
) -> None:
    peak = 0
    for start in range(0, NAMES, BATCH):
        numbers = range(start, start + BATCH)
        codes = asyncio.run(cold_calls(server.base_url, numbers))
        assert codes == ["package_not_found" if n % 10 == 0 else "ok" for n in numbers]
        cache = metrics(server.base_url)["cache"]
        peak = max(peak, cache["memory_bytes"])
        assert cache["memory_bytes"] <= cache["memory_bytes_limit"] == BUDGET_MB * MIB
        assert cache["memory_entries"] <= cache["memory_entries_limit"] == ENTRIES
        assert cache["memory_bytes"] == sum(tier["bytes"] for tier in cache["tiers"].values())
        for name, tier in cache["tiers"].items():
            assert tier["bytes"] <= tier["bytes_limit"], name
            assert tier["entries"] <= tier["entries_limit"], name
    tiers = metrics(server.base_url)["cache"]["tiers"]
    assert set(tiers) == set(TIER_SHARES)
    assert all(tier["evictions"] > 0 for tier in tiers.values()), {n: t["evictions"] for n, t in tiers.items()}
    assert peak >= 0.8 * BUDGET_MB * MIB, f"the tiers filled to {peak} bytes only"


def test_prometheus_shows_every_tiers_entries_bytes_and_caps_and_the_budget(server: ManagedProcess) -> None:
    asyncio.run(cold_calls(server.base_url, range(NAMES, NAMES + 20)))
    text = httpx2.get(f"{server.base_url}/metrics", timeout=10.0, trust_env=False).text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    snapshot = metrics(server.base_url)["cache"]
    for family, key in (
        ("autodocs_memory_tier_entries", "entries"),
        ("autodocs_memory_tier_bytes", "bytes"),
        ("autodocs_memory_tier_entries_limit", "entries_limit"),
        ("autodocs_memory_tier_bytes_limit", "bytes_limit"),
    ):
        shown = {sample.labels["tier"]: sample.value for sample in families[family].samples}
        assert set(shown) == set(TIER_SHARES), family
        if key.endswith("limit"):
            assert shown == {name: tier[key] for name, tier in snapshot["tiers"].items()}
        else:
            assert all(value > 0 for value in shown.values()), (family, shown)
    assert [s.value for s in families["autodocs_memory_budget_bytes"].samples] == [BUDGET_MB * MIB]
    memory = [s.value for s in families["autodocs_cache_size_bytes"].samples if s.labels["tier"] == "memory"]
    assert memory and memory[0] <= BUDGET_MB * MIB

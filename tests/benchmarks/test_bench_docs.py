"""Timings of the per-call pure work: rendering a 40 KB description, and selecting + ranking 30 dependencies.

Both run on every docs call, even a fully cached one (cached metadata is re-rendered per query), so they sit on
the hot path of a warm server. Dependency selection is timed cold (requirement-parse memo cleared each round)
and warm (the steady state for popular packages). The ``*_stays_fast`` checks time medians with ``perf_counter`` so they
also guard regressions under ``--benchmark-disable``; their bounds are loose because the machine is shared.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from pytest_benchmark.fixture import BenchmarkFixture

from autodocs_mcp.dependencies import _parse_string, rank_dependencies, runtime_dependencies
from autodocs_mcp.docs import render_docs
from autodocs_mcp.metadata import PackageMetadata

ENVIRONMENT = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux"}


def _description(target_chars: int = 40_000) -> str:
    """Realistic README shape: headings at several levels, prose, lists and fenced code with ``#`` comments."""
    parts: list[str] = ["Demo is a library for doing demo things quickly and safely.\n\n"]
    i = 0
    while sum(len(p) for p in parts) < target_chars:
        parts.append(f"## Topic {i}: configuring the widget pool\n\n")
        parts.append("The widget pool keeps connections warm and bounded. " * 6 + "\n\n")
        parts.append(f"### Example {i}\n\n```python\n# create a pool\npool = demo.Pool(size={i})\n")
        parts.append("pool.start()\n```\n\n")
        parts.append("- option one controls timeouts\n- option two controls retries\n\n")
        i += 1
    return "".join(parts)[:target_chars]


META = PackageMetadata(
    name="demo",
    version="1.2.3",
    summary="A demo package for benchmarks.",
    description=_description(),
    description_content_type="text/markdown",
    home_page="https://demo.example",
    project_urls={"Documentation": "https://docs.demo.example", "Source": "https://src.demo.example"},
    requires_dist=("requests>=2", "click; extra == 'cli'"),
    requires_python=">=3.9",
    license="MIT",
)

REQUIRES_DIST = [
    "pydantic>=2.5,<3",
    "starlette>=0.40",
    "anyio>=4",
    "httpx>=0.27",
    "typing-extensions>=4.8",
    "sniffio",
    "idna>=3",
    "certifi",
    "click>=8; extra == 'cli'",
    "rich>=13; extra == 'cli'",
    "jinja2>=3.1",
    "markupsafe>=2",
    "sqlalchemy[asyncio]>=2.0",
    "numpy>=1.26; python_version >= '3.9'",
    "tomli>=2; python_version < '3.11'",
    "exceptiongroup; python_version < '3.11'",
    "colorama; sys_platform == 'win32'",
    "uvloop>=0.19; sys_platform != 'win32'",
    "pyyaml>=6",
    "orjson>=3.9",
    "attrs>=23",
    "packaging>=24",
    "python-dateutil>=2.8",
    "pytest>=8; extra == 'test'",
    "coverage[toml]>=7; extra == 'test'",
    "mkdocs>=1.5; extra == 'docs'",
    "urllib3>=2,<3",
    "werkzeug>=3",
    "six",
    "protobuf>=4.25",
]


def _median_seconds(work: Callable[[], object], rounds: int = 60) -> float:
    work()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _select_and_rank() -> list[str]:
    deps = runtime_dependencies(REQUIRES_DIST, environment=ENVIRONMENT)
    return [d.name for d in rank_dependencies(deps, scope="smart", max_dependencies=8)]


def test_the_fixture_description_is_40_kb_with_many_sections() -> None:
    assert len(META.description) == 40_000
    assert render_docs(META, query=None, max_chars=100_000).sections_total > 100
    assert len(REQUIRES_DIST) == 30


def test_bench_render_docs_40kb(benchmark: BenchmarkFixture) -> None:
    rendered = benchmark(render_docs, META, query=None, max_chars=100_000)
    assert not rendered.truncated


def test_bench_render_docs_40kb_with_query(benchmark: BenchmarkFixture) -> None:
    rendered = benchmark(render_docs, META, query="Example 7 retries", max_chars=100_000)
    assert 0 < rendered.sections_matched < rendered.sections_total


def test_bench_render_docs_40kb_capped(benchmark: BenchmarkFixture) -> None:
    rendered = benchmark(render_docs, META, query=None, max_chars=8_000)
    assert rendered.truncated


def _select_and_rank_cold() -> list[str]:
    _parse_string.cache_clear()
    return _select_and_rank()


def test_bench_select_and_rank_30_dependencies_cold(benchmark: BenchmarkFixture) -> None:
    ranked = benchmark(_select_and_rank_cold)
    assert ranked[0] == "pydantic"


def test_bench_select_and_rank_30_dependencies_warm(benchmark: BenchmarkFixture) -> None:
    _select_and_rank()
    ranked = benchmark(_select_and_rank)
    assert ranked[0] == "pydantic"


def test_render_docs_40kb_stays_fast() -> None:
    assert _median_seconds(lambda: render_docs(META, query="pool timeouts", max_chars=100_000)) < 0.002


def test_select_and_rank_30_dependencies_stays_fast() -> None:
    assert _median_seconds(_select_and_rank_cold) < 0.01
    assert _median_seconds(_select_and_rank) < 0.002

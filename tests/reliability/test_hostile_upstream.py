"""Attacks from upstream: a package index that lies, chokes parsers, plays redirect games or abuses Retry-After.

Each scenario is served by ``hostile_upstream.py`` under its own project name; the server must answer with the
structured error code a caller can act on (or a success, when only optional fields are odd), within the per-call
deadline, and go on serving normal calls with its memory and descriptors back where they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from pypi_mock.admin import set_faults
from tests.reliability.harness import Attack, Ledger, McpHttp, running, server, usage
from tests.support.processes import ManagedProcess

REQUEST_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 3
UPSTREAM_ENV = {
    "AUTODOCS_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT_S),
    "AUTODOCS_MAX_RETRY_ATTEMPTS": str(MAX_ATTEMPTS),
    "AUTODOCS_CIRCUIT_BREAKER_THRESHOLD": "1000",  # these tests judge each answer, not the breaker
}


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory, hostile_upstream: str) -> Iterator[ManagedProcess]:
    proc = server(tmp_path_factory, hostile_upstream, "hostile-upstream-server", **UPSTREAM_ENV)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def faulty_mock_server(tmp_path_factory: pytest.TempPathFactory, pypi_mock: ManagedProcess) -> Iterator[ManagedProcess]:
    env = {**UPSTREAM_ENV, "AUTODOCS_REQUEST_TIMEOUT": "2", "AUTODOCS_MAX_RETRY_ATTEMPTS": "2"}
    proc = server(tmp_path_factory, pypi_mock.base_url, "faulty-mock-server", **env)
    try:
        yield proc
    finally:
        proc.stop()


def upstream_counts(hostile_upstream: str) -> dict[str, int]:
    with httpx2.Client(timeout=5.0, trust_env=False) as client:
        counts: dict[str, int] = client.get(f"{hostile_upstream}/_log").json()["counts"]
    return counts


def reset_upstream_log(hostile_upstream: str) -> None:
    with httpx2.Client(timeout=5.0, trust_env=False) as client:
        client.get(f"{hostile_upstream}/_log/reset").raise_for_status()


def run_scenarios(
    attack: Attack,
    scenarios: list[tuple[str, str, dict[str, Any], str, float]],
    hostile_upstream: str | None = None,
    attempts: dict[str, int] | None = None,
) -> None:
    """Each scenario: (label, tool, arguments, expected code, max seconds); ``attempts`` pins upstream requests."""
    if hostile_upstream is not None:
        reset_upstream_log(hostile_upstream)
    with McpHttp(attack.base_url) as mcp:
        for label, tool, arguments, expected, max_s in scenarios:
            reply = mcp.call(tool, arguments)
            attack.check(
                reply.code == expected and reply.seconds <= max_s,
                f"{label}: got {reply.code} in {reply.seconds:.2f}s, want {expected} within {max_s}s "
                f"({reply.text[:200]})",
            )
    if hostile_upstream is not None and attempts:
        seen = upstream_counts(hostile_upstream)
        for scenario, expected_attempts in attempts.items():
            attack.check(
                seen.get(scenario, 0) == expected_attempts,
                f"{scenario}: {seen.get(scenario, 0)} upstream requests, want {expected_attempts}",
            )


def docs(name: str) -> tuple[str, dict[str, Any]]:
    return "get_package_docs", {"package_name": name}


def test_wrong_json_types_and_absurd_fields_are_coerced_or_refused(
    hostile_server: ManagedProcess, hostile_upstream: str, ledger: Ledger
) -> None:
    attack = Attack(
        "upstream: wrong types in info, absurd requires_dist", hostile_server.pid, hostile_server.base_url, ledger
    )
    bound = REQUEST_TIMEOUT_S
    run_scenarios(
        attack,
        [
            ("odd optional fields", *docs("wrong-types"), "ok", bound),
            ("info.name is a number", *docs("bad-name-type"), "upstream_invalid_response", bound),
            ("info.version is an object", *docs("bad-version-type"), "upstream_invalid_response", bound),
            ("info is a list", *docs("info-is-a-list"), "upstream_invalid_response", bound),
            ("top level is an array", *docs("top-level-array"), "upstream_invalid_response", bound),
        ],
    )
    with McpHttp(hostile_server.base_url) as mcp:
        reply = mcp.call("get_package_docs_with_context", {"package_name": "absurd-requires"})
        context = reply.structured.get("context", {})
        dependencies = context.get("runtime_dependencies", [])
        invalid = context.get("invalid_requirements", [])
        attack.check(
            reply.code == "ok" and 0 < len(dependencies) <= 8 and all(len(str(i)) <= 200 for i in invalid),
            f"absurd requires_dist: {reply.code}, {len(dependencies)} deps, {len(invalid)} invalid",
        )
        attack.check(len(reply.text) < 200_000, f"absurd requires_dist answer is {len(reply.text)} characters")
        odd = mcp.call("get_package_docs", {"package_name": "wrong-types"})
        attack.check(
            "12345" not in odd.text and odd.structured.get("package_name") == "wrong-types",
            "wrong-typed summary leaked into the documentation",
        )
    attack.assert_clean()


def test_unparseable_bodies_are_upstream_invalid_response(
    hostile_server: ManagedProcess, hostile_upstream: str, ledger: Ledger
) -> None:
    attack = Attack("upstream: non-UTF-8 body, 100k-deep JSON", hostile_server.pid, hostile_server.base_url, ledger)
    bound = REQUEST_TIMEOUT_S
    run_scenarios(
        attack,
        [
            ("non-UTF-8 bytes", *docs("non-utf8"), "upstream_invalid_response", bound),
            ("100k nested arrays", *docs("deep-nesting"), "upstream_invalid_response", bound),
            ("100k nested objects", *docs("deep-objects"), "upstream_invalid_response", bound),
        ],
        hostile_upstream,
        attempts={"non-utf8": MAX_ATTEMPTS, "deep-nesting": MAX_ATTEMPTS, "deep-objects": MAX_ATTEMPTS},
    )
    attack.assert_clean()


def test_oversized_bodies_are_capped_not_read(
    hostile_server: ManagedProcess, hostile_upstream: str, ledger: Ledger
) -> None:
    attack = Attack(
        "upstream: 10 MB description, endless body, 5 MB description",
        hostile_server.pid,
        hostile_server.base_url,
        ledger,
        rss_allowance_mb=30.0,
    )
    bound = REQUEST_TIMEOUT_S
    run_scenarios(
        attack,
        [
            ("10 MB single-line description", *docs("huge-description"), "doc_too_large", bound),
            ("chunked body that never ends", *docs("endless-body"), "doc_too_large", bound),
            ("Content-Length of 1 TB", *docs("length-huge"), "doc_too_large", bound),
        ],
        hostile_upstream,
        attempts={"huge-description": 1, "endless-body": 1, "length-huge": 1},
    )
    with McpHttp(hostile_server.base_url) as mcp:
        reply = mcp.call("get_package_docs", {"package_name": "big-description"})
        attack.check(
            reply.code == "ok" and reply.structured.get("truncated") is True and len(reply.text) < 60_000,
            f"5 MB description: {reply.code}, truncated={reply.structured.get('truncated')}, {len(reply.text)} chars",
        )
    attack.notes = "upstream body cap 8 MiB (default); description cut to AUTODOCS_MAX_DOC_SIZE"
    attack.assert_clean()


def test_redirect_games_are_refused(hostile_server: ManagedProcess, hostile_upstream: str, ledger: Ledger) -> None:
    attack = Attack(
        "upstream: redirect loop, other origin, unparseable Location",
        hostile_server.pid,
        hostile_server.base_url,
        ledger,
    )
    bound = REQUEST_TIMEOUT_S
    run_scenarios(
        attack,
        [
            ("redirect loop", *docs("redirect-loop"), "upstream_invalid_response", bound),
            ("redirect to evil.example", *docs("redirect-away"), "upstream_invalid_response", bound),
            ("Location http://[::1", *docs("redirect-unparseable"), "upstream_invalid_response", bound),
            ("Location port 99999", *docs("redirect-bad-port"), "upstream_invalid_response", bound),
        ],
        hostile_upstream,
        attempts={"redirect-loop": 4, "redirect-away": 1, "redirect-unparseable": 1, "redirect-bad-port": 1},
    )
    attack.assert_clean()


def test_lying_lengths_and_headers_are_transport_errors(
    hostile_server: ManagedProcess, hostile_upstream: str, ledger: Ledger
) -> None:
    attack = Attack(
        "upstream: body ends early, lying Content-Length, header flood, status 999",
        hostile_server.pid,
        hostile_server.base_url,
        ledger,
    )
    bound = REQUEST_TIMEOUT_S
    run_scenarios(
        attack,
        [
            ("Content-Length larger than the body", *docs("body-ends-early"), "upstream_unavailable", bound),
            ("Content-Length smaller than the body", *docs("length-too-short"), "upstream_invalid_response", bound),
            ("a normal call after the poisoned connection", *docs("ok-after-lie"), "ok", bound),
            ("Content-Length: twelve", *docs("length-garbage"), "upstream_unavailable", bound),
            ("20,000 response headers", *docs("header-flood"), "upstream_unavailable", bound),
            ("HTTP status 999", *docs("status-999"), "upstream_unavailable", bound),
        ],
        hostile_upstream,
        attempts={"body-ends-early": MAX_ATTEMPTS, "status-999": 1},
    )
    attack.assert_clean()


def test_retry_after_abuse_is_capped_by_the_call_deadline(
    hostile_server: ManagedProcess, hostile_upstream: str, ledger: Ledger
) -> None:
    attack = Attack(
        "upstream: Retry-After huge, negative, HTTP dates, garbage",
        hostile_server.pid,
        hostile_server.base_url,
        ledger,
    )
    fast = 2.0  # a Retry-After past the deadline must fail the call now, not park it
    run_scenarios(
        attack,
        [
            ("Retry-After: 999999999999", *docs("retry-after-huge"), "upstream_unavailable", fast),
            ("Retry-After: -5 (429)", *docs("retry-after-negative"), "upstream_unavailable", fast),
            ("Retry-After: a date in an hour", *docs("retry-after-future-date"), "upstream_unavailable", fast),
            ("Retry-After: a date in 2015", *docs("retry-after-past-date"), "upstream_unavailable", fast),
            ("Retry-After: soon, maybe", *docs("retry-after-garbage"), "upstream_unavailable", REQUEST_TIMEOUT_S),
        ],
        hostile_upstream,
        attempts={
            "retry-after-huge": 1,
            "retry-after-negative": MAX_ATTEMPTS,
            "retry-after-future-date": 1,
            "retry-after-past-date": MAX_ATTEMPTS,
            "retry-after-garbage": MAX_ATTEMPTS,
        },
    )
    attack.assert_clean()


MOCK_FAULTS: list[tuple[str, dict[str, Any], str]] = [
    ("reset", {"reset_rate": 1.0}, "upstream_unavailable"),
    ("hang", {"hang_rate": 1.0}, "upstream_timeout"),
    ("error", {"error_rate": 1.0, "error_status": 503, "retry_after_s": 0.1}, "upstream_unavailable"),
    ("throttle", {"throttle_rate": 1.0, "retry_after_s": 0.1}, "upstream_unavailable"),
    ("malformed", {"malformed_rate": 1.0}, "upstream_invalid_response"),
    ("oversize", {"oversize_rate": 1.0, "oversize_bytes": 20_000_000}, "doc_too_large"),
    ("slow-body", {"slow_body_rate": 1.0}, "upstream_timeout"),
]


def test_every_mock_fault_maps_to_its_error_code(
    faulty_mock_server: ManagedProcess, mock_url: str, ledger: Ledger
) -> None:
    attack = Attack(
        "upstream: mock faults (reset, hang, 503, 429, malformed, oversize, slow body)",
        faulty_mock_server.pid,
        faulty_mock_server.base_url,
        ledger,
    )
    with McpHttp(faulty_mock_server.base_url) as mcp:
        for kind, faults, expected in MOCK_FAULTS:
            name = f"fault-{kind}-target"
            set_faults(mock_url, {**faults, "match": "fault-*"})
            reply = mcp.call("get_package_docs", {"package_name": name})
            attack.check(
                reply.code == expected and reply.seconds <= 2.0 + 2.0,
                f"{kind}: got {reply.code} in {reply.seconds:.2f}s, want {expected} ({reply.text[:160]})",
            )
    set_faults(mock_url, {})
    attack.assert_clean()


BIG_INDEX_BATCH = 12
PLATEAU_MB = 5.0
"""What a third batch of big-index projects may add: by then every bounded memo and the memory tier are full."""


def test_projects_with_thousands_of_releases_do_not_grow_memory_without_bound(
    tmp_path: Path, hostile_upstream: str, ledger: Ledger
) -> None:
    env = {"AUTODOCS_MEMORY_CACHE_MB": "1", "AUTODOCS_REQUEST_TIMEOUT": "30"}
    with running(tmp_path, hostile_upstream, env) as proc:
        attack = Attack(
            f"upstream: 5,000 releases per project, 3 x {BIG_INDEX_BATCH} projects",
            proc.pid,
            proc.base_url,
            ledger,
            rss_allowance_mb=40.0,
        )
        marks: list[float] = []
        with McpHttp(proc.base_url) as mcp:
            for batch in range(3):
                for i in range(BIG_INDEX_BATCH):
                    reply = mcp.call("get_package_docs", {"package_name": f"many-releases-{batch}-{i}"})
                    attack.check(reply.code == "ok" and reply.structured.get("version") == "9.99.9", f"{reply.code}")
                marks.append(usage(proc.pid).rss_mb)
        growth = marks[2] - marks[1]
        attack.check(growth <= PLATEAU_MB, f"RSS grew {growth:.1f} MB over the third batch ({marks})")
        attack.notes = (
            f"memory tier 1 MB; RSS after each batch {marks} MB (the index memo is bounded by bytes, not only by "
            "count; the memory tier counts JSON bytes, ~6x under the heap cost of a big index)"
        )
        attack.assert_clean()

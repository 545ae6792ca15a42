"""Attacks from upstream: a package index that lies, chokes parsers, plays redirect games or abuses Retry-After.

Each scenario is served by ``hostile_upstream.py`` under its own project name; the server must answer with the
structured error code a caller can act on (or a success, when only optional fields are odd), within the per-call
deadline, and go on serving normal calls with its memory and descriptors back where they were.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from pypi_mock.admin import set_faults
from tests.reliability.harness import RSS_ALLOWANCE_MB, Attack, Ledger, McpHttp, ToolReply, running, server, usage
from tests.support.processes import ManagedProcess

REQUEST_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 3
UPSTREAM_ENV = {
    "AUTODOCS_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT_S),
    "AUTODOCS_MAX_RETRY_ATTEMPTS": str(MAX_ATTEMPTS),
    "AUTODOCS_CIRCUIT_BREAKER_THRESHOLD": "1000",  # these tests judge each answer, not the breaker
}
FAIL_FAST_S = 2.0
"""A Retry-After past the call deadline must fail the call now, not park it until the deadline."""
MOCK_FAULT_BOUND_S = 2.0 + 2.0
"""The faulty mock server's 2 s request timeout, plus 2 s of headroom."""
INVALID_RESPONSE = "upstream_invalid_response"
UNAVAILABLE = "upstream_unavailable"


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


def attack_on(proc: ManagedProcess, ledger: Ledger, name: str, rss_allowance_mb: float = RSS_ALLOWANCE_MB) -> Attack:
    """An attack that watches ``proc``: every attack here judges one server by its PID and URL."""
    return Attack(name, proc.pid, proc.base_url, ledger, rss_allowance_mb=rss_allowance_mb)


def check_answer(attack: Attack, label: str, reply: ToolReply, expected: str, max_s: float) -> None:
    """One tally per call: the right code counts only within ``max_s``, since a late answer is a hang to the caller."""
    attack.check(
        reply.code == expected and reply.seconds <= max_s,
        f"{label}: got {reply.code} in {reply.seconds:.2f}s, want {expected} within {max_s}s ({reply.text[:200]})",
    )


@dataclass(frozen=True)
class Scenario:
    """One project the hostile index serves badly, and the answer a caller must get for its documentation.

    ``attempts``, when set, pins how many requests the server sends upstream for it: a retry policy that retries
    what cannot succeed, or gives up on what can, fails the attack even when the final code is right.
    """

    label: str
    package: str
    expected: str
    max_s: float = REQUEST_TIMEOUT_S
    attempts: int | None = None


@dataclass(frozen=True)
class HostileIndex:
    """The server under attack, the hostile index it reads from, and the ledger its attacks are recorded in."""

    server: ManagedProcess
    url: str
    ledger: Ledger

    def attack(self, name: str, rss_allowance_mb: float = RSS_ALLOWANCE_MB) -> Attack:
        """Started before any scenario runs, so the resource baseline is the server's level before the attack."""
        return attack_on(self.server, self.ledger, name, rss_allowance_mb)

    def run(self, attack: Attack, scenarios: Sequence[Scenario]) -> None:
        """Ask for each scenario's documentation in one session, then check the pinned upstream request counts.

        The index's request log is cleared first only when a count is pinned, as the counts are all it is read for.
        """
        pinned = [scenario for scenario in scenarios if scenario.attempts is not None]
        if pinned:
            reset_upstream_log(self.url)
        with McpHttp(attack.base_url) as mcp:
            for scenario in scenarios:
                reply = mcp.call("get_package_docs", {"package_name": scenario.package})
                check_answer(attack, scenario.label, reply, scenario.expected, scenario.max_s)
        if pinned:
            seen = upstream_counts(self.url)
            for scenario in pinned:
                got = seen.get(scenario.package, 0)
                attack.check(
                    got == scenario.attempts, f"{scenario.package}: {got} upstream requests, want {scenario.attempts}"
                )

    def assert_answers(self, name: str, scenarios: Sequence[Scenario]) -> None:
        """An attack made of scenarios alone: run them, then settle, probe and record its ledger row."""
        attack = self.attack(name)
        self.run(attack, scenarios)
        attack.assert_clean()


@pytest.fixture
def hostile(hostile_server: ManagedProcess, hostile_upstream: str, ledger: Ledger) -> HostileIndex:
    """The three fixtures every hostile-index attack needs, as one, so each test names only what it attacks with."""
    return HostileIndex(hostile_server, hostile_upstream, ledger)


def test_wrong_json_types_and_absurd_fields_are_coerced_or_refused(hostile: HostileIndex) -> None:
    """Odd optional fields must not cost the caller the documentation; wrongly typed required ones are refused."""
    attack = hostile.attack("upstream: wrong types in info, absurd requires_dist")
    hostile.run(
        attack,
        [
            Scenario("odd optional fields", "wrong-types", "ok"),
            Scenario("info.name is a number", "bad-name-type", INVALID_RESPONSE),
            Scenario("info.version is an object", "bad-version-type", INVALID_RESPONSE),
            Scenario("info is a list", "info-is-a-list", INVALID_RESPONSE),
            Scenario("top level is an array", "top-level-array", INVALID_RESPONSE),
        ],
    )
    with McpHttp(attack.base_url) as mcp:
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


def test_unparseable_bodies_are_upstream_invalid_response(hostile: HostileIndex) -> None:
    """A body no parser accepts is the index's fault, not the server's: retried like a transient one, then refused."""
    hostile.assert_answers(
        "upstream: non-UTF-8 body, 100k-deep JSON",
        [
            Scenario("non-UTF-8 bytes", "non-utf8", INVALID_RESPONSE, attempts=MAX_ATTEMPTS),
            Scenario("100k nested arrays", "deep-nesting", INVALID_RESPONSE, attempts=MAX_ATTEMPTS),
            Scenario("100k nested objects", "deep-objects", INVALID_RESPONSE, attempts=MAX_ATTEMPTS),
        ],
    )


def test_oversized_bodies_are_capped_not_read(hostile: HostileIndex) -> None:
    """A body past the cap is refused as it streams in, and not fetched again, so it is never held whole."""
    attack = hostile.attack("upstream: 10 MB description, endless body, 5 MB description", rss_allowance_mb=30.0)
    hostile.run(
        attack,
        [
            Scenario("10 MB single-line description", "huge-description", "doc_too_large", attempts=1),
            Scenario("chunked body that never ends", "endless-body", "doc_too_large", attempts=1),
            Scenario("Content-Length of 1 TB", "length-huge", "doc_too_large", attempts=1),
        ],
    )
    with McpHttp(attack.base_url) as mcp:
        reply = mcp.call("get_package_docs", {"package_name": "big-description"})
        attack.check(
            reply.code == "ok" and reply.structured.get("truncated") is True and len(reply.text) < 60_000,
            f"5 MB description: {reply.code}, truncated={reply.structured.get('truncated')}, {len(reply.text)} chars",
        )
    attack.notes = "upstream body cap 8 MiB (default); description cut to AUTODOCS_MAX_DOC_SIZE"
    attack.assert_clean()


def test_redirect_games_are_refused(hostile: HostileIndex) -> None:
    """Redirects stay on the index's origin and within a few hops, so the index cannot point the server elsewhere."""
    hostile.assert_answers(
        "upstream: redirect loop, other origin, unparseable Location",
        [
            Scenario("redirect loop", "redirect-loop", INVALID_RESPONSE, attempts=4),
            Scenario("redirect to evil.example", "redirect-away", INVALID_RESPONSE, attempts=1),
            Scenario("Location http://[::1", "redirect-unparseable", INVALID_RESPONSE, attempts=1),
            Scenario("Location port 99999", "redirect-bad-port", INVALID_RESPONSE, attempts=1),
        ],
    )


def test_lying_lengths_and_headers_are_transport_errors(hostile: HostileIndex) -> None:
    """Framing an index lies about is a transport fault, and a normal call after the lie still gets its answer."""
    hostile.assert_answers(
        "upstream: body ends early, lying Content-Length, header flood, status 999",
        [
            Scenario("Content-Length larger than the body", "body-ends-early", UNAVAILABLE, attempts=MAX_ATTEMPTS),
            Scenario("Content-Length smaller than the body", "length-too-short", INVALID_RESPONSE),
            Scenario("a normal call after the poisoned connection", "ok-after-lie", "ok"),
            Scenario("Content-Length: twelve", "length-garbage", UNAVAILABLE),
            Scenario("20,000 response headers", "header-flood", UNAVAILABLE),
            Scenario("HTTP status 999", "status-999", UNAVAILABLE, attempts=1),
        ],
    )


def test_retry_after_abuse_is_capped_by_the_call_deadline(hostile: HostileIndex) -> None:
    """Retry-After is advice within the call's deadline: one that cannot be honoured in time fails the call at once."""
    hostile.assert_answers(
        "upstream: Retry-After huge, negative, HTTP dates, garbage",
        [
            Scenario("Retry-After: 999999999999", "retry-after-huge", UNAVAILABLE, FAIL_FAST_S, 1),
            Scenario("Retry-After: -5 (429)", "retry-after-negative", UNAVAILABLE, FAIL_FAST_S, MAX_ATTEMPTS),
            Scenario("Retry-After: a date in an hour", "retry-after-future-date", UNAVAILABLE, FAIL_FAST_S, 1),
            Scenario("Retry-After: a date in 2015", "retry-after-past-date", UNAVAILABLE, FAIL_FAST_S, MAX_ATTEMPTS),
            Scenario("Retry-After: soon, maybe", "retry-after-garbage", UNAVAILABLE, REQUEST_TIMEOUT_S, MAX_ATTEMPTS),
        ],
    )


MOCK_FAULTS: list[tuple[str, dict[str, Any], str]] = [
    ("reset", {"reset_rate": 1.0}, UNAVAILABLE),
    ("hang", {"hang_rate": 1.0}, "upstream_timeout"),
    ("error", {"error_rate": 1.0, "error_status": 503, "retry_after_s": 0.1}, UNAVAILABLE),
    ("throttle", {"throttle_rate": 1.0, "retry_after_s": 0.1}, UNAVAILABLE),
    ("malformed", {"malformed_rate": 1.0}, INVALID_RESPONSE),
    ("oversize", {"oversize_rate": 1.0, "oversize_bytes": 20_000_000}, "doc_too_large"),
    ("slow-body", {"slow_body_rate": 1.0}, "upstream_timeout"),
]


def test_every_mock_fault_maps_to_its_error_code(
    faulty_mock_server: ManagedProcess, mock_url: str, ledger: Ledger
) -> None:
    """Each way a struggling index fails has its own code, so a caller knows whether to wait, retry or give up."""
    attack = attack_on(
        faulty_mock_server, ledger, "upstream: mock faults (reset, hang, 503, 429, malformed, oversize, slow body)"
    )
    with McpHttp(attack.base_url) as mcp:
        for kind, faults, expected in MOCK_FAULTS:
            set_faults(mock_url, {**faults, "match": "fault-*"})
            reply = mcp.call("get_package_docs", {"package_name": f"fault-{kind}-target"})
            check_answer(attack, kind, reply, expected, MOCK_FAULT_BOUND_S)
    set_faults(mock_url, {})
    attack.assert_clean()


BIG_INDEX_BATCH = 12
PLATEAU_MB = 5.0
"""What a third batch of big-index projects may add: by then every in-memory tier is at its share of the budget."""


def test_projects_with_thousands_of_releases_do_not_grow_memory_without_bound(
    tmp_path: Path, hostile_upstream: str, ledger: Ledger
) -> None:
    """A big index is held only in the store's index tier, bounded by measured bytes, so memory levels off however
    many such projects come."""
    env = {"AUTODOCS_MEMORY_BUDGET_MB": "1", "AUTODOCS_REQUEST_TIMEOUT": "30"}
    with running(tmp_path, hostile_upstream, env) as proc:
        name = f"upstream: 5,000 releases per project, 3 x {BIG_INDEX_BATCH} projects"
        attack = attack_on(proc, ledger, name, rss_allowance_mb=40.0)
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
            f"memory budget 1 MB for all tiers; RSS after each batch {marks} MB (a 5,000-release index measures "
            "~1.5 MB, more than the index tier's 20 % share, so it is used for its call and not kept; its JSON "
            "is ~18x under that cost)"
        )
        attack.assert_clean()

"""Nobody let in: the bearer token on every protected route, no timing shortcut, loopback-only, no DNS rebinding.

The token server is started without ``--host`` and without ``AUTODOCS_HTTP_HOST``, so the address it listens on
is the configured default, which must be loopback only.
"""

from __future__ import annotations

import base64
import hmac
import os
import random
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import psutil
import pytest

from autodocs_mcp.app import ServerState
from autodocs_mcp.config import Settings
from autodocs_mcp.http import Gate
from tests.reliability.harness import MCP_HEADERS, Attack, Ledger, address, bearer, launch, warmed
from tests.support.processes import ManagedProcess

TOKEN = "rel-suite-token-0123456789abcdef"


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory, pypi_mock: ManagedProcess) -> Iterator[ManagedProcess]:
    """``autodocs-mcp --transport http --port P`` with a token and no host given anywhere (cwd has no .env)."""
    proc = launch(
        tmp_path_factory.mktemp("token-server"), pypi_mock.base_url, {"AUTODOCS_HTTP_TOKEN": TOKEN}, host=False
    )
    try:
        yield warmed(proc, headers=bearer(TOKEN))
    finally:
        proc.stop()


ROUTES = [
    ("POST", "/mcp"),
    ("GET", "/mcp"),
    ("DELETE", "/mcp"),
    ("PUT", "/mcp"),
    ("PATCH", "/mcp"),
    ("OPTIONS", "/mcp"),
    ("HEAD", "/mcp"),
    ("GET", "/mcp/"),
    ("POST", "/mcp/anything"),
    ("GET", "/%6dcp"),
    ("GET", "/metrics"),
    ("GET", "/metrics?format=json"),
    ("HEAD", "/metrics"),
    ("GET", "/metrics/"),
]
WRONG_CREDENTIALS: list[str | None] = [
    None,
    "",
    "Bearer",
    "Bearer wrong",
    f"Bearer {TOKEN[:-1]}",
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN.upper()}",
    f"Bearer {TOKEN[:8]}",
    f"Bearer {'x' * 8000}",
    f"Basic {base64.b64encode(f'user:{TOKEN}'.encode()).decode()}",
    f"Token {TOKEN}",
    f"Bearer{TOKEN}",
    TOKEN,
    f"Bearer {TOKEN}, Bearer {TOKEN}",
]


def test_every_protected_route_refuses_a_missing_or_wrong_token(token_server: ManagedProcess, ledger: Ledger) -> None:
    attack = Attack(
        "clients: missing/wrong bearer token on /mcp (all methods) and /metrics",
        token_server.pid,
        token_server.base_url,
        ledger,
        headers=bearer(TOKEN),
    )
    base = token_server.base_url
    with httpx2.Client(timeout=10.0, trust_env=False) as client:
        for method, path in ROUTES:
            for credential in WRONG_CREDENTIALS:
                headers = dict(MCP_HEADERS)
                if credential is not None:
                    headers["authorization"] = credential
                response = client.request(method, f"{base}{path}", headers=headers, content=b"{}")
                attack.check(
                    response.status_code == 401 and "bearer" in response.headers.get("www-authenticate", "").lower(),
                    f"{method} {path} with {str(credential)[:30]!r}: HTTP {response.status_code}",
                )
            in_query = client.request(method, f"{base}{path}?access_token={TOKEN}", headers=MCP_HEADERS)
            attack.check(
                in_query.status_code == 401, f"{method} {path} with the token in the query: {in_query.status_code}"
            )
        doubled = client.get(
            f"{base}/metrics", headers=[("authorization", "Bearer wrong"), ("authorization", f"Bearer {TOKEN}")]
        )
        attack.check(doubled.status_code == 401, f"a wrong token before the right one: {doubled.status_code}")
        for path in ("/healthz", "/readyz"):
            attack.check(client.get(f"{base}{path}").status_code == 200, f"{path} must stay open for probes")
        attack.check(
            client.get(f"{base}/metrics", headers=bearer(TOKEN)).status_code == 200, "the right token on /metrics"
        )
    attack.notes = f"{len(ROUTES)} routes x {len(WRONG_CREDENTIALS)} credentials, plus the token in the query string"
    attack.assert_clean()


def test_the_token_check_always_runs_a_constant_time_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)
    state = ServerState(settings=Settings(_env_file=None, http_token=TOKEN))  # type: ignore[call-arg]
    gate = Gate(app=lambda *_args: None, state=state, token=TOKEN)  # type: ignore[arg-type]
    presented = [b"", b"Bearer x", b"Basic " + TOKEN.encode(), b"Bearer " + TOKEN.encode(), b"Bearer " + b"y" * 5000]
    verdicts = [gate._authorized({"headers": [(b"authorization", value)]}) for value in presented]
    assert verdicts == [False, False, False, True, False]
    assert len(compared) == len(presented), "every presented credential, whatever its scheme, is compared"
    assert all(expected == TOKEN.encode() for _presented, expected in compared)


def timed_refusal(host: str, port: int, token: str) -> tuple[bool, float]:
    request = f"GET /metrics HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    with socket.create_connection((host, port), timeout=10.0) as sock:
        started = time.perf_counter()
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65_536):
            answer += chunk
        elapsed = time.perf_counter() - started
    return answer.startswith(b"HTTP/1.1 401"), elapsed


def test_wrong_tokens_of_any_length_are_refused_in_the_same_time(token_server: ManagedProcess, ledger: Ledger) -> None:
    attack = Attack(
        "clients: token timing (right length vs short vs right prefix)",
        token_server.pid,
        token_server.base_url,
        ledger,
        headers=bearer(TOKEN),
    )
    host, port = address(token_server)
    candidates = {"same length": "x" * len(TOKEN), "one byte": "x", "right prefix": TOKEN[:-1] + "x"}
    samples: dict[str, list[float]] = {label: [] for label in candidates}
    rounds = 300
    for _ in range(rounds):  # interleaved in random order, so drift and noise hit every group alike
        for label in random.sample(list(candidates), len(candidates)):
            refused, elapsed = timed_refusal(host, port, candidates[label])
            attack.check(refused, f"{label}: not refused with 401")
            samples[label].append(elapsed)
    medians = {label: statistics.median(values) for label, values in samples.items()}
    spread = max(medians.values()) - min(medians.values())
    bound = max(0.2e-3, 0.2 * min(medians.values()))
    attack.check(spread <= bound, f"median refusal times differ by {spread * 1e3:.3f} ms (bound {bound * 1e3:.3f} ms)")
    attack.notes = "median ms: " + ", ".join(f"{label} {m * 1e3:.3f}" for label, m in medians.items())
    attack.assert_clean()


def test_the_default_bind_is_loopback_only(token_server: ManagedProcess) -> None:
    assert Settings.model_fields["http_host"].default == "127.0.0.1"
    if "AUTODOCS_HTTP_HOST" in os.environ:
        pytest.skip("AUTODOCS_HTTP_HOST is set in this environment; the default is not in play")
    assert not (Path(psutil.Process(token_server.pid).cwd()) / ".env").exists(), "a .env could set the host"
    listening = [c.laddr for c in psutil.Process(token_server.pid).net_connections(kind="inet") if c.status == "LISTEN"]
    assert listening, "the server listens somewhere"
    assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening


EVIL_HOSTS = [
    "evil.example",
    "evil.example:{port}",
    "127.0.0.1.evil.example:{port}",
    "localhost.evil.example:{port}",
    "127.0.0.1:{port}@evil.example",
    "127.0.0.2:{port}",
    "0.0.0.0:{port}",
    "[::ffff:127.0.0.1]:{port}",
    "127.0.0.1:{port}:80",
    "",
]
EVIL_ORIGINS = [
    "http://evil.example",
    "https://evil.example",
    "null",
    "http://127.0.0.1.evil.example:{port}",
    "http://localhost:{port}.evil.example",
    "http://evil.example:{port}",
    "file://",
]


def test_dns_rebinding_hosts_and_origins_are_refused_on_every_route(
    token_server: ManagedProcess, ledger: Ledger
) -> None:
    attack = Attack(
        "clients: DNS rebinding (foreign Host, foreign Origin)",
        token_server.pid,
        token_server.base_url,
        ledger,
        headers=bearer(TOKEN),
    )
    base = token_server.base_url
    _host, port = address(token_server)
    authorized = {**MCP_HEADERS, **bearer(TOKEN)}
    routes = [("POST", "/mcp"), ("GET", "/metrics"), ("GET", "/healthz"), ("GET", "/readyz")]
    with httpx2.Client(timeout=10.0, trust_env=False) as client:
        for method, path in routes:
            for host in EVIL_HOSTS:
                response = client.request(
                    method, f"{base}{path}", headers={**authorized, "host": host.format(port=port)}
                )
                attack.check(response.status_code == 421, f"{method} {path} Host {host!r}: {response.status_code}")
            for origin in EVIL_ORIGINS:
                response = client.request(
                    method, f"{base}{path}", headers={**authorized, "origin": origin.format(port=port)}
                )
                attack.check(response.status_code == 403, f"{method} {path} Origin {origin!r}: {response.status_code}")
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
            for allowed in (None, f"http://localhost:{port}", f"http://127.0.0.1:{port}"):
                headers = {**authorized, "host": host}
                if allowed is not None:
                    headers["origin"] = allowed
                response = client.get(f"{base}/metrics", headers=headers)
                attack.check(
                    response.status_code == 200, f"legitimate Host {host} Origin {allowed}: {response.status_code}"
                )
    attack.assert_clean()

"""What a soak changes in our server's settings: only where upstream and the cache are, plus what a flag asks for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from autodocs_mcp.config import Settings
from soak.runner import RUDE_CLASSES, ConfigError, RunConfig, validate_config
from soak.server_settings import effective, server_env, shipped_value, soak_overrides

MOCK = "http://127.0.0.1:9"
RUDE_MODULE = Path(__file__).resolve().parents[2] / "loadtests" / "mcp_locust" / "rude.py"


def overrides(**kwargs: object) -> dict[str, str]:
    chosen: dict[str, object] = {
        "mock_url": MOCK,
        "cache_dir": Path("/tmp/run/cache"),
        "short_index_ttl_s": None,
        "trace_allocations": False,
        "token": None,
        "extra": {},
    }
    chosen.update(kwargs)
    return server_env(soak_overrides(**chosen))  # type: ignore[arg-type]


def test_a_default_soak_changes_only_the_upstream_url_and_the_cache_folder() -> None:
    assert overrides() == {"AUTODOCS_PYPI_URL": f"{MOCK}/pypi", "AUTODOCS_CACHE_DIR": "/tmp/run/cache"}


def test_every_setting_the_soak_does_not_change_is_the_shipped_default() -> None:
    env = overrides()
    assert effective(env, "AUTODOCS_CIRCUIT_BREAKER_TIMEOUT") == "60"
    assert effective(env, "AUTODOCS_REQUEST_TIMEOUT") == "30"
    assert effective(env, "AUTODOCS_POOL_MAX_CONNECTIONS") == str(Settings.model_fields["pool_max_connections"].default)
    assert effective(env, "AUTODOCS_RATE_LIMIT_RPM") == "0"  # by transport: 1,200 a minute over HTTP
    assert effective(env, "AUTODOCS_INDEX_TTL") == "3600"


def test_a_short_index_ttl_and_allocation_tracing_come_only_from_their_flags_and_say_why() -> None:
    listed = soak_overrides(
        mock_url=MOCK,
        cache_dir=Path("/c"),
        short_index_ttl_s=16.2,
        trace_allocations=True,
        token="t" * 16,
        extra={"AUTODOCS_MAX_SESSIONS": "50"},
    )
    by_key = {o.key: o for o in listed}
    assert by_key["AUTODOCS_INDEX_TTL"].value == "16.2" and "--short-index-ttl" in by_key["AUTODOCS_INDEX_TTL"].reason
    assert by_key["AUTODOCS_INDEX_TTL"].shipped == "3600"
    assert "--trace-allocations" in by_key["AUTODOCS_TRACEMALLOC_FRAMES"].reason
    assert by_key["AUTODOCS_MAX_SESSIONS"].reason == "given with --server-env"
    assert by_key["AUTODOCS_HTTP_TOKEN"].to_dict()["value"] == "(set)"  # never written to run.json
    assert all(o.reason for o in listed)


def test_an_operators_server_env_wins_over_what_the_soak_would_set() -> None:
    assert overrides(extra={"AUTODOCS_CACHE_DIR": "/elsewhere"})["AUTODOCS_CACHE_DIR"] == "/elsewhere"


def test_shipped_values_are_read_from_the_servers_own_settings() -> None:
    assert shipped_value("AUTODOCS_SESSION_IDLE_TIMEOUT") == "1800"
    assert shipped_value("AUTODOCS_NO_SUCH_SETTING") == ""


def test_the_rude_clients_are_on_for_our_server_and_off_for_an_external_target() -> None:
    assert RunConfig(duration_s=60).rude_classes == RUDE_CLASSES
    assert RunConfig(duration_s=60, target_cmd="x", target_url="http://127.0.0.1:1/mcp").rude_classes == ()
    assert RunConfig(duration_s=60, rude="none").rude_classes == ()


def test_the_runner_names_the_same_rude_classes_the_locustfile_defines() -> None:
    # read, not imported: importing Locust would monkey-patch this whole test process with gevent
    tree = ast.parse(RUDE_MODULE.read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert set(RUDE_CLASSES) <= defined


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (RunConfig(duration_s=60, rude="loud"), "--rude must be default or none"),
        (
            RunConfig(duration_s=60, short_index_ttl=True, target_cmd="x", target_url="http://127.0.0.1:1/mcp"),
            "--short-index-ttl",
        ),
    ],
)
def test_options_that_cannot_make_a_run_are_refused_before_anything_starts(config: RunConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config(config)

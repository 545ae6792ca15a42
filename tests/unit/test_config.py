from __future__ import annotations

from pathlib import Path

import pytest

from autodocs_mcp.config import DEFAULT_PYPI_URL, ENV_PREFIX, MIB, Settings, SettingsError, load_settings

SEED_DEFAULTS = {
    "AUTODOCS_MAX_CONCURRENT": ("max_concurrent", 10),
    "AUTODOCS_REQUEST_TIMEOUT": ("request_timeout", 30.0),
    "AUTODOCS_LOG_LEVEL": ("log_level", "INFO"),
    "AUTODOCS_PYPI_URL": ("pypi_url", DEFAULT_PYPI_URL),
    "AUTODOCS_MAX_VERSIONS": ("max_versions", 3),
    "AUTODOCS_CLEANUP_DAYS": ("cleanup_days", 90),
    "AUTODOCS_MAX_DEPS": ("max_deps", 8),
    "AUTODOCS_MAX_TOKENS": ("max_tokens", 30_000),
    "AUTODOCS_MAX_RETRY_ATTEMPTS": ("max_retry_attempts", 3),
    "AUTODOCS_BASE_RETRY_DELAY": ("base_retry_delay", 1.0),
    "AUTODOCS_MAX_RETRY_DELAY": ("max_retry_delay", 30.0),
    "AUTODOCS_CIRCUIT_BREAKER_THRESHOLD": ("circuit_breaker_threshold", 5),
    "AUTODOCS_CIRCUIT_BREAKER_TIMEOUT": ("circuit_breaker_timeout", 60.0),
    # The seed's 60 a minute starved a shared HTTP server; 0 now means "the transport's default" (see config.py).
    "AUTODOCS_RATE_LIMIT_RPM": ("rate_limit_rpm", 0),
    "AUTODOCS_MAX_DOC_SIZE": ("max_doc_size", 50_000),
}

HARDENING_DEFAULTS = {
    "AUTODOCS_POOL_MAX_CONNECTIONS": ("pool_max_connections", 20),
    "AUTODOCS_POOL_MAX_KEEPALIVE": ("pool_max_keepalive", 10),
    "AUTODOCS_POOL_KEEPALIVE_EXPIRY": ("pool_keepalive_expiry", 30.0),
    "AUTODOCS_POOL_TIMEOUT": ("pool_timeout", 30.0),
    "AUTODOCS_ATTEMPT_TIMEOUT": ("attempt_timeout", 10.0),
    "AUTODOCS_CIRCUIT_BREAKER_INITIAL_TIMEOUT": ("circuit_breaker_initial_timeout", 5.0),
    "AUTODOCS_HTTP_HOST": ("http_host", "127.0.0.1"),
    "AUTODOCS_HTTP_PORT": ("http_port", 8000),
    "AUTODOCS_SESSION_IDLE_TIMEOUT": ("session_idle_timeout", 1800.0),
    "AUTODOCS_MAX_SESSIONS": ("max_sessions", 1000),
    "AUTODOCS_MAX_SESSIONS_PER_CLIENT": ("max_sessions_per_client", 0),
    "AUTODOCS_SHUTDOWN_GRACE": ("shutdown_grace", 30.0),
    "AUTODOCS_RESPONSE_MODE": ("response_mode", "json"),
    "AUTODOCS_MAX_REQUEST_BYTES": ("max_request_bytes", MIB),
    "AUTODOCS_TRACEMALLOC_FRAMES": ("tracemalloc_frames", 0),
    "AUTODOCS_CONFORMANCE_FIXTURES": ("conformance_fixtures", False),
    "AUTODOCS_MEMORY_BUDGET_MB": ("memory_budget_mb", 64),
    "AUTODOCS_MEMORY_CACHE_ENTRIES": ("memory_cache_entries", 100_000),
    "AUTODOCS_MEMORY_CACHE_MB": ("memory_cache_mb", 0),
    "AUTODOCS_NOT_FOUND_TTL": ("not_found_ttl", 300.0),
    "AUTODOCS_MAX_REQUESTS_PER_SESSION": ("max_requests_per_session", 64),
    "AUTODOCS_PRUNE_INTERVAL": ("prune_interval", 3600.0),
}

# A value for every variable that differs from its default, with the typed value it must become.
OVERRIDES = {
    "AUTODOCS_CACHE_DIR": ("/tmp/autodocs-test-cache", Path("/tmp/autodocs-test-cache")),
    "AUTODOCS_MAX_CONCURRENT": ("4", 4),
    "AUTODOCS_REQUEST_TIMEOUT": ("12.5", 12.5),
    "AUTODOCS_LOG_LEVEL": ("debug", "DEBUG"),
    "AUTODOCS_PYPI_URL": ("http://127.0.0.1:8081/pypi/", "http://127.0.0.1:8081/pypi"),
    "AUTODOCS_MAX_VERSIONS": ("5", 5),
    "AUTODOCS_CLEANUP_DAYS": ("7", 7),
    "AUTODOCS_MAX_DEPS": ("2", 2),
    "AUTODOCS_MAX_TOKENS": ("1000", 1000),
    "AUTODOCS_MAX_RETRY_ATTEMPTS": ("6", 6),
    "AUTODOCS_BASE_RETRY_DELAY": ("0.25", 0.25),
    "AUTODOCS_MAX_RETRY_DELAY": ("4", 4.0),
    "AUTODOCS_CIRCUIT_BREAKER_THRESHOLD": ("2", 2),
    "AUTODOCS_CIRCUIT_BREAKER_TIMEOUT": ("3.5", 3.5),
    "AUTODOCS_RATE_LIMIT_RPM": ("6000", 6000),
    "AUTODOCS_MAX_DOC_SIZE": ("20000", 20000),
    "AUTODOCS_POOL_MAX_CONNECTIONS": ("20", 20),
    "AUTODOCS_POOL_MAX_KEEPALIVE": ("8", 8),
    "AUTODOCS_POOL_KEEPALIVE_EXPIRY": ("9", 9.0),
    "AUTODOCS_POOL_TIMEOUT": ("1.5", 1.5),
    "AUTODOCS_ATTEMPT_TIMEOUT": ("2.5", 2.5),
    "AUTODOCS_CIRCUIT_BREAKER_INITIAL_TIMEOUT": ("1.5", 1.5),
    "AUTODOCS_HTTP_HOST": ("127.0.0.2", "127.0.0.2"),
    "AUTODOCS_HTTP_PORT": ("8123", 8123),
    "AUTODOCS_NOT_FOUND_TTL": ("25", 25.0),
    "AUTODOCS_MAX_REQUESTS_PER_SESSION": ("8", 8),
    "AUTODOCS_PRUNE_INTERVAL": ("300", 300.0),
    "AUTODOCS_HTTP_TOKEN": ("s3cret-token-0123456789", "s3cret-token-0123456789"),
    "AUTODOCS_SESSION_IDLE_TIMEOUT": ("60", 60.0),
    "AUTODOCS_MAX_SESSIONS": ("50", 50),
    "AUTODOCS_MAX_SESSIONS_PER_CLIENT": ("10", 10),
    "AUTODOCS_SHUTDOWN_GRACE": ("5", 5.0),
    "AUTODOCS_RESPONSE_MODE": ("sse", "sse"),
    "AUTODOCS_MAX_REQUEST_BYTES": ("65536", 65536),
    "AUTODOCS_HTTP_HEADER_TIMEOUT": ("4", 4.0),
    "AUTODOCS_HTTP_BODY_TIMEOUT": ("12.5", 12.5),
    "AUTODOCS_TRACEMALLOC_FRAMES": ("8", 8),
    "AUTODOCS_CONFORMANCE_FIXTURES": ("1", True),
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Start every test from no AUTODOCS_* variables and a working directory without a .env file."""
    import os

    for key in list(os.environ):
        if key.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_every_seed_setting_has_its_documented_default() -> None:
    settings = load_settings()
    for env, (field, default) in {**SEED_DEFAULTS, **HARDENING_DEFAULTS}.items():
        assert getattr(settings, field) == default, env
    assert settings.cache_dir == Path.home() / ".autodocs" / "cache"
    assert settings.http_token is None


def test_every_variable_from_the_environment_reaches_the_settings_with_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for env, (raw, _expected) in OVERRIDES.items():
        monkeypatch.setenv(env, raw)
    settings = load_settings()
    for env, (_raw, expected) in OVERRIDES.items():
        field = env.removeprefix(ENV_PREFIX).lower()
        value = getattr(settings, field)
        assert value == expected, env
        assert type(value) is type(expected), env


def test_every_field_is_reachable_through_an_environment_variable() -> None:
    covered = {env.removeprefix(ENV_PREFIX).lower() for env in OVERRIDES}
    assert set(Settings.model_fields) - covered <= {
        "max_retry_after",
        "max_response_bytes",
        "connect_timeout",
        "memory_budget_mb",
        "memory_cache_entries",
        "memory_cache_mb",
        "index_ttl",
    }


def test_dotenv_file_is_honoured_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AUTODOCS_MAX_DEPS=4\nAUTODOCS_RATE_LIMIT_RPM=120\n")
    monkeypatch.setenv("AUTODOCS_RATE_LIMIT_RPM", "90")
    settings = load_settings()
    assert settings.max_deps == 4
    assert settings.rate_limit_rpm == 90


@pytest.mark.parametrize(
    ("env", "value", "expected_fragment"),
    [
        ("AUTODOCS_RATE_LIMIT_RPM", "abc", "valid integer"),
        ("AUTODOCS_RATE_LIMIT_RPM", "-1", ">= 0"),
        ("AUTODOCS_REQUEST_TIMEOUT", "-3", "greater than 0"),
        ("AUTODOCS_REQUEST_TIMEOUT", "nan", "finite"),
        ("AUTODOCS_PYPI_URL", "ftp://example.org/pypi", "http:// or https://"),
        ("AUTODOCS_PYPI_URL", "not a url", "http:// or https://"),
        ("AUTODOCS_PYPI_URL", "https://pypi.org/pypi?x=1", "query"),
        ("AUTODOCS_LOG_LEVEL", "LOUD", "DEBUG"),
        ("AUTODOCS_RESPONSE_MODE", "xml", "json"),
        ("AUTODOCS_HTTP_PORT", "70000", "<= 65535"),
        ("AUTODOCS_HTTP_HOST", "http://x/", "bare host"),
        ("AUTODOCS_HTTP_TOKEN", "short", "16 printable"),
        ("AUTODOCS_MAX_SESSIONS", "", "valid integer"),
    ],
)
def test_a_bad_value_is_reported_with_its_variable_value_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected_fragment: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert len(caught.value.problems) == 1
    line = caught.value.problems[0]
    assert line.startswith(f"{env}=")
    assert repr(value)[:20] in line
    assert expected_fragment in line


def test_retry_delays_must_grow_and_keepalive_must_fit_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTODOCS_BASE_RETRY_DELAY", "5")
    monkeypatch.setenv("AUTODOCS_MAX_RETRY_DELAY", "2")
    monkeypatch.setenv("AUTODOCS_POOL_MAX_CONNECTIONS", "4")
    monkeypatch.setenv("AUTODOCS_POOL_MAX_KEEPALIVE", "9")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert "AUTODOCS_MAX_RETRY_DELAY=2.0 must be greater than AUTODOCS_BASE_RETRY_DELAY=5.0" in text
    assert "AUTODOCS_POOL_MAX_KEEPALIVE=9 must not exceed AUTODOCS_POOL_MAX_CONNECTIONS=4" in text


def test_several_bad_values_give_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTODOCS_MAX_DEPS", "many")
    monkeypatch.setenv("AUTODOCS_POOL_TIMEOUT", "0")
    monkeypatch.setenv("AUTODOCS_CLEANUP_DAYS", "-1")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert sorted(line.split("=")[0] for line in caught.value.problems) == [
        "AUTODOCS_CLEANUP_DAYS",
        "AUTODOCS_MAX_DEPS",
        "AUTODOCS_POOL_TIMEOUT",
    ]


def test_a_long_bad_value_is_shortened_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTODOCS_MAX_DEPS", "9" * 500)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert len(caught.value.problems[0]) < 250


def test_the_response_cap_is_derived_from_the_doc_size_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().response_byte_cap == 8 * MIB
    monkeypatch.setenv("AUTODOCS_MAX_DOC_SIZE", "200000")
    assert load_settings().response_byte_cap == 20_000_000
    monkeypatch.setenv("AUTODOCS_MAX_RESPONSE_BYTES", "300000")
    assert load_settings().response_byte_cap == 300_000


def test_the_token_is_masked_in_the_public_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTODOCS_HTTP_TOKEN", "s3cret-token-0123456789")
    assert load_settings().public_dict()["http_token"] == "***"


def test_allocation_tracking_is_off_by_default_and_takes_zero_to_sixty_four_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().tracemalloc_frames == 0
    for frames in ("0", "1", "64"):
        monkeypatch.setenv("AUTODOCS_TRACEMALLOC_FRAMES", frames)
        assert load_settings().tracemalloc_frames == int(frames)


@pytest.mark.parametrize(
    ("value", "expected_fragment"),
    [("65", "<= 64"), ("-1", ">= 0"), ("1.5", "valid integer"), ("lots", "valid integer"), ("", "valid integer")],
)
def test_a_bad_tracemalloc_frame_count_is_reported_with_its_variable_and_the_allowed_range(
    monkeypatch: pytest.MonkeyPatch, value: str, expected_fragment: str
) -> None:
    monkeypatch.setenv("AUTODOCS_TRACEMALLOC_FRAMES", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert len(caught.value.problems) == 1
    line = caught.value.problems[0]
    assert line.startswith(f"AUTODOCS_TRACEMALLOC_FRAMES={value!r}: ")
    assert expected_fragment in line
    assert "(allowed: >= 0 and <= 64)" in line


@pytest.mark.parametrize("value", ["maybe", "2", ""])
def test_the_conformance_fixture_switch_takes_only_a_boolean(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("AUTODOCS_CONFORMANCE_FIXTURES", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.problems[0].startswith(f"AUTODOCS_CONFORMANCE_FIXTURES={value!r}: ")


def test_the_memory_budget_is_64_mib_for_all_tiers_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(None).memory_budget_bytes == 64 * MIB
    monkeypatch.setenv("AUTODOCS_MEMORY_BUDGET_MB", "200")
    settings = load_settings(None)
    assert settings.memory_budget_bytes == 200 * MIB and settings.deprecations() == []


def test_the_deprecated_memory_cache_mb_alone_is_read_as_the_budget_and_named_at_startup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTODOCS_MEMORY_CACHE_MB", "12")
    settings = load_settings(None)
    assert settings.memory_budget_bytes == 12 * MIB
    assert settings.for_transport("http").memory_budget_bytes == 12 * MIB
    assert [
        "AUTODOCS_MEMORY_CACHE_MB" in line and "AUTODOCS_MEMORY_BUDGET_MB" in line for line in settings.deprecations()
    ] == [True]


def test_the_deprecated_memory_cache_mb_beside_the_budget_is_an_error_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTODOCS_MEMORY_CACHE_MB", "12")
    monkeypatch.setenv("AUTODOCS_MEMORY_BUDGET_MB", "64")
    with pytest.raises(SettingsError) as caught:
        load_settings(None)
    assert "AUTODOCS_MEMORY_CACHE_MB=12 is deprecated" in str(caught.value)
    assert "set only AUTODOCS_MEMORY_BUDGET_MB" in str(caught.value)

"""Synchronous helpers for the mock's admin API, used by the soak runner and the tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx2

DEFAULT_TIMEOUT_S = 5.0


class FaultsRejectedError(ValueError):
    """The mock refused a faults object; ``errors`` lists ``{"field", "message"}`` for each bad field."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors))


def _client(base_url: str, timeout: float) -> httpx2.Client:
    """A short-lived client for one admin call.

    Plain-HTTP mocks skip loading the CA bundle (it costs ~0.2 s per client and TLS is not in play), and proxy
    variables are ignored: the mock is local, and a proxy would only get in the way.
    """
    return httpx2.Client(timeout=timeout, verify=base_url.startswith("https://"), trust_env=False)


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _json_object(response: httpx2.Response) -> dict[str, Any]:
    response.raise_for_status()
    payload = response.json()
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object from {response.url}, got {type(payload).__name__}")
    return payload


def set_faults(base_url: str, faults: Mapping[str, object], *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Replace the mock's fault plan (fields left out are off); ``{}`` clears every fault."""
    with _client(base_url, timeout) as client:
        response = client.post(_url(base_url, "/_admin/faults"), json=dict(faults))
    if response.status_code == 400:
        body = response.json()
        default = [{"field": str(body.get("field")), "message": str(body.get("error"))}]
        raise FaultsRejectedError(list(body.get("errors") or default))
    response.raise_for_status()


def get_faults(base_url: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    with _client(base_url, timeout) as client:
        return _json_object(client.get(_url(base_url, "/_admin/faults")))


def get_stats(base_url: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Counters: ``requests`` by kind, ``faults`` by kind, ``connections`` {open, max, total}, ``cache``."""
    with _client(base_url, timeout) as client:
        return _json_object(client.get(_url(base_url, "/_admin/stats")))


def reset_stats(base_url: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Zero the counters and return the fresh snapshot."""
    with _client(base_url, timeout) as client:
        return _json_object(client.post(_url(base_url, "/_admin/stats/reset")))

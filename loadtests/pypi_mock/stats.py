"""Counters behind ``GET /_admin/stats``: what the mock was asked, what it injected, how many sockets it holds."""

from __future__ import annotations

from pypi_mock.faults import FaultKind

REQUEST_KINDS = ("project", "version", "not_found", "admin", "other")
FAULT_KINDS = (*(kind.value for kind in FaultKind), "latency")


class MockStats:
    def __init__(self) -> None:
        self.requests = dict.fromkeys(REQUEST_KINDS, 0)
        self.faults = dict.fromkeys(FAULT_KINDS, 0)
        self.connections_open = 0
        self.connections_max = 0
        self.connections_total = 0

    def connection_opened(self) -> None:
        self.connections_open += 1
        self.connections_total += 1
        if self.connections_open > self.connections_max:
            self.connections_max = self.connections_open

    def connection_closed(self) -> None:
        self.connections_open -= 1

    def reset(self) -> None:
        """Zero the counters; open connections stay counted, and the maximum restarts from them."""
        self.requests = dict.fromkeys(REQUEST_KINDS, 0)
        self.faults = dict.fromkeys(FAULT_KINDS, 0)
        self.connections_max = self.connections_open
        self.connections_total = self.connections_open

    def snapshot(self) -> dict[str, object]:
        return {
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
            "faults": dict(self.faults),
            "faults_total": sum(self.faults.values()),
            "connections": {
                "open": self.connections_open,
                "max": self.connections_max,
                "total": self.connections_total,
            },
        }

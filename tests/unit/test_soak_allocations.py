"""The soak's allocation snapshots: parsing, diffs, growth split by fault windows, fetching and the run-folder file."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from soak.allocations import (
    SNAPSHOTS_FILE,
    AllocationSnapshot,
    SiteGrowth,
    append_snapshot,
    diff,
    fetch_snapshot,
    parse_snapshot,
    read_snapshots,
    split_growth,
)


def payload(sites: dict[tuple[str, int], tuple[int, int]], traced_bytes: int = 1000) -> dict[str, Any]:
    """What ``GET /debug/allocations`` answers, reduced to the parts the soak reads (plus the rest, for realism)."""
    return {
        "tracing": True,
        "frames": 1,
        "traced_bytes": traced_bytes,
        "traced_peak_bytes": traced_bytes,
        "total_blocks": sum(count for _size, count in sites.values()),
        "total_sites": len(sites),
        "elapsed_ms": 12.5,
        "sites": [{"file": f, "line": ln, "size": s, "count": c} for (f, ln), (s, c) in sites.items()],
    }


def snap(t: float, sites: dict[tuple[str, int], tuple[int, int]]) -> AllocationSnapshot:
    return AllocationSnapshot(t=t, sites=sites, traced_bytes=sum(size for size, _count in sites.values()))


# --- parse_snapshot ---------------------------------------------------------------------------------------------


def test_a_snapshot_is_parsed_into_sites_keyed_by_file_and_line() -> None:
    parsed = parse_snapshot(
        12.0, payload({("autodocs_mcp/cache.py", 40): (4096, 8), ("json/decoder.py", 353): (10, 1)})
    )
    assert parsed == AllocationSnapshot(
        t=12.0,
        sites={("autodocs_mcp/cache.py", 40): (4096, 8), ("json/decoder.py", 353): (10, 1)},
        traced_bytes=1000,
    )


def test_a_site_listed_twice_is_summed() -> None:
    data = payload({})
    data["sites"] = [
        {"file": "a.py", "line": 1, "size": 10, "count": 1},
        {"file": "a.py", "line": 1, "size": 5, "count": 2},
    ]
    assert parse_snapshot(0.0, data).sites == {("a.py", 1): (15, 3)}


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"traced_bytes": 1},
        {"traced_bytes": 1, "sites": {}},
        {"traced_bytes": 1, "sites": ["a.py:1"]},
        {"traced_bytes": 1, "sites": [{"line": 1, "size": 1, "count": 1}]},
        {"traced_bytes": 1, "sites": [{"file": "", "line": 1, "size": 1, "count": 1}]},
        {"traced_bytes": 1, "sites": [{"file": "a.py", "line": "1", "size": 1, "count": 1}]},
        {"traced_bytes": 1, "sites": [{"file": "a.py", "line": 1, "size": -1, "count": 1}]},
        {"traced_bytes": 1, "sites": [{"file": "a.py", "line": 1, "size": 1.5, "count": 1}]},
        {"traced_bytes": 1, "sites": [{"file": "a.py", "line": 1, "size": 1, "count": True}]},
        {"sites": []},
        {"traced_bytes": "1", "sites": []},
    ],
)
def test_a_snapshot_of_the_wrong_shape_is_a_value_error(data: Any) -> None:
    with pytest.raises(ValueError):
        parse_snapshot(0.0, data)


def test_a_snapshot_at_a_non_finite_time_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_snapshot(float("nan"), payload({}))


# --- diff -------------------------------------------------------------------------------------------------------


def test_the_diff_lists_changed_sites_largest_growth_first_and_counts_a_missing_site_as_zero() -> None:
    a = snap(
        0.0, {("grow.py", 1): (100, 1), ("shrink.py", 2): (500, 5), ("same.py", 3): (7, 7), ("gone.py", 4): (30, 3)}
    )
    b = snap(
        60.0, {("grow.py", 1): (1100, 11), ("shrink.py", 2): (200, 2), ("same.py", 3): (7, 7), ("new.py", 5): (50, 1)}
    )
    assert diff(a, b) == [
        SiteGrowth("grow.py", 1, 1000, 10),
        SiteGrowth("new.py", 5, 50, 1),
        SiteGrowth("gone.py", 4, -30, -3),
        SiteGrowth("shrink.py", 2, -300, -3),
    ]


def test_a_site_whose_blocks_changed_but_not_its_bytes_is_still_listed() -> None:
    a = snap(0.0, {("x.py", 1): (100, 2)})
    b = snap(1.0, {("x.py", 1): (100, 4)})
    assert diff(a, b) == [SiteGrowth("x.py", 1, 0, 2)]


def test_two_equal_snapshots_have_no_diff() -> None:
    same = {("x.py", 1): (100, 2)}
    assert diff(snap(0.0, same), snap(1.0, dict(same))) == []


# --- split_growth -----------------------------------------------------------------------------------------------


def test_growth_between_snapshots_at_a_fault_windows_edges_is_inside_and_the_rest_outside() -> None:
    leak, retry = ("leak.py", 1), ("retry.py", 2)
    snapshots = [
        snap(0.0, {leak: (0, 0), retry: (0, 0)}),  # after warm-up
        snap(100.5, {leak: (100, 1), retry: (0, 0)}),  # at the fault's start (half a second late)
        snap(201.8, {leak: (100, 1), retry: (5000, 50)}),  # at its end (1.8 s late: within the tolerance)
        snap(300.0, {leak: (250, 2), retry: (1000, 10)}),  # the end of the run
    ]
    inside, outside = split_growth(snapshots, [(100.0, 200.0)])
    assert inside == [SiteGrowth("retry.py", 2, 5000, 50)]
    assert outside == [SiteGrowth("leak.py", 1, 250, 2), SiteGrowth("retry.py", 2, -4000, -40)]


def test_inside_and_outside_growth_add_up_to_the_first_to_last_diff() -> None:
    site_a, site_b = ("a.py", 1), ("b.py", 2)
    snapshots = [
        snap(0.0, {site_a: (10, 1)}),
        snap(50.0, {site_a: (20, 2), site_b: (5, 1)}),
        snap(120.0, {site_a: (25, 2), site_b: (50, 3)}),
        snap(3600.0, {site_a: (90, 9), site_b: (40, 2)}),
    ]
    inside, outside = split_growth(snapshots, [(50.0, 120.0), (1000.0, 1200.0)])
    total: dict[tuple[str, int], tuple[int, int]] = {}
    for growth in [*inside, *outside]:
        size, count = total.get((growth.file, growth.line), (0, 0))
        total[(growth.file, growth.line)] = (size + growth.size_delta, count + growth.count_delta)
    assert total == {(g.file, g.line): (g.size_delta, g.count_delta) for g in diff(snapshots[0], snapshots[-1])}


def test_a_pair_that_spans_a_windows_edge_or_several_windows_counts_as_outside() -> None:
    site = ("x.py", 1)
    snapshots = [snap(0.0, {site: (0, 0)}), snap(150.0, {site: (10, 1)}), snap(400.0, {site: (30, 2)})]
    inside, outside = split_growth(snapshots, [(100.0, 200.0), (300.0, 500.0)])
    assert inside == []
    assert outside == [SiteGrowth("x.py", 1, 30, 2)]


def test_a_fault_window_cut_by_an_hourly_snapshot_is_inside_on_both_sides() -> None:
    site = ("x.py", 1)
    snapshots = [snap(1000.0, {site: (0, 0)}), snap(3600.0, {site: (10, 1)}), snap(5000.0, {site: (30, 2)})]
    inside, outside = split_growth(snapshots, [(999.0, 5001.0)])
    assert inside == [SiteGrowth("x.py", 1, 30, 2)] and outside == []


def test_snapshots_are_paired_in_time_order_whatever_order_they_come_in() -> None:
    site = ("x.py", 1)
    early, late = snap(0.0, {site: (0, 0)}), snap(10.0, {site: (10, 1)})
    assert split_growth([late, early], []) == ([], [SiteGrowth("x.py", 1, 10, 1)])


def test_fewer_than_two_snapshots_have_no_growth() -> None:
    assert split_growth([], [(0.0, 1.0)]) == ([], [])
    assert split_growth([snap(0.0, {("x.py", 1): (1, 1)})], []) == ([], [])


# --- the run folder's file --------------------------------------------------------------------------------------


def test_snapshots_appended_to_the_run_folder_are_read_back_with_their_labels(tmp_path: Path) -> None:
    append_snapshot(tmp_path, 5.0, "after_warmup", payload({("a.py", 1): (10, 1)}, traced_bytes=10))
    append_snapshot(tmp_path, 65.25, "fault_start:slow", payload({("a.py", 1): (30, 2)}, traced_bytes=30))
    lines = (tmp_path / SNAPSHOTS_FILE).read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["label"] == "after_warmup"
    assert read_snapshots(tmp_path) == [
        ("after_warmup", AllocationSnapshot(5.0, {("a.py", 1): (10, 1)}, 10)),
        ("fault_start:slow", AllocationSnapshot(65.25, {("a.py", 1): (30, 2)}, 30)),
    ]


def test_malformed_lines_are_skipped_and_a_line_cut_by_a_crash_too(tmp_path: Path) -> None:
    append_snapshot(tmp_path, 1.0, "first", payload({("a.py", 1): (10, 1)}))
    with (tmp_path / SNAPSHOTS_FILE).open("a") as handle:
        handle.write("not json\n")
        handle.write("[1, 2]\n")
        handle.write('{"t": "soon", "label": "x", "snapshot": {}}\n')
        handle.write('{"t": 2.0, "label": 7, "snapshot": {}}\n')
        handle.write('{"t": NaN, "label": "x", "snapshot": {"sites": [], "traced_bytes": 0}}\n')
        handle.write('{"t": 3.0, "label": "bad shape", "snapshot": {"sites": "none"}}\n')
        handle.write("\n")
    append_snapshot(tmp_path, 4.0, "last", payload({("a.py", 1): (20, 2)}))
    with (tmp_path / SNAPSHOTS_FILE).open("a") as handle:
        handle.write('{"t": 5.0, "label": "cut", "snap')
    assert [label for label, _snapshot in read_snapshots(tmp_path)] == ["first", "last"]


def test_a_run_without_snapshots_has_none(tmp_path: Path) -> None:
    assert read_snapshots(tmp_path) == []


# --- fetch_snapshot ---------------------------------------------------------------------------------------------

TOKEN = "Bearer t0k3n"
SERVED = payload({("autodocs_mcp/cache.py", 40): (4096, 8)})


class _AllocationsHandler(http.server.BaseHTTPRequestHandler):
    """``/debug/allocations`` as the server answers it: 200 with the token, 401 without, 409 on ``/off/``, and a
    body that is not JSON on ``/garbled/``."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str]] = []  # reset by the fixture

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        if self.headers.get("Authorization") != TOKEN:
            self._send(401, b'{"error": "unauthorized"}')
        elif self.path.startswith("/off/"):
            self._send(409, b'{"error": {"code": "tracing_off", "message": "..."}}')
        elif self.path.startswith("/garbled/"):
            self._send(200, b"{not json")
        elif self.path.startswith("/list/"):
            self._send(200, b"[]")
        else:
            self._send(200, json.dumps(SERVED).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def allocations_server() -> Iterator[str]:
    _AllocationsHandler.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AllocationsHandler)
    # A short poll interval only makes shutdown() return sooner (it is how serve_forever notices it).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_snapshot_is_fetched_with_the_headers_and_the_number_of_sites_asked_for(allocations_server: str) -> None:
    assert fetch_snapshot(allocations_server + "/", {"Authorization": TOKEN}, top=500) == SERVED
    assert _AllocationsHandler.seen == ["/debug/allocations?top=500"]


@pytest.mark.parametrize("prefix", ["/off", "/garbled", "/list"])
def test_tracing_off_or_a_body_that_is_not_a_snapshot_gives_none(allocations_server: str, prefix: str) -> None:
    assert fetch_snapshot(allocations_server + prefix, {"Authorization": TOKEN}) is None


def test_a_refused_token_gives_none(allocations_server: str) -> None:
    assert fetch_snapshot(allocations_server, {}) is None


def test_a_server_that_is_not_there_gives_none_instead_of_raising() -> None:
    assert fetch_snapshot("http://127.0.0.1:9", {}, timeout_s=2.0) is None
    assert fetch_snapshot("not a url at all", {}) is None

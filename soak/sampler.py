"""One row of ``samples.csv`` per tick: the server's process tree (psutil), its ``/metrics``, and Locust's numbers.

Three sources, each allowed to be missing (an external server has no ``/metrics``, Locust writes its history once
a second, a dead server has no process): a missing source leaves its columns empty instead of stopping the run.
Rows are appended and flushed as they are taken, so a run killed at hour 20 still has 20 hours of data.

The sampler runs in a thread of the runner and measures its own CPU time (``sampler_cpu_s``): a harness that
costs a noticeable share of a core over 24 hours would disturb what it measures.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import http.client
import io
import json
import math
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO
from urllib.parse import urlsplit

import psutil

from soak.columns import DECIMALS, PROCESS_COLUMNS, SAMPLE_COLUMNS, TCP_COLUMNS

Value = float | int | str | None
Sample = dict[str, Value]


# --- TCP sockets ------------------------------------------------------------------------------------------------

# include/net/tcp_states.h
TCP_ESTABLISHED: Final = 1
TCP_TIME_WAIT: Final = 6
TCP_CLOSE_WAIT: Final = 8

TcpRow = tuple[int, int, int, int]
"""(state, local port, remote port, inode) of one TCP socket; inode 0 where the kernel reports none (TIME_WAIT)."""


def classify_tcp(
    rows: Iterable[TcpRow], listen_port: int | None, upstream_port: int | None, owned: Container[int] | None = None
) -> Sample:
    """Count the server's sockets by role and state: clients and closing sockets by port, upstream by owner.

    A client connection is an ESTABLISHED socket whose local port is the listening port. An upstream connection is
    an ESTABLISHED socket the server's process tree owns (its inode is in ``owned``; ``owned=None`` means every row
    is the tree's own already, as psutil's per-process lists are) on any other local port: every outbound
    connection of the target, wherever it goes, so an external server with no mock (or another upstream) shows a
    socket leak here and not only as descriptors. For our server that is exactly its pool to the mock. A socket
    whose remote port is the listening port is never upstream: it is a client's side (or the target calling
    itself, a connection its accepted side already counts once, as a client).

    CLOSE_WAIT and TIME_WAIT stay by port (local = listening port, or remote = ``upstream_port``): TIME_WAIT
    sockets belong to no process any more, so only ports can attribute them; the peers' sides have the ports the
    other way round and are not counted.
    """
    clients = upstream = close_wait = time_wait = 0
    for state, local_port, remote_port, inode in rows:
        if state == TCP_ESTABLISHED:
            if local_port == listen_port:
                clients += 1
            elif remote_port != listen_port and (owned is None or (inode != 0 and inode in owned)):
                upstream += 1
        elif local_port == listen_port or remote_port == upstream_port:
            if state == TCP_CLOSE_WAIT:
                close_wait += 1
            elif state == TCP_TIME_WAIT:
                time_wait += 1
    return {"tcp_clients": clients, "tcp_upstream": upstream, "tcp_close_wait": close_wait, "tcp_time_wait": time_wait}


_NETLINK_SOCK_DIAG: Final = 4
_SOCK_DIAG_BY_FAMILY: Final = 20
_NLM_F_REQUEST_DUMP: Final = 0x301
_NLMSG_ERROR: Final = 2
_NLMSG_DONE: Final = 3
_NLMSG_HEADER: Final = struct.Struct("=IHHII")
_NLMSG_KIND: Final = struct.Struct("=IH")
_DIAG_REQUEST: Final = struct.Struct("=BBBxI48x")
_DIAG_MAX_BYTES: Final = 64 << 20
_WANTED_STATES: Final = (1 << TCP_ESTABLISHED) | (1 << TCP_CLOSE_WAIT) | (1 << TCP_TIME_WAIT)
# inet_diag_msg: family, state, timer, retrans (one byte each), the 48-byte inet_diag_sockid (ports first, big
# endian), then expires, rqueue, wqueue, uid and inode as native 32-bit integers.
_PORTS: Final = struct.Struct(">HH")
_INODE: Final = struct.Struct("=I")
_DIAG_INODE_OFFSET: Final = 4 + 48 + 16
_DIAG_MSG_BYTES: Final = _DIAG_INODE_OFFSET + _INODE.size


_INET_DIAG_REQ_BYTECODE: Final = 1
_BC_JMP, _BC_D_GE, _BC_D_LE = 1, 4, 5
_BC_OP: Final = struct.Struct("=BBH")
_RTATTR: Final = struct.Struct("=HH")


def exclude_remote_port(port: int) -> bytes:
    """inet_diag bytecode dropping the sockets whose remote port is ``port`` (ops every kernel has): 20 bytes.

    After each op the kernel jumps ``yes`` or ``no`` bytes; landing exactly on the end accepts, 4 bytes past it
    rejects, and its audit insists that the chain of ``yes`` jumps ends exactly on the end. So: ``dport >= p``
    fails → accept; ``dport <= p`` fails → accept; both held → an unconditional jump (which takes ``no``) past the
    end rejects.
    """
    return (
        _BC_OP.pack(_BC_D_GE, 8, 20)
        + _BC_OP.pack(0, 0, port)
        + _BC_OP.pack(_BC_D_LE, 8, 12)
        + _BC_OP.pack(0, 0, port)
        + _BC_OP.pack(_BC_JMP, 4, 8)
    )


def sock_diag_tcp(
    family: int, states: int = _WANTED_STATES, bytecode: bytes = b"", timeout_s: float = 2.0
) -> list[TcpRow]:
    """The TCP sockets of this network namespace in ``states`` (and passing ``bytecode``), from sock_diag netlink.

    This is what ``ss`` uses. Reading ``/proc/net/tcp`` (which psutil's per-process ``net_connections`` also
    parses, for IPv4 and IPv6) costs about 5 ms per table here; a netlink dump costs about 1 ms, almost all of it
    the kernel's walk of its established hash table (262,144 buckets on this 23 GB machine), whatever the dump
    returns. So each family asked costs a walk, and a filter saves only the parsing (about 0.6 µs a socket).
    """
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as sock:
        sock.settimeout(timeout_s)
        request = _DIAG_REQUEST.pack(family, socket.IPPROTO_TCP, 0, states)
        if bytecode:
            request += _RTATTR.pack(_RTATTR.size + len(bytecode), _INET_DIAG_REQ_BYTECODE) + bytecode
        header = _NLMSG_HEADER.pack(_NLMSG_HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0)
        sock.sendto(header + request, (0, 0))
        rows: list[TcpRow] = []
        received = 0
        while received < _DIAG_MAX_BYTES:
            data = sock.recv(1 << 17)
            if not data:
                raise OSError("sock_diag: the kernel closed the dump early")
            received += len(data)
            offset = 0
            while offset + _NLMSG_HEADER.size <= len(data):
                length, kind = _NLMSG_KIND.unpack_from(data, offset)
                if length < _NLMSG_HEADER.size:
                    raise OSError("sock_diag: malformed netlink message")
                if kind == _NLMSG_DONE:
                    return rows
                if kind == _NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, offset + _NLMSG_HEADER.size)
                    raise OSError(-code, f"sock_diag: {os.strerror(-code)}")
                body = offset + _NLMSG_HEADER.size
                if kind == _SOCK_DIAG_BY_FAMILY and length >= _NLMSG_HEADER.size + _DIAG_MSG_BYTES:
                    local_port, remote_port = _PORTS.unpack_from(data, body + 4)
                    (inode,) = _INODE.unpack_from(data, body + _DIAG_INODE_OFFSET)
                    rows.append((data[body + 1], local_port, remote_port, inode))
                offset += (length + 3) & ~3
        raise OSError("sock_diag: dump larger than expected")


def socket_inodes(pids: Iterable[int], max_fds: int = 20_000) -> set[int]:
    """Inodes of the sockets these processes hold, from their ``/proc/<pid>/fd/*`` links ``socket:[inode]``.

    This is how ``ss -p`` and psutil tie a socket to its owner: the kernel's socket table has no process column.
    One ``readlink`` per descriptor costs 3.5–5 µs here, so at most ``max_fds`` are read in all: a target leaking
    descriptors costs at most ~0.1 s a sample (its leak shows in ``fds`` whatever this reads). A process that
    exits or a descriptor closed while it is read is skipped, not an error.
    """
    inodes: set[int] = set()
    budget = max_fds
    for pid in pids:
        try:
            directory = os.open(f"/proc/{pid}/fd", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            names = os.listdir(directory)
            for name in names[:budget]:
                try:
                    link = os.readlink(name, dir_fd=directory)
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(int(link[8:-1]))
            budget -= len(names)
        except (OSError, ValueError):
            pass
        finally:
            os.close(directory)
        if budget <= 0:
            break
    return inodes


class TcpCounter:
    """Counts the server's TCP sockets each sample: by netlink where the kernel offers it, else by psutil.

    ``tcp_upstream`` is every ESTABLISHED socket the process tree owns whose local port is not ``listen_port``: the
    target's outbound connections wherever they go (our server's pool to the mock; for an external target whatever
    it talks to), told apart by matching the dump's inodes to the tree's descriptors. Clients, CLOSE_WAIT and
    TIME_WAIT still go by ``listen_port`` and ``upstream_port``.

    One dump per family and sample, of all three states, with the kernel dropping the sockets whose remote port is
    the listening port (the clients' side of their connections, which a reconnect storm multiplies as TIME_WAIT):
    a second walk of the kernel's table would cost more (about 1 ms) than parsing a thousand other sockets. IPv4
    is asked every sample (and IPv6 too with ``ipv6``); otherwise IPv6 is looked at every ``ipv6_probe_every``
    counts and asked every sample once the tree owns a connection there, since an external target's upstream may
    be IPv6 (``localhost`` resolves to ::1 first) whatever address it listens on.

    The fallback asks psutil for each process's own connections (owned by construction), which cannot see
    TIME_WAIT (no owner) and costs more; it is for systems without sock_diag.
    """

    def __init__(
        self, listen_port: int | None, upstream_port: int | None, ipv6: bool = False, ipv6_probe_every: int = 30
    ) -> None:
        self.listen_port = listen_port
        self.upstream_port = upstream_port
        self.families: tuple[int, ...] = (socket.AF_INET, socket.AF_INET6) if ipv6 else (socket.AF_INET,)
        self.ipv6_probe_every = 0 if ipv6 else ipv6_probe_every
        self.bytecode = exclude_remote_port(listen_port) if listen_port is not None else b""
        self._counts = 0
        self.netlink = hasattr(socket, "AF_NETLINK")
        if self.netlink:
            try:
                sock_diag_tcp(socket.AF_INET, bytecode=self.bytecode)
            except OSError:
                self.netlink = False

    def count(self, tree: Iterable[psutil.Process]) -> Sample:
        if self.listen_port is None and self.upstream_port is None:
            return dict.fromkeys(TCP_COLUMNS)
        procs = list(tree)
        if self.netlink:
            try:
                return self._by_netlink(procs)
            except OSError:
                self.netlink = False
        return self._by_owner(procs)

    def _by_netlink(self, tree: Iterable[psutil.Process]) -> Sample:
        owned = socket_inodes(proc.pid for proc in tree)
        rows: list[TcpRow] = []
        for family in self.families:
            rows += sock_diag_tcp(family, bytecode=self.bytecode)
        if self.ipv6_probe_every > 0 and self._counts % self.ipv6_probe_every == 0:
            rows += self._probe_ipv6(owned)
        self._counts += 1
        return classify_tcp(rows, self.listen_port, self.upstream_port, owned)

    def _probe_ipv6(self, owned: Container[int]) -> list[TcpRow]:
        """IPv6 sockets, kept (and IPv6 asked every sample from now on) once the tree owns an established one."""
        try:
            rows = sock_diag_tcp(socket.AF_INET6, bytecode=self.bytecode)
        except OSError:  # a kernel without IPv6: nothing to look for
            self.ipv6_probe_every = 0
            return []
        if not any(state == TCP_ESTABLISHED and inode in owned for state, _, _, inode in rows):
            return []
        self.families, self.ipv6_probe_every = (*self.families, socket.AF_INET6), 0
        return rows

    def _by_owner(self, tree: Iterable[psutil.Process]) -> Sample:
        rows: list[TcpRow] = []
        for proc in tree:
            try:
                connections = proc.net_connections(kind="tcp")
            except psutil.Error:
                continue
            for conn in connections:
                state = _PSUTIL_STATES.get(conn.status)
                if state is not None:
                    local, remote = conn.laddr.port if conn.laddr else 0, conn.raddr.port if conn.raddr else 0
                    rows.append((state, local, remote, 0))
        counts = classify_tcp(rows, self.listen_port, self.upstream_port, owned=None)
        counts["tcp_time_wait"] = None
        return counts


_PSUTIL_STATES: Final = {
    psutil.CONN_ESTABLISHED: TCP_ESTABLISHED,
    psutil.CONN_CLOSE_WAIT: TCP_CLOSE_WAIT,
    psutil.CONN_TIME_WAIT: TCP_TIME_WAIT,
}


# --- the server's process tree ------------------------------------------------------------------------------------


def descendant_pids(pid: int) -> list[int] | None:
    """Every descendant of ``pid`` from ``/proc/<pid>/task/*/children``; None where that file does not exist.

    psutil's ``children(recursive=True)`` reads the status of every process on the machine to build the tree
    (about 3 ms here); the kernel's children lists cost a few file reads for a small tree.
    """
    found: list[int] = []
    pending = [pid]
    while pending and len(found) < 10_000:
        current = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except FileNotFoundError:
            continue
        except OSError:
            return None
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    kids = [int(part) for part in handle.read().split()]
            except FileNotFoundError:
                if current == pid and task == str(pid):
                    return None
                continue
            except (OSError, ValueError):
                continue
            found.extend(kids)
            pending.extend(kids)
    return found


class ProcessTreeProbe:
    """Resource use of a process and all its descendants, summed, plus the server's TCP sockets by role and state.

    ``listen_port`` is the server's port (ESTABLISHED sockets on it are clients). Upstream sockets are the ESTABLISHED
    sockets this tree owns on any other port: its outbound connections wherever they go (for our server, its pool
    to the mock), so a foreign target leaking connections to anything shows it. ``upstream_port`` (the mock's, if
    any) only attributes the CLOSE_WAIT and TIME_WAIT sockets, which no process owns any more.

    USS needs the kernel to walk the page tables (``smaps_rollup``: 3.5 ms at 80 MB RSS, growing with RSS), more
    than everything else together, so it is measured every ``uss_every_s`` seconds and repeated in between. RSS,
    the gated memory figure, is read every sample.
    """

    def __init__(
        self,
        pid: int,
        listen_port: int | None,
        upstream_port: int | None,
        tcp: TcpCounter | None = None,
        uss_every_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pid = pid
        self.tcp = tcp if tcp is not None else TcpCounter(listen_port, upstream_port)
        self.uss_every_s = uss_every_s
        self._monotonic = monotonic
        self._uss: int | None = None
        self._uss_at = -math.inf
        self._procs: dict[int, psutil.Process] = {}
        self._root: psutil.Process | None = None
        try:
            self._root = psutil.Process(pid)
            self._root.cpu_percent(None)  # primes the CPU counter so the first sample is a real figure
        except psutil.Error:
            self._root = None

    def read(self) -> Sample:
        empty: Sample = dict.fromkeys(PROCESS_COLUMNS)
        root = self._root
        if root is None or not root.is_running():
            return empty
        tree = [root, *self._tracked(self._descendants(root))]
        now = self._monotonic()
        with_uss = now - self._uss_at >= self.uss_every_s
        totals = {"rss": 0, "uss": 0, "fds": 0, "threads": 0}
        cpu = 0.0
        alive: list[psutil.Process] = []
        for proc in tree:
            try:
                with proc.oneshot():
                    info = proc.memory_full_info() if with_uss else proc.memory_info()
                    fds = proc.num_fds()
                    threads = proc.num_threads()
                    proc_cpu = proc.cpu_percent(None)
            except psutil.Error:
                continue
            totals["rss"] += int(info.rss)
            totals["uss"] += int(getattr(info, "uss", info.rss))
            totals["fds"] += fds
            totals["threads"] += threads
            cpu += proc_cpu
            alive.append(proc)
        if not alive or alive[0] is not root:
            return empty
        if with_uss:
            self._uss, self._uss_at = totals["uss"], now
        sample: Sample = {
            "rss_bytes": totals["rss"],
            "uss_bytes": self._uss,
            "fds": totals["fds"],
            "threads": totals["threads"],
            "cpu_percent": cpu,
            "children": len(alive) - 1,
        }
        sample.update(self.tcp.count(alive))
        return sample

    def _descendants(self, root: psutil.Process) -> list[int]:
        pids = descendant_pids(root.pid)
        if pids is not None:
            return pids
        try:
            return [child.pid for child in root.children(recursive=True)]
        except psutil.Error:
            return []

    def _tracked(self, pids: Iterable[int]) -> list[psutil.Process]:
        """Keep one Process object per child across samples, so its ``cpu_percent`` measures since the last one."""
        current: dict[int, psutil.Process] = {}
        for pid in pids:
            known = self._procs.get(pid)
            if known is None:
                try:
                    known = psutil.Process(pid)
                    known.cpu_percent(None)
                except psutil.Error:
                    continue
            current[pid] = known
        self._procs = current
        return list(current.values())


# --- the server's /metrics --------------------------------------------------------------------------------------


def metrics_columns(snapshot: Mapping[str, Any] | None) -> Sample:
    """The sample columns taken from our server's ``/metrics?format=json`` snapshot (None → all empty)."""
    snap = snapshot or {}
    upstream = _dict(snap.get("upstream"))
    pool = _dict(upstream.get("pool"))
    breaker = _dict(upstream.get("breaker"))
    limiter = _dict(upstream.get("limiter"))
    requests = _dict(snap.get("requests"))
    cache = _dict(snap.get("cache"))
    python = _dict(snap.get("python"))
    state = breaker.get("state")
    return {
        "pool_open": _number(pool.get("open")),
        "pool_active": _number(pool.get("active")),
        "pool_idle": _number(pool.get("idle")),
        "pool_queued": _number(pool.get("queued")),
        "pool_max": _number(pool.get("max_connections")),
        "breaker_state": state if isinstance(state, str) and state else None,
        "in_flight": _number(requests.get("in_flight")),
        "sessions_open": _number(snap.get("sessions_open")),
        "sessions_max": _number(snap.get("sessions_max")),
        "sessions_client_max": _number(snap.get("sessions_per_client_max")),
        "sessions_evicted": _number(snap.get("sessions_evicted_total")),
        "sessions_refused": _number(snap.get("sessions_refused_total")),
        "cache_memory_entries": _number(cache.get("memory_entries")),
        "cache_memory_bytes": _number(cache.get("memory_bytes")),
        "cache_memory_entries_limit": _number(cache.get("memory_entries_limit")),
        "cache_memory_bytes_limit": _number(cache.get("memory_bytes_limit")),
        "py_blocks": _number(python.get("allocated_blocks")),
        "limiter_waiting": _number(limiter.get("waiting")),
    }


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: object) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsScraper:
    """``GET <base>/metrics?format=json`` with a short timeout over one kept-alive connection.

    Plain ``http.client`` costs about a third of an httpx client per request (0.3 vs 0.9 ms here), which matters
    at one request a second for 24 hours. The kept-alive connection shows up as one constant client socket in
    ``tcp_clients``; reconnecting every second would leave a trail of TIME_WAIT sockets instead.
    """

    def __init__(self, metrics_url: str, timeout_s: float = 0.5, headers: Mapping[str, str] | None = None) -> None:
        self.url = metrics_url
        parts = urlsplit(metrics_url)
        self._target = parts.path + (f"?{parts.query}" if parts.query else "")
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._https = parts.scheme == "https"
        self._timeout_s = timeout_s
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._conn: http.client.HTTPConnection | None = None
        self.last: Mapping[str, Any] | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = kind(self._host, self._port, timeout=self._timeout_s)
        return self._conn

    def read(self) -> Mapping[str, Any] | None:
        payload: object = None
        try:
            conn = self._connection()
            conn.request("GET", self._target, headers=self._headers)
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                payload = json.loads(body)
            if response.will_close:
                self.close()
        except (OSError, http.client.HTTPException, ValueError):
            self.close()  # a timed-out or broken connection is not reused: the next read reconnects
        self.last = payload if isinstance(payload, Mapping) else None
        return self.last

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- Locust's stats history -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocustPoint:
    """The "Aggregated" row of one second of ``*_stats_history.csv``.

    Percentiles are Locust's own, over its recent window. ``rps`` and ``fail_rps`` as parsed are Locust's too, a
    10-second average ending 2 s back; :class:`LocustHistoryTail` replaces them with rates from the cumulative
    totals over the last couple of seconds, because that lag would add ~12 s to every recovery the gate times.
    """

    timestamp: float
    users: int | None
    rps: float | None
    fail_rps: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    total_requests: int | None
    total_failures: int | None


def parse_history_row(header: list[str], row: list[str]) -> LocustPoint | None:
    """A LocustPoint from an "Aggregated" row of Locust 2.x's stats history, None for any other row."""
    if len(row) != len(header):
        return None
    fields = dict(zip(header, row, strict=True))
    if fields.get("Name") != "Aggregated":
        return None
    timestamp = _float(fields.get("Timestamp"))
    if timestamp is None:
        return None
    users = _float(fields.get("User Count"))
    total = _float(fields.get("Total Request Count"))
    failures = _float(fields.get("Total Failure Count"))
    return LocustPoint(
        timestamp=timestamp,
        users=None if users is None else int(users),
        rps=_float(fields.get("Requests/s")),
        fail_rps=_float(fields.get("Failures/s")),
        p50_ms=_float(fields.get("50%")),
        p95_ms=_float(fields.get("95%")),
        p99_ms=_float(fields.get("99%")),
        total_requests=None if total is None else int(total),
        total_failures=None if failures is None else int(failures),
    )


def _float(text: str | None) -> float | None:
    """Locust writes "N/A" before the first response; that (and anything unreadable) is missing."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class RateWindow:
    """Request and failure rates from cumulative totals over the most recent ``window_s`` seconds (bounded).

    Locust stamps its rows with whole seconds, so one second is too jittery a base; a reset of the totals (Locust
    reset its statistics) starts the window over.
    """

    def __init__(self, window_s: float = 2.0, max_points: int = 32) -> None:
        self.window_s = window_s
        self._points: collections.deque[tuple[float, int, int]] = collections.deque(maxlen=max_points)

    def add(self, timestamp: float, requests: int, failures: int) -> None:
        if self._points:
            last_ts, last_requests, last_failures = self._points[-1]
            if requests < last_requests or failures < last_failures or timestamp < last_ts:
                self._points.clear()
            elif timestamp == last_ts:
                self._points.pop()
        self._points.append((timestamp, requests, failures))

    def rates(self) -> tuple[float, float] | None:
        """(requests/s, failures/s), or None until two points at least a second apart exist."""
        if len(self._points) < 2:
            return None
        newest = self._points[-1]
        base = self._points[0]
        for point in reversed(self._points):
            if newest[0] - point[0] >= self.window_s:
                base = point
                break
        span = newest[0] - base[0]
        if span < 1.0:
            return None
        return (newest[1] - base[1]) / span, (newest[2] - base[2]) / span


class LocustHistoryTail:
    """Follows a growing ``*_stats_history.csv``, remembering its latest "Aggregated" row and recent totals.

    Each poll reads what was appended since the last one, at most ``max_read_bytes`` (if Locust got far ahead,
    older bytes are skipped: only the latest seconds matter). A line without its newline is left for next time.
    """

    def __init__(self, path: Path, max_read_bytes: int = 1 << 20, rate_window_s: float = 2.0) -> None:
        self.path = path
        self.max_read_bytes = max_read_bytes
        self._offset = 0
        self._partial = b""
        self._header: list[str] | None = None
        self._rates = RateWindow(rate_window_s)
        self.latest: LocustPoint | None = None

    def poll(self) -> LocustPoint | None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                if size < self._offset:  # replaced or truncated: start over
                    self._offset, self._partial, self._header = 0, b"", None
                start = self._offset
                if self._header is not None and size - start > self.max_read_bytes:
                    start, self._partial = size - self.max_read_bytes, b""
                handle.seek(start)
                chunk = handle.read(size - start)
        except OSError:
            return self.latest
        self._offset = start + len(chunk)
        data = self._partial + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return self.latest
        self._partial = data[cut + 1 :]
        for row in csv.reader(io.StringIO(data[: cut + 1].decode("utf-8", errors="replace"))):
            if not row:
                continue
            if self._header is None:
                if row[0] == "Timestamp":
                    self._header = row
                continue
            point = parse_history_row(self._header, row)
            if point is not None:
                self.latest = self._with_rates(point)
        return self.latest

    def _with_rates(self, point: LocustPoint) -> LocustPoint:
        if point.total_requests is None or point.total_failures is None:
            return point
        self._rates.add(point.timestamp, point.total_requests, point.total_failures)
        rates = self._rates.rates()
        if rates is None:
            return point
        return dataclasses.replace(point, rps=rates[0], fail_rps=rates[1])


def locust_columns(point: LocustPoint | None, now_wall: float, stale_after_s: float = 5.0) -> Sample:
    """Load columns from Locust's latest second; empty once it is older than ``stale_after_s`` (Locust stopped)."""
    if point is None or now_wall - point.timestamp > stale_after_s:
        return {
            "rps": None, "fail_rps": None, "calls_total": None, "p50_ms": None, "p95_ms": None, "p99_ms": None,
            "users": None,
        }  # fmt: skip
    return {
        "rps": point.rps,
        "fail_rps": point.fail_rps,
        "calls_total": point.total_requests,
        "p50_ms": point.p50_ms,
        "p95_ms": point.p95_ms,
        "p99_ms": point.p99_ms,
        "users": point.users,
    }


# --- rows, the CSV file and the thread ----------------------------------------------------------------------------


def format_row(sample: Mapping[str, Value]) -> list[str]:
    """CSV cells in :data:`SAMPLE_COLUMNS` order; None is an empty cell, floats are rounded per column."""
    cells: list[str] = []
    for column in SAMPLE_COLUMNS:
        value = sample.get(column)
        if value is None:
            cells.append("")
        elif isinstance(value, float):
            if not math.isfinite(value):
                cells.append("")
            else:
                cells.append(_fixed(value, DECIMALS.get(column, 3)))
        else:
            cells.append(str(value))
    return cells


def _fixed(value: float, decimals: int) -> str:
    """Fixed-point with trailing zeros dropped: never exponent notation, which spreadsheets and eyes misread."""
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class SamplesWriter:
    """Appends rows to ``samples.csv`` and flushes each one, writing the header first on an empty file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO = path.open("a", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        if self._handle.tell() == 0:
            self._writer.writerow(SAMPLE_COLUMNS)
            self._handle.flush()
        self.rows = 0

    def write(self, sample: Mapping[str, Value]) -> None:
        self._writer.writerow(format_row(sample))
        self._handle.flush()
        self.rows += 1

    def close(self) -> None:
        self._handle.close()


class Sampler:
    """Takes one sample from whichever sources it has; ``t`` and ``wall`` come from the caller's clocks."""

    def __init__(
        self,
        probe: ProcessTreeProbe | None,
        scraper: MetricsScraper | None = None,
        locust: LocustHistoryTail | None = None,
        phase_at: Callable[[float], str | None] = lambda _t: None,
    ) -> None:
        self.probe = probe
        self.scraper = scraper
        self.locust = locust
        self.phase_at = phase_at

    def take(self, t: float, wall: float) -> Sample:
        sample: Sample = {"t": t, "wall": wall}
        if self.probe is not None:
            sample.update(self.probe.read())
        sample.update(metrics_columns(self.scraper.read() if self.scraper is not None else None))
        sample.update(locust_columns(self.locust.poll() if self.locust is not None else None, wall))
        sample["fault_phase"] = self.phase_at(t)
        return sample

    def close(self) -> None:
        if self.scraper is not None:
            self.scraper.close()


class SamplerThread:
    """Samples every ``interval_s`` on a fixed grid from ``t0`` (monotonic), so a slow sample causes no drift.

    A tick missed because a sample overran is skipped rather than caught up. ``sampler_cpu_s`` is this thread's
    own CPU time (``time.thread_time``) since it started, written into every row.
    """

    def __init__(
        self,
        sampler: Sampler,
        writer: SamplesWriter,
        interval_s: float,
        t0_monotonic: float,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.sampler = sampler
        self.writer = writer
        self.interval_s = interval_s
        self.t0 = t0_monotonic
        self._monotonic = monotonic
        self._wall = wall
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self._lock = threading.Lock()
        self.latest: Sample | None = None
        self.cpu_s = 0.0
        self._cpu_base = 0.0
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def sample_now(self) -> Sample:
        """One extra sample off the grid (the runner's last, just before it signals the server); its CPU is not ours."""
        with self._lock:
            return self._sample_locked(own_thread=False)

    def _run(self) -> None:
        self._cpu_base = time.thread_time()
        tick = 0
        try:
            while not self._stop.is_set():
                with self._lock:
                    self._sample_locked(own_thread=True)
                tick += 1
                now = self._monotonic() - self.t0
                tick = max(tick, math.floor(now / self.interval_s) + 1)
                self._stop.wait(max(0.0, self.t0 + tick * self.interval_s - self._monotonic()))
        except BaseException as exc:  # surfaced by the runner, which owns the decision to stop the run
            self.error = exc

    def _sample_locked(self, own_thread: bool) -> Sample:
        sample = self.sampler.take(self._monotonic() - self.t0, self._wall())
        if own_thread:
            self.cpu_s = time.thread_time() - self._cpu_base
        sample["sampler_cpu_s"] = self.cpu_s
        self.writer.write(sample)
        self.latest = sample
        return sample

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

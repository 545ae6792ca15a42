"""The report's figure files: one name per figure, shared by the criteria (which point at the figure that shows
their evidence) and the plots (which draw it), so a renamed figure cannot leave a criterion pointing nowhere."""

from __future__ import annotations

from enum import StrEnum


class PlotFile(StrEnum):
    MEMORY = "rss.png"
    FDS_THREADS = "fds_threads.png"
    TCP = "tcp.png"
    POOL = "pool.png"
    SESSIONS = "sessions.png"
    BREAKER = "breaker.png"
    THROUGHPUT = "throughput.png"
    LATENCY = "latency.png"

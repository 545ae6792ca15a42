"""One PNG per resource over time, with the warm-up and every fault window shaded and the fitted trends drawn.

The figures are what a person scans in the morning, so each carries its verdict in the title, labels its fault
windows by name, and puts the Theil–Sen slope in the legend of every gated series. matplotlib's object API with the
Agg canvas is used directly (no pyplot), so rendering holds no global state and needs no display.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from soak.context import degradation_windows
from soak.formatting import MEGABYTE, fmt_num
from soak.plotfiles import PlotFile
from soak.rundir import RunData
from soak.verdict import Status, Verdict, worst

FloatArray = npt.NDArray[np.float64]

WIDTH_IN, HEIGHT_IN, DPI = 12.0, 3.6, 100
FAULT_COLOUR, WARMUP_COLOUR = "#d62728", "#7f7f7f"
STATUS_COLOURS = {Status.HELD: "#2ca02c", Status.BROKEN: "#d62728", Status.INCONCLUSIVE: "#ff7f0e"}
BREAKER_TICKS = ((0.0, "closed"), (1.0, "half_open"), (2.0, "open"))


@dataclass(frozen=True)
class Plot:
    file: str
    title: str
    caption: str


@dataclass(frozen=True)
class _Axis:
    """The shared time axis: hours for runs over two hours, minutes otherwise."""

    divisor: float
    label: str

    @classmethod
    def for_duration(cls, duration_s: float) -> _Axis:
        if duration_s > 2 * 3600:
            return cls(3600.0, "time since start (h)")
        return cls(60.0, "time since start (min)")


class _Canvas:
    """What every figure needs: the run, the verdict, the time axis, and helpers to decorate an axes."""

    def __init__(self, run: RunData, verdict: Verdict) -> None:
        self.run = run
        self.verdict = verdict
        self.t = run.samples.col("t")
        self.axis = _Axis.for_duration(verdict.duration_s)
        self.x = self.t / self.axis.divisor

    def series(self, column: str, scale: float = 1.0) -> FloatArray:
        values: FloatArray = self.run.samples.col(column) / scale
        return values

    def status_for(self, file: str) -> Status | None:
        statuses = [c.status for c in self.verdict.criteria if c.plot == file]
        return worst(statuses) if statuses else None

    def new_figure(self, rows: int = 1) -> tuple[Figure, list[Axes]]:
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN * (0.75 * rows + 0.25 if rows > 1 else 1)), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.subplots(rows, 1, sharex=True, squeeze=False)
        return figure, [row[0] for row in axes]

    def title(self, figure: Figure, file: str, text: str) -> None:
        status = self.status_for(file)
        suffix = f" — {str(status).upper()}" if status else ""
        colour = STATUS_COLOURS.get(status, "black") if status else "black"
        figure.suptitle(f"{text}{suffix}", color=colour, fontsize=12, fontweight="bold")

    def shade(self, ax: Axes) -> None:
        """Warm-up in grey and each fault window in red, named at the top of the axes."""
        div = self.axis.divisor
        if self.verdict.warmup_s > 0:
            ax.axvspan(0, self.verdict.warmup_s / div, color=WARMUP_COLOUR, alpha=0.12, lw=0, label="warm-up")
        top = blended_transform_factory(ax.transData, ax.transAxes)
        for index, window in enumerate(self.verdict.fault_windows):
            label = "fault window" if index == 0 else None
            ax.axvspan(window.start_s / div, window.end_s / div, color=FAULT_COLOUR, alpha=0.15, lw=0, label=label)
            ax.text(
                window.start_s / div,
                0.97,
                f" {window.name}",
                transform=top,
                rotation=90,
                va="top",
                ha="left",
                fontsize=7,
                color=FAULT_COLOUR,
                bbox={"facecolor": "white", "alpha": 0.6, "lw": 0, "pad": 1},
            )

    def trend(self, ax: Axes, column: str, name: str, colour: str) -> None:
        line = self.verdict.trend(column)
        if line is None:
            return
        ts = np.array([line.t_start_s, line.t_end_s])
        ys = [line.value_at(float(v)) for v in ts]
        label = (
            f"{name} trend {fmt_num(line.slope_per_h, True)} {line.unit}/h\n"
            f"  (CI {fmt_num(line.low_per_h, True)}…{fmt_num(line.high_per_h, True)})"
        )
        ax.plot(ts / self.axis.divisor, ys, color=colour, ls="--", lw=1.6, label=label)

    def line(self, ax: Axes, column: str, label: str, colour: str, scale: float = 1.0, lw: float = 0.8) -> bool:
        values = self.series(column, scale)
        if not np.isfinite(values).any():
            return False
        ax.plot(self.x, values, color=colour, lw=lw, label=label)
        return True

    def finish(self, ax: Axes, ylabel: str, drawn: bool) -> None:
        self.shade(ax)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if self.verdict.duration_s > 0:
            ax.set_xlim(0, self.verdict.duration_s / self.axis.divisor)
        if not drawn:
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center", color="grey")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)


def _memory(c: _Canvas) -> Figure:
    figure, (top, bottom) = c.new_figure(rows=2)
    drawn = c.line(top, "rss_bytes", "RSS", "#1f77b4", MEGABYTE)
    drawn |= c.line(top, "uss_bytes", "USS", "#9467bd", MEGABYTE)
    c.trend(top, "rss_bytes", "RSS", "#0b3d66")
    c.trend(top, "uss_bytes", "USS", "#4b2a66")
    c.finish(top, "memory (MB)", drawn)
    drawn = c.line(bottom, "py_blocks", "Python heap", "#2ca02c", 1000.0)
    c.trend(bottom, "py_blocks", "Python heap", "#145214")
    c.finish(bottom, "Python heap\n(thousand blocks)", drawn)
    if drawn:
        peak = float(np.nanmax(c.series("py_blocks", 1000.0)))
        bottom.set_ylim(0, peak * 1.15)  # from zero: a flat heap looks flat, a leak of objects still climbs visibly
    c.title(figure, PlotFile.MEMORY, "Memory (RSS, USS) and Python heap blocks (not gated)")
    return figure


def _fds_threads(c: _Canvas) -> Figure:
    figure, (top, bottom) = c.new_figure(rows=2)
    drawn = c.line(top, "fds", "open FDs", "#1f77b4")
    c.trend(top, "fds", "FDs", "#0b3d66")
    c.finish(top, "FDs", drawn)
    drawn = c.line(bottom, "threads", "threads", "#8c564b")
    c.trend(bottom, "threads", "threads", "#4a2c27")
    c.finish(bottom, "threads", drawn)
    c.title(figure, PlotFile.FDS_THREADS, "File descriptors and threads")
    return figure


def _tcp(c: _Canvas) -> Figure:
    figure, (ax,) = c.new_figure()
    drawn = False
    for column, label, colour in (
        ("tcp_clients", "clients ESTABLISHED", "#1f77b4"),
        ("tcp_upstream", "upstream ESTABLISHED", "#2ca02c"),
        ("tcp_close_wait", "CLOSE_WAIT", "#d62728"),
        ("tcp_time_wait", "TIME_WAIT", "#7f7f7f"),
    ):
        drawn |= c.line(ax, column, label, colour)
    for column, name, colour in (
        ("tcp_clients", "clients", "#0b3d66"),
        ("tcp_upstream", "upstream", "#145214"),
        ("tcp_close_wait", "CLOSE_WAIT", "#6b1414"),
    ):
        c.trend(ax, column, name, colour)
    c.finish(ax, "sockets", drawn)
    c.title(figure, PlotFile.TCP, "TCP sockets by state")
    return figure


def _pool(c: _Canvas) -> Figure:
    figure, (ax,) = c.new_figure()
    drawn = False
    for column, label, colour in (
        ("pool_open", "open", "#1f77b4"),
        ("pool_active", "active", "#ff7f0e"),
        ("pool_idle", "idle", "#2ca02c"),
        ("pool_queued", "queued", "#d62728"),
    ):
        drawn |= c.line(ax, column, label, colour)
    limit = c.run.meta.pool_max_connections
    if limit is None and c.run.samples.has("pool_max"):
        limit = int(np.nanmax(c.run.samples.col("pool_max")))
    if limit is not None:
        ax.axhline(limit, color="black", ls="--", lw=1.2, label=f"limit {limit}")
    c.finish(ax, "connections", drawn)
    c.title(figure, PlotFile.POOL, "Upstream connection pool")
    return figure


def _sessions(c: _Canvas) -> Figure:
    figure, (ax,) = c.new_figure()
    drawn = c.line(ax, "sessions_open", "open sessions", "#1f77b4", lw=1.0)
    c.trend(ax, "sessions_open", "open sessions", "#0b3d66")
    for column, label, style in (("sessions_max", "cap", "--"), ("sessions_client_max", "cap per client", ":")):
        if c.run.samples.has(column):
            ax.axhline(float(np.nanmax(c.series(column))), color="black", ls=style, lw=1.1, label=label)
    probes = c.run.probes
    if probes:
        for ok, colour, marker, label in (
            (True, "#2ca02c", "|", "newcomer answered"),
            (False, "#d62728", "x", "newcomer not served"),
        ):
            ts = np.array([p.t for p in probes if p.ok is ok])
            if len(ts):
                ax.plot(ts / c.axis.divisor, np.zeros(len(ts)), ls="", marker=marker, color=colour, ms=7, label=label)
    c.finish(ax, "sessions", drawn)
    c.title(figure, PlotFile.SESSIONS, "Sessions open against the cap, and the newcomer probe")
    return figure


def _breaker(c: _Canvas) -> Figure:
    figure, (ax,) = c.new_figure()
    level = c.series("breaker_level")
    drawn = bool(np.isfinite(level).any())
    if drawn:
        ax.fill_between(c.x, level, step="post", color="#d62728", alpha=0.35, lw=0)
        ax.step(c.x, level, where="post", color="#d62728", lw=0.9, label="breaker state")
    ax.set_yticks([v for v, _ in BREAKER_TICKS], [name for _, name in BREAKER_TICKS])
    ax.set_ylim(-0.2, 2.4)
    c.finish(ax, "state", drawn)
    c.title(figure, PlotFile.BREAKER, "Circuit breaker state")
    return figure


def _throughput(c: _Canvas) -> Figure:
    figure, (ax,) = c.new_figure()
    drawn = c.line(ax, "rps", "calls/s", "#1f77b4")
    drawn |= c.line(ax, "fail_rps", "unexpected failures/s", "#d62728", lw=1.0)
    meta = c.run.meta
    if meta.users is not None and meta.pace_per_user_s is not None:
        offered = meta.users * meta.pace_per_user_s
        ax.axhline(offered, color="black", ls=":", lw=1.0, label=f"offered {offered:g}/s (paced)")
    c.finish(ax, "per second", drawn)
    c.title(figure, PlotFile.THROUGHPUT, "Throughput and failures")
    return figure


def _latency(c: _Canvas) -> Figure:
    figure, (ax,) = c.new_figure()
    drawn = False
    for column, label, colour in (
        ("p50_ms", "p50", "#2ca02c"),
        ("p95_ms", "p95", "#ff7f0e"),
        ("p99_ms", "p99", "#d62728"),
    ):
        drawn |= c.line(ax, column, label, colour)
    c.trend(ax, "p50_ms", "p50", "#145214")
    c.trend(ax, "p95_ms", "p95", "#8a4500")
    medians = c.verdict.compared.get("p95_ms")
    if medians is not None:
        windows = degradation_windows(c.verdict.warmup_s, c.verdict.duration_s)
        for index, ((start, end), median) in enumerate(zip(windows, medians, strict=True)):
            bar = "p95 first-tenth median, fitted end" if index == 0 else "_nolegend_"
            ax.hlines(median, start / c.axis.divisor, end / c.axis.divisor, color="black", lw=2.2, label=bar)
    c.finish(ax, "latency (ms)", drawn)
    finite = c.series("p99_ms")[np.isfinite(c.series("p99_ms"))]
    if len(finite) and float(np.max(finite)) > 20 * max(float(np.median(finite)), 1e-9):
        ax.set_yscale("log")
    c.title(figure, PlotFile.LATENCY, "Latency (Locust percentiles)")
    return figure


FIGURES: Sequence[tuple[str, str, str, Callable[[_Canvas], Figure]]] = (
    (PlotFile.MEMORY, "Memory", "RSS and USS in MB (10⁶ bytes); dashed: Theil–Sen trend after warm-up.", _memory),
    (
        PlotFile.FDS_THREADS,
        "File descriptors and threads",
        "Open FDs and OS threads of the server process.",
        _fds_threads,
    ),
    (PlotFile.TCP, "TCP sockets", "Server sockets by state: client side, upstream side, CLOSE_WAIT, TIME_WAIT.", _tcp),
    (PlotFile.POOL, "Connection pool", "Upstream pool connections by state, queued requests, and the limit.", _pool),
    (
        PlotFile.SESSIONS,
        "Sessions",
        "Open MCP sessions, the session caps, and each newcomer probe try (ticks answered, crosses not served).",
        _sessions,
    ),
    (
        PlotFile.BREAKER,
        "Circuit breaker",
        "Breaker state over time: it should open only inside fault windows.",
        _breaker,
    ),
    (
        PlotFile.THROUGHPUT,
        "Throughput",
        "Calls/s measured by Locust, unexpected failures/s, offered rate.",
        _throughput,
    ),
    (
        PlotFile.LATENCY,
        "Latency",
        "p50/p95/p99 per interval; dashed: Theil–Sen trends; black bars: the p95 first-tenth median and fitted end.",
        _latency,
    ),
)


def _save(figure: Figure, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    figure.savefig(temporary, format="png", dpi=DPI)
    os.replace(temporary, path)


def render_plots(run: RunData, verdict: Verdict, out_dir: Path) -> list[Plot]:
    """Write every figure into ``out_dir`` (replacing older ones atomically) and describe them for the report."""
    canvas = _Canvas(run, verdict)
    plots: list[Plot] = []
    for file, title, caption, draw in FIGURES:
        figure = draw(canvas)
        figure.supxlabel(canvas.axis.label, fontsize=9)
        height = figure.get_figheight()
        # Fixed margins (not tight_layout) so every figure's time axis lines up in the report.
        figure.subplots_adjust(left=0.07, right=0.80, top=1 - 0.45 / height, bottom=0.55 / height, hspace=0.12)
        _save(figure, out_dir / file)
        plots.append(Plot(file=file, title=title, caption=caption))
    return plots

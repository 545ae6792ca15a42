"""Render a run folder into what a person reads in the morning: verdict.json, summary.md and report.html.

The order is the reading order: the verdict in large type, then what broke (each with its figure and threshold),
then one plot per resource, then the tables (criteria, fault windows, run parameters with the pacing). The HTML is
one self-contained file: the PNGs are embedded as base64 data URIs so it opens from disk, a mail attachment or a
CI artefact. A tiny inline script reports whether every figure decoded, for people and for the browser test.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from soak.formatting import fmt_bytes, fmt_duration, fmt_interval, fmt_num
from soak.gate import judge
from soak.plots import Plot, render_plots
from soak.rundir import RunData, load_run
from soak.thresholds import Thresholds
from soak.verdict import Criterion, Status, Verdict

VERDICT_JSON = "verdict.json"
SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"

STATUS_COLOURS = {Status.HELD: "#1e7b34", Status.BROKEN: "#b3261e", Status.INCONCLUSIVE: "#a15c00"}
HEADLINES = {
    Status.HELD: "every criterion held",
    Status.BROKEN: "at least one criterion broke",
    Status.INCONCLUSIVE: "nothing broke, but the run could not prove everything",
}


def _write_atomic(path: Path, data: str | bytes) -> None:
    """Replace the file whole, so a re-render interrupted midway never leaves a half-written report."""
    temporary = path.with_name(f".{path.name}.tmp")
    if isinstance(data, str):
        temporary.write_text(data, encoding="utf-8")
    else:
        temporary.write_bytes(data)
    os.replace(temporary, path)


def _duration(seconds: float | None) -> str:
    return "n/a" if seconds is None else fmt_duration(seconds)


def _faults_text(faults: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in faults.items()) or "(none recorded)"


def parameter_rows(run: RunData, verdict: Verdict) -> list[tuple[str, str]]:
    """The run's parameters in reading order; the pacing line comes right after the target."""
    meta = run.meta
    mix = meta.mix if isinstance(meta.mix, str) else json.dumps(meta.mix, sort_keys=True) if meta.mix else "n/a"
    interval = f"{meta.sample_interval_s:g} s" if meta.sample_interval_s is not None else "n/a"
    return [
        ("run id", meta.run_id),
        ("started at", meta.started_at or "n/a"),
        ("target", verdict.target),
        ("pacing", verdict.pacing),
        ("users", f"{meta.users:g}" if meta.users is not None else "n/a"),
        ("pace per user", f"{meta.pace_per_user_s:g} calls/s" if meta.pace_per_user_s is not None else "n/a"),
        ("call mix", mix),
        ("what counts as a failed call", verdict.failure_rule),
        ("planned duration", _duration(meta.planned_duration_s)),
        ("actual duration", _duration(verdict.duration_s)),
        ("warm-up excluded from trends", _duration(verdict.warmup_s)),
        ("samples", f"{verdict.samples:,} every {interval}"),
        ("pool max connections", str(meta.pool_max_connections) if meta.pool_max_connections is not None else "n/a"),
        ("breaker timeout", f"{meta.breaker_timeout_s:g} s" if meta.breaker_timeout_s is not None else "n/a"),
        ("shutdown grace", f"{meta.shutdown_grace_s:g} s" if meta.shutdown_grace_s is not None else "n/a"),
        *_load_extras(run),
        *_server_environment(run),
    ]


def _load_extras(run: RunData) -> list[tuple[str, str]]:
    load = run.meta.raw.get("load")
    rows: list[tuple[str, str]] = []
    if isinstance(load, dict) and isinstance(load.get("rude_classes"), list):
        rude = ", ".join(str(name) for name in load["rude_classes"]) or "none"
        rows.append(("rude clients (one Locust user each)", rude))
        if load.get("locust_args"):
            rows.append(("extra Locust options", " ".join(str(a) for a in load["locust_args"])))
    probe = run.meta.raw.get("probe")
    if isinstance(probe, dict):
        rows.append(("newcomer probe", f"every {probe.get('interval_s')} s, {len(run.probes)} tries"))
    return rows


def _server_environment(run: RunData) -> list[tuple[str, str]]:
    """The settings the runner changed, each with its shipped value and reason; older runs list the raw variables."""
    target = run.meta.raw.get("target")
    changed = target.get("settings_changed") if isinstance(target, dict) else None
    if isinstance(changed, list):
        rows = [
            (f"setting {c.get('key')}", f"{c.get('value')} (shipped: {c.get('shipped') or 'unset'}): {c.get('reason')}")
            for c in changed
            if isinstance(c, dict)
        ]
        return [*rows, ("every other setting", "its shipped default")]
    env = target.get("env") if isinstance(target, dict) else None
    if not isinstance(env, dict) or not env:
        return []
    return [("server environment", " ".join(f"{k}={v}" for k, v in sorted(env.items())))]


def projection_rows(verdict: Verdict) -> list[tuple[str, str, str, str]]:
    """Each trend criterion's growth projected over a night, with its interval, against the night's budget."""
    rows = []
    for c in verdict.criteria:
        p = c.projection_24h
        if not p:
            continue
        unit = str(p.get("unit", ""))
        rates = ""
        if c.per_hour and c.per_1k_calls:
            time_hours = float(p.get("time_hours", p["hours"]))
            rates = (
                f" = {fmt_num(c.per_hour['value'], True)} {unit}/h × {time_hours:.3g} h of this run's clock + "
                f"{fmt_num(c.per_1k_calls['value'], True)} {unit}/1k calls × the night's calls at "
                f"{fmt_num(float(p['calls_per_s']))} calls/s"
            )
            wall = p.get("wall_clock")
            if isinstance(wall, dict):
                rates += (
                    f"; on the wall clock (× {float(p['hours']):g} h): {fmt_num(float(wall['value']), True)} {unit} "
                    f"(CI {fmt_interval(float(wall['low']), float(wall['high']))})"
                )
        rows.append(
            (
                c.name,
                f"{fmt_num(float(p['value']), True)} {unit} (CI {fmt_interval(float(p['low']), float(p['high']))})"
                + rates,
                f"{fmt_num(float(p['budget']))} {unit} in {float(p['hours']):g} h",
                "within" if p.get("within_budget") else "not shown within",
            )
        )
    return rows


BACKTEST_HEADERS = ("criterion", "projected from the first half", "measured at the end", "error", "inside")


def backtest_rows(verdict: Verdict) -> list[tuple[str, str, str, str, str]]:
    """Runs of 2 h or more: each trend's first half projects the run's own end, beside what was measured there."""
    rows = []
    for c in verdict.criteria:
        b = c.backtest
        if not b:
            continue
        unit = str(b.get("unit", ""))
        projected = b["projected"]
        rows.append(
            (
                c.name,
                f"{fmt_num(float(projected['value']))} {unit} "
                f"(CI {fmt_interval(float(projected['low']), float(projected['high']))}) at "
                f"{fmt_duration(float(b['at_s']))}",
                f"{fmt_num(float(b['measured']))} {unit}",
                f"{fmt_num(float(b['error']), True)} {unit}",
                "yes" if b.get("inside") else "no",
            )
        )
    return rows


def plot_projections(verdict: Verdict, plot_file: str) -> str:
    """The 24-hour projections of the criteria drawn on one plot, for its caption."""
    parts = []
    for c in verdict.criteria:
        p = c.projection_24h
        if p and str(c.plot) == plot_file and "hours" in p:
            unit = str(p.get("unit", ""))
            parts.append(
                f"{c.name} over {float(p['hours']):g} h: {fmt_num(float(p['value']), True)} {unit} "
                f"(CI {fmt_interval(float(p['low']), float(p['high']))}; budget {fmt_num(float(p['budget']))})"
            )
    return "; ".join(parts)


GROWTH_HEADERS = ("where", "allocation site", "live bytes gained", "live blocks gained")


def growth_rows(verdict: Verdict) -> list[tuple[str, str, str, str]]:
    """The top growing allocation sites after the warm-up, outside fault windows first (what a quiet night keeps)."""
    rows = []
    for key, where in (("outside_faults", "outside faults"), ("inside_faults", "inside faults")):
        for row in verdict.allocations.get(key) or []:
            rows.append((where, str(row["site"]), fmt_bytes(float(row["size_delta"])), f"{row['count_delta']:+,}"))
    return rows


def growth_caption(verdict: Verdict) -> str:
    a = verdict.allocations
    if not a:
        return "The target exposed no allocation snapshots (our server: AUTODOCS_TRACEMALLOC_FRAMES)."
    return (
        f"{a['snapshots']} tracemalloc snapshots from {fmt_duration(float(a['from_s']))} to "
        f"{fmt_duration(float(a['to_s']))}; traced memory {fmt_bytes(float(a['traced_delta']))} over that time."
    )


def _window_rows(verdict: Verdict) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for w in verdict.fault_windows:
        recovery = f"{w.recovery_s:.1f} s" if w.recovery_s is not None else "—"
        end = fmt_duration(w.end_s) + ("" if w.finished else " (run stopped)")
        rows.append(
            (
                w.name,
                fmt_duration(w.start_s),
                end,
                _faults_text(w.faults),
                recovery,
                f"{w.recovery_status}: {w.recovery_note}",
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------------------------
# markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _md_criterion(c: Criterion) -> str:
    return f"- **{c.name}**: {c.figure} (threshold {c.threshold}). {c.reason}"


def summary_markdown(run: RunData, verdict: Verdict, plots: Sequence[Plot]) -> str:
    status = str(verdict.status).upper()
    lines = [
        f"# Soak run `{verdict.run_id}`: **{status}**",
        "",
        f"{HEADLINES[verdict.status].capitalize()}. {fmt_duration(verdict.duration_s)} of "
        f"{_duration(verdict.planned_duration_s)} planned against {verdict.target}; {verdict.pacing}.",
        "",
    ]
    for wanted, heading in ((Status.BROKEN, "Broken"), (Status.INCONCLUSIVE, "Inconclusive")):
        chosen = verdict.with_status(wanted)
        if chosen:
            lines += [f"## {heading}", "", *(_md_criterion(c) for c in chosen), ""]
    held = len(verdict.with_status(Status.HELD))
    lines += [f"{held} of {len(verdict.criteria)} criteria held.", "", "## Figures", ""]
    lines += [f"![{p.title}]({p.file})" for p in plots]
    lines += ["", "## All criteria", ""]
    lines += _md_table(
        ("status", "criterion", "figure", "threshold", "reason"),
        ((str(c.status).upper(), c.name, c.figure, c.threshold, c.reason) for c in verdict.criteria),
    )
    lines += ["", "## Over a night", ""]
    lines += _md_table(("criterion", "projected growth", "budget", "verdict"), projection_rows(verdict))
    tested = backtest_rows(verdict)
    if tested:
        lines += ["", "Backtest: the first half of each trend projects the run's own end.", ""]
        lines += _md_table(BACKTEST_HEADERS, tested)
    lines += ["", "## What grows", "", growth_caption(verdict), ""]
    if verdict.allocations:
        lines += _md_table(GROWTH_HEADERS, growth_rows(verdict))
    lines += ["", "## Fault windows", ""]
    if verdict.fault_windows:
        lines += _md_table(("name", "start", "end", "faults", "recovery", "judged"), _window_rows(verdict))
    else:
        lines.append("No fault windows.")
    lines += ["", "## Run parameters", ""]
    lines += _md_table(("parameter", "value"), parameter_rows(run, verdict))
    lines += ["", "## Thresholds", ""]
    lines += _md_table(("threshold", "value"), ((k, f"{v:g}") for k, v in verdict.thresholds.items()))
    if verdict.notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in verdict.notes)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1240px;
       padding: 1.2em; color: #1d1d1f; }
.verdict { color: #fff; padding: 0.8em 1.2em; border-radius: 8px; }
.verdict .big { font-size: 3.2em; font-weight: 800; letter-spacing: 0.04em; }
.verdict .sub { font-size: 1.05em; opacity: 0.95; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
ul.why li { margin: 0.4em 0; }
.tag { display: inline-block; min-width: 7.5em; font-weight: 700; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f4f4f6; }
.s-held { color: #1e7b34; font-weight: 700; }
.s-broken { color: #b3261e; font-weight: 700; }
.s-inconclusive { color: #a15c00; font-weight: 700; }
.muted { color: #777; font-size: 0.85em; }
"""

_IMG_CHECK = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                .map(function (i) { return i.getAttribute("data-file"); });
  document.getElementById("img-check").textContent =
    bad.length ? "failed: " + bad.join(", ") : "ok " + imgs.length + "/" + imgs.length;
});
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _status_span(status: Status) -> str:
    return f'<span class="s-{status}">{_e(str(status).upper())}</span>'


def _html_table(headers: Sequence[str], rows: Iterable[Sequence[str]], raw_first: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = [row[0] if raw_first else _e(row[0])] + [_e(c) for c in row[1:]]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _why(verdict: Verdict) -> str:
    parts = []
    for wanted, heading in ((Status.BROKEN, "What broke"), (Status.INCONCLUSIVE, "What could not be decided")):
        chosen = verdict.with_status(wanted)
        if not chosen:
            continue
        items = "".join(
            f'<li><span class="tag">{_status_span(c.status)}</span> <b>{_e(c.name)}</b>: {_e(c.figure)} '
            f'<span class="muted">(threshold {_e(c.threshold)})</span><br>{_e(c.reason)}</li>'
            for c in chosen
        )
        parts.append(f"<h2>{_e(heading)}</h2><ul class='why'>{items}</ul>")
    held = len(verdict.with_status(Status.HELD))
    parts.append(f"<p>{held} of {len(verdict.criteria)} criteria held.</p>")
    return "".join(parts)


def report_html(run: RunData, verdict: Verdict, plots: Sequence[Plot], images: Mapping[str, bytes]) -> str:
    """The whole report as one HTML string; ``images`` maps each plot's file name to its PNG bytes."""
    colour = STATUS_COLOURS[verdict.status]
    figures = "".join(
        f'<figure id="fig-{_e(p.file.removesuffix(".png"))}"><img data-file="{_e(p.file)}" alt="{_e(p.title)}" '
        f'src="data:image/png;base64,{base64.b64encode(images[p.file]).decode("ascii")}">'
        f"<figcaption>{_e(p.title)}: {_e(p.caption)}"
        + (f"<br><b>Projected</b>: {_e(projected)}" if (projected := plot_projections(verdict, p.file)) else "")
        + "</figcaption></figure>"
        for p in plots
    )
    criteria = _html_table(
        ("status", "criterion", "figure", "threshold", "reason"),
        ((_status_span(c.status), c.name, c.figure, c.threshold, c.reason) for c in verdict.criteria),
        raw_first=True,
    )
    windows = (
        _html_table(("name", "start", "end", "faults", "recovery", "judged"), _window_rows(verdict))
        if verdict.fault_windows
        else "<p>No fault windows.</p>"
    )
    parameters = _html_table(("parameter", "value"), parameter_rows(run, verdict))
    night = _html_table(("criterion", "projected growth", "budget", "verdict"), projection_rows(verdict))
    tested = backtest_rows(verdict)
    if tested:
        night += "<h3>Backtest: the first half projects the end</h3>" + _html_table(BACKTEST_HEADERS, tested)
    growth = f"<p class='muted'>{_e(growth_caption(verdict))}</p>" + (
        _html_table(GROWTH_HEADERS, growth_rows(verdict)) if verdict.allocations else ""
    )
    thresholds = _html_table(("threshold", "value"), ((k, f"{v:g}") for k, v in verdict.thresholds.items()))
    notes = "".join(f"<li>{_e(n)}</li>" for n in verdict.notes)
    notes_html = f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""
    sub = (
        f"{_e(HEADLINES[verdict.status])} · run <code>{_e(verdict.run_id)}</code> · "
        f"{_e(fmt_duration(verdict.duration_s))} of {_e(_duration(verdict.planned_duration_s))} planned · "
        f"{_e(verdict.target)}<br>{_e(verdict.pacing)}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Soak {_e(verdict.run_id)}: {_e(str(verdict.status).upper())}</title>
<style>{_CSS}</style></head>
<body>
<header class="verdict" id="verdict" style="background:{colour}">
<div class="big" id="verdict-status">{_e(str(verdict.status).upper())}</div>
<div class="sub">{sub}</div>
</header>
<section id="why">{_why(verdict)}</section>
<section id="plots"><h2>Over time</h2>
<p class="muted">Grey: warm-up (excluded from trends). Red: fault windows. Dashed: Theil–Sen trends.</p>
{figures}</section>
<section id="criteria"><h2>All criteria</h2>{criteria}</section>
<section id="night"><h2>Over a night</h2>{night}</section>
<section id="growth"><h2>What grows</h2>{growth}</section>
<section id="faults"><h2>Fault windows</h2>{windows}</section>
<section id="parameters"><h2>Run parameters</h2>{parameters}
<details><summary>Thresholds</summary>{thresholds}</details></section>
{notes_html}
<p class="muted">Figures decoded: <span id="img-check">not checked (scripts off)</span></p>
<script>{_IMG_CHECK}</script>
</body></html>
"""


def write_outputs(run_dir: Path, run: RunData, verdict: Verdict) -> list[Plot]:
    """Plots, verdict.json, summary.md and report.html into ``run_dir``."""
    plots = render_plots(run, verdict, run_dir)
    images = {p.file: (run_dir / p.file).read_bytes() for p in plots}
    _write_atomic(run_dir / VERDICT_JSON, json.dumps(verdict.to_dict(), indent=2, ensure_ascii=False) + "\n")
    _write_atomic(run_dir / SUMMARY_MD, summary_markdown(run, verdict, plots))
    _write_atomic(run_dir / REPORT_HTML, report_html(run, verdict, plots, images))
    return plots


def render_report(run_dir: Path, thresholds: Thresholds | None = None) -> Verdict:
    """Load, judge and write every output into the run folder; returns the verdict (RunDirError if unreadable)."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    verdict = judge(run, thresholds or Thresholds())
    write_outputs(run_dir, run, verdict)
    return verdict

"""The figure in notes/night.md: memory over a real 24-hour night, as each run projects it, with its interval.

    .venv/bin/python notes/night-2h/compare.py PLAIN_VERDICT NIGHT_VERDICT [NIGHT_VERDICT ...] --out FILE.png

Each argument is a verdict.json (label=path to name it). A plain soak's memory criterion projects its RSS slope over
24 hours; a compressed night's projects per-hour growth over 24/K hours of its own clock plus a night's calls, and
also reports the wall-clock reading (the same per-hour rate over 24 hours), written beside it: its interval is
too wide to draw on the same scale.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def memory(path: Path) -> dict[str, object]:
    verdict = json.loads(path.read_text())
    return next(c for c in verdict["criteria"] if c["name"] == "memory")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("verdicts", nargs="+")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(10, 3.2))
    fig.subplots_adjust(left=0.2, right=0.68, bottom=0.2)
    budget = None
    for row, item in enumerate(args.verdicts):
        path = item.rpartition("=")[2]
        crit = memory(Path(path))
        p = crit["projection_24h"]
        assert isinstance(p, dict)
        budget = p["budget"]
        y = len(args.verdicts) - 1 - row
        ax.errorbar(p["value"], y, xerr=[[p["value"] - p["low"]], [p["high"] - p["value"]]], fmt="o", color="C0",
                    capsize=4)  # fmt: skip
        text = f"{p['value']:+.1f} MB ({p['low']:+.1f}…{p['high']:+.1f})"
        wall = p.get("wall_clock")
        if isinstance(wall, dict):
            text += f"\nwall-clock reading {wall['value']:+.0f} ({wall['low']:+.0f}…{wall['high']:+.0f})"
        ax.text(1.02, y, text, transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        ax.axhline(y + 0.5, color="0.9", lw=0.5)
    ax.set_yticks(range(len(args.verdicts)), [v.rpartition("=")[0] for v in reversed(args.verdicts)], fontsize=8)
    if budget is not None:
        ax.axvline(budget, color="C3", ls="--", lw=1, label=f"budget {budget:g} MB")
    ax.axvline(0, color="0.5", lw=0.5)
    ax.set_xlabel("RSS growth over a real 24-hour night, MB (95 % interval)")
    ax.set_xlim(-40, 60)
    ax.set_ylim(-0.6, len(args.verdicts) - 0.4)
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()

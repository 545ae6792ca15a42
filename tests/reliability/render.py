"""Render the reliability ledger into the results table of ``notes/reliability.md``.

``python -m tests.reliability.render`` reads ``reports/reliability/fast.jsonl`` and ``stress.jsonl`` (written by
the last run of each part) and replaces the text between the two table markers of the notes file, leaving the
prose around them alone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from tests.reliability.harness import LEDGER_DIR, REPO

NOTES = REPO / "notes" / "reliability.md"
START = "<!-- reliability-table:start -->"
END = "<!-- reliability-table:end -->"
PARTS = (("fast", "Fast part (`make test`)"), ("stress", "Stress part (`make stress`)"))


def load_rows(directory: Path, part: str) -> list[dict[str, Any]]:
    path = directory / f"{part}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| attack | tried | answered correctly | server alive | RSS before → after (MB) | FDs before → after "
        "| allowance | notes |",
        "|---|---:|---:|:---:|---|---|---|---|",
    ]
    for row in rows:
        before, after = row["before"], row["after"]
        lines.append(
            "| "
            + " | ".join(
                [
                    cell(row["attack"]),
                    f"{row['tried']:,}",
                    f"{row['correct']:,}",
                    "yes" if row["alive"] else "**no**",
                    f"{before['rss_mb']} → {after['rss_mb']}",
                    f"{before['fds']} → {after['fds']}",
                    f"+{row.get('rss_allowance_mb', 20.0):g} MB / +{row.get('fd_allowance', 5)} FDs",
                    cell(row.get("notes", "")),
                ]
            )
            + " |"
        )
    return lines


def render(directory: Path = LEDGER_DIR) -> str:
    out: list[str] = []
    for part, title in PARTS:
        rows = load_rows(directory, part)
        out.append(f"### {title}")
        out.append("")
        if not rows:
            out.append("_No run recorded yet._")
        else:
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(max(r["recorded_at"] for r in rows)))
            seconds = sum(float(r["seconds"]) for r in rows)
            out.append(f"Run of {stamp}; {len(rows)} attacks, {seconds:.0f} s inside the attacks.")
            out.append("")
            out.extend(table(rows))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def write(notes: Path = NOTES, directory: Path = LEDGER_DIR) -> None:
    text = notes.read_text(encoding="utf-8") if notes.exists() else f"# Reliability\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    notes.write_text(f"{head}{START}\n{render(directory)}{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notes", type=Path, default=NOTES)
    parser.add_argument("--ledger", type=Path, default=LEDGER_DIR)
    args = parser.parse_args()
    write(args.notes, args.ledger)
    print(f"wrote {args.notes}")

"""Deterministic filler prose and markdown for synthetic project descriptions.

Descriptions carry real ``##`` sections (Installation, Quickstart, Configuration, API, Changelog, License) so a
section filter or token budget in the server has structure to work with; only the words are random.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

WORDS: tuple[str, ...] = tuple(
    """
    async buffer cache client config context cursor decoder driver encoder engine event field filter handler
    header index iterator loader logger mapping message metadata middleware model module parser payload pipeline
    plugin pool protocol proxy query queue reader record registry request resolver response retry router schema
    scheduler serializer session settings signal socket stream task template timeout token transport validator
    worker writer adapter backend batch bridge channel chunk codec command connection consumer dispatcher document
    endpoint entry executor factory gateway graph hook instance job key limit listener lock manager node object
    option packet partition path policy port process producer provider publisher reference resource result route
    rule scope selector server service shard snapshot source state storage store subscriber table thread tracker
    trigger type unit value version view window fast small safe lazy strict typed simple robust efficient
    configurable extensible portable reliable concurrent streaming incremental deterministic declarative
    composable lightweight idiomatic explicit optional default custom native pure minimal modern stable
    supports handles returns accepts validates caches parses renders retries streams yields wraps exposes
    provides reads writes loads dumps converts resolves schedules dispatches emits tracks limits
    """.split()
)

FIRST_NAMES = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Guido",
    "Barbara",
    "Ken",
    "Margaret",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Hedy",
    "Niklaus",
    "Karen",
    "Tim",
    "Sophie",
    "Bjarne",
    "Joan",
)
LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Rossum",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Lamarr",
    "Wirth",
    "Jones",
    "Peters",
    "Wilson",
    "Stroustrup",
    "Clarke",
)
TOPICS = (
    "HTTP clients",
    "data validation",
    "configuration files",
    "task queues",
    "command-line tools",
    "structured logging",
    "database access",
    "caching layers",
    "async networking",
    "date handling",
    "templating",
    "serialization",
    "testing",
    "metrics",
    "file watching",
    "text processing",
)
ADJECTIVES = (
    "Fast",
    "Friendly",
    "Typed",
    "Minimal",
    "Robust",
    "Composable",
    "Modern",
    "Pluggable",
    "Lightweight",
    "Declarative",
)


def sentence(rng: random.Random, low: int = 8, high: int = 18) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def paragraph(rng: random.Random, low: int = 3, high: int = 6) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(low, high)))


def person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return f"{first} {last}", f"{first}.{last}@example.org".lower()


def summary(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)} {rng.choice(WORDS)} {rng.choice(WORDS)} toolkit for {rng.choice(TOPICS)}"


def _identifier(rng: random.Random) -> str:
    return "_".join(rng.choices(WORDS[:120], k=rng.randint(1, 3)))


def _api_section(rng: random.Random, module: str) -> list[str]:
    lines = ["## API", "", paragraph(rng, 1, 2), ""]
    for _ in range(rng.choice((3, 6, 12, 24, 48)) + rng.randint(0, 6)):
        func = _identifier(rng)
        args = ", ".join(
            f"{_identifier(rng)}: {rng.choice(('str', 'int', 'float', 'bool', 'bytes'))}"
            for _ in range(rng.randint(0, 4))
        )
        lines += [f"### `{module}.{func}({args})`", "", paragraph(rng, 2, 5), ""]
        if rng.random() < 0.4:
            lines += ["```python", f"result = {module}.{func}()", "print(result)", "```", ""]
    return lines


def description(
    rng: random.Random,
    *,
    display_name: str,
    summary_line: str,
    requires_python: str,
    extras: Sequence[str],
    license_name: str,
    changelog: Sequence[tuple[str, str]],
) -> str:
    """Render a project README; ``changelog`` is ``(version, date)`` pairs, newest first."""
    module = display_name.lower().replace("-", "_").replace(".", "_")
    ending = "" if summary_line.endswith((".", "!", "?")) else "."
    lines = [f"# {display_name}", "", summary_line + ending, ""]
    for _ in range(rng.randint(2, 4)):
        lines += [paragraph(rng), ""]
    lines += ["## Installation", "", "```console", f"pip install {display_name}", "```", ""]
    if extras:
        lines += ["Optional features are installed with extras:", "", "```console"]
        lines += [f'pip install "{display_name}[{extra}]"' for extra in extras]
        lines += ["```", ""]
    if requires_python:
        lines += [f"Requires Python {requires_python}.", ""]
    lines += [
        "## Quickstart",
        "",
        paragraph(rng, 2, 4),
        "",
        "```python",
        f"import {module}",
        "",
        f"client = {module}.Client(timeout=10)",
        "result = client.run()",
        "print(result)",
        "```",
        "",
        paragraph(rng, 1, 3),
        "",
    ]
    lines += ["## Configuration", "", paragraph(rng, 1, 2), "", "| Option | Default | Description |", "|---|---|---|"]
    for _ in range(rng.randint(4, 12)):
        option = _identifier(rng)
        default = rng.choice(("`None`", "`True`", "`False`", f"`{rng.randint(1, 600)}`", '`"auto"`'))
        lines.append(f"| `{option}` | {default} | {sentence(rng, 5, 10)} |")
    lines.append("")
    lines += _api_section(rng, module)
    lines += ["## Changelog", ""]
    for version, date in changelog:
        lines += [f"### {version} ({date})", ""]
        lines += [f"- {sentence(rng, 5, 12)}" for _ in range(rng.randint(2, 6))]
        lines.append("")
    lines += ["## License", "", f"{display_name} is distributed under the {license_name} license.", ""]
    return "\n".join(lines)

"""What the scenario users ask for: a weighted mix of call targets and a Zipf-like popularity of package names.

Pure and seeded through an injected ``random.Random``, so the picker and the mix can be tested exactly. A cache
under real traffic sees a hot head and a long cold tail; a uniform picker would either make everything warm
(small pool) or everything cold (large pool), and both hide how the cache behaves.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME_PLACEHOLDER = "{name}"

# Roughly in order of real PyPI download popularity; every one is also in the PyPI mock's catalog.
HOT_NAMES: tuple[str, ...] = (
    "requests",
    "urllib3",
    "certifi",
    "typing-extensions",
    "idna",
    "charset-normalizer",
    "packaging",
    "numpy",
    "pyyaml",
    "six",
    "python-dateutil",
    "attrs",
    "pydantic",
    "click",
    "jinja2",
    "markupsafe",
    "pandas",
    "pytz",
    "pytest",
    "anyio",
    "httpx",
    "fastapi",
    "starlette",
    "uvicorn",
    "flask",
    "werkzeug",
    "django",
    "sqlalchemy",
    "rich",
    "pygments",
    "pydantic-core",
    "h11",
    "httpcore",
    "sniffio",
    "pluggy",
    "iniconfig",
    "greenlet",
    "cffi",
    "pycparser",
    "pyarrow",
)

DEFAULT_MIX = (
    "get_package_docs=80,get_package_docs_with_context=8,get_cache_stats=3,health_check=3,"
    "invalid_name=3,missing_package=3"
)


def synthetic_name(rank: int) -> str:
    return f"pkg-{rank:05d}"


class NamePool:
    """Package names ranked by popularity; ``pick`` draws rank r with probability proportional to 1 / r**exponent."""

    def __init__(self, size: int, exponent: float, hot: Sequence[str] = HOT_NAMES) -> None:
        if size < 1:
            raise ValueError(f"the name pool needs at least one name, got {size}")
        if exponent < 0:
            raise ValueError(f"the Zipf exponent must be >= 0, got {exponent}")
        head = list(hot[:size])
        self.names: tuple[str, ...] = (*head, *(synthetic_name(rank) for rank in range(len(head), size)))
        self.exponent = exponent
        self._cumulative = list(itertools.accumulate(math.pow(rank, -exponent) for rank in range(1, size + 1)))

    def __len__(self) -> int:
        return len(self.names)

    def probability(self, rank: int) -> float:
        """Chance of drawing the name at 0-based ``rank``."""
        below = self._cumulative[rank - 1] if rank else 0.0
        return (self._cumulative[rank] - below) / self._cumulative[-1]

    def pick(self, rng: random.Random) -> str:
        point = rng.random() * self._cumulative[-1]
        return self.names[min(bisect.bisect_right(self._cumulative, point), len(self.names) - 1)]


@dataclass(frozen=True)
class Mix:
    """Named targets with relative weights, as given by ``--mcp-mix "a=80,b=8"``."""

    entries: tuple[tuple[str, float], ...]
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cumulative", tuple(itertools.accumulate(weight for _, weight in self.entries)))

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.entries)

    def pick(self, rng: random.Random) -> str:
        point = rng.random() * self._cumulative[-1]
        index = min(bisect.bisect_right(self._cumulative, point), len(self.entries) - 1)
        return self.entries[index][0]


def parse_mix(text: str) -> Mix:
    """``"a=80, b=8"`` → a Mix; zero weights are allowed (a way to switch a target off) but not all of them."""
    entries: list[tuple[str, float]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"mix entry {part.strip()!r} is not of the form name=weight")
        try:
            weight = float(raw)
        except ValueError:
            raise ValueError(f"mix weight for {key!r} is not a number: {raw.strip()!r}") from None
        if not weight >= 0 or weight == float("inf"):
            raise ValueError(f"mix weight for {key!r} must be a finite number >= 0, got {raw.strip()}")
        if any(key == seen for seen, _ in entries):
            raise ValueError(f"mix names {key!r} twice")
        if weight > 0:
            entries.append((key, weight))
    if not entries:
        raise ValueError(f"mix {text!r} has no target with a positive weight")
    return Mix(tuple(entries))


@dataclass(frozen=True)
class ToolTemplate:
    """One mix target: which tool to call, with which arguments, and which tool error (if any) counts as success."""

    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    expect_error: str | None = None

    def render(self, name: str) -> dict[str, Any]:
        """The arguments with every ``{name}`` inside string values replaced by a drawn package name."""
        rendered = _substitute(dict(self.arguments), name)
        assert isinstance(rendered, dict)
        return rendered


def _substitute(value: Any, name: str) -> Any:
    if isinstance(value, str):
        return value.replace(NAME_PLACEHOLDER, name)
    if isinstance(value, dict):
        return {key: _substitute(item, name) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, name) for item in value]
    return value


DEFAULT_TEMPLATES: Mapping[str, ToolTemplate] = {
    "get_package_docs": ToolTemplate("get_package_docs", {"package_name": NAME_PLACEHOLDER}),
    "get_package_docs_with_context": ToolTemplate("get_package_docs_with_context", {"package_name": NAME_PLACEHOLDER}),
    "get_cache_stats": ToolTemplate("get_cache_stats"),
    "health_check": ToolTemplate("health_check"),
    "invalid_name": ToolTemplate(
        "get_package_docs", {"package_name": NAME_PLACEHOLDER + "!!"}, expect_error="invalid_package_name"
    ),
    "missing_package": ToolTemplate(
        "get_package_docs", {"package_name": "missing-" + NAME_PLACEHOLDER}, expect_error="package_not_found"
    ),
}


def parse_templates(text: str) -> dict[str, ToolTemplate]:
    """``--mcp-templates``: inline JSON, or a path to a JSON file when it does not start with ``{``.

    Shape: ``{"key": {"tool": "name" (defaults to key), "arguments": {...}, "expect_error": null}}``.
    """
    source = text.strip()
    if not source:
        return {}
    if not source.startswith("{"):
        source = Path(source).read_text(encoding="utf-8")
    try:
        raw = json.loads(source)
    except ValueError as exc:
        raise ValueError(f"--mcp-templates is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError("--mcp-templates must be a JSON object of {key: {arguments, expect_error}}")
    templates: dict[str, ToolTemplate] = {}
    for key, spec in raw.items():
        if not isinstance(spec, dict):
            raise ValueError(f"template {key!r} must be an object")
        unknown = set(spec) - {"tool", "arguments", "expect_error"}
        if unknown:
            raise ValueError(f"template {key!r} has unknown fields: {', '.join(sorted(unknown))}")
        tool = spec.get("tool", key)
        arguments = spec.get("arguments", {})
        expect_error = spec.get("expect_error")
        if not isinstance(tool, str) or not tool:
            raise ValueError(f"template {key!r}: tool must be a non-empty string")
        if not isinstance(arguments, dict):
            raise ValueError(f"template {key!r}: arguments must be an object")
        if expect_error is not None and (not isinstance(expect_error, str) or not expect_error):
            raise ValueError(f"template {key!r}: expect_error must be a non-empty string or null")
        templates[key] = ToolTemplate(tool, arguments, expect_error)
    return templates


@dataclass(frozen=True)
class Workload:
    """Everything a scenario user draws from: the mix, the target of each mix key, and the name pool."""

    mix: Mix
    targets: Mapping[str, ToolTemplate]
    names: NamePool

    def draw(self, rng: random.Random) -> tuple[ToolTemplate, dict[str, Any]]:
        target = self.targets[self.mix.pick(rng)]
        return target, target.render(self.names.pick(rng))


def build_workload(mix_text: str, names: int, exponent: float, templates_text: str = "") -> Workload:
    """A mix key without a template calls the tool of that name with no arguments, so any server's tools work."""
    mix = parse_mix(mix_text)
    templates = {**DEFAULT_TEMPLATES, **parse_templates(templates_text)}
    targets = {key: templates.get(key, ToolTemplate(key)) for key in mix.keys}
    return Workload(mix, targets, NamePool(names, exponent))

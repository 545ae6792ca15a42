"""Rendering validated package metadata as markdown an assistant can read, optionally filtered by a query.

The description is split into sections at markdown ATX headings (``#`` to ``######``) outside fenced code blocks,
or, for reStructuredText descriptions, at underlined titles. One precompiled regex finds every boundary in a
single C-level pass, so a 40 KB description renders in a fraction of a millisecond. A query keeps the sections
whose heading or body contains any query word (case-insensitive substring match); the header block is always kept.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, NamedTuple

from autodocs_mcp.metadata import PackageMetadata

CHARS_PER_TOKEN = 4
"""English prose and markdown average about four characters per token in GPT/Claude-style BPE vocabularies;
code and non-Latin text run denser, so treat estimates as a budget guide, not a bill."""

MAX_QUERY_CHARS = 500
MAX_QUERY_WORDS = 20
MAX_LISTED_DEPENDENCIES = 50
_FENCE_CLOSER = "\n```"
TRUNCATION_MARKER = "\n\n… [truncated: {shown} of {total} characters shown; narrow it with `query`]\n"

# Patterns start with a literal "\n" (the text is searched with one prepended) rather than ``^`` in MULTILINE
# mode: sre then jumps between newlines instead of attempting a match at every character, about 3x faster.
_FENCE_OR_ATX = r"(?P<backticks>```)|(?P<tildes>~~~)|(?P<hashes>#{1,6})(?:[ \t]+[^\n]*)?[ \t]*$"
_RST_TITLE = r"(?P<rst_title>[^\s][^\n]*)\n(?P<rst_rule>(?P<rule_char>[=\-~^\"'#*+:.])(?P=rule_char){2,})[ \t]*$"
_MARKDOWN_HEADING_RE = re.compile(rf"\n(?=[#`~])(?:{_FENCE_OR_ATX})", re.MULTILINE)
_RST_HEADING_RE = re.compile(rf"\n(?:{_RST_TITLE})", re.MULTILINE)
"""reStructuredText has neither ATX headings nor fences (code blocks are indented), so only titles count."""
_WORD_RE = re.compile(r"\w+")
_SINGLE_LINE_RE = re.compile(r"\s+")


def estimate_tokens(text: str) -> int:
    """Approximate token count as ``ceil(len(text) / CHARS_PER_TOKEN)``."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


@dataclass(frozen=True)
class RenderedDocs:
    markdown: str
    truncated: bool
    sections_total: int
    sections_matched: int
    token_estimate: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "markdown": self.markdown,
            "truncated": self.truncated,
            "sections_total": self.sections_total,
            "sections_matched": self.sections_matched,
            "token_estimate": self.token_estimate,
        }


class Section(NamedTuple):
    """One description section: its heading text ("" for the intro) and its span in the description."""

    heading: str
    start: int
    end: int


def query_words(query: str | None) -> tuple[str, ...]:
    """Lower-cased, deduplicated words of a query, bounded in length and count."""
    if not query:
        return ()
    words = dict.fromkeys(w.lower() for w in _WORD_RE.findall(query[:MAX_QUERY_CHARS]))
    return tuple(words)[:MAX_QUERY_WORDS]


def _section_spans(description: str, rst: bool) -> tuple[list[tuple[int, int]], bool]:
    """Start/end offsets of each section, and whether the first is an untitled intro; fenced headings don't split.

    Kept to one attribute read per regex match (``lastgroup``): this loop is the hot path of every render.
    """
    starts: list[int] = []
    fence: str | None = None
    pattern = _RST_HEADING_RE if rst else _MARKDOWN_HEADING_RE
    for match in pattern.finditer("\n" + description):
        kind = match.lastgroup
        if kind == "backticks" or kind == "tildes":
            fence = None if fence == kind else (fence or kind)
        elif fence is None and (
            kind == "hashes" or len(match.group("rst_rule")) >= len(match.group("rst_title").rstrip())
        ):
            starts.append(match.start())
    bounds = [*starts, len(description)]
    spans = [(bounds[i], bounds[i + 1]) for i in range(len(starts))]
    intro_end = bounds[0]
    if intro_end > 0 and not description[:intro_end].isspace():
        spans.insert(0, (0, intro_end))
        return spans, True
    return spans, False


def split_sections(description: str, *, rst: bool = False) -> list[Section]:
    """Split at headings outside code fences; text before the first heading is its own untitled section."""
    spans, intro = _section_spans(description, rst)
    sections: list[Section] = []
    for index, (start, end) in enumerate(spans):
        line_end = description.find("\n", start, end)
        first_line = description[start : end if line_end == -1 else line_end]
        heading = "" if index == 0 and intro else first_line.strip("# \t")
        sections.append(Section(heading, start, end))
    return sections


def _one_line(text: str) -> str:
    return _SINGLE_LINE_RE.sub(" ", text).strip()


def _runtime_requirements(requires_dist: tuple[str, ...]) -> list[str]:
    """Requirement strings not guarded by an ``extra`` marker, shown as written minus their markers.

    Deliberately a string test rather than a packaging parse: rendering must stay cheap, and the listing is
    informational; dependency selection proper lives in ``dependencies``.
    """
    shown: list[str] = []
    for raw in requires_dist:
        requirement, _, marker = raw.partition(";")
        if "extra" in marker:
            continue
        shown.append(requirement.strip())
    return shown


def render_header(meta: PackageMetadata) -> str:
    lines = [f"# {meta.name} {meta.version}", ""]
    if meta.summary:
        lines += [f"> {_one_line(meta.summary)}", ""]
    lines += ["```bash", f'pip install "{meta.name}=={meta.version}"', "```", "", "## Package metadata", ""]
    if meta.requires_python:
        lines.append(f"- **Requires Python:** `{meta.requires_python}`")
    if meta.license:
        lines.append(f"- **License:** {meta.license}")
    if meta.home_page:
        lines.append(f"- **Homepage:** <{meta.home_page}>")
    if meta.project_urls:
        lines.append("- **Project URLs:**")
        lines += [f"  - {label}: <{url}>" for label, url in meta.project_urls.items()]
    deps = _runtime_requirements(meta.requires_dist)
    if deps:
        listed = ", ".join(f"`{d}`" for d in deps[:MAX_LISTED_DEPENDENCIES])
        more = len(deps) - MAX_LISTED_DEPENDENCIES
        lines.append(f"- **Runtime dependencies ({len(deps)}):** {listed}" + (f", … {more} more" if more > 0 else ""))
    else:
        lines.append("- **Runtime dependencies:** none")
    if meta.description_truncated:
        lines.append("- **Note:** the upstream description was longer than the server keeps and was cut.")
    lines.append("")
    return "\n".join(lines)


def truncate_markdown(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``max_chars`` characters with a visible marker, preferring a line boundary.

    A cut inside a fenced code block closes the fence so the marker is not swallowed as code. A limit too small
    to hold the marker gets a bare cut: the limit is a promise about size, the marker only a courtesy.
    """
    if len(text) <= max_chars:
        return text, False
    marker = TRUNCATION_MARKER.format(shown="{shown}", total=len(text))
    room = max_chars - len(marker.format(shown=max_chars)) - len(_FENCE_CLOSER)
    if room <= 0:
        return text[: max(0, max_chars)], True
    cut = text.rfind("\n", max(0, room - 200), room)
    body = text[: cut if cut > 0 else room].rstrip()
    padded = "\n" + body
    if (padded.count("\n```") + padded.count("\n~~~")) % 2:
        body += _FENCE_CLOSER
    return body + marker.format(shown=len(body)), True


def _matching_spans(description: str, spans: list[tuple[int, int]], words: tuple[str, ...]) -> list[tuple[int, int]]:
    """Spans whose text contains any query word, case-insensitively.

    One alternation regex searches the lower-cased description; after a hit the search resumes at the end of
    the section it landed in, so the work is one C-level scan plus one call per matching section. Words are
    ``\\w+`` runs, so a hit can never straddle a section boundary (boundaries sit right after a newline). When
    lower-casing changes the text's length (a few non-ASCII characters do), offsets would drift, so each section
    is lower-cased and searched on its own instead.
    """
    if not spans:
        return []
    pattern = re.compile("|".join(re.escape(w) for w in words))
    lowered = description.lower()
    if len(lowered) != len(description):
        return [(a, b) for a, b in spans if pattern.search(description[a:b].lower())]
    starts = [a for a, _ in spans]
    matched: list[tuple[int, int]] = []
    position = 0
    while (hit := pattern.search(lowered, position)) is not None:
        index = bisect_right(starts, hit.start()) - 1
        if index < 0:
            position = starts[0]
            continue
        matched.append(spans[index])
        position = spans[index][1]
    return matched


def render_docs(meta: PackageMetadata, *, query: str | None, max_chars: int) -> RenderedDocs:
    """Render header + (filtered) description, capped at ``max_chars`` characters."""
    description = meta.description
    spans, _intro = _section_spans(description, "rst" in (meta.description_content_type or "").lower())
    words = query_words(query)
    parts = [render_header(meta)]
    if words:
        kept = _matching_spans(description, spans, words)
        listed = ", ".join(words)
        parts.append("## Description\n\n")
        if kept:
            parts.append(f"_Query words {listed}: {len(kept)} of {len(spans)} description sections matched._\n\n")
            parts += [description[a:b] for a, b in kept]
        else:
            parts.append(
                f"_Query words {listed}: none of the {len(spans)} description sections matched; "
                "try broader words or omit `query` for the full description._\n"
            )
    elif spans:
        kept = spans
        parts += ["## Description\n\n", description[spans[0][0] :]]
    else:
        kept = []
    if not parts[-1].endswith("\n"):
        parts.append("\n")
    markdown, truncated = truncate_markdown("".join(parts), max_chars)
    return RenderedDocs(
        markdown=markdown,
        truncated=truncated,
        sections_total=len(spans),
        sections_matched=len(kept),
        token_estimate=estimate_tokens(markdown),
    )

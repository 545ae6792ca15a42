"""Markdown rendering of package metadata: header, section filtering by query, and the size cap."""

from __future__ import annotations

import pytest

from autodocs_mcp.docs import estimate_tokens, render_docs, split_sections, truncate_markdown
from autodocs_mcp.metadata import PackageMetadata

DESCRIPTION = """Intro paragraph about demo.

# Installation

Use pip to install.

## Usage

Call `demo.run()` to start the Widget.

```python
# not a heading: a comment in a code fence
demo.run()
```

## Configuration

Set DEMO_TIMEOUT for timeouts.

####### seven hashes is not a heading
#hashtag is not a heading
"""


def _meta(**overrides: object) -> PackageMetadata:
    values: dict[str, object] = {
        "name": "demo",
        "version": "1.2.0",
        "summary": "A demo package.",
        "description": DESCRIPTION,
        "description_content_type": "text/markdown",
        "home_page": "https://demo.example",
        "project_urls": {"Docs": "https://docs.demo.example"},
        "requires_dist": ("requests>=2", "click; extra == 'cli'", "tomli; python_version < '3.11'"),
        "requires_python": ">=3.9",
        "license": "MIT",
    }
    values.update(overrides)
    return PackageMetadata(**values)  # type: ignore[arg-type]


def test_header_has_title_summary_install_line_and_metadata() -> None:
    markdown = render_docs(_meta(), query=None, max_chars=100_000).markdown
    assert markdown.startswith("# demo 1.2.0\n")
    assert "> A demo package." in markdown
    assert 'pip install "demo==1.2.0"' in markdown
    assert "**Requires Python:** `>=3.9`" in markdown
    assert "**License:** MIT" in markdown
    assert "<https://demo.example>" in markdown
    assert "Docs: <https://docs.demo.example>" in markdown


def test_runtime_dependency_list_excludes_extras_but_keeps_conditional_entries() -> None:
    markdown = render_docs(_meta(), query=None, max_chars=100_000).markdown
    assert "**Runtime dependencies (2):** `requests>=2`, `tomli`" in markdown
    assert "`click`" not in markdown


def test_no_dependencies_says_none() -> None:
    docs = render_docs(_meta(requires_dist=()), query=None, max_chars=10_000)
    assert "**Runtime dependencies:** none" in docs.markdown


def test_without_a_query_the_whole_description_is_included() -> None:
    docs = render_docs(_meta(), query=None, max_chars=100_000)
    assert "Intro paragraph" in docs.markdown and "DEMO_TIMEOUT" in docs.markdown
    assert docs.sections_total == 4
    assert docs.sections_matched == 4
    assert not docs.truncated


def test_sections_split_on_headings_outside_code_fences_only() -> None:
    headings = [s.heading for s in split_sections(DESCRIPTION)]
    assert headings == ["", "Installation", "Usage", "Configuration"]


def test_a_query_keeps_only_matching_sections_and_the_header() -> None:
    docs = render_docs(_meta(), query="timeouts", max_chars=100_000)
    assert "DEMO_TIMEOUT" in docs.markdown
    assert "Use pip to install" not in docs.markdown
    assert "Intro paragraph" not in docs.markdown
    assert 'pip install "demo==1.2.0"' in docs.markdown
    assert docs.sections_matched == 1
    assert "1 of 4 description sections matched" in docs.markdown


def test_a_query_matches_case_insensitively_on_any_word_in_heading_or_body() -> None:
    docs = render_docs(_meta(), query="WIDGET installation", max_chars=100_000)
    assert docs.sections_matched == 2
    assert "Use pip to install" in docs.markdown and "Widget" in docs.markdown


def test_a_query_matching_nothing_says_so_and_suggests_broadening() -> None:
    docs = render_docs(_meta(), query="kubernetes", max_chars=100_000)
    assert docs.sections_matched == 0
    assert "none of the 4 description sections matched" in docs.markdown
    assert "# demo 1.2.0" in docs.markdown


def test_a_punctuation_only_query_is_treated_as_no_query() -> None:
    assert render_docs(_meta(), query="?!", max_chars=100_000).sections_matched == 4


def test_rst_descriptions_split_on_underlined_titles() -> None:
    rst = "Intro\n\nInstall\n=======\n\npip it\n\nUsage\n-----\n\nrun it\n"
    docs = render_docs(_meta(description=rst, description_content_type="text/x-rst"), query="run", max_chars=10_000)
    assert docs.sections_total == 3
    assert docs.sections_matched == 1
    assert "run it" in docs.markdown and "pip it" not in docs.markdown


def test_output_is_capped_with_a_visible_marker() -> None:
    docs = render_docs(_meta(description="word " * 20_000), query=None, max_chars=2_000)
    assert len(docs.markdown) <= 2_000
    assert docs.truncated
    assert "[truncated:" in docs.markdown


def test_truncation_inside_a_code_fence_closes_the_fence() -> None:
    text = "intro\n```python\n" + "x = 1\n" * 1000
    cut, truncated = truncate_markdown(text, 500)
    assert truncated and len(cut) <= 500
    assert cut.count("```") == 2


def test_truncate_markdown_leaves_short_text_alone() -> None:
    assert truncate_markdown("short", 100) == ("short", False)


def test_truncate_markdown_with_a_tiny_limit_still_respects_it() -> None:
    cut, truncated = truncate_markdown("x" * 1000, 10)
    assert truncated and len(cut) == 10


def test_description_truncated_upstream_is_noted() -> None:
    assert "was cut" in render_docs(_meta(description_truncated=True), query=None, max_chars=10_000).markdown


def test_token_estimate_is_about_four_characters_per_token() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    docs = render_docs(_meta(), query=None, max_chars=100_000)
    assert docs.token_estimate == estimate_tokens(docs.markdown)


def test_an_empty_description_renders_just_the_header() -> None:
    docs = render_docs(_meta(description=""), query=None, max_chars=10_000)
    assert docs.sections_total == 0
    assert "## Description" not in docs.markdown


@pytest.mark.parametrize("query", ["a" * 100_000, " ".join(f"w{i}" for i in range(10_000))])
def test_huge_queries_are_bounded(query: str) -> None:
    docs = render_docs(_meta(), query=query, max_chars=100_000)
    assert len(docs.markdown) < 5_000


def test_to_dict_exposes_every_field() -> None:
    assert set(render_docs(_meta(), query=None, max_chars=10_000).to_dict()) == {
        "markdown",
        "truncated",
        "sections_total",
        "sections_matched",
        "token_estimate",
    }


def test_rst_section_headings_are_the_underlined_titles() -> None:
    rst = "Intro\n\nInstall\n=======\n\npip it\n\nToo long title\n---\n\nnot a section\n"
    assert [s.heading for s in split_sections(rst, rst=True)] == ["", "Install"]


def test_markdown_descriptions_ignore_rst_style_underlines() -> None:
    assert [s.heading for s in split_sections("Intro\n\nTitle\n=====\n\nbody\n")] == [""]


def test_a_description_starting_with_a_heading_has_no_intro_section() -> None:
    assert [s.heading for s in split_sections("# First\n\nbody\n\n## Second ##\n")] == ["First", "Second"]


def test_headings_inside_tilde_fences_do_not_split_and_mixed_fences_do_not_close_each_other() -> None:
    text = "# A\n~~~\n# in tilde\n```\n# still inside\n~~~\n# B\n"
    assert [s.heading for s in split_sections(text)] == ["A", "B"]


def test_queries_match_when_lower_casing_changes_text_length() -> None:
    text = "İntro with İ\n\n# Straße\n\nPfad zur Datei\n\n# Other\n\nnothing\n"
    docs = render_docs(_meta(description=text), query="datei", max_chars=10_000)
    assert docs.sections_matched == 1
    assert "Pfad zur Datei" in docs.markdown and "nothing" not in docs.markdown


def test_regex_metacharacters_in_a_query_are_never_treated_as_pattern_syntax() -> None:
    docs = render_docs(_meta(description="# A\n\nuse a.b\n\n# B\n\nuse axb\n"), query="a.b (x", max_chars=10_000)
    assert docs.sections_matched == 2
    assert render_docs(_meta(), query="(.*)", max_chars=10_000).sections_matched == 4


def test_rst_ignores_hash_lines_and_tilde_transitions() -> None:
    rst = "Intro\n\n# not a heading in rst\n\n~~~~\n\nUsage\n~~~~~\n\nrun it\n"
    assert [s.heading for s in split_sections(rst, rst=True)] == ["", "Usage"]

"""The labels Locust's web UI shows for our ``--mcp-*`` options, and the keys it posts their values back under.

Locust 2.47's UI (``locust/webui/dist/assets/*.js``) receives each option under its dest camel-cased, labels it
``"<name> (<help>)"`` where the name splits that camel case at capitals and digits, and snake-cases the form's keys
on the way back to ``/swarm``, which keeps only keys that are dests. ``ui_name``, ``ui_label`` and ``posted_key``
mirror those one-line functions; the test also finds their source in the installed bundle, so a Locust that changes
them fails here instead of silently. Locust is imported only in a subprocess: it gevent-patches whoever imports it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import VENV_BIN, guarded_env

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILES = (REPO / "loadtests" / "locustfile.py", REPO / "loadtests" / "locustfile_burst.py")
SUBPROCESS_TIMEOUT_S = 60

# The bundle's three key functions (camel case in, label, snake case out) and the label's use of the help text,
# exactly as Locust 2.47.0 ships them, minified.
BUNDLE_CAMEL = "e=>e.replace(/_([a-z0-9])/g,(e,t)=>t.toUpperCase())"
BUNDLE_SNAKE = "e=>e[0]===e[0].toUpperCase()?e:e.replace(/([a-z0-9])([A-Z0-9])/g,`$1_$2`).toLowerCase()"
BUNDLE_NAME = "e=>e.replace(/([a-z0-9])([A-Z0-9])/g,`$1 $2`).replace(/^./,e=>e.toUpperCase())"
BUNDLE_LABEL = re.compile(r"label:t\.helpText\?`\$\{(\w+)\(e\)\} \(\$\{t\.helpText\}\)`:(\w+)\(e\)")

# What the UI names each option, before the help text in parentheses.
UI_NAMES = {
    "--mcp-path": "Mcp Path",
    "--mcp-token": "Mcp Token",
    "--mcp-protocol-version": "Mcp Protocol Version",
    "--mcp-timeout": "Mcp Timeout",
    "--mcp-failure-rule": "Mcp Failure Rule",
    "--mcp-mix": "Mcp Mix",
    "--mcp-names": "Mcp Names",
    "--mcp-zipf": "Mcp Zipf",
    "--mcp-templates": "Mcp Templates",
    "--mcp-pace": "Mcp Pace",
    "--mcp-pace-plan": "Mcp Pace Plan",
    "--mcp-pace-plan-start": "Mcp Pace Plan Start",
    "--mcp-max-fail-ratio": "Mcp Max Fail Ratio",
    "--mcp-max-p95-ms": "Mcp Max Latency Ms",
    "--mcp-never-close-per-min": "Mcp Never Close Per Min",
    "--mcp-abort-per-min": "Mcp Abort Per Min",
    "--mcp-abort-timeout-ms": "Mcp Abort Timeout Ms",
    "--mcp-storm-every-s": "Mcp Seconds Between Storms",
    "--mcp-storm-size": "Mcp Storm Size",
    "--mcp-session-per-call-per-min": "Mcp Session Per Call Per Min",
    "--mcp-current-revision-per-min": "Mcp Current Revision Per Min",
    "--mcp-burst-base": "Mcp Burst Base",
    "--mcp-burst-peak": "Mcp Burst Peak",
    "--mcp-burst-period": "Mcp Burst Period",
    "--mcp-burst-spike": "Mcp Burst Spike",
    "--mcp-burst-ramp": "Mcp Burst Ramp",
    "--mcp-burst-cycles": "Mcp Burst Cycles",
}

_SPLIT = re.compile(r"([a-z0-9])([A-Z0-9])")


def camel(dest: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda match: match.group(1).upper(), dest)


def ui_name(dest: str) -> str:
    spaced = _SPLIT.sub(r"\1 \2", camel(dest))
    return spaced[:1].upper() + spaced[1:]


def ui_label(dest: str, help_text: str | None) -> str:
    return f"{ui_name(dest)} ({help_text})" if help_text else ui_name(dest)


def posted_key(dest: str) -> str:
    key = camel(dest)
    return key if key[0] == key[0].upper() else _SPLIT.sub(r"\1_\2", key).lower()


def test_the_mirrored_rules_reproduce_the_label_the_issue_reported_for_the_old_dest() -> None:
    assert ui_name("mcp_max_p95_ms") == "Mcp Max P9 5Ms"
    assert posted_key("mcp_max_p95_ms") == "mcp_max_p9_5ms"  # not the dest: the UI's value never arrived


def test_the_installed_locust_bundle_labels_and_posts_options_by_the_mirrored_rules(ui: dict[str, Any]) -> None:
    bundle = "".join(Path(path).read_text(encoding="utf-8", errors="replace") for path in ui["bundle"])
    for source in (BUNDLE_CAMEL, BUNDLE_SNAKE, BUNDLE_NAME):
        assert source in bundle, f"Locust {ui['version']} changed a web UI key rule; re-read it: {source}"
    label = BUNDLE_LABEL.search(bundle)
    assert label is not None and label.group(1) == label.group(2), "the custom-parameter label changed"
    assert f"{label.group(1)}={BUNDLE_NAME}" in bundle, "the label no longer uses the name rule"


def test_the_web_ui_names_every_mcp_option_in_words_before_its_help_text(ui: dict[str, Any]) -> None:
    options: dict[str, dict[str, Any]] = ui["options"]
    shown = {entry["flags"][0]: ui_name(dest) for dest, entry in options.items() if entry["flags"][0] in UI_NAMES}
    assert shown == UI_NAMES
    for dest, entry in options.items():
        words = ui_name(dest).split(" ")
        assert all(word.isalpha() and len(word) > 1 for word in words), ui_name(dest)
        assert entry["help"], f"{entry['flags'][0]} has no help text to explain its name"
        assert ui_label(dest, entry["help"]) == f"{ui_name(dest)} ({entry['help']})"


def test_a_value_set_in_the_web_ui_is_posted_back_under_its_options_dest(ui: dict[str, Any]) -> None:
    assert {dest: posted_key(dest) for dest in ui["options"]} == {dest: dest for dest in ui["options"]}


def test_every_custom_option_the_web_ui_shows_is_one_of_ours(ui: dict[str, Any]) -> None:
    assert {entry["flags"][0] for entry in ui["options"].values()} == set(UI_NAMES)


@pytest.fixture(scope="module")
def ui() -> dict[str, Any]:
    """The custom options Locust's web UI is handed (dest → help text and flags) with our locustfiles loaded, and
    the UI bundle's files, read in a Locust-patched subprocess."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import locust\n"
        "from locust.argument_parser import get_parser, ui_extra_args_dict\n"
        "from locust.util.load_locustfile import load_locustfile\n"
        "for path in sys.argv[1:]:\n"
        "    load_locustfile(path)\n"
        "shown = get_parser().args_included_in_web_ui\n"
        "options = {dest: {'help': item['help_text'], 'flags': shown[dest].option_strings}\n"
        "           for dest, item in ui_extra_args_dict([]).items()}\n"
        "assets = Path(locust.__file__).parent / 'webui' / 'dist' / 'assets'\n"
        "bundle = sorted(str(path) for path in assets.glob('*.js'))\n"
        "print(json.dumps({'options': options, 'bundle': bundle, 'version': locust.__version__}))\n"
    )
    out = subprocess.run(
        [str(VENV_BIN / "python"), "-c", code, *map(str, LOCUSTFILES)],
        env=guarded_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=True,
    ).stdout
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found

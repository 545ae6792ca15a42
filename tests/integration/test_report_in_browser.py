"""The report as a person opens it: a real headless Chromium loads report.html from disk.

The page's own inline script fills ``#img-check`` on window load with "ok N/N" or the names of figures that failed
to decode; ``--dump-dom`` prints the DOM after the load (``--virtual-time-budget`` lets the scripts run first), so
no browser-driving library is needed. Skipped only when no Chromium is installed and CI is unset: in CI a missing
browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from soak.plots import FIGURES
from soak.report import REPORT_HTML, render_report
from tests.support.processes import start_process
from tests.support.synthetic_run import DEFAULT_SHUTDOWN, MB, combine, linear, noise, write_synthetic_run

pytestmark = pytest.mark.timeout(120)

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_TIMEOUT_S = 60.0


def find_browser() -> str:
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but no Chromium was found (looked for {', '.join(BROWSER_NAMES)})")
    pytest.skip("no Chromium installed (install the Debian package 'chromium' to run this test)")


def dump_dom(browser: str, page: Path, profile: Path, log_path: Path) -> str:
    """Run headless Chromium on ``page`` to completion and return what it printed (the DOM plus its own logs)."""
    process = start_process(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        log_path,
        env={"HOME": str(profile)},
    )
    try:
        process.popen.wait(timeout=BROWSER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Chromium did not finish within {BROWSER_TIMEOUT_S:.0f} s:\n{process.log_text()[-2000:]}")
    finally:
        process.stop(grace_s=10.0)
    return process.log_text()


def test_report_opens_in_chromium_with_the_verdict_shown_and_every_figure_decoded(tmp_path: Path) -> None:
    browser = find_browser()
    run_dir = write_synthetic_run(
        tmp_path / "run",
        duration_s=1800,
        rss=combine(150 * MB, linear(30 * MB), noise(0.5 * MB, 2)),
        faults=[{"name": "upstream-errors", "start_s": 600.0, "end_s": 720.0, "faults": {"error_rate": 0.5}}],
        shutdown={**DEFAULT_SHUTDOWN, "cut": 1},
    )
    verdict = render_report(run_dir)
    dom = dump_dom(browser, run_dir / REPORT_HTML, tmp_path / "profile", tmp_path / "chromium.log")

    shown = re.search(r'id="verdict-status"[^>]*>([A-Z]+)<', dom)
    assert shown, dom[-3000:]
    assert shown.group(1) == str(verdict.status).upper() == "BROKEN"
    check = re.search(r'id="img-check"[^>]*>([^<]*)<', dom)
    assert check, dom[-3000:]
    assert check.group(1) == f"ok {len(FIGURES)}/{len(FIGURES)}", check.group(1)

"""``make conformance``: the official MCP conformance suite and the MCP Inspector CLI against the real server.

Why a Python wrapper rather than a few lines of make:

- **Pinned Node tools, installed on a fresh machine.** The suite needs Node >= 22 and the system's may be older, so
  ``npm ci`` installs Node itself (the npm ``node`` package), ``@modelcontextprotocol/conformance`` and
  ``@modelcontextprotocol/inspector`` from the checked-in ``conformance/package-lock.json`` into ``.conformance/``
  (git-ignored), again only when ``package.json`` or the lock file changes (an install that did not finish is
  redone). Every Node command then runs on that Node.
- **An expected-failures file that cannot rot quietly.** The suite itself (``--expected-failures``) exits 1 on a
  failure not in the file and on a listed scenario that now passes. It does not check that an entry has a reason,
  still names a scenario of the suite (a renamed scenario would leave a dead entry behind), or that the scenarios
  this server must pass (``MUST_PASS``) are not excused; this wrapper refuses such a file before anything starts.
  The suite also ignores an entry for a scenario it did not run (a pending one); this wrapper fails the run then.
- **Real processes, always stopped.** ``pypi-mock`` and ``autodocs-mcp --transport http`` start on free 127.0.0.1
  ports with a temporary cache folder, outside the caller's environment (no ``AUTODOCS_*`` variable and no ``.env``
  of the caller's leaks in), and are stopped by PID (their process groups) on every way out, Ctrl-C included.
- **Two servers, each the way its check needs it.** The suite runs against ``--response-mode sse`` with
  ``AUTODOCS_CONFORMANCE_FIXTURES=1``: ``tools-call-with-logging`` expects ``notifications/message`` during a call,
  and request-scoped notifications ride only the request's SSE stream (JSON response mode, the default, drops
  them), on the suite's fixture tool ``test_tool_with_logging``. The Inspector CLI lists the tools of a server on
  shipped defaults (JSON responses, no fixtures) with ``--strict``, and this wrapper checks it lists exactly the
  eight documented tools.

Run it from the repository root with the project's venv: ``make conformance``, or ``.venv/bin/python -m
conformance.run`` (``conformance/`` is a folder of the repository, not part of the installed package).

Exit status: 0 when both checks pass, 1 when one fails, 2 on a harness error (no npm, a child that never got ready).
Results (the suite's ``checks.json`` per scenario, server logs, the Inspector's output) go to
``reports/conformance-<date>-<time>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType

from autodocs_mcp.tool_schemas import SPECS_BY_NAME
from mcp_locust.children import Child, StartupError, free_port, spawn, wait_ready

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "conformance"
EXPECTED_FAILURES = HERE / "expected-failures.yml"
TOOLS_DIR = ROOT / ".conformance"
INSTALLED_STAMP = TOOLS_DIR / "installed.stamp"
"""Written after a finished ``npm ci``: the ``package.json`` and lock file it installed."""
NODE_BIN = TOOLS_DIR / "node_modules" / ".bin"
VENV_BIN = Path(sys.executable).parent
MUST_PASS = frozenset({"logging-set-level", "tools-call-with-logging"})
"""Scenarios this server implements for real; the expected-failures file may never excuse them."""
MIN_NODE_MAJOR = 22
HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
INSTALL_TIMEOUT_S = 900.0
SUITE_TIMEOUT_S = 900.0
INSPECTOR_TIMEOUT_S = 120.0
LIST_TIMEOUT_S = 60.0
FAILED = 1
HARNESS_ERROR = 2

_ENTRY = re.compile(r"-\s+([A-Za-z0-9][A-Za-z0-9/_.-]*)\s*(?:#\s*(.*))?")
_SCENARIO_LINE = re.compile(r"^\s+-\s+([A-Za-z0-9][A-Za-z0-9/_.-]*)(?:\s|$)")


class HarnessError(Exception):
    """The run could not judge the server (tools missing, a child never ready, a bad expected-failures file)."""


class Interrupted(BaseException):
    """SIGINT/SIGTERM: a BaseException so every ``finally`` (the children's stops) runs."""


@dataclass(frozen=True)
class Expected:
    scenario: str
    reason: str
    line: int


def parse_expected_failures(text: str) -> list[Expected]:
    """The ``server:`` entries of the suite's YAML baseline, each with its reason: the comment lines right above it
    (a blank line ends a reason) and/or a comment on its own line. Only the block-list form the suite documents."""
    entries: list[Expected] = []
    in_server = False
    pending: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not line[0].isspace() and not stripped.startswith(("#", "-")):
            in_server = stripped == "server:"
            pending = []
            continue
        if not in_server:
            continue
        if not stripped:
            pending = []
        elif stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
        else:
            match = _ENTRY.fullmatch(stripped)
            if match is None:
                raise HarnessError(f"{EXPECTED_FAILURES.name}:{number}: not a '- scenario' entry: {stripped[:80]!r}")
            reason = " ".join([*pending, match.group(2) or ""]).strip()
            entries.append(Expected(match.group(1), reason, number))
            pending = []
    return entries


def expected_failure_problems(entries: Sequence[Expected], known: Collection[str]) -> list[str]:
    """Everything wrong with the baseline that the suite would not notice; empty when it is sound."""
    problems: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        where = f"{EXPECTED_FAILURES.name}:{entry.line}: {entry.scenario}"
        if not entry.reason:
            problems.append(f"{where}: no reason (write it as a comment right above the entry)")
        if entry.scenario in MUST_PASS:
            problems.append(f"{where}: must pass, it may not be an expected failure")
        if entry.scenario not in known:
            problems.append(f"{where}: not a server scenario of the suite (renamed or removed?)")
        if entry.scenario in seen:
            problems.append(f"{where}: listed twice")
        seen.add(entry.scenario)
    if not entries:
        problems.append(f"{EXPECTED_FAILURES.name}: no 'server:' entries found")
    return problems


def listed_scenarios(text: str) -> set[str]:
    """Server scenario names from ``conformance list --server`` (``  - name [versions]`` lines)."""
    return {match.group(1) for line in text.splitlines() if (match := _SCENARIO_LINE.match(line))}


# --- child processes -------------------------------------------------------------------------------------------


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def node_env(home: Path) -> dict[str, str]:
    """The pinned Node first on PATH (the tools' ``#!/usr/bin/env node`` lines find it), a throwaway HOME so the
    Inspector's catalog (``~/.mcp-inspector``) is not written into the caller's."""
    env = {key: value for key, value in os.environ.items() if not key.lower().startswith("npm_config_")}
    env["PATH"] = os.pathsep.join([str(NODE_BIN), env.get("PATH", "")])
    env["HOME"] = str(home)
    env["MCP_CATALOG_PATH"] = str(home / "mcp.json")
    env["NO_UPDATE_NOTIFIER"] = "1"
    return env


def run_bounded(
    args: Sequence[str],
    env: Mapping[str, str],
    timeout_s: float,
    *,
    stdout: Path | None = None,
    stderr: Path | None = None,
    cwd: Path | None = None,
) -> int:
    """Run ``args`` in its own process group to its end (at most ``timeout_s``); the group is killed by PID after.

    Output goes to the files given, else to our own stdout/stderr (the suite's report is for the person at make).
    """
    with ExitStack() as files:
        out = files.enter_context(stdout.open("wb")) if stdout else None
        err = files.enter_context(stderr.open("wb")) if stderr else None
        proc = subprocess.Popen(
            list(args), env=dict(env), stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True
        )
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"{' '.join(args[:4])} … ran past {timeout_s:g} s") from None
        finally:
            if proc.poll() is None:
                with _suppress_gone():
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@contextmanager
def _suppress_gone() -> Iterator[None]:
    try:
        yield
    except (ProcessLookupError, PermissionError):
        pass


def server_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any ``AUTODOCS_*`` of theirs, plus exactly the settings given."""
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("AUTODOCS_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update({f"AUTODOCS_{name.upper()}": value for name, value in settings.items()})
    return env


@contextmanager
def started(child: Child, ready_url: str) -> Iterator[Child]:
    try:
        wait_ready(child, ready_url, READY_TIMEOUT_S)
        yield child
    finally:
        child.stop()


def start_mock(run_dir: Path, work: Path) -> tuple[Child, str]:
    port = free_port(HOST)
    args = [str(VENV_BIN / "pypi-mock"), "--host", HOST, "--port", str(port)]
    child = spawn("pypi-mock", args, env=server_env(), log_path=run_dir / "pypi-mock.log", cwd=work)
    return child, f"http://{HOST}:{port}"


def start_server(
    name: str, run_dir: Path, work: Path, mock_url: str, *flags: str, **settings: str
) -> tuple[Child, str]:
    port = free_port(HOST)
    cache = work / f"cache-{name}"
    args = [str(VENV_BIN / "autodocs-mcp"), "--transport", "http", "--host", HOST, "--port", str(port), *flags]
    env = server_env(pypi_url=f"{mock_url}/pypi", cache_dir=str(cache), **settings)
    child = spawn(name, args, env=env, log_path=run_dir / f"{name}.log", cwd=work)
    return child, f"http://{HOST}:{port}"


# --- the Node tools ------------------------------------------------------------------------------------------------


def pinned_manifest() -> bytes:
    """What an install is of: the checked-in ``package.json`` and ``package-lock.json``."""
    return (HERE / "package.json").read_bytes() + b"\0" + (HERE / "package-lock.json").read_bytes()


def ensure_tools() -> None:
    """``npm ci`` the pinned tools into ``.conformance/`` unless the last finished install was of the same files."""
    fresh = (
        INSTALLED_STAMP.exists()
        and INSTALLED_STAMP.read_bytes() == pinned_manifest()
        and all((NODE_BIN / tool).exists() for tool in ("node", "conformance", "mcp-inspector"))
    )
    if not fresh:
        npm = shutil.which("npm")
        if npm is None:
            raise HarnessError("npm not found: install it (Debian: apt-get install npm); it installs Node 22 itself")
        INSTALLED_STAMP.unlink(missing_ok=True)
        shutil.rmtree(TOOLS_DIR / "node_modules", ignore_errors=True)
        TOOLS_DIR.mkdir(exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(HERE / name, TOOLS_DIR / name)
        print(f"conformance: installing the pinned Node tools into {TOOLS_DIR.relative_to(ROOT)}/ (npm ci)", flush=True)
        status = run_bounded(
            [npm, "ci", "--prefix", str(TOOLS_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
            {**os.environ, "NO_UPDATE_NOTIFIER": "1"},
            INSTALL_TIMEOUT_S,
        )
        if status != 0:
            raise HarnessError(f"npm ci failed with status {status}")
        INSTALLED_STAMP.write_bytes(pinned_manifest())
    version = subprocess.run(
        [str(NODE_BIN / "node"), "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if major is None or int(major.group(1)) < MIN_NODE_MAJOR:
        raise HarnessError(f"{NODE_BIN / 'node'} is {version or 'not runnable'}; the suite needs Node >= 22")


def suite_scenarios(env: Mapping[str, str], work: Path) -> set[str]:
    out, err = work / "list.out", work / "list.err"
    status = run_bounded(
        [str(NODE_BIN / "node"), str(NODE_BIN / "conformance"), "list", "--server"],
        env,
        LIST_TIMEOUT_S,
        stdout=out,
        stderr=err,
    )
    names = listed_scenarios(out.read_text(errors="replace"))
    if status != 0 or not names:
        raise HarnessError(f"conformance list --server failed ({status}): {err.read_text(errors='replace')[-500:]}")
    return names


@dataclass(frozen=True)
class SuiteOutcome:
    status: int
    passed: list[str]
    failed: list[str]
    seconds: float


def scenario_results(results_dir: Path) -> tuple[list[str], list[str]]:
    """(passed, failed) scenario names from the suite's ``server-<scenario>-<timestamp>/checks.json`` folders; a
    scenario with a FAILURE or WARNING check failed (the suite's own rule)."""
    passed: list[str] = []
    failed: list[str] = []
    for checks_file in sorted(results_dir.glob("server-*/checks.json")):
        scenario = re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks_file.parent.name).removeprefix("server-")
        checks = json.loads(checks_file.read_text())
        bad = any(check.get("status") in ("FAILURE", "WARNING") for check in checks)
        (failed if bad else passed).append(scenario)
    return passed, failed


def run_suite(url: str, env: Mapping[str, str], run_dir: Path) -> SuiteOutcome:
    results = run_dir / "suite"
    args = [
        str(NODE_BIN / "node"),
        str(NODE_BIN / "conformance"),
        "server",
        "--url",
        url,
        "--expected-failures",
        str(EXPECTED_FAILURES),
        "-o",
        str(results),
    ]
    started_at = time.monotonic()
    status = run_bounded(args, env, SUITE_TIMEOUT_S)
    seconds = time.monotonic() - started_at
    passed, failed = scenario_results(results)
    return SuiteOutcome(status, passed, failed, seconds)


@dataclass(frozen=True)
class InspectorOutcome:
    status: int
    tools: list[str]
    warnings: int
    seconds: float


def run_inspector(url: str, env: Mapping[str, str], run_dir: Path) -> InspectorOutcome:
    out, err = run_dir / "inspector-tools-list.json", run_dir / "inspector-tools-list.stderr"
    args = [str(NODE_BIN / "node"), str(NODE_BIN / "mcp-inspector"), "--cli", url, "--method", "tools/list", "--strict"]
    started_at = time.monotonic()
    status = run_bounded(args, env, INSPECTOR_TIMEOUT_S, stdout=out, stderr=err)
    seconds = time.monotonic() - started_at
    try:
        listed = json.loads(out.read_text())
        tools = [str(tool["name"]) for tool in listed["tools"]]
    except (ValueError, KeyError, TypeError):
        tools = []
    warnings = sum(1 for line in err.read_text(errors="replace").splitlines() if line.startswith("Warning:"))
    return InspectorOutcome(status, tools, warnings, seconds)


# --- the run --------------------------------------------------------------------------------------------------------


def fresh_run_dir(reports: Path) -> Path:
    stamp = f"conformance-{datetime.now():%Y%m%d-%H%M%S}"
    for attempt in range(1, 100):
        candidate = reports / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            candidate.mkdir(parents=True)
        except FileExistsError:
            continue
        return candidate
    raise HarnessError(f"no free run folder for {stamp} in {reports}")


def run(reports: Path) -> int:
    missing = [tool for tool in ("pypi-mock", "autodocs-mcp") if not (VENV_BIN / tool).exists()]
    if missing:
        raise HarnessError(f"{', '.join(missing)} not next to {sys.executable}: run it with the venv")
    entries = parse_expected_failures(EXPECTED_FAILURES.read_text())
    run_dir = fresh_run_dir(reports)
    with tempfile.TemporaryDirectory(prefix="autodocs-conformance-") as tmp:
        work = Path(tmp)
        ensure_tools()
        env = node_env(work)
        problems = expected_failure_problems(entries, suite_scenarios(env, work))
        if problems:
            raise HarnessError("the expected-failures file is not sound:\n  " + "\n  ".join(problems))
        mock, mock_url = start_mock(run_dir, work)
        with started(mock, f"{mock_url}/_admin/stats"):
            suite_child, suite_url = start_server(
                "autodocs-mcp-sse-fixtures", run_dir, work, mock_url, "--response-mode", "sse", conformance_fixtures="1"
            )
            with started(suite_child, f"{suite_url}/readyz"):
                suite = run_suite(f"{suite_url}/mcp", env, run_dir)
            shipped_child, shipped_url = start_server("autodocs-mcp-shipped", run_dir, work, mock_url)
            with started(shipped_child, f"{shipped_url}/readyz"):
                inspector = run_inspector(f"{shipped_url}/mcp", env, run_dir)
    return report(suite, inspector, {entry.scenario for entry in entries}, run_dir)


def not_run(expected: Collection[str], suite: SuiteOutcome) -> list[str]:
    """Expected failures the suite ran no scenario for: the suite ignores them, so they would rot unseen."""
    return sorted(set(expected) - set(suite.passed) - set(suite.failed))


def report(suite: SuiteOutcome, inspector: InspectorOutcome, expected: set[str], run_dir: Path) -> int:
    wanted = sorted(SPECS_BY_NAME)
    inspector_ok = inspector.status == 0 and sorted(inspector.tools) == wanted
    must_pass_ok = MUST_PASS <= set(suite.passed)
    unrun = not_run(expected, suite)
    print()
    print(
        f"conformance suite: {len(suite.passed) + len(suite.failed)} scenarios, {len(suite.passed)} passed, "
        f"{len(set(suite.failed) & expected)} expected failures, {len(set(suite.failed) - expected)} unexpected, "
        f"{len(set(suite.passed) & expected)} stale entries; exit {suite.status}; {suite.seconds:.1f} s"
    )
    print(
        f"inspector --cli tools/list --strict: exit {inspector.status}, {len(inspector.tools)} tools "
        f"({'the eight documented' if sorted(inspector.tools) == wanted else ', '.join(inspector.tools) or 'none'}), "
        f"{inspector.warnings} portability warnings{' (no errors)' if inspector.status == 0 else ''}; "
        f"{inspector.seconds:.1f} s"
    )
    if not must_pass_ok:
        print(f"must pass but did not: {', '.join(sorted(MUST_PASS - set(suite.passed)))}")
    if unrun:
        print(f"expected failures the suite did not run (remove them): {', '.join(unrun)}")
    print(f"results: {run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir}")
    ok = suite.status == 0 and must_pass_ok and not unrun and inspector_ok
    print("conformance: PASS" if ok else "conformance: FAIL")
    return 0 if ok else FAILED


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--reports-dir", type=Path, default=ROOT / "reports", help="parent of the run folder")
    args = parser.parse_args(argv)
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run(args.reports_dir)
    except (HarnessError, StartupError) as error:
        print(f"conformance: harness error: {error}", file=sys.stderr)
        return HARNESS_ERROR
    except Interrupted as interrupted:
        print(f"conformance: interrupted ({interrupted})", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())

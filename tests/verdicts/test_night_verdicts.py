"""A compressed night tells a leak per call from a leak per hour, and projects each to a real night with its bound.

Two plain ``mcp`` SDK servers under uvicorn (``tests/support/gate_targets.py``): ``call-leak`` keeps 4 KB per call,
``memory-leak`` 600 MiB per hour on a timer, whatever the traffic. Each is soaked for six minutes with
``--compress 12`` through the command an operator would type, side by side (2 users × 2 calls/s nominal, so 48
calls/s on average, 92 in the busy blocks and 4 in the quiet ones). The verdict must put each leak where it is (the
per-call one on calls, the per-hour one on time) with the configured rate inside its interval, and project it to a
24-hour night at the nominal rate with the configured growth inside that interval too.
"""

from __future__ import annotations

import json
import shutil
import sys
from typing import Any

import pytest

from tests.support.processes import ManagedProcess, start_process
from tests.verdicts.test_gate_verdicts import DURATION_S, REPORTS, RUN_LIMIT_S, SOAK, TARGETS

pytestmark = [pytest.mark.verdicts, pytest.mark.timeout(1200)]
MB = 1e6
CALL_LEAK_KB = 4.0
HOUR_LEAK_MIB = 600.0
KEPT_PER_CALL_BYTES = sys.getsizeof(bytes(int(CALL_LEAK_KB * 1024))) + 8 + 16
"""What ``call-leak`` really keeps per call: the bytes object with its header, its slot in the hoard's list, and
glibc's chunk header and 16-byte rounding (measured: 4.156 MB per 1,000 calls against 4.096 of payload)."""
PER_1K_CALLS_MB = KEPT_PER_CALL_BYTES * 1000 / MB
PER_HOUR_MB = HOUR_LEAK_MIB * (1 << 20) / MB
CASES = {"call-leak": CALL_LEAK_KB, "memory-leak": HOUR_LEAK_MIB}


@pytest.fixture(scope="module")
def nights() -> dict[str, tuple[int, dict[str, Any], str]]:
    """Each case's exit status, verdict and soak log; the run folders stay in ``reports/nights/``."""
    root = REPORTS / "nights"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    soaks: dict[str, ManagedProcess] = {}
    try:
        for kind, rate in CASES.items():
            command = f"{sys.executable} {TARGETS} --port {{port}} --kind {kind} --rate {rate:g}"
            args = [
                SOAK, "run", "--duration", f"{DURATION_S}s", "--compress", "12", "--faults", "none",
                "--users", "2", "--pace", "2", "--mix", "get_package_docs=1", "--out", str(root / kind),
                "--target-cmd", command, "--target-url", "http://127.0.0.1:{port}/mcp",
            ]  # fmt: skip
            soaks[kind] = start_process(args, root / f"{kind}.log", cwd=root)
        results: dict[str, tuple[int, dict[str, Any], str]] = {}
        for kind, proc in soaks.items():
            code = proc.popen.wait(timeout=RUN_LIMIT_S)
            verdict = json.loads((root / kind / "verdict.json").read_text())
            results[kind] = (code, verdict, proc.log_text())
        return results
    finally:
        for proc in soaks.values():
            proc.stop()


def _memory(verdict: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in verdict["criteria"] if c["name"] == "memory")


def _contains(interval: dict[str, float], value: float) -> bool:
    return interval["low"] <= value <= interval["high"]


def test_a_leak_per_call_is_put_on_calls_with_the_configured_rate_inside_its_interval(
    nights: dict[str, tuple[int, dict[str, Any], str]],
) -> None:
    code, verdict, log = nights["call-leak"]
    memory = _memory(verdict)
    assert code == 1 and memory["status"] == "broken", (memory, log)
    assert _contains(memory["per_1k_calls"], PER_1K_CALLS_MB), memory
    assert _contains(memory["per_hour"], 0.0), memory


def test_a_leak_per_hour_is_put_on_time_with_the_configured_rate_inside_its_interval(
    nights: dict[str, tuple[int, dict[str, Any], str]],
) -> None:
    code, verdict, log = nights["memory-leak"]
    memory = _memory(verdict)
    assert code == 1 and memory["status"] == "broken", (memory, log)
    assert _contains(memory["per_hour"], PER_HOUR_MB), memory
    assert _contains(memory["per_1k_calls"], 0.0), memory


def test_each_leaks_24_hour_projection_at_the_nominal_rate_contains_what_that_night_would_add(
    nights: dict[str, tuple[int, dict[str, Any], str]],
) -> None:
    for kind, per_call, per_hour in (("call-leak", PER_1K_CALLS_MB, 0.0), ("memory-leak", 0.0, PER_HOUR_MB)):
        projection = _memory(nights[kind][1])["projection_24h"]
        night_kcalls = projection["calls_per_s"] * projection["hours"] * 3600 / 1000
        expected = per_hour * projection["hours"] + per_call * night_kcalls
        assert projection["unit"] == "MB" and _contains(projection, expected), (kind, expected, projection)


def test_a_compressed_run_records_its_k_its_load_levels_and_that_an_external_targets_timers_are_its_own(
    nights: dict[str, tuple[int, dict[str, Any], str]],
) -> None:
    run = json.loads((REPORTS / "nights" / "call-leak" / "run.json").read_text())
    assert run["compress"]["k"] == 12 and run["compress"]["nominal_duration_s"] == DURATION_S * 12
    assert sorted(run["compress"]["levels"]) == pytest.approx([1 / 12, 2 - 1 / 12])
    assert run["compress"]["scaled_settings"] == [] and "its own" in run["compress"]["not_scaled"][0]
    pacing = next(c for c in nights["call-leak"][1]["criteria"] if c["name"] == "pacing")
    assert pacing["status"] == "held", pacing

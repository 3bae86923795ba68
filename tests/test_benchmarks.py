"""The benchmarks still run: ``benchmarks/run.py --quick``, with no timing asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "run.py"
TIMED = ("1", "2", "3", "4", "5", "7", "12", "13", "14", "15", "16", "17", "18", "19")


def test_quick_benchmarks_run_and_write_every_scenario(tmp_path: Path) -> None:
    """--quick exits 0, prints a table and writes JSON with every scenario."""
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "(1) breaker only, sync" in done.stdout
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert data["machine"]["python"]
    scenarios = data["scenarios"]
    assert set(scenarios) == {str(n) for n in range(1, 20)}
    for key in TIMED:
        results = scenarios[key]["results"]
        ours = [name for name in results if name.startswith("resilience")]
        assert ours, f"scenario {key} has no result of ours"
        assert all(len(results[name]["rounds"]) == 1 for name in results)
    assert scenarios["6"]["results"]["resilience (BreakerRegistry)"]["median"] > 0
    assert scenarios["8"]["results"]["resilience, SQLite every 500 (durable)"]["median"] >= 0
    assert scenarios["9"]["results"]["resilience, no budget"]["median"] == 3.0
    assert scenarios["9"]["results"]["resilience, budget 20%"]["median"] < 3.0
    assert scenarios["10"]["results"]["resilience"]["median"] > 0
    # Redis runs on this machine (as in CI): the shared registry is measured beside pybreaker.
    assert "resilience, RedisBreakerStore" in scenarios["11"]["results"], scenarios["11"]["notes"]
    # The hedge and chaos scenarios keep a bare call's time, for the ratio to it.
    assert scenarios["17"]["figures"]["bare_ns"] > 0
    assert scenarios["18"]["figures"]["bare_ns"] > 0
    assert scenarios["19"]["results"]["resilience CachedFallback, 256 keys"]["median"] >= 0


def test_only_runs_the_scenarios_named(tmp_path: Path) -> None:
    """--only 12,14 runs those scenarios and no other; an unknown number is refused."""
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "12,14", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert set(json.loads(out.read_text())["scenarios"]) == {"12", "14"}
    assert "(12) bulkhead, sync, success" in done.stdout
    refused = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "99"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2
    assert "no scenario 99" in refused.stderr

"""Crash safety with real processes: SIGKILL a batch job ten times, resume, lose nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from resilience import SQLiteCheckpointStore

pytestmark = pytest.mark.slow  # real worker processes, killed and resumed

ITEMS = 5_000
CHECKPOINT_EVERY = 50
KILLS = 10

CHILD = """
import os, sys, time
from resilience import BatchProcessor, SQLiteCheckpointStore

db, log, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

def handler(item):
    time.sleep(0.0002)  # a little real work per item, so that kills land mid-run
    os.write(fd, f"{item}\\n".encode())  # one atomic append per processed item

processor = BatchProcessor(
    "copy", handler, store=SQLiteCheckpointStore(db), checkpoint_every=%d,
    concurrency=concurrency,
)
result = processor.run(range(%d))
print("DONE", result.succeeded, result.skipped, flush=True)
""" % (CHECKPOINT_EVERY, ITEMS)  # noqa: UP031 - the script's own braces stay literal


def _lines(log: Path) -> int:
    return log.read_bytes().count(b"\n") if log.exists() else 0


def _wait_for_progress(log: Path, before: int, child: subprocess.Popen[bytes]) -> bool:
    """Wait (bounded) until the child has processed an item in this run."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _lines(log) > before:
            return True
        if child.poll() is not None:
            return False
        time.sleep(0.005)
    pytest.fail("the child made no progress in 30 s")


@pytest.mark.parametrize("concurrency", [1, 4])
def test_sigkilled_job_resumes_and_loses_nothing(tmp_path: Path, concurrency: int) -> None:
    """Ten SIGKILLs at random moments: every key processed, re-done items bounded."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db, log = tmp_path / "checkpoints.db", tmp_path / "processed.log"
    rng = random.Random(1234 + concurrency)
    command = [sys.executable, str(script), str(db), str(log), str(concurrency)]
    kills = 0
    for _ in range(KILLS):
        before = _lines(log)
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        if _wait_for_progress(log, before, child):
            time.sleep(rng.uniform(0.0, 0.08))
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
                kills += 1
        child.wait(timeout=30)
    assert kills >= KILLS - 2, "most runs should have been killed mid-way"

    final = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert final.returncode == 0, final.stderr
    assert final.stdout.startswith("DONE")

    counts = Counter(int(line) for line in log.read_text().split())
    assert set(counts) == set(range(ITEMS)), "an item was never processed"
    repeated = sum(counts.values()) - ITEMS
    bound = CHECKPOINT_EVERY * concurrency
    assert repeated <= kills * bound, f"{repeated} re-done items for {kills} crashes"
    assert max(counts.values()) <= 1 + kills

    store = SQLiteCheckpointStore(db)
    records = store.load("copy")
    store.close()
    assert len(records) == ITEMS
    assert all(r.status == "done" for r in records.values())

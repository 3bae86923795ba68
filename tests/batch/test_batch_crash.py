"""Crash safety with real processes: SIGKILL a batch job ten times, resume, lose nothing.

A process imports the library once and forks each run of the job from itself, so a run
starts in milliseconds; the last, uninterrupted run is a fresh process.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from resilience import SQLiteCheckpointStore

pytestmark = pytest.mark.slow  # real worker processes, killed and resumed

ITEMS = 5_000
CHECKPOINT_EVERY = 50
KILLS = 10

CHILD = """
import os, random, signal, sys, time
from resilience import BatchProcessor, SQLiteCheckpointStore

db, log, concurrency, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def run():
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

def lines():
    try:
        with open(log, "rb") as f:
            return f.read().count(b"\\n")
    except FileNotFoundError:
        return 0

if mode == "once":
    run()
    sys.exit(0)
# "crash": this process imported the library once; each run is a fork of it, SIGKILLed
# at a random moment once it has processed an item (a run that ends first must succeed).
rng, runs, kills = random.Random(int(sys.argv[5])), int(sys.argv[6]), 0
for _ in range(runs):
    before = lines()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sys.stdout = open(os.devnull, "w")
            run()
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30  # bounded: a run makes progress within milliseconds
    waited, status = os.waitpid(pid, os.WNOHANG)
    while not waited and lines() == before:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            sys.exit("a run made no progress in 30 s")
        time.sleep(0.005)
        waited, status = os.waitpid(pid, os.WNOHANG)
    if not waited:
        time.sleep(rng.uniform(0.0, 0.08))
        waited, status = os.waitpid(pid, os.WNOHANG)
    if not waited:  # still running (or just ended: then its own status is reaped)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        kills += 1
    elif status != 0:
        sys.exit(f"a run that ended by itself exited with status {status}")
print(kills)
""" % (CHECKPOINT_EVERY, ITEMS)  # noqa: UP031 - the script's own braces stay literal


@pytest.mark.parametrize("concurrency", [1, 4])
def test_sigkilled_job_resumes_and_loses_nothing(tmp_path: Path, concurrency: int) -> None:
    """Ten SIGKILLs at random moments: every key processed, re-done items bounded."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db, log = tmp_path / "checkpoints.db", tmp_path / "processed.log"
    command = [sys.executable, str(script), str(db), str(log), str(concurrency)]
    crash = subprocess.run(
        [*command, "crash", str(1234 + concurrency), str(KILLS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crash.returncode == 0, crash.stderr
    kills = int(crash.stdout)
    assert kills >= KILLS - 2, "most runs should have been killed mid-way"

    final = subprocess.run(
        [*command, "once"], capture_output=True, text=True, timeout=120, check=False
    )
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

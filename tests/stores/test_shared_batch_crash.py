"""Crash safety with two competing workers on a shared store (Redis, PostgreSQL).

Two worker processes run the same job; the one making progress is SIGKILLed again and
again and restarted. Nothing is lost, the other worker takes over only once the dead
one's lease lapsed, and the only work done twice is a killed worker's uncommitted tail.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from resilience import CheckpointStore
from servers import RedisServer

pytestmark = pytest.mark.slow  # real worker processes, killed again and again

ITEMS = 3_000
CHECKPOINT_EVERY = 50
CONCURRENCY = 4
LEASE = 1.0
KILLS = 7

WORKER = """
import os, sys, time
from resilience import BatchProcessor, JobBusyError

backend, target, prefix, log = sys.argv[1:5]
if backend == "redis":
    from resilience.stores.redis._checkpoint import RedisCheckpointStore
    store = RedisCheckpointStore(target)
else:
    from resilience.stores.postgres._checkpoint import PostgresCheckpointStore
    store = PostgresCheckpointStore(target, table_prefix=prefix)
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
me = os.getpid()

def handler(item):
    time.sleep(0.001)  # a little real work per item, so that kills land mid-run
    os.write(fd, f"{item} {me}\\n".encode())  # one atomic append per processed item

processor = BatchProcessor(
    "copy", handler, store=store, checkpoint_every=%d, concurrency=%d, lease=%r,
)
deadline = time.monotonic() + 60  # bounded: the test kills and restarts well before
while True:
    try:
        result = processor.run(range(%d))
        break
    except JobBusyError:
        if time.monotonic() > deadline:
            sys.exit("the job stayed busy for 60 s")
        time.sleep(0.05)
print("DONE", result.succeeded, result.skipped, flush=True)
""" % (CHECKPOINT_EVERY, CONCURRENCY, LEASE, ITEMS)  # noqa: UP031 - the script's braces stay


def _log(log: Path) -> list[tuple[int, int]]:
    """(item, worker pid) of each processed item, in order."""
    if not log.exists():
        return []
    lines = log.read_bytes().split(b"\n")[:-1]  # a line is whole once it has its newline
    return [(int(item), int(pid)) for item, pid in (line.split() for line in lines)]


def _size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


class Workers:
    """Worker processes running the job, restarted when killed."""

    def __init__(self, command: list[str], directory: Path) -> None:
        self.command = command
        self.directory = directory
        self.live: dict[int, subprocess.Popen[bytes]] = {}
        self.killed: set[int] = set()
        self.finished: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        number = len(self.live) + len(self.killed) + len(self.finished)
        out = self.directory / f"worker-{number}.out"
        with out.open("wb") as stdout, out.with_suffix(".err").open("wb") as stderr:
            process = subprocess.Popen(self.command, stdout=stdout, stderr=stderr)
        self.live[process.pid] = process

    def kill(self, pid: int) -> bool:
        """SIGKILL the worker; False if it had finished already."""
        process = self.live.pop(pid)
        if process.poll() is not None:
            self.finished.append(process)
            return False
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self.killed.add(pid)
        return True

    def reap(self) -> None:
        for pid, process in list(self.live.items()):
            if process.poll() is not None:
                self.finished.append(self.live.pop(pid))

    def stop_all(self) -> None:
        for process in self.live.values():
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Workers]]:
    made: list[Workers] = []
    yield made
    for group in made:
        group.stop_all()


@pytest.mark.parametrize("backend", ["redis", "postgres"])
def test_two_workers_sigkilled_again_and_again_lose_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, workers: list[Workers], backend: str
) -> None:
    """Workers killed with SIGKILL again and again on a shared store lose no item."""
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        target, prefix = server.url, "-"
    else:
        target = request.getfixturevalue("pg_dsn")
        prefix = f"crash_{uuid.uuid4().hex[:12]}"
        request.addfinalizer(lambda: _drop_tables(target, prefix))
    script, log = tmp_path / "worker.py", tmp_path / "processed.log"
    script.write_text(WORKER)
    group = Workers([sys.executable, str(script), backend, target, prefix, str(log)], tmp_path)
    workers.append(group)
    rng = random.Random(f"{backend}-crash")

    group.start()
    group.start()
    deadline = time.monotonic() + 45
    while len(group.killed) < KILLS:
        # Wait for the lease holder to process items, then kill it at a random moment.
        before = _size(log)
        while _size(log) == before:  # the size, not the parse: polled every 5 ms
            group.reap()
            if not group.live:
                break  # the job is done
            assert time.monotonic() < deadline, "the workers made no progress"
            time.sleep(0.005)
        if not group.live:
            break
        time.sleep(rng.uniform(0.0, 0.08))
        holder = _log(log)[-1][1]
        if holder in group.live and group.kill(holder):
            group.start()  # a new worker joins the one waiting for the lease
    kills = len(group.killed)
    assert kills >= KILLS - 1, f"only {kills} kills landed before the job was done"

    while group.live:  # the survivors finish the job
        group.reap()
        assert time.monotonic() < deadline + 30, "the workers did not finish the job"
        time.sleep(0.02)
    for process in group.finished:
        assert process.returncode == 0, f"worker {process.pid} exited {process.returncode}"

    _check_the_log(_log(log), group.killed)
    records = _records(backend, target, prefix)
    assert len(records) == ITEMS
    assert all(status == "done" for status in records.values())


def _check_the_log(processed: list[tuple[int, int]], killed: set[int]) -> None:
    """Nothing lost; only killed workers' uncommitted tails done twice."""
    counts = Counter(item for item, _ in processed)
    assert set(counts) == set(range(ITEMS)), "an item was never processed"
    repeated = sum(counts.values()) - ITEMS
    bound = len(killed) * (CHECKPOINT_EVERY + CONCURRENCY)
    assert repeated <= bound, f"{repeated} items redone for {len(killed)} kills (bound {bound})"
    # One worker at a time: each worker's items are one unbroken run in the log, so no
    # two workers ever processed items at the same time ...
    order = [pid for i, (_, pid) in enumerate(processed) if i == 0 or processed[i - 1][1] != pid]
    assert len(order) == len(set(order)), f"workers interleaved: {order}"
    # ... and only killed workers' items are done again, never a live worker's.
    last_by: dict[int, int] = {}
    for item, pid in processed:
        if item in last_by:
            assert last_by[item] in killed, f"item {item} redone after a live worker"
        last_by[item] = pid


def _records(backend: str, target: str, prefix: str) -> dict[object, str]:
    if backend == "redis":
        from resilience.stores.redis._checkpoint import RedisCheckpointStore  # noqa: PLC0415

        store: CheckpointStore = RedisCheckpointStore(target)
    else:
        from resilience.stores.postgres._checkpoint import PostgresCheckpointStore  # noqa: PLC0415

        store = PostgresCheckpointStore(target, table_prefix=prefix)
    try:
        return {key: record.status for key, record in store.load("copy").items()}
    finally:
        store.close()


def _drop_tables(dsn: str, prefix: str) -> None:
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}, {}").format(
                sql.Identifier(f"{prefix}_checkpoints"), sql.Identifier(f"{prefix}_leases")
            )
        )

"""Copy files across cloud-storage remotes as a checkpointed batch job (scenario 4).

300 files go from gdrive to s3-eu and dropbox. Each destination remote has its own
breaker; a reset connection is retried; a file the remote refuses (403) fails
permanently; while dropbox is down its files are deferred, not failed. The first run
is killed with SIGKILL part-way, a real crash; the second run resumes from the last
checkpoint instead of starting over; once dropbox is back, a redrive copies what it
deferred.

The remotes are simulated; the checkpoints are a real SQLite file.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from resilience import (
    Backoff,
    BatchProcessor,
    BreakerConfig,
    BreakerRegistry,
    RetryPolicy,
    SQLiteCheckpointStore,
)
from resilience.testing import FakeClock

FILES = [
    (f"photos/img-{i:04d}.jpg", "dropbox" if i % 3 == 0 else "s3-eu") for i in range(300)
]
CRASH_AFTER = 130  # the first run dies after this many copies


class Remotes:
    """Simulated destinations: s3-eu resets now and then, dropbox may be down."""

    def __init__(self, *, dropbox_up: bool, log: Path) -> None:
        self.dropbox_up = dropbox_up
        self.log = log
        self.copies = 0

    def copy(self, item: tuple[str, str]) -> None:
        path, remote = item
        if remote == "dropbox" and not self.dropbox_up:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "dropbox: connection refused")
        if remote == "s3-eu" and path.endswith("7.jpg") and self.copies % 2 == 0:
            self.copies += 1
            raise ConnectionResetError(errno.ECONNRESET, "s3-eu: connection reset by peer")
        if path == "photos/img-0100.jpg":
            raise PermissionError(errno.EACCES, f"{remote}: 403 Forbidden: {path}")
        self.copies += 1
        with self.log.open("a") as log:
            log.write(f"{remote}:{path}\n")


def processor(store: SQLiteCheckpointStore, remotes: Remotes) -> BatchProcessor:
    clock = FakeClock()  # simulated remotes, simulated waits
    return BatchProcessor(
        "copy-photos",
        remotes.copy,
        store=store,
        key=lambda item: f"{item[1]}:{item[0]}",
        checkpoint_every=50,
        retry=RetryPolicy(attempts=3, backoff=Backoff(initial=1), clock=clock),
        breaker=BreakerRegistry(BreakerConfig(failure_threshold=5, open_for=60), clock=clock),
        remote=lambda item: item[1],
        max_failure_rate=0.5,  # stop if more than half fail: something bigger is wrong
        clock=clock,
    )


def worker(db: Path, log: Path) -> None:
    """The first run, in its own process: it is killed part-way through."""
    remotes = Remotes(dropbox_up=True, log=log)
    original = remotes.copy

    def copy_then_die(item: tuple[str, str]) -> None:
        original(item)
        if remotes.copies == CRASH_AFTER:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no last checkpoint

    remotes.copy = copy_then_die  # type: ignore[method-assign]
    processor(SQLiteCheckpointStore(db), remotes).run(FILES)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db, log = Path(folder) / "checkpoints.db", Path(folder) / "copied.log"
        print(f"Run 1: copying {len(FILES)} files in a worker process that gets SIGKILLed")
        child = subprocess.run(  # noqa: S603 - this very script, by its own path
            [sys.executable, __file__, "--worker", str(db), str(log)], check=False
        )
        copied = log.read_text().splitlines()
        store = SQLiteCheckpointStore(db)
        print(
            f"  the worker died (exit {child.returncode}) after {len(copied)} copies; "
            f"{len(store.load('copy-photos'))} outcomes were checkpointed"
        )

        print("\nRun 2: resume, with dropbox down")
        remotes = Remotes(dropbox_up=False, log=log)
        result = processor(store, remotes).run(FILES)
        print("  " + result.summary().replace("\n", "\n  "))

        print("\nRun 3: dropbox is back; redrive what was deferred or failed")
        remotes.dropbox_up = True
        result = processor(store, remotes).redrive(FILES)
        print("  " + result.summary().replace("\n", "\n  "))

        lines = log.read_text().splitlines()
        expected = {f"{remote}:{path}" for path, remote in FILES} - {
            f"{remote}:photos/img-0100.jpg" for remote in ("s3-eu", "dropbox")
        }
        print(
            f"\n{len(set(lines))} distinct files copied ({len(lines) - len(set(lines))} "
            "copied twice: the tail the crash lost before its checkpoint)"
        )
        if set(lines) != expected:
            raise SystemExit("some file was never copied")
        store.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()

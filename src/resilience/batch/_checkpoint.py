"""Checkpoint stores: where a batch job records what is done, so a re-run can resume.

A store keeps, per job, one record per item key: done, failed (with its kind, reason,
attempts and last error) or deferred. Commits are atomic: a crash keeps every commit
before it and loses only what was not yet committed.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final, NamedTuple, Protocol, TypeAlias, runtime_checkable

from resilience._core.clock import wall_time
from resilience._core.errors import ResilienceError
from resilience.stores.sqlite._connection import open_database

__all__ = [
    "DEFERRED",
    "DONE",
    "FAILED",
    "CheckpointError",
    "CheckpointStore",
    "ItemKey",
    "ItemRecord",
    "JobBusyError",
    "JobLeases",
    "LeaseLostError",
    "MemoryCheckpointStore",
    "SQLiteCheckpointStore",
]

ItemKey: TypeAlias = str | int
"""An item's stable key: a str or an int."""

DONE: Final = "done"
FAILED: Final = "failed"
DEFERRED: Final = "deferred"


class ItemRecord(NamedTuple):
    """What a job recorded about one item.

    A named tuple, not a dataclass: a batch makes one per item, and this is the cheapest
    immutable record Python has.
    """

    key: ItemKey
    status: str
    """``"done"``, ``"failed"`` or ``"deferred"``."""
    kind: str | None = None
    """For a failed item: ``"retryable"``, ``"permanent"`` or ``"partial"``."""
    reason: str | None = None
    attempts: int = 1
    error: str | None = None
    """The last error's text."""
    details: str | None = None
    """For a partial failure: the failed sub-items, as JSON text."""


class CheckpointError(ResilienceError):
    """A checkpoint store cannot be used: what is wrong with it and what to do."""


@runtime_checkable
class CheckpointStore(Protocol):
    """Where batch jobs keep their checkpoints.

    ``commit`` must be atomic: after a crash, a store holds every commit that
    returned and nothing of one that did not.
    """

    def load(self, job: str) -> dict[ItemKey, ItemRecord]:
        """Every record of ``job``, by key (empty for a new job)."""
        ...

    def commit(self, job: str, records: Iterable[ItemRecord]) -> None:
        """Record these outcomes, replacing earlier records of the same keys, atomically."""
        ...

    def forget(self, job: str) -> None:
        """Drop every record of ``job``."""
        ...

    def close(self) -> None:
        """Release what the store holds open."""
        ...


class JobBusyError(CheckpointError):
    """Another worker holds the job's lease: it is running the job now."""


class LeaseLostError(CheckpointError):
    """This worker's lease on the job lapsed and another worker took it over.

    Its commits are refused (the lease's fencing token is stale), so that two workers
    never both record the same job; the new holder processes the uncommitted items.
    """


@runtime_checkable
class JobLeases(Protocol):
    """A checkpoint store shared by workers that lets one worker at a time run a job.

    A lease lasts ``ttl`` seconds unless renewed, so a dead worker's job is free again
    once its lease expires. Each acquisition gets a larger fencing token, and a commit
    with a token that is no longer the job's is refused. A token also names its holder:
    its last six decimal digits are a random id drawn for that acquisition (see
    :func:`_new_holder`), kept with the lease and checked with it, so that a store
    which forgot its counter (a Redis restarted with nothing on disk) and hands the
    same count out again still refuses the commits of the lease it lost.
    """

    def acquire(self, job: str, *, owner: str, ttl: float) -> int:
        """Take the job's lease; its fencing token. JobBusyError while another holds it."""
        ...

    def renew(self, job: str, token: int, *, ttl: float) -> None:
        """Extend the lease by ``ttl`` from now; LeaseLostError if it is no longer ours."""
        ...

    def commit_leased(
        self, job: str, records: Iterable[ItemRecord], *, token: int, ttl: float
    ) -> None:
        """:meth:`CheckpointStore.commit` and :meth:`renew` in one atomic step."""
        ...

    def release(self, job: str, token: int) -> None:
        """Give the lease up (nothing happens if it is no longer ours)."""
        ...


_HOLDER_SPAN: Final = 1_000_000
"""A token is ``count * _HOLDER_SPAN + holder``: decimal, so Lua and SQL compose it exactly."""


def _new_holder() -> int:
    """A random holder id for one acquisition of a lease: the last digits of its token."""
    return secrets.randbelow(_HOLDER_SPAN)


class MemoryCheckpointStore:
    """Checkpoints in memory: resumes within one process, for tests and short jobs."""

    __slots__ = ("_jobs", "_lock")

    def __init__(self) -> None:
        self._jobs: dict[str, dict[ItemKey, ItemRecord]] = {}
        self._lock = threading.Lock()

    def load(self, job: str) -> dict[ItemKey, ItemRecord]:
        """Every record of ``job``, by key."""
        with self._lock:
            return dict(self._jobs.get(job, {}))

    def commit(self, job: str, records: Iterable[ItemRecord]) -> None:
        """Record these outcomes at once."""
        batch = {record.key: record for record in records}
        with self._lock:
            self._jobs.setdefault(job, {}).update(batch)

    def forget(self, job: str) -> None:
        """Drop every record of ``job``."""
        with self._lock:
            self._jobs.pop(job, None)

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MemoryCheckpointStore({len(self._jobs)} jobs)"


_SCHEMA = """
CREATE TABLE resilience_checkpoints (
    job      TEXT NOT NULL,
    key               NOT NULL,  -- no type: str and int keys stay distinct
    status   TEXT NOT NULL,
    kind     TEXT,
    reason   TEXT,
    attempts INTEGER NOT NULL,
    error    TEXT,
    details  TEXT,
    updated  REAL NOT NULL,
    PRIMARY KEY (job, key)
) WITHOUT ROWID;
"""
# A record replaces the previous one of its key. Done records, the bulk of every job,
# bind four values instead of nine: binding is most of the cost of a checkpoint.
_REPLACE = """
INSERT OR REPLACE INTO resilience_checkpoints
    (key, status, kind, reason, attempts, error, details, job, updated)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_REPLACE_DONE = """
INSERT OR REPLACE INTO resilience_checkpoints (key, attempts, job, updated, status)
VALUES (?, ?, ?, ?, 'done')
"""


class SQLiteCheckpointStore:
    """Checkpoints in a SQLite file: the durable default for one machine.

    The file is opened in WAL mode; each commit is one transaction. On open the file is
    checked: one that is not a SQLite database, is corrupt, belongs to another
    application, has another schema, was written by a newer version of this library or
    cannot be written is refused with a :class:`CheckpointError` naming it, and is
    never written to. A new file appears whole or not at all, whenever a crash comes.

    Args:
        path: The database file; created (with its schema) if it does not exist.
        durable: Wait for each commit to reach the disk (``synchronous=FULL``), so it
            survives a power cut too. With False, commits survive a crash of the
            process but the last ones may be lost if the machine loses power.
    """

    __slots__ = ("_conn", "_lock", "_path")

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._conn = open_database(
            self._path,
            table="resilience_checkpoints",
            schema=_SCHEMA,
            durable=durable,
            refuse=self._refuse,
        )

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def _refuse(self, why: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint store {str(self._path)!r} is refused: {why}. It was not changed. "
            "Pass the path of a checkpoint database made by resilience (or of a new "
            "file), or move this file away if it is safe to start the job over."
        )

    def load(self, job: str) -> dict[ItemKey, ItemRecord]:
        """Every record of ``job``, by key."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, status, kind, reason, attempts, error, details "
                "FROM resilience_checkpoints WHERE job = ?",
                (job,),
            ).fetchall()
        return {row[0]: ItemRecord(*row) for row in rows}

    def commit(self, job: str, records: Iterable[ItemRecord]) -> None:
        """Record these outcomes in one transaction."""
        now = wall_time()
        done: list[tuple[ItemKey, int, str, float]] = []
        other: list[tuple[object, ...]] = []
        for r in records:
            if r.status == DONE and r.kind is None and r.error is None:
                done.append((r.key, r.attempts, job, now))
            else:
                other.append((*r, job, now))
        if not done and not other:
            return
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_REPLACE_DONE, done)
                conn.executemany(_REPLACE, other)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def forget(self, job: str) -> None:
        """Drop every record of ``job``."""
        with self._lock:
            self._conn.execute("DELETE FROM resilience_checkpoints WHERE job = ?", (job,))

    def jobs(self) -> Mapping[str, int]:
        """Each job in the store, with its number of records."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT job, count(*) FROM resilience_checkpoints GROUP BY job"
            ).fetchall()
        return dict(rows)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"SQLiteCheckpointStore({str(self._path)!r})"

"""The SQLite checkpoint store: a batch job's checkpoints in one file, for one machine.

Each commit is one transaction in a WAL-mode file. The file is checked when it is opened
(see :mod:`resilience.stores.sqlite._connection`), so that a file which is not ours, is
damaged or has another schema is refused unchanged.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from resilience._core.clock import wall_time
from resilience.batch._checkpoint import DONE, CheckpointError, ItemKey, ItemRecord
from resilience.stores.sqlite._connection import open_database

__all__ = ["SQLiteCheckpointStore"]

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

"""Checkpoints and job leases in PostgreSQL: one store that many workers share.

Two tables, created if missing:

``{prefix}_checkpoints``
    One row per (job, key); ``key`` is the JSON of the item key, so ``1`` and ``"1"``
    stay distinct.
``{prefix}_leases``
    One row per job ever leased: owner, fencing token, expires_at. The row outlives a
    release (expires_at becomes -infinity) and a forget, so the next token is always
    larger than every earlier one: tokens are never reused. A token is a count times
    a million plus a random holder id of that acquisition, and every check compares the
    whole token: should the row be lost (a table restored from an older backup), the
    count starts over but a lost lease's commits are still refused.

Lease expiry is judged by the server's clock (``clock_timestamp()``), never the workers'.
A commit under a lease is one transaction that first locks the job's lease row: while it
runs no other worker can take the lease, and if the lease is not the caller's any more
the transaction is rolled back before anything is written. The schema and every
statement are in :mod:`._sql`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import timedelta

from resilience._core.extras import missing
from resilience.batch._checkpoint import (
    HOLDER_SPAN,
    CheckpointError,
    ItemKey,
    ItemRecord,
    LeaseLostError,
    new_holder,
)

try:
    import psycopg
    from psycopg.rows import TupleRow
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("postgres", "psycopg 3", who="PostgresCheckpointStore") from _exc

from resilience.stores._checkpoints import busy, dump_key, load_key, lost
from resilience.stores.postgres._connection import Wording
from resilience.stores.postgres._sql import COLUMNS, CREATE, SCHEMA_LOCK, STATEMENTS
from resilience.stores.postgres._store import PostgresStore, Schema

__all__ = ["PostgresCheckpointStore"]

_Row = tuple[str, str, str, str | None, str | None, int, str | None, str | None]


class PostgresCheckpointStore(PostgresStore):
    """Checkpoints in PostgreSQL, with job leases so that workers can share the store.

    Implements :class:`CheckpointStore` and :class:`JobLeases`: with it, several
    :class:`BatchProcessor` workers may run the same job and only one runs it at a time;
    a dead worker's job is taken over once its lease expires. One connection, used under
    a lock: safe to share between threads. A store that opened its connection opens a
    new one when the old one broke (the server restarted).

    :meth:`forget` refuses (:class:`JobBusyError`) while a worker holds the job's lease,
    and keeps the lease row, so tokens keep growing when the job starts over.

    Args:
        conninfo_or_connection: A libpq connection string or URL (the store connects,
            and :meth:`close` closes the connection), or a psycopg 3 connection in
            autocommit mode (left open).
        table_prefix: The tables are ``<prefix>_checkpoints`` and ``<prefix>_leases``:
            lowercase letters, digits and underscores, not starting with a digit.
    """

    __slots__ = ()

    _WORDING = Wording(
        what="PostgresCheckpointStore",
        store="checkpoint",
        error=CheckpointError,
        autocommit=(
            "each commit is its own transaction and not part of the caller's: connect with "
            "psycopg.connect(..., autocommit=True), or pass the connection string instead"
        ),
        failed=(
            ". It was rolled back; commits that returned are kept. Check that the server is "
            "up, then run the job again: it resumes"
        ),
        closed="; make a new PostgresCheckpointStore",
    )
    _SCHEMA = Schema(
        tables={name: (CREATE[name], COLUMNS[name]) for name in ("checkpoints", "leases")},
        statements=STATEMENTS,
        lock=SCHEMA_LOCK,
        creating="creating the tables of batch job '*'",
    )

    @property
    def table_prefix(self) -> str:
        """The tables are ``<prefix>_checkpoints`` and ``<prefix>_leases``."""
        return self._db.prefix

    # ------------------------------------------------------------ checkpoints

    def load(self, job: str) -> dict[ItemKey, ItemRecord]:
        """Every record of ``job``, by key."""
        with self._cursor("loading the checkpoints", job) as cur:
            rows = cur.execute(self._q["load"], (job,)).fetchall()
        records: dict[ItemKey, ItemRecord] = {}
        for text, *rest in rows:
            try:
                key = load_key(text)
            except (ValueError, TypeError):
                raise CheckpointError(
                    f"checkpoint store {self!r}: batch job {job!r} has a record with key "
                    f"{text!r}, which is not the JSON of a str or int; it was not changed. "
                    f"Another program wrote to {self._db.prefix}_checkpoints: use another "
                    "table_prefix, or forget the job if it is safe to start it over"
                ) from None
            records[key] = ItemRecord(key, *rest)
        return records

    def commit(self, job: str, records: Iterable[ItemRecord]) -> None:
        """Record these outcomes in one transaction, no lease involved."""
        rows = _rows(job, records)
        if not rows:
            return
        with self._transaction("committing checkpoints", job) as cur:
            cur.executemany(self._q["upsert"], rows)

    def forget(self, job: str) -> None:
        """Drop every record of ``job``; JobBusyError while a worker holds its lease."""
        with self._transaction("forgetting", job) as cur:
            cur.execute(self._q["forget_row"], (job,))
            holder = cur.execute(self._q["lock_lease"], (job,)).fetchone()
            if holder is not None and holder[2] is not None:
                raise busy(self, job, holder[0], holder[2], doing="forgotten")
            cur.execute(self._q["delete"], (job,))

    def jobs(self) -> dict[str, int]:
        """Each job in the store, with its number of records."""
        with self._cursor("listing the jobs", "*") as cur:
            return dict(cur.execute(self._q["jobs"]).fetchall())

    # ----------------------------------------------------------------- leases

    def acquire(self, job: str, *, owner: str, ttl: float | timedelta) -> int:
        """Take the job's lease for ``ttl`` s; its token. JobBusyError if another holds it."""
        ttl = _check_ttl(ttl)
        with self._cursor("taking the lease", job) as cur:
            params = {
                "job": job,
                "owner": owner,
                "ttl": ttl,
                "span": HOLDER_SPAN,
                "holder": new_holder(),
            }
            row = cur.execute(self._q["acquire"], params).fetchone()
            if row is not None:
                return int(row[0])
            holder = cur.execute(self._q["holder"], (job,)).fetchone()
        raise busy(
            self, job, holder[0] if holder else None, holder[2] if holder else None, doing="run"
        )

    def renew(self, job: str, token: int, *, ttl: float | timedelta) -> None:
        """Extend the lease by ``ttl`` s from now; LeaseLostError if it is not ours."""
        ttl = _check_ttl(ttl)
        with self._cursor("renewing the lease", job) as cur:
            if cur.execute(self._q["renew"], (ttl, job, token)).fetchone() is not None:
                return
            holder = cur.execute(self._q["holder"], (job,)).fetchone()
        raise self._lost(job, token, holder, doing="renewed")

    def commit_leased(
        self, job: str, records: Iterable[ItemRecord], *, token: int, ttl: float | timedelta
    ) -> None:
        """Commit and renew in one transaction; LeaseLostError (nothing written) if not ours."""
        ttl = _check_ttl(ttl)
        rows = _rows(job, records)
        with self._transaction("committing checkpoints", job) as cur:
            # The lease row stays locked to the end: no worker can take the lease meanwhile.
            lease = cur.execute(self._q["lock_lease"], (job,)).fetchone()
            if lease is None or lease[1] != token or lease[2] is None:
                raise self._lost(job, token, lease, doing="committed")  # rolls back
            if rows:
                cur.executemany(self._q["upsert"], rows)
            cur.execute(self._q["extend"], (ttl, job))

    def release(self, job: str, token: int) -> None:
        """Give the lease up at once; nothing happens if it is no longer ours."""
        with self._cursor("releasing the lease", job) as cur:
            cur.execute(self._q["release"], (job, token))

    # ------------------------------------------------------------------ other

    def _cursor(self, action: str, job: str) -> AbstractContextManager[psycopg.Cursor[TupleRow]]:
        """A tuple cursor under the store's lock; database errors become CheckpointError."""
        return self._db.cursor(f"{action} of batch job {job!r}")

    def _transaction(
        self, action: str, job: str
    ) -> AbstractContextManager[psycopg.Cursor[TupleRow]]:
        """A cursor in one transaction; database errors become CheckpointError."""
        return self._db.transaction(f"{action} of batch job {job!r}")

    def _lost(self, job: str, token: int, holder: TupleRow | None, *, doing: str) -> LeaseLostError:
        if holder is None or holder[2] is None:
            why = "it expired or was released, and no worker holds it now"
        else:
            why = f"worker {holder[0]!r} holds it now with token {holder[1]}"
        return lost(self, job, token, why=why, doing=doing)


def _check_ttl(ttl: float | timedelta) -> float:
    """A lease's ttl as seconds, refused unless positive."""
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
    if not seconds > 0:
        raise ValueError(f"a lease's ttl must be more than 0 seconds, got {ttl!r}")
    return seconds


def _rows(job: str, records: Iterable[ItemRecord]) -> list[_Row]:
    return [
        (job, dump_key(job, r.key), r.status, r.kind, r.reason, r.attempts, r.error, r.details)
        for r in records
    ]

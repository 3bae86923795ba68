"""Opening the library's own SQLite files: checked before anything is written to them.

Checkpoints and incidents may share one file: each store adds its table to a file that
is already ours. A file that is not a SQLite database, is damaged, belongs to another
application or was written by a newer version of the library is refused, unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

__all__ = ["open_database"]

# "RSLC": marks a SQLite file as ours, so that another application's database is never
# mistaken for one of our stores and written to.
APPLICATION_ID = 0x52534C43
SCHEMA_VERSION = 1


def open_database(
    path: Path, *, table: str, schema: str, durable: bool, refuse: Callable[[str], Exception]
) -> sqlite3.Connection:
    """Open (or create) ``path`` with ``table`` in it, in WAL mode.

    ``schema`` creates ``table``; ``refuse(why)`` makes the error raised for a file that
    cannot be used.
    """
    fresh = not path.exists() or path.stat().st_size == 0
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode={'rwc' if fresh else 'rw'}",
            uri=True,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # each store guards its connection with a lock
        )
    except sqlite3.Error as exc:
        raise refuse(f"it cannot be opened ({exc})") from exc
    try:
        if not fresh:
            _check(conn, refuse)
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if not exists:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(schema)
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    except BaseException:
        conn.close()
        raise
    return conn


def _check(conn: sqlite3.Connection, refuse: Callable[[str], Exception]) -> None:
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise refuse(f"it is not a readable SQLite database ({exc})") from exc
    if problems != ["ok"]:
        shown = "; ".join(str(p) for p in problems[:3])
        raise refuse(f"its integrity check failed ({shown})")
    if application_id != APPLICATION_ID:
        raise refuse(
            f"it is a SQLite database of another application (application_id "
            f"{application_id}, not {APPLICATION_ID})"
        )
    if version > SCHEMA_VERSION:
        raise refuse(
            f"it was written by a newer version of resilience (schema {version}; "
            f"this version reads up to {SCHEMA_VERSION}); upgrade resilience"
        )

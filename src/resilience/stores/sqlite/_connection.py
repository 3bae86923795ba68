"""Opening the library's own SQLite files: checked before anything is written to them.

Checkpoints and incidents may share one file: each store adds its table to a file that
is already ours. A file that is not a SQLite database, is damaged, belongs to another
application, has another schema, was written by a newer version of the library or
cannot be written is refused, unchanged.

A new file is built beside its path under a temporary name and linked into place
complete, so that a crash at any moment of its creation leaves no database or a whole
one; of two processes creating it at once, one links and the other opens its file.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

from resilience._core.clock import wall_time
from resilience.stores.sqlite._migrate import MIGRATIONS

__all__ = ["open_database"]

# "RSLC": marks a SQLite file as ours, so that another application's database is never
# mistaken for one of our stores and written to.
APPLICATION_ID = 0x52534C43
SCHEMA_VERSION = 2
"""1: checkpoints and incidents; 2: incidents have a lifecycle (state, updated_at)."""
_STALE = 3600.0
"""Seconds after which a temporary file a crash left behind is removed."""


def open_database(
    path: Path, *, table: str, schema: str, durable: bool, refuse: Callable[[str], Exception]
) -> sqlite3.Connection:
    """Open (or create) ``path`` with ``table`` in it, in WAL mode.

    ``schema`` creates ``table``; ``refuse(why)`` makes the error raised for a file that
    cannot be used.
    """
    try:
        placed = path.exists() or _create(path, schema)
    except (OSError, sqlite3.Error) as exc:
        raise refuse(
            f"it cannot be created ({exc}); check that the folder {str(path.parent)!r} "
            "exists and that this process may write in it"
        ) from exc
    try:
        conn = sqlite3.connect(
            # Without a file in place (hard links unsupported), create it here: an empty
            # or rolled-back file is recognised below as not yet created.
            f"{path.resolve().as_uri()}?mode={'rw' if placed else 'rwc'}",
            uri=True,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # each store guards its connection with a lock
        )
    except sqlite3.Error as exc:
        raise refuse(f"it cannot be opened ({exc})") from exc
    try:
        _prepare(conn, path, table, schema, refuse)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        _check_writable(conn, path, refuse)
    except BaseException:
        conn.close()
        raise
    return conn


def _create(path: Path, schema: str) -> bool:
    """Build a new database at ``path`` without it ever being seen incomplete.

    True when ``path`` now exists (made here, or by another process meanwhile); False
    when the file system cannot link, for the caller to create the file in place.
    """
    folder = path.parent
    _remove_stale(folder, path.name)
    temp = folder / f".{path.name}.{secrets.token_hex(8)}.new"
    # Not mkstemp: its 0600 would stay the database's; this file gets what the umask
    # gives any new file, as SQLite's own would.
    os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        conn = sqlite3.connect(temp, isolation_level=None)
        try:
            # No journal: until it is linked, nobody but this process knows the file.
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute(schema)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        _fsync(temp)
        try:
            os.link(temp, path)  # unlike a rename, never replaces a file made meanwhile
        except FileExistsError:
            return True  # another process created it first: open that one
        except OSError:
            return False  # FAT, some network file systems: no hard links
        _fsync_dir(folder)
        return True
    finally:
        temp.unlink(missing_ok=True)


def _remove_stale(folder: Path, name: str) -> None:
    """Remove temporary files of creations that a crash interrupted long ago."""
    now = wall_time()
    for left in folder.glob(f".{glob.escape(name)}.*.new*"):  # and their -wal, -shm
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
            if now - left.stat().st_mtime > _STALE:
                left.unlink()


def _prepare(
    conn: sqlite3.Connection,
    path: Path,
    table: str,
    schema: str,
    refuse: Callable[[str], Exception],
) -> None:
    """Check the file, and add ``table`` (and, to an empty file, our header) if missing."""
    try:
        # Reading rolls back a hot journal first: what a crash left half-written is
        # gone before we look.
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
            # A read needs the -shm file of a WAL database, or to roll a journal back.
            raise refuse(_unwritable(exc, path)) from exc
        raise refuse(f"it is not a readable SQLite database ({exc})") from exc
    if pages == 0 and _create_in_empty(conn, schema):
        return
    if _check(conn, refuse) < SCHEMA_VERSION:
        _migrate(conn, path, refuse)
    exists = _columns(conn, table)
    if exists:
        _check_schema(exists, table, schema, refuse)
        return
    _in_transaction(conn, lambda: None if _columns(conn, table) else conn.execute(schema))


def _create_in_empty(conn: sqlite3.Connection, schema: str) -> bool:
    """Create the database in a file with no pages yet; False if another process did."""
    created = False

    def create() -> None:
        nonlocal created
        # Another process may have created it while this one waited for the lock. (In
        # a write transaction an empty file counts one page: look at what is in it.)
        if (
            not conn.execute("SELECT 1 FROM sqlite_master").fetchone()
            and not conn.execute("PRAGMA application_id").fetchone()[0]
        ):
            conn.execute(schema)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            created = True

    _in_transaction(conn, create)
    return created


def _in_transaction(conn: sqlite3.Connection, work: Callable[[], object]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        work()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    """``table``'s columns: name, type, not null, default and key; empty if no table."""
    return [tuple(row[1:]) for row in conn.execute(f"PRAGMA table_info({table})")]


def _check_schema(
    found: list[tuple[object, ...]], table: str, schema: str, refuse: Callable[[str], Exception]
) -> None:
    expected = sqlite3.connect(":memory:")
    try:
        expected.execute(schema)
        wanted = _columns(expected, table)
    finally:
        expected.close()
    if found != wanted:
        names = ", ".join(str(column[0]) for column in found)
        raise refuse(
            f"its table {table} has other columns ({names}) than this version of "
            "resilience makes: another schema"
        )


def _migrate(conn: sqlite3.Connection, path: Path, refuse: Callable[[str], Exception]) -> None:
    """Bring a file of an older schema to this one, in one transaction (or not at all)."""

    def upgrade() -> None:
        # Another process may have migrated it while this one waited for the lock.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    try:
        _in_transaction(conn, upgrade)
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY":
            raise
        raise refuse(f"its schema could not be upgraded: {_unwritable(exc, path)}") from exc


def _check(conn: sqlite3.Connection, refuse: Callable[[str], Exception]) -> int:
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
    if version < SCHEMA_VERSION and version not in MIGRATIONS:
        raise refuse(f"it has schema {version}, which this version of resilience does not know")
    return int(version)


def _check_writable(
    conn: sqlite3.Connection, path: Path, refuse: Callable[[str], Exception]
) -> None:
    """Refuse now a file SQLite opened read-only, rather than at the first commit."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # A write, rolled back: SQLite opens a write-protected file read-only
            # without a word, and only a write tells.
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY":
            raise  # another process writes for longer than the timeout: not the file's fault
        raise refuse(_unwritable(exc, path)) from exc


def _unwritable(exc: sqlite3.Error, path: Path) -> str:
    return (
        f"it cannot be written ({exc}); give this process write access to the file and "
        f"to its folder {str(path.parent)!r}, where SQLite keeps the -wal and -shm files "
        "beside it"
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory; NTFS journals the names
        return
    _fsync(folder)

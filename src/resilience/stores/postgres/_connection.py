"""The connection a PostgreSQL store uses, and the tables it creates if they are missing.

One connection, used under a lock. A store given a connection string connects itself,
and connects again when its connection broke (the server restarted, or the network
broke); a connection passed in is left to its owner. Every psycopg error becomes the
store's own error, saying what was being done.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from typing import Any, Final, LiteralString, NamedTuple

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow, tuple_row

from resilience._core.redact import redact_conninfo

__all__ = ["Connection", "Wording"]

# Unquoted-identifier characters only, and short enough for the longest suffix within
# PostgreSQL's 63-byte names: the prefix can never change the meaning of a statement.
_PREFIX: Final = re.compile(r"[a-z_][a-z0-9_]{0,49}")
_COLUMNS_OF: Final = (
    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
    "AND attnum > 0 AND NOT attisdropped"
)


class Wording(NamedTuple):
    """Who a store is, and how its errors read."""

    what: str
    """The store's class name."""
    store: str
    """What the store keeps, as in "checkpoint store ...: ... failed"."""
    error: type[Exception]
    """What a database error, or a use after :meth:`Connection.close`, raises."""
    autocommit: str
    """Why a connection passed in must be in autocommit mode, and what to do instead."""
    failed: str
    """Said after "... failed (the error)"."""
    refused: type[Exception] | None = None
    """What a connection or a table the store cannot use raises; ``error`` if None."""
    closed: str = ""
    """Said after "... needs an open store"."""


class Connection:
    """A store's connection, its tables' prefix, and the store's name in messages.

    Args:
        conninfo_or_connection: A connection string (connected here, and closed by
            :meth:`close`), or a psycopg 3 connection in autocommit mode (left open).
        table_prefix: The first part of the store's table names, checked here.
        wording: Who the store is, and how its errors read.
    """

    __slots__ = ("_closed", "_conn", "_conninfo", "_lock", "_wording", "label", "prefix", "shown")

    def __init__(
        self,
        conninfo_or_connection: str | psycopg.Connection[Any],
        *,
        table_prefix: str,
        wording: Wording,
    ) -> None:
        what = wording.what
        if not isinstance(table_prefix, str) or not _PREFIX.fullmatch(table_prefix):
            raise ValueError(
                f"{what} table_prefix must be a plain identifier (lowercase letters, digits "
                "and _, not starting with a digit, at most 50 characters), "
                f"got {table_prefix!r}"
            )
        self.prefix = table_prefix
        self._wording = wording
        self._lock = threading.Lock()
        self._closed = False
        self._conninfo: str | None
        if isinstance(conninfo_or_connection, str):
            self._conninfo = conninfo_or_connection
            self.shown = redact_conninfo(conninfo_or_connection)
        elif isinstance(conninfo_or_connection, psycopg.Connection):
            info = conninfo_or_connection.info
            self._conninfo = None
            self.shown = f"host={info.host} port={info.port} dbname={info.dbname}"
        else:
            raise TypeError(
                f"{what} needs a connection string or a psycopg 3 connection, "
                f"got {type(conninfo_or_connection).__name__}"
            )
        self.label = f"{what}({self.shown!r}, table_prefix={table_prefix!r})"
        """The store's repr."""
        if isinstance(conninfo_or_connection, str):
            self._conn: psycopg.Connection[Any] = self._connect()
        elif conninfo_or_connection.autocommit:
            self._conn = conninfo_or_connection
        else:
            raise (wording.refused or wording.error)(
                f"{what} needs its connection ({self.shown}) in autocommit mode, so that "
                f"{wording.autocommit}"
            )

    @contextmanager
    def cursor(self, doing: str) -> Iterator[psycopg.Cursor[TupleRow]]:
        """A tuple cursor under the lock; a database error becomes the store's error."""
        wording = self._wording
        with self._lock:
            if self._closed:
                raise wording.error(
                    f"{wording.store} store {self.label} is closed: {doing} needs an open "
                    f"store{wording.closed}"
                )
            if self._conninfo is not None and self._conn.broken:
                self._conn = self._connect()  # the server restarted, or the network broke
            try:
                with self._conn.cursor(row_factory=tuple_row) as cur:
                    yield cur
            except psycopg.Error as exc:
                raise wording.error(
                    f"{wording.store} store {self.label}: {doing} failed "
                    f"({type(exc).__name__}: {_first_line(exc)}){wording.failed}"
                ) from exc

    @contextmanager
    def transaction(self, doing: str) -> Iterator[psycopg.Cursor[TupleRow]]:
        """A cursor in one transaction, rolled back if the block raises."""
        with self.cursor(doing) as cur, cur.connection.transaction():
            yield cur

    def create_tables(
        self,
        tables: Mapping[str, tuple[LiteralString, AbstractSet[str]]],
        *,
        lock: int,
        doing: str,
    ) -> None:
        """Create each table ``<prefix>_<name>`` that is missing; refuse one not ours.

        ``tables``: by name, the statement that creates it (``{table}`` in it) and the
        columns it has. ``lock``: the advisory lock that serializes creation between
        processes. The store is closed if this raises: it cannot be used.
        """
        try:
            self._create_tables(tables, lock=lock, doing=doing)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Refuse any further use; close the connection if it was made here."""
        with self._lock:
            self._closed = True
            if self._conninfo is not None:
                self._conn.close()

    def _create_tables(
        self, tables: Mapping[str, tuple[LiteralString, AbstractSet[str]]], *, lock: int, doing: str
    ) -> None:
        with self.transaction(doing) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (lock, self.prefix))
            for name, (create, expected) in tables.items():
                full = f"{self.prefix}_{name}"
                columns = {row[0] for row in cur.execute(_COLUMNS_OF, (full,)).fetchall()}
                if not columns:
                    cur.execute(sql.SQL(create).format(table=sql.Identifier(full)))
                elif missing := expected - columns:
                    raise (self._wording.refused or self._wording.error)(
                        f"{self._wording.store} store {self.label}: table {full} exists but "
                        f"is not a resilience {name} table (it has no "
                        f"{', '.join(sorted(missing))}); it was not changed. Pass another "
                        "table_prefix"
                    )

    def _connect(self) -> psycopg.Connection[TupleRow]:
        assert self._conninfo is not None  # noqa: S101 - only stores that own one connect
        try:
            return psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise self._wording.error(
                f"{self._wording.store} store {self.label} cannot connect to PostgreSQL "
                f"({type(exc).__name__}: {_first_line(exc)}); check that the server is up "
                "and the connection string is right"
            ) from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0]

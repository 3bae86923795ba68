"""Incidents of a :class:`~resilience.RecoveryManager` in PostgreSQL, shared by a fleet.

One table, ``{prefix}_incidents``, created if missing: one row per incident, its
``Incident.to_dict()`` as JSON beside the columns queries need (component, state, times)
and the record's ``schema``. Every change is one transaction that first locks the row
(``SELECT ... FOR UPDATE``): two processes acknowledging or escalating one incident at
once never lose an update.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, LiteralString

from resilience._core.redact import redact_conninfo
from resilience.recovery import Incident, IncidentState, TimelineEntry
from resilience.recovery._incidents import SCHEMA
from resilience.recovery._memory import checked_change, unknown

try:
    import psycopg
    from psycopg import sql
    from psycopg.rows import TupleRow, tuple_row
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise ImportError(
        "PostgresIncidentStore needs psycopg 3: pip install -e '.[postgres]'"
    ) from _exc

__all__ = ["PostgresIncidentStore"]

_PREFIX: Final = re.compile(r"[a-z_][a-z0-9_]{0,49}")
_LOCK: Final = 0x52534C44  # serializes the creation of the table between processes
_COLUMNS: Final = {"id", "component", "started_at", "state", "updated_at", "schema", "incident"}
_CREATE: Final[LiteralString] = """
    CREATE TABLE IF NOT EXISTS {table} (
        id         text PRIMARY KEY,
        component  text NOT NULL,
        started_at double precision NOT NULL,
        state      text NOT NULL,
        updated_at double precision NOT NULL,
        schema     integer NOT NULL,
        incident   text NOT NULL
    )
"""
_SELECT: Final[LiteralString] = "SELECT incident FROM {table}"
_ORDER: Final[LiteralString] = " ORDER BY started_at, id"


class PostgresIncidentStore:
    """Incidents in PostgreSQL: kept across restarts, shared by processes and hosts.

    Implements :class:`~resilience.recovery.MutableIncidentStore`. One connection, used
    under a lock; a store that opened its connection opens a new one when the old one
    broke. Database errors become :class:`OSError` saying what was being done.

    Args:
        conninfo_or_connection: A libpq connection string or URL (the store connects,
            and :meth:`close` closes it), or a psycopg 3 connection in autocommit mode.
        table_prefix: The table is ``<prefix>_incidents``: lowercase letters, digits and
            underscores, not starting with a digit.
    """

    __slots__ = ("_closed", "_conn", "_conninfo", "_lock", "_prefix", "_shown", "_table")

    def __init__(
        self,
        conninfo_or_connection: str | psycopg.Connection[Any],
        *,
        table_prefix: str = "resilience",
    ) -> None:
        if not isinstance(table_prefix, str) or not _PREFIX.fullmatch(table_prefix):
            raise ValueError(
                "PostgresIncidentStore table_prefix must be a plain identifier (lowercase "
                "letters, digits and _, not starting with a digit, at most 50 characters), "
                f"got {table_prefix!r}"
            )
        self._prefix = table_prefix
        self._table = sql.Identifier(f"{table_prefix}_incidents")
        self._lock = threading.Lock()
        self._closed = False
        self._conninfo: str | None
        if isinstance(conninfo_or_connection, str):
            self._conninfo = conninfo_or_connection
            self._shown = redact_conninfo(conninfo_or_connection)
            self._conn = self._connect()
        elif isinstance(conninfo_or_connection, psycopg.Connection):
            conn = conninfo_or_connection
            self._conninfo = None
            self._shown = f"host={conn.info.host} port={conn.info.port} dbname={conn.info.dbname}"
            if not conn.autocommit:
                raise ValueError(
                    f"PostgresIncidentStore needs its connection ({self._shown}) in autocommit "
                    "mode, so that each change is its own transaction: connect with "
                    "psycopg.connect(..., autocommit=True), or pass the connection string"
                )
            self._conn = conn
        else:
            raise TypeError(
                "PostgresIncidentStore needs a connection string or a psycopg 3 connection, "
                f"got {type(conninfo_or_connection).__name__}"
            )
        try:
            self._create_table()
        except BaseException:
            self.close()
            raise

    def add(self, incident: Incident) -> None:
        """Keep ``incident`` (one statement)."""
        row = _row(incident)
        query = "INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s, %s)"
        with self._cursor(f"adding incident {incident.id}") as cur:
            cur.execute(self._q(query), row)

    def incidents(self, component: str | None = None) -> list[Incident]:
        """Every incident kept (of ``component``, or all), oldest first."""
        return self._select(component, only_open=False)

    def open_incidents(self, component: str | None = None) -> list[Incident]:
        """The incidents not resolved (of ``component``, or all), oldest first."""
        return self._select(component, only_open=True)

    def get(self, incident_id: str) -> Incident:
        """The incident of that id; :class:`UnknownIncidentError` if none."""
        with self._cursor(f"reading incident {incident_id}") as cur:
            row = cur.execute(self._q(_SELECT + " WHERE id = %s"), (incident_id,)).fetchone()
        if row is None:
            raise unknown(self, incident_id)
        return Incident.from_dict(json.loads(row[0]))

    def update(self, incident_id: str, change: Callable[[Incident], Incident]) -> Incident:
        """Replace the incident by ``change(incident)`` in one transaction; the new one."""
        doing = f"updating incident {incident_id}"
        with self._cursor(doing) as cur, cur.connection.transaction():
            query = _SELECT + " WHERE id = %s FOR UPDATE"
            row = cur.execute(self._q(query), (incident_id,)).fetchone()
            if row is None:
                raise unknown(self, incident_id)
            new = checked_change(Incident.from_dict(json.loads(row[0])), change)
            cur.execute(
                self._q(
                    "UPDATE {table} SET state = %s, updated_at = %s, schema = %s, "
                    "incident = %s WHERE id = %s"
                ),
                (new.state.value, new.updated_at, SCHEMA, json.dumps(new.to_dict()), incident_id),
            )
        return new

    def append(self, incident_id: str, *entries: TimelineEntry) -> Incident:
        """Add ``entries`` to the incident's timeline in one transaction; the new one."""
        return self.update(incident_id, lambda i: i.with_entries(*entries))

    def close(self) -> None:
        """Close the connection if the store opened it."""
        with self._lock:
            self._closed = True
            if self._conninfo is not None:
                self._conn.close()

    def __repr__(self) -> str:
        return f"PostgresIncidentStore({self._shown!r}, table_prefix={self._prefix!r})"

    # ------------------------------------------------------------------ plumbing

    def _q(self, text: LiteralString) -> sql.Composed:
        return sql.SQL(text).format(table=self._table)

    def _select(self, component: str | None, *, only_open: bool) -> list[Incident]:
        resolved = IncidentState.RESOLVED.value
        with self._cursor("listing incidents") as cur:
            if component is None and not only_open:
                rows = cur.execute(self._q(_SELECT + _ORDER)).fetchall()
            elif component is None:
                query = _SELECT + " WHERE state <> %s" + _ORDER
                rows = cur.execute(self._q(query), (resolved,)).fetchall()
            elif not only_open:
                query = _SELECT + " WHERE component = %s" + _ORDER
                rows = cur.execute(self._q(query), (component,)).fetchall()
            else:
                query = _SELECT + " WHERE component = %s AND state <> %s" + _ORDER
                rows = cur.execute(self._q(query), (component, resolved)).fetchall()
        return [Incident.from_dict(json.loads(text)) for (text,) in rows]

    def _connect(self) -> psycopg.Connection[TupleRow]:
        assert self._conninfo is not None  # noqa: S101 - only stores that own one connect
        try:
            return psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise OSError(
                f"incident store {self!r} cannot connect to PostgreSQL "
                f"({type(exc).__name__}: {_first_line(exc)}); check that the server is up "
                "and the connection string is right"
            ) from exc

    @contextmanager
    def _cursor(self, doing: str) -> Iterator[psycopg.Cursor[TupleRow]]:
        with self._lock:
            if self._closed:
                raise OSError(f"incident store {self!r} is closed: {doing} needs an open store")
            if self._conninfo is not None and self._conn.broken:
                self._conn = self._connect()
            try:
                with self._conn.cursor(row_factory=tuple_row) as cur:
                    yield cur
            except psycopg.Error as exc:
                raise OSError(
                    f"incident store {self!r}: {doing} failed ({type(exc).__name__}: "
                    f"{_first_line(exc)}); nothing was changed. Check that the server is up"
                ) from exc

    def _create_table(self) -> None:
        full = f"{self._prefix}_incidents"
        with self._cursor("creating the table") as cur, cur.connection.transaction():
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK, self._prefix))
            found = {
                row[0]
                for row in cur.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                    "AND attnum > 0 AND NOT attisdropped",
                    (full,),
                ).fetchall()
            }
            if not found:
                cur.execute(self._q(_CREATE))
            elif missing := _COLUMNS - found:
                raise ValueError(
                    f"incident store {self!r}: table {full} exists but is not a resilience "
                    f"incidents table (it has no {', '.join(sorted(missing))}); it was not "
                    "changed. Pass another table_prefix"
                )


def _row(incident: Incident) -> tuple[object, ...]:
    return (
        incident.id,
        incident.component,
        incident.started_at,
        incident.state.value,
        incident.updated_at,
        SCHEMA,
        json.dumps(incident.to_dict()),
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0]

"""Incidents of a :class:`~resilience.RecoveryManager` in a SQLite file."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from resilience.recovery import Incident, IncidentState, TimelineEntry
from resilience.recovery._memory import checked_change, unknown
from resilience.stores.sqlite._connection import open_database

__all__ = ["SQLiteIncidentStore"]

_SCHEMA = """
CREATE TABLE resilience_incidents (
    id         TEXT PRIMARY KEY,
    component  TEXT NOT NULL,
    started_at REAL NOT NULL,
    incident   TEXT NOT NULL,  -- Incident.to_dict() as JSON
    state      TEXT NOT NULL DEFAULT 'open',
    updated_at REAL NOT NULL DEFAULT 0
)
"""
_RESOLVED = IncidentState.RESOLVED.value


class SQLiteIncidentStore:
    """Incidents in a SQLite file, kept across restarts for post-mortems and statistics.

    The file may be the one a :class:`~resilience.SQLiteCheckpointStore` uses. A file that
    is damaged, not a SQLite database, another application's, of another schema or not
    writable is refused with an :class:`OSError` naming it, and never written to. A new
    file appears whole or not at all, whenever a crash comes. A file of an older schema
    is upgraded in one transaction when opened. Several processes may share the file
    (an application and ``python -m resilience incidents``): each change is one
    transaction.

    Args:
        path: The database file; created if it does not exist.
    """

    __slots__ = ("_conn", "_lock", "_path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._conn = open_database(
            self._path,
            table="resilience_incidents",
            schema=_SCHEMA,
            durable=True,
            refuse=self._refuse,
        )

    def _refuse(self, why: str) -> OSError:
        return OSError(
            f"incident store {str(self._path)!r} is refused: {why}. It was not changed. "
            "Pass the path of a database made by resilience (or of a new file)."
        )

    def add(self, incident: Incident) -> None:
        """Keep ``incident`` (one transaction)."""
        row = (
            incident.id,
            incident.component,
            incident.started_at,
            json.dumps(incident.to_dict()),
            incident.state.value,
            incident.updated_at,
        )
        with self._lock:
            self._conn.execute("INSERT INTO resilience_incidents VALUES (?, ?, ?, ?, ?, ?)", row)

    def incidents(self, component: str | None = None) -> list[Incident]:
        """Every incident kept (of ``component``, or all), oldest first."""
        return self._select(component, only_open=False)

    def open_incidents(self, component: str | None = None) -> list[Incident]:
        """The incidents not resolved (of ``component``, or all), oldest first."""
        return self._select(component, only_open=True)

    def get(self, incident_id: str) -> Incident:
        """The incident of that id; :class:`UnknownIncidentError` if none."""
        with self._lock:
            return self._read(incident_id)

    def update(self, incident_id: str, change: Callable[[Incident], Incident]) -> Incident:
        """Replace the incident by ``change(incident)`` in one transaction; the new one."""
        conn = self._conn
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")  # the write lock first: no lost update
            try:
                new = checked_change(self._read(incident_id), change)
                conn.execute(
                    "UPDATE resilience_incidents SET incident = ?, state = ?, updated_at = ? "
                    "WHERE id = ?",
                    (json.dumps(new.to_dict()), new.state.value, new.updated_at, incident_id),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return new

    def append(self, incident_id: str, *entries: TimelineEntry) -> Incident:
        """Add ``entries`` to the incident's timeline in one transaction; the new one."""
        return self.update(incident_id, lambda i: i.with_entries(*entries))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def _read(self, incident_id: str) -> Incident:
        row = self._conn.execute(
            "SELECT incident FROM resilience_incidents WHERE id = ?", (incident_id,)
        ).fetchone()
        if row is None:
            raise unknown(self, incident_id)
        return Incident.from_dict(json.loads(row[0]))

    def _select(self, component: str | None, *, only_open: bool) -> list[Incident]:
        where, args = [], []
        if component is not None:
            where.append("component = ?")
            args.append(component)
        if only_open:
            where.append("state != ?")
            args.append(_RESOLVED)
        query = "SELECT incident FROM resilience_incidents"
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._conn.execute(f"{query} ORDER BY started_at, rowid", args).fetchall()
        return [Incident.from_dict(json.loads(text)) for (text,) in rows]

    def __repr__(self) -> str:
        return f"SQLiteIncidentStore({str(self._path)!r})"

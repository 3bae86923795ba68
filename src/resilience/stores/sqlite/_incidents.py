"""Incidents of a :class:`~resilience.RecoveryManager` in a SQLite file."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from resilience.recovery import Incident
from resilience.stores.sqlite._connection import open_database

__all__ = ["SQLiteIncidentStore"]

_SCHEMA = """
CREATE TABLE resilience_incidents (
    id         TEXT PRIMARY KEY,
    component  TEXT NOT NULL,
    started_at REAL NOT NULL,
    incident   TEXT NOT NULL  -- Incident.to_dict() as JSON
)
"""


class SQLiteIncidentStore:
    """Incidents in a SQLite file, kept across restarts for post-mortems and statistics.

    The file may be the one a :class:`~resilience.SQLiteCheckpointStore` uses. A file that
    is damaged, not a SQLite database, another application's, of another schema or not
    writable is refused with an :class:`OSError` naming it, and never written to. A new
    file appears whole or not at all, whenever a crash comes.

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
        )
        with self._lock:
            self._conn.execute("INSERT INTO resilience_incidents VALUES (?, ?, ?, ?)", row)

    def incidents(self, component: str | None = None) -> list[Incident]:
        """Every incident kept (of ``component``, or all), oldest first."""
        query = "SELECT incident FROM resilience_incidents"
        args: tuple[str, ...] = ()
        if component is not None:
            query, args = f"{query} WHERE component = ?", (component,)
        with self._lock:
            rows = self._conn.execute(f"{query} ORDER BY started_at, rowid", args).fetchall()
        return [Incident.from_dict(json.loads(text)) for (text,) in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"SQLiteIncidentStore({str(self._path)!r})"

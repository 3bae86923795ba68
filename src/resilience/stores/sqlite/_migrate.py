"""Upgrades of the library's SQLite files from older schemas, one step per version.

Each step runs inside the transaction that upgrades the file, and so is all or nothing;
the file's ``user_version`` is set once the last step is done.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Final

__all__ = ["MIGRATIONS"]


def _incidents_lifecycle(conn: sqlite3.Connection) -> None:
    """1 -> 2: incidents get a state and an update time, read from the kept JSON.

    An incident that recovered is resolved; any other stays open (nobody acknowledged
    it). The JSON itself is read as schema 1 by ``Incident.from_dict``.
    """
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'resilience_incidents'"
    ).fetchone():
        return  # a file of checkpoints only
    conn.execute("ALTER TABLE resilience_incidents ADD COLUMN state TEXT NOT NULL DEFAULT 'open'")
    conn.execute("ALTER TABLE resilience_incidents ADD COLUMN updated_at REAL NOT NULL DEFAULT 0")
    conn.execute(
        "UPDATE resilience_incidents SET "
        "state = CASE json_extract(incident, '$.resolution') "
        "WHEN 'recovered' THEN 'resolved' ELSE 'open' END, "
        "updated_at = json_extract(incident, '$.ended_at')"
    )


MIGRATIONS: Final[dict[int, Callable[[sqlite3.Connection], None]]] = {
    1: _incidents_lifecycle,
}
"""By the version a step upgrades from."""

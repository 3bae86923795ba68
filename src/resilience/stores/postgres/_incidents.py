"""Incidents of a :class:`~resilience.RecoveryManager` in PostgreSQL, shared by a fleet.

One table, ``{prefix}_incidents``, created if missing: one row per incident, its
``Incident.to_dict()`` as JSON beside the columns queries need (component, state, times)
and the record's ``schema``. Every change is one transaction that first locks the row
(``SELECT ... FOR UPDATE``): two processes acknowledging or escalating one incident at
once never lose an update.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final, LiteralString

from resilience._core.extras import missing
from resilience.recovery import Incident, IncidentState, TimelineEntry
from resilience.recovery._incidents import SCHEMA
from resilience.recovery._memory import checked_change, unknown

try:
    import psycopg  # noqa: F401 - the store's modules need it: say so before they fail
except ImportError as _exc:  # pragma: no cover - the extra is installed in tests
    raise missing("postgres", "psycopg 3", who="PostgresIncidentStore") from _exc

from resilience.stores.postgres._connection import Wording
from resilience.stores.postgres._store import PostgresStore, Schema

__all__ = ["PostgresIncidentStore"]

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
_SELECT: Final[LiteralString] = "SELECT incident FROM {incidents}"
_ORDER: Final[LiteralString] = " ORDER BY started_at, id"
_STATEMENTS: Final[dict[str, LiteralString]] = {
    "add": "INSERT INTO {incidents} VALUES (%s, %s, %s, %s, %s, %s, %s)",
    "all": _SELECT + _ORDER,
    "open": _SELECT + " WHERE state <> %s" + _ORDER,
    "of": _SELECT + " WHERE component = %s" + _ORDER,
    "open_of": _SELECT + " WHERE component = %s AND state <> %s" + _ORDER,
    "get": _SELECT + " WHERE id = %s",
    "lock": _SELECT + " WHERE id = %s FOR UPDATE",
    "update": (
        "UPDATE {incidents} SET state = %s, updated_at = %s, schema = %s, incident = %s "
        "WHERE id = %s"
    ),
}


class PostgresIncidentStore(PostgresStore):
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

    __slots__ = ()

    _WORDING = Wording(
        what="PostgresIncidentStore",
        store="incident",
        error=OSError,
        refused=ValueError,
        autocommit=(
            "each change is its own transaction: connect with psycopg.connect(..., "
            "autocommit=True), or pass the connection string"
        ),
        failed="; nothing was changed. Check that the server is up",
    )
    _SCHEMA = Schema(
        tables={"incidents": (_CREATE, _COLUMNS)},
        statements=_STATEMENTS,
        lock=_LOCK,
        creating="creating the table",
    )

    def add(self, incident: Incident) -> None:
        """Keep ``incident`` (one statement)."""
        row = _row(incident)
        with self._db.cursor(f"adding incident {incident.id}") as cur:
            cur.execute(self._q["add"], row)

    def incidents(self, component: str | None = None) -> list[Incident]:
        """Every incident kept (of ``component``, or all), oldest first."""
        return self._select(component, only_open=False)

    def open_incidents(self, component: str | None = None) -> list[Incident]:
        """The incidents not resolved (of ``component``, or all), oldest first."""
        return self._select(component, only_open=True)

    def get(self, incident_id: str) -> Incident:
        """The incident of that id; :class:`UnknownIncidentError` if none."""
        with self._db.cursor(f"reading incident {incident_id}") as cur:
            row = cur.execute(self._q["get"], (incident_id,)).fetchone()
        if row is None:
            raise unknown(self, incident_id)
        return Incident.from_dict(json.loads(row[0]))

    def update(self, incident_id: str, change: Callable[[Incident], Incident]) -> Incident:
        """Replace the incident by ``change(incident)`` in one transaction; the new one."""
        doing = f"updating incident {incident_id}"
        with self._db.transaction(doing) as cur:
            row = cur.execute(self._q["lock"], (incident_id,)).fetchone()
            if row is None:
                raise unknown(self, incident_id)
            new = checked_change(Incident.from_dict(json.loads(row[0])), change)
            cur.execute(
                self._q["update"],
                (new.state.value, new.updated_at, SCHEMA, json.dumps(new.to_dict()), incident_id),
            )
        return new

    def append(self, incident_id: str, *entries: TimelineEntry) -> Incident:
        """Add ``entries`` to the incident's timeline in one transaction; the new one."""
        return self.update(incident_id, lambda i: i.with_entries(*entries))

    # ------------------------------------------------------------------ plumbing

    def _select(self, component: str | None, *, only_open: bool) -> list[Incident]:
        resolved = IncidentState.RESOLVED.value
        with self._db.cursor("listing incidents") as cur:
            if component is None and not only_open:
                rows = cur.execute(self._q["all"]).fetchall()
            elif component is None:
                rows = cur.execute(self._q["open"], (resolved,)).fetchall()
            elif not only_open:
                rows = cur.execute(self._q["of"], (component,)).fetchall()
            else:
                rows = cur.execute(self._q["open_of"], (component, resolved)).fetchall()
        return [Incident.from_dict(json.loads(text)) for (text,) in rows]


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

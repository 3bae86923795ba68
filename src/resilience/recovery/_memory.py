"""Incidents in memory: the default store."""

from __future__ import annotations

import threading
from collections.abc import Callable

from resilience.recovery._incidents import Incident
from resilience.recovery._timeline import TimelineEntry, UnknownIncidentError

__all__ = ["MemoryIncidentStore", "checked_change", "unknown"]


def checked_change(incident: Incident, change: Callable[[Incident], Incident]) -> Incident:
    """``change(incident)``, refused (TypeError) unless an incident of the same id."""
    new = change(incident)
    if not isinstance(new, Incident) or new.id != incident.id:
        raise TypeError(
            f"an incident update must return the incident changed (id {incident.id!r}), got {new!r}"
        )
    return new


def unknown(store: object, incident_id: str) -> UnknownIncidentError:
    """The error for an id that ``store`` does not hold."""
    return UnknownIncidentError(
        f"no incident {incident_id!r} in {store!r}; list them with store.incidents() "
        "(or `python -m resilience incidents list`)"
    )


class MemoryIncidentStore:
    """Incidents in memory, for the life of the process (the default)."""

    __slots__ = ("_incidents", "_lock")

    def __init__(self) -> None:
        self._incidents: dict[str, Incident] = {}  # in insertion order: oldest first
        self._lock = threading.Lock()

    def add(self, incident: Incident) -> None:
        """Keep ``incident``."""
        with self._lock:
            self._incidents[incident.id] = incident

    def incidents(self, component: str | None = None) -> list[Incident]:
        """Every incident kept (of ``component``, or all), oldest first."""
        with self._lock:
            kept = list(self._incidents.values())
        kept.sort(key=lambda i: i.started_at)  # stable: ties stay in insertion order
        return [i for i in kept if component in (None, i.component)]

    def open_incidents(self, component: str | None = None) -> list[Incident]:
        """The incidents not resolved (of ``component``, or all), oldest first."""
        return [i for i in self.incidents(component) if i.is_open]

    def get(self, incident_id: str) -> Incident:
        """The incident of that id; :class:`UnknownIncidentError` if none."""
        with self._lock:
            found = self._incidents.get(incident_id)
        if found is None:
            raise unknown(self, incident_id)
        return found

    def update(self, incident_id: str, change: Callable[[Incident], Incident]) -> Incident:
        """Replace the incident by ``change(incident)``, atomically; the new incident."""
        with self._lock:
            found = self._incidents.get(incident_id)
            if found is None:
                raise unknown(self, incident_id)
            new = checked_change(found, change)
            self._incidents[incident_id] = new
            return new

    def append(self, incident_id: str, *entries: TimelineEntry) -> Incident:
        """Add ``entries`` to the incident's timeline, atomically; the new incident."""
        return self.update(incident_id, lambda i: i.with_entries(*entries))

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MemoryIncidentStore({len(self._incidents)} incidents)"

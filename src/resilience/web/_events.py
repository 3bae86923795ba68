"""The recent events of the status page: transitions, health changes, bursts of rejections."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from resilience._core.clock import wall_time
from resilience._core.events import CallRecorded, CallRejected, CircuitState, Event, StateChanged
from resilience._core.redact import redact_text
from resilience.health import ComponentChanged, ComponentStatus

__all__ = ["EventLog"]

_LEVELS: Final = {
    CircuitState.CLOSED: "ok",
    CircuitState.OPEN: "error",
    CircuitState.FORCED_OPEN: "error",
    CircuitState.HALF_OPEN: "warning",
    CircuitState.DISABLED: "info",
    CircuitState.METRICS_ONLY: "info",
    ComponentStatus.OK: "ok",
    ComponentStatus.WARNING: "warning",
    ComponentStatus.ERROR: "error",
    ComponentStatus.UNKNOWN: "warning",
}


@dataclass(slots=True)
class _Entry:
    """One line of the recent events; a burst of rejections is one line, counted."""

    seq: int
    time: float
    kind: str
    subject: str
    level: str
    text: str
    count: int = 1
    state: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The entry as the page shows it (its text redacted)."""
        text = self.text
        if self.kind == "rejected":
            calls = "call" if self.count == 1 else "calls"
            text = f"{self.subject}: {self.count} {calls} rejected while {self.state}"
        return {
            "time": round(self.time, 3),
            "kind": self.kind,
            "subject": self.subject,
            "level": self.level,
            "text": redact_text(text),
            "count": self.count,
        }


class EventLog:
    """The last ``size`` events, fed from any thread; ``wake`` is called on each change.

    Args:
        size: How many entries are kept.
        wake: Called (from the listener's thread) when a transition or a health change
            arrives, to push it to the open streams at once.
    """

    def __init__(self, size: int, wake: Callable[[], None]) -> None:
        self._entries: deque[_Entry] = deque(maxlen=size)
        self._bursts: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self._wake = wake

    def breaker_event(self, event: Event) -> None:
        """A breaker registry's listener: transitions and rejections are kept."""
        if type(event) is CallRecorded:  # every call: leave at once
            return
        if isinstance(event, StateChanged):
            text = f"{event.name}: {event.old.name} → {event.new.name}"
            if event.reason:
                text += f" ({event.reason})"
            with self._lock:
                self._bursts.pop(event.name, None)
                self._add("breaker", event.name, _LEVELS[event.new], text)
            self._wake()
        elif isinstance(event, CallRejected):
            # Rate-limited: a burst of rejections is one entry, counted; the poll shows it.
            with self._lock:
                burst = self._bursts.get(event.name)
                oldest = self._entries[0].seq if self._entries else self._seq + 1
                if burst is not None and burst.seq >= oldest:
                    burst.count += 1
                    self._seq += 1  # a change, for the streams' comparison
                else:
                    entry = self._add("rejected", event.name, "info", "")
                    if entry is not None:
                        entry.state = event.state.name
                        self._bursts[event.name] = entry

    def health_event(self, change: ComponentChanged) -> None:
        """A health registry's listener: every change of a component's status is kept."""
        old = change.old.name if change.old is not None else "new"
        text = f"{change.name}: {old} → {change.new.name}"
        if change.message:
            text += f" ({change.message})"
        with self._lock:
            self._add("health", change.name, _LEVELS[change.new], text)
        self._wake()

    def _add(self, kind: str, subject: str, level: str, text: str) -> _Entry | None:
        self._seq += 1
        if self._entries.maxlen == 0:
            return None
        entry = _Entry(self._seq, wall_time(), kind, subject, level, text)
        self._entries.append(entry)
        return entry

    def read(self) -> tuple[int, list[dict[str, Any]]]:
        """A version number that changes with every change, and the entries, oldest first."""
        with self._lock:
            return self._seq, [entry.as_dict() for entry in self._entries]

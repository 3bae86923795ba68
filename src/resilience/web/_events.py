"""The recent events of the status page: transitions, health changes, bursts of rejections."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from resilience._breaker.events import TRANSITION_NAMES, CircuitState
from resilience._core.clock import wall_time
from resilience._core.events import Event
from resilience._core.redact import redact_text
from resilience.health import ComponentStatus

__all__ = ["EventLog"]


@dataclass(frozen=True, slots=True)
class _Change:
    """How the page shows a change of state: which of the event's fields say what moved."""

    kind: str
    """The entry's kind, for the page: ``"breaker"``, ``"health"``."""
    subject: str
    old: str
    new: str
    why: str
    ends: str | None = None
    """The burst (an event name) that this change ends for its subject, if any."""


@dataclass(frozen=True, slots=True)
class _Burst:
    """Events that come in floods: one entry per subject, counted, until a change ends it."""

    kind: str
    subject: str
    state: str


_TRANSITION: Final = _Change(
    "breaker", "remote", "old_state", "new_state", "reason", ends="breaker.rejected"
)
# What the page keeps, by event name; every other event (every call's) is passed over.
_CHANGES: Final = dict.fromkeys(TRANSITION_NAMES.values(), _TRANSITION) | {
    "health.changed": _Change("health", "component", "old_status", "new_status", "message"),
}
_BURSTS: Final = {"breaker.rejected": _Burst("rejected", "remote", "state")}

# By the name of the state (or status) a change moved to, as its fields give it.
_LEVELS: Final = {
    CircuitState.CLOSED.name: "ok",
    CircuitState.OPEN.name: "error",
    CircuitState.FORCED_OPEN.name: "error",
    CircuitState.HALF_OPEN.name: "warning",
    CircuitState.DISABLED.name: "info",
    CircuitState.METRICS_ONLY.name: "info",
    ComponentStatus.OK.name: "ok",
    ComponentStatus.WARNING.name: "warning",
    ComponentStatus.ERROR.name: "error",
    ComponentStatus.UNKNOWN.name: "warning",
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
        self._bursts: dict[tuple[str, str], _Entry] = {}  # by event name and subject
        self._lock = threading.Lock()
        self._seq = 0
        self._wake = wake

    def record(self, event: Event) -> None:
        """A listener of breakers and health: changes of state are kept, bursts counted."""
        name = event.event_name
        change = _CHANGES.get(name)
        if change is not None:
            self._change(change, event.fields())
            return
        burst = _BURSTS.get(name)
        if burst is not None:
            self._count(name, burst, event.fields())

    breaker_event = record
    """A breaker registry's listener: transitions and rejections are kept."""
    health_event = record
    """A health registry's listener: every change of a component's status is kept."""

    def _change(self, change: _Change, fields: dict[str, object]) -> None:
        subject, new = str(fields[change.subject]), str(fields[change.new])
        text = f"{subject}: {fields[change.old] or 'new'} → {new}"
        if fields[change.why]:
            text += f" ({fields[change.why]})"
        with self._lock:
            if change.ends is not None:
                self._bursts.pop((change.ends, subject), None)
            self._add(change.kind, subject, _LEVELS[new], text)
        self._wake()

    def _count(self, name: str, burst: _Burst, fields: dict[str, object]) -> None:
        # Rate-limited: a burst is one entry, counted; the poll shows it.
        key = (name, str(fields[burst.subject]))
        with self._lock:
            entry = self._bursts.get(key)
            oldest = self._entries[0].seq if self._entries else self._seq + 1
            if entry is not None and entry.seq >= oldest:
                entry.count += 1
                self._seq += 1  # a change, for the streams' comparison
            else:
                entry = self._add(burst.kind, key[1], "info", "")
                if entry is not None:
                    entry.state = str(fields[burst.state])
                    self._bursts[key] = entry

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

"""What a shared breaker store reports: it lost its server, and it reached it again."""

from __future__ import annotations

from dataclasses import dataclass

from resilience._core.events import INFO, WARNING, Event

__all__ = ["StoreDegraded", "StoreRecovered"]


@dataclass(frozen=True, slots=True)
class StoreDegraded(Event):
    """A shared breaker store lost its server: its breakers follow ``on_error``."""

    store: str
    """The store, as its repr (credentials redacted)."""
    on_error: str
    error: BaseException

    event_name = "store.degraded"
    level = WARNING  # the breakers no longer share their state

    def describe(self) -> str:
        """What broke, and what the breakers do until the server is back."""
        return (
            f"{self.store} cannot reach its server ({self._error()}); breakers follow "
            f"on_error={self.on_error!r} until it is back"
        )

    def fields(self) -> dict[str, object]:
        """The store, its ``on_error`` mode and the error, as ``"TypeName: message"``."""
        return {
            "event": self.event_name,
            "store": self.store,
            "on_error": self.on_error,
            "error": self._error(),
        }

    def _error(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


@dataclass(frozen=True, slots=True)
class StoreRecovered(Event):
    """A shared breaker store reached its server again and resynchronised."""

    store: str
    down_for: float
    """Seconds the store was unreachable."""

    event_name = "store.recovered"
    level = INFO

    def describe(self) -> str:
        """``RedisBreakerStore(...) reached its server again after 12.3 s``."""
        return f"{self.store} reached its server again after {self.down_for:.1f} s"

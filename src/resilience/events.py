"""Every event ``resilience`` reports, and what listeners receive.

::

    from resilience.events import Event, StateChanged

    def on_event(event: Event) -> None:
        print(event.event_name, event.level, event.describe(), event.fields())

Each event is a frozen dataclass deriving from :class:`Event`: it says its dotted name,
its logging level, a one-line message and its structured fields (what
``record.resilience`` holds in the logs; see ``docs/observability.md``).
"""

from __future__ import annotations

from resilience._breaker.events import (
    CallRecorded,
    CallRejected,
    CircuitState,
    Listener,
    Outcome,
    StateChanged,
)
from resilience._core.events import Event
from resilience._hedge.events import HedgeStarted, HedgeWon
from resilience._limit.events import BulkheadRejected, LimitChanged, LimiterRejected
from resilience._rate.events import RateDelayed, RateLimited
from resilience._retry.events import RetryScheduled
from resilience.batch import BatchResult
from resilience.chaos import ChaosInjected
from resilience.config import ConfigReloaded, ReloadRefused
from resilience.health import ComponentChanged, FeatureChanged
from resilience.stores._events import StoreDegraded, StoreRecovered

__all__ = [
    "BatchResult",
    "BulkheadRejected",
    "CallRecorded",
    "CallRejected",
    "ChaosInjected",
    "CircuitState",
    "ComponentChanged",
    "ConfigReloaded",
    "Event",
    "FeatureChanged",
    "HedgeStarted",
    "HedgeWon",
    "LimitChanged",
    "LimiterRejected",
    "Listener",
    "Outcome",
    "RateDelayed",
    "RateLimited",
    "ReloadRefused",
    "RetryScheduled",
    "StateChanged",
    "StoreDegraded",
    "StoreRecovered",
]

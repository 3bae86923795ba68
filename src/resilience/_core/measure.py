"""Measurements: what a strategy with state shows to exporters and the status page.

A bulkhead's slots in use, a rate limiter's tokens, an adaptive limiter's current limit:
each strategy with something to show implements :class:`Measured`, and the Prometheus
and OpenTelemetry exporters and the status page read :class:`Measurement` values
generically, without knowing the strategy's type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["Measured", "Measurement", "check_measured"]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One strategy's state at one moment.

    Exporters name a gauge ``resilience_<kind>_<gauge>`` and a total
    ``resilience_<kind>_<total>_total``, each labelled with ``name``.
    """

    kind: str
    """What the strategy is, as a metric name part: ``"bulkhead"``, ``"rate_limiter"``."""
    name: str
    """Which one: its name, or the remote it guards."""
    state: str
    """A few words for people, on the status page: ``"3 of 10 in use, 1 queued"``."""
    gauges: Mapping[str, float] = field(default_factory=dict)
    """Values that go up and down: ``{"in_use": 3, "queued": 1, "limit": 10}``."""
    totals: Mapping[str, float] = field(default_factory=dict)
    """Counts that only grow: ``{"admitted": 120, "rejected": 4}``."""
    healthy: bool = True
    """False while the strategy turns calls away (full, limited, rejecting)."""


@runtime_checkable
class Measured(Protocol):
    """Something that shows its state: one strategy, or a registry of them."""

    def measurements(self) -> list[Measurement]:
        """The current measurements: one per strategy (a registry: one per remote)."""
        ...


def check_measured(strategies: Iterable[Measured] | Measured) -> list[Measured]:
    """The strategies as a list, each checked to show measurements.

    Raises:
        TypeError: If one has no ``measurements()`` method (nothing is added then).
    """
    if isinstance(strategies, Measured):
        return [strategies]
    if not isinstance(strategies, Iterable):
        raise TypeError(
            f"strategies must be an iterable of objects with measurements() "
            f"(e.g. [bulkhead]), got {strategies!r}"
        )
    found = list(strategies)
    for strategy in found:
        if not isinstance(strategy, Measured):
            raise TypeError(
                f"strategies must show their state with a measurements() method "
                f"(resilience.Measured), got {strategy!r}"
            )
    return found

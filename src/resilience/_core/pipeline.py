"""Pipeline: strategies composed as data, run by the one engine.

``Pipeline(fallback, retry, breaker, timeout)`` runs each call through the strategies
outermost first, as :mod:`resilience._core.strategy` describes; it is a decorator, has
``call()`` / ``acall()``, and ``with`` blocks for the strategies that can guard one.
"""

from __future__ import annotations

from typing import cast

from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.shells import Shell
from resilience._core.strategy import Strategy

__all__ = ["Pipeline"]


class Pipeline(Shell):
    """Strategies around a call, outermost first: ``Pipeline(retry, breaker)``.

    Args:
        strategies: Each a :class:`~resilience.Strategy` (a ``CircuitBreaker``, a
            ``RetryPolicy``, a ``Timeout``, a ``Fallback``, or one of your own).
        clock: Sleeps the waits between attempts; by default the ``clock`` of the first
            strategy with ``waits = True`` (a retry policy's).
    """

    __slots__ = ("_clock", "_segment", "_strategies")

    def __init__(self, *strategies: Strategy, clock: Clock | None = None) -> None:
        for strategy in strategies:
            if not isinstance(strategy, Strategy):
                raise TypeError(
                    f"Pipeline takes strategies (objects with before() and after()), got "
                    f"{strategy!r} of type {type(strategy).__name__}"
                )
        self._strategies = strategies
        if clock is None:  # the waits are asked for by a strategy that says so
            kept = (getattr(s, "clock", None) for s in strategies if getattr(s, "waits", False))
            clock = next((c for c in kept if isinstance(c, Clock)), SYSTEM_CLOCK)
        self._clock = clock
        self._segment: Segment | None = Segment(strategies, clock)

    @property
    def strategies(self) -> tuple[Strategy, ...]:
        """The strategies, outermost first."""
        return self._strategies

    def __repr__(self) -> str:
        return f"Pipeline({', '.join(map(repr, self._strategies))})"

    def _shell(self) -> Segment:
        return cast("Segment", self._segment)

    def _shell_clock(self) -> Clock:
        return self._clock

"""What a section's strategy is built with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resilience._breaker.registry import BreakerRegistry
from resilience._core.clock import Clock
from resilience._core.strategy import Strategy
from resilience._rate.bucket import RateStore

__all__ = ["Wiring"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Wiring:
    """What a section's strategy is built with: the remote, its registry and the clock.

    Attributes:
        keep: ``keep(section, value, build)`` gives the strategy the remote's section
            had when its value was last ``value`` (equal), else ``build()``'s, kept
            for next time: how a remote's bulkhead keeps its slots across reloads.
        rate_store: The fleet's rate store, of the ``[store]`` in force (one per
            configuration and ``[store]``); raises if there is none.
    """

    remote: str
    registry: BreakerRegistry
    clock: Clock
    keep: Callable[[str, Any, Callable[[], Strategy]], Strategy]
    rate_store: Callable[[], RateStore]

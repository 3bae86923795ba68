"""A strategy that shows measurements, for the tests of the exporters and the status page.

It stands for any :class:`resilience.Measured` strategy (a bulkhead, a limiter): the
exporters and the page read it generically, so a plain one proves the wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resilience import Measurement


class Slots:
    """A toy strategy with ``limit`` slots: it shows how many are in use and how often."""

    def __init__(self, name: str, *, limit: int = 10, kind: str = "bulkhead") -> None:
        self.name = name
        self.kind = kind
        self.limit = limit
        self.in_use = 0
        self.admitted = 0
        self.rejected = 0

    def take(self, n: int = 1) -> None:
        """Take ``n`` slots, or count a rejection for each one beyond the limit."""
        for _ in range(n):
            if self.in_use < self.limit:
                self.in_use += 1
                self.admitted += 1
            else:
                self.rejected += 1

    def before(self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: Any) -> None:
        """Take a slot for the call, or refuse it when none is free."""
        if self.in_use >= self.limit:
            self.rejected += 1
            raise RuntimeError(f"{self.name}: all {self.limit} slots in use")
        self.take()

    def after(self, token: object, value: object, error: BaseException | None) -> None:
        """Give the call's slot back."""
        self.in_use -= 1

    def measurements(self) -> list[Measurement]:
        """One measurement: slots in use, the limit, and what was admitted or refused."""
        return [
            Measurement(
                kind=self.kind,
                name=self.name,
                state=f"{self.in_use} of {self.limit} in use",
                gauges={"in_use": self.in_use, "limit": self.limit},
                totals={"admitted": self.admitted, "rejected": self.rejected},
                healthy=self.in_use < self.limit,
            )
        ]

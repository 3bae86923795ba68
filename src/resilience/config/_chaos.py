"""The chaos section: a remote's fault injection, off unless the file says ``enabled = true``.

What a file may inject is limited to what it can name without code: a latency, or one
of a few faults (:data:`FAULTS`). A drill with an exception or a result of its own is
built in code (``resilience.chaos``).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from resilience._core.options import Options, Seconds
from resilience._core.strategy import Strategy
from resilience.chaos import ChaosSwitch, InjectFault, InjectLatency
from resilience.config._wiring import Wiring

__all__ = ["FAULTS", "ChaosConfig", "chaos"]

Fault = Literal["connection_reset", "connection_refused", "timeout"]

FAULTS: dict[str, type[OSError]] = {
    "connection_reset": ConnectionResetError,
    "connection_refused": ConnectionRefusedError,
    "timeout": TimeoutError,
}
"""The faults a file may name -> the exception each injected call raises."""


class ChaosConfig(Options):
    """A remote's fault injection: a ``fault`` or a ``latency``, at ``rate``, if ``enabled``."""

    enabled: bool = False
    """Nothing is injected (nor added to the pipeline) unless this is true."""
    rate: float = Field(gt=0, le=1)
    """The share of calls injected into, in (0, 1]."""
    fault: Fault | None = None
    """Raise this instead of calling: connection_reset, connection_refused or timeout."""
    latency: Seconds | None = Field(default=None, gt=0)
    """Wait this many seconds before calling."""
    seed: int | None = None
    """Seeds the dice, for a drill that injects into the same calls each run."""

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.fault is None) == (self.latency is None):
            raise ValueError("a chaos section needs exactly one of fault or latency")
        return self


def chaos(value: ChaosConfig | None, wiring: Wiring) -> Strategy | None:
    """The remote's injection, innermost, with a switch of its own that starts on.

    Built only for ``enabled = true``, so its switch logs the WARNING every enabled
    switch logs; kept, switch and dice, while the section is unchanged.
    """
    if value is None or not value.enabled:
        return None
    return wiring.keep("chaos", value, lambda: _build(value, wiring.remote, wiring))


def _build(value: ChaosConfig, remote: str, wiring: Wiring) -> Strategy:
    switch = ChaosSwitch(f"{remote} (enabled = true in the configuration)", enabled=True)
    name = f"{remote} chaos"
    if value.latency is not None:
        return InjectLatency(value.latency, rate=value.rate, switch=switch, seed=value.seed,
                             name=name, clock=wiring.clock)
    error = FAULTS[value.fault or "timeout"]
    message = f"injected by the chaos section of {remote!r} (enabled = true)"
    return InjectFault(lambda: error(message), rate=value.rate, switch=switch, seed=value.seed,
                       name=name)

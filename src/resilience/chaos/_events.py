"""What fault injection reports: one fault, delay or result it injected."""

from __future__ import annotations

from dataclasses import dataclass

from resilience._core.events import DEBUG, Event

__all__ = ["ChaosInjected"]


@dataclass(frozen=True, slots=True)
class ChaosInjected(Event):
    """A chaos strategy injected ``what`` into a call of ``function``."""

    name: str
    """The strategy's name."""
    kind: str
    """``"fault"``, ``"latency"`` or ``"result"``."""
    what: str
    """What was injected: the exception's type, the delay, the result's repr."""
    function: str
    """The function whose call it was."""

    event_name = "chaos.injected"
    level = DEBUG  # the WARNING is logged once, when the switch turns on

    def describe(self) -> str:
        """``chaos 'drill' injected a fault (ConnectionError) into fetch``."""
        return f"chaos {self.name!r} injected a {self.kind} ({self.what}) into {self.function}"

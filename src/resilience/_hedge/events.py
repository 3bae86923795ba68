"""What a hedge reports: a hedged attempt it started, and a hedged attempt that won."""

from __future__ import annotations

from dataclasses import dataclass

from resilience._core.events import DEBUG, Event

__all__ = ["HedgeStarted", "HedgeWon"]


@dataclass(frozen=True, slots=True)
class HedgeStarted(Event):
    """A hedge started attempt ``attempt`` of a call that had not answered after ``after`` s."""

    name: str
    attempt: int
    """The attempt started: 2 for the first hedge."""
    after: float
    """Seconds since the call's first attempt started."""
    function: str

    event_name = "hedge.started"
    level = DEBUG

    def describe(self) -> str:
        """``hedge 'search' started attempt 2 of fetch: no answer after 0.05 s``."""
        return (
            f"hedge {self.name!r} started attempt {self.attempt} of {self.function}: no "
            f"answer after {self.after:.3g} s"
        )


@dataclass(frozen=True, slots=True)
class HedgeWon(Event):
    """A hedged attempt answered first; the ``cancelled`` attempts still running were cancelled."""

    name: str
    attempt: int
    """The attempt that won: 2 for the first hedge."""
    cancelled: int
    function: str

    event_name = "hedge.won"
    level = DEBUG

    def describe(self) -> str:
        """``hedge 'search': attempt 2 of fetch answered first; 1 attempt cancelled``."""
        return (
            f"hedge {self.name!r}: attempt {self.attempt} of {self.function} answered first; "
            f"{self.cancelled} attempt(s) cancelled"
        )

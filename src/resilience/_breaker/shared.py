"""The breaker's shared state: the API a store uses to share a breaker with a fleet."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import BreakerEvent as Event
from resilience._breaker.events import CircuitState
from resilience._breaker.machine import SKIP, BreakerMachine
from resilience._core.clock import Clock

if TYPE_CHECKING:
    from resilience._breaker.store import BreakerLink

__all__ = ["SharedMachine"]

R = TypeVar("R")

_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN
_FORCED_OPEN = CircuitState.FORCED_OPEN
_DISABLED = CircuitState.DISABLED
_METRICS_ONLY = CircuitState.METRICS_ONLY


class SharedMachine(BreakerMachine):
    """The state machine with the shared-state API (see :class:`~resilience.SharedBreaker`)."""

    __slots__ = ()

    @property
    def link(self) -> BreakerLink | None:
        """The :class:`~resilience.BreakerLink` sharing this breaker's state, or None.

        A :class:`~resilience.BreakerStore` sets it as it links the breaker and sets it
        back to None as it unlinks it; nothing else should.
        """
        return self._link

    @link.setter
    def link(self, link: BreakerLink | None) -> None:
        self._link = link

    @property
    def clock(self) -> Clock:
        """The time source every reading of this breaker is made with."""
        return self._clock

    @property
    def open_until(self) -> float | None:
        """Clock reading at which the open period ends, while OPEN; else None."""
        with self._lock:
            if self._state is not _OPEN:
                return None
            return self._opened_at + self._open_period  # type: ignore[operator]

    def admit_locally(self) -> int:
        """Admit a call by this breaker's own state, as if it were not shared.

        Returns the call's generation token, or raises :class:`CircuitOpenError`. A link
        calls it when the fleet cannot decide (the store is away, or the state moved on).
        """
        return self._admit_local()

    def admit_unrecorded(self) -> int:
        """Admit a call whose outcome is not recorded; the token a link returns for it.

        For a store that lets every call through while it cannot reach the fleet.
        """
        return SKIP

    def claim_trial(self) -> int | None:
        """Take a trial permit the fleet granted: the call's token, or None if not HALF_OPEN.

        Counted with the breaker's own permits, so that the trial's outcome gives it back.
        """
        with self._lock:
            if self._state is not _HALF_OPEN:
                return None
            self._permits += 1
            return self.epoch

    def reject(self, error: CircuitOpenError | None = None) -> CircuitOpenError:
        """Count and report a rejection the fleet decided; the caller raises what it returns.

        Args:
            error: The error to raise instead of the one built from this breaker's state
                (which is counted and reported all the same).
        """
        events: list[Event] = []
        with self._lock:
            rejected = self._reject(self._clock.monotonic(), self._state, events)
        for event in events:
            self._announce(event)
        return error if error is not None else rejected

    def apply_shared(
        self, state: CircuitState, *, remaining: float, period: float, reason: str
    ) -> None:
        """Take on the state a shared store decided: OPEN for ``remaining`` of ``period``.

        A manual state (forced open, disabled, metrics only) is this process's own
        override, and stays. The link is told of the move with ``shared=True``.
        """
        with self._lock:
            current = self._state
            if current is _FORCED_OPEN or current is _DISABLED or current is _METRICS_ONLY:
                return
            event = self._to(state, reason, shared=True) if current is not state else None
            if state is _OPEN:
                self._open_period = period
                self._opened_at = self._clock.monotonic() - (period - remaining)
                self._reason = reason
        if event is not None:
            self._announce(event)

    def read_shared(self, read: Callable[[CircuitState, int], R]) -> R:
        """Call ``read(state, streak)`` atomically with this breaker's transitions.

        A link keeps its own counts beside the breaker's (it is told of each outcome and
        move under the breaker's lock); this is how it reads or resets them consistently
        with the state. ``read`` must be quick, do no I/O and not call the breaker.
        """
        with self._lock:
            return read(self._state, self.streak)

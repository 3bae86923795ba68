"""What a breaker registry needs from shared state: a store, and a link per breaker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from resilience._breaker.breaker import CircuitBreaker
    from resilience._core.events import CircuitState, Outcome

__all__ = ["BreakerLink", "BreakerStore"]


@runtime_checkable
class BreakerStore(Protocol):
    """Shares the state of a registry's breakers with other processes.

    :class:`~resilience.BreakerRegistry` links each breaker it creates and unlinks each
    one it evicts; :class:`~resilience.RedisBreakerStore` is the implementation.
    """

    def link(self, breaker: CircuitBreaker) -> BreakerLink:
        """Start sharing ``breaker``'s state; sets the breaker's link."""
        ...

    def unlink(self, breaker: CircuitBreaker) -> None:
        """Stop sharing ``breaker``'s state."""
        ...


class BreakerLink(Protocol):
    """A breaker's side of a store.

    The breaker calls it under its own lock, so each method must be quick and do no
    I/O, except :meth:`admit`, which is called without the lock.
    """

    def admit(self) -> int:
        """Admit a call to an OPEN or HALF_OPEN breaker.

        Returns the call's generation token, or raises :class:`~resilience.CircuitOpenError`.
        """
        ...

    def outcome(self, failed: bool, slow: bool) -> None:
        """A call finished while CLOSED (fast-path successes are not reported)."""
        ...

    def trial(self, outcome: Outcome, slow: bool, exc: BaseException | None) -> None:
        """A trial call finished while HALF_OPEN."""
        ...

    def moved(self, old: CircuitState, new: CircuitState, reason: str, *, shared: bool) -> None:
        """The breaker changed state; ``shared`` if the store told it to."""
        ...

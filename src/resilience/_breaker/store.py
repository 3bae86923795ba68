"""What a breaker registry needs from shared state: a store, and a link per breaker.

A store touches a breaker only through the public shared-state API of
:class:`~resilience.CircuitBreaker`; each of its methods takes the breaker's own lock
for as long as it needs it, and no longer:

``link``
    The breaker's link; the store sets it in :meth:`BreakerStore.link` and sets it back
    to None in :meth:`BreakerStore.unlink`.
``admit_locally()``, ``admit_unrecorded()``, ``claim_trial()``, ``reject(error=None)``
    What :meth:`BreakerLink.admit` answers with: the breaker's own decision, a call
    let through unrecorded, a trial permit the fleet granted, a rejection the fleet
    decided (counted and reported as the breaker's own).
``apply_shared(state, *, remaining, period, reason)``
    Take on a transition the fleet decided (OPEN for ``remaining`` of ``period``,
    HALF_OPEN, CLOSED); a manual state stays.
``read_shared(read)``
    Read or reset the link's own counts atomically with the breaker's state and run of
    failures (the link is told of outcomes and moves under the same lock).
``state``, ``open_until``, ``clock``, ``config``, ``name``
    What the link reads to decide whether to ask the fleet at all.
"""

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
        """Start sharing ``breaker``'s state; sets ``breaker.link`` to the link it returns."""
        ...

    def unlink(self, breaker: CircuitBreaker) -> None:
        """Stop sharing ``breaker``'s state; sets ``breaker.link`` back to None."""
        ...


class BreakerLink(Protocol):
    """A breaker's side of a store.

    The breaker calls it under its own lock, so each method must be quick, do no I/O
    and not call the breaker back, except :meth:`admit`, which is called without the
    lock and may call the breaker's shared-state API (and wait on the store, once).
    """

    def admit(self) -> int:
        """Admit a call to an OPEN or HALF_OPEN breaker, as the fleet decides.

        Returns the call's generation token: that of
        :meth:`~resilience.CircuitBreaker.claim_trial`,
        :meth:`~resilience.CircuitBreaker.admit_locally` or
        :meth:`~resilience.CircuitBreaker.admit_unrecorded`. Or raises the
        :class:`~resilience.CircuitOpenError` that
        :meth:`~resilience.CircuitBreaker.reject` returns.
        """
        ...

    def outcome(self, failed: bool, slow: bool) -> None:
        """A call finished while CLOSED (fast-path successes are not reported)."""
        ...

    def trial(self, outcome: Outcome, slow: bool, exc: BaseException | None) -> None:
        """A trial call finished while HALF_OPEN (IGNORED: its permit is given back)."""
        ...

    def moved(self, old: CircuitState, new: CircuitState, reason: str, *, shared: bool) -> None:
        """The breaker changed state; ``shared`` if the store told it to (apply_shared)."""
        ...

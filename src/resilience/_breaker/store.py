"""What a breaker registry needs from shared state: a store, and a link per breaker.

A store touches a breaker only through the public shared-state API of
:class:`~resilience.CircuitBreaker`, typed here as :class:`SharedBreaker`; each of its
methods takes the breaker's own lock for as long as it needs it, and no longer:

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

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from resilience._breaker.config import BreakerConfig
    from resilience._breaker.errors import CircuitOpenError
    from resilience._breaker.events import CircuitState, Outcome
    from resilience._core.clock import Clock

__all__ = ["BreakerLink", "BreakerStore", "SharedBreaker"]

R = TypeVar("R")


class SharedBreaker(Protocol):
    """The part of :class:`~resilience.CircuitBreaker` a store may use: nothing else.

    Typed against this protocol, a store cannot reach into the breaker's private state
    (and the store's module does not depend on the breaker's).
    """

    @property
    def name(self) -> str:
        """The remote the breaker protects."""
        ...

    @property
    def config(self) -> BreakerConfig:
        """How it trips and recovers."""
        ...

    @property
    def state(self) -> CircuitState:
        """The current state."""
        ...

    @property
    def clock(self) -> Clock:
        """The breaker's time source."""
        ...

    @property
    def open_until(self) -> float | None:
        """Clock reading at which the open period ends, while OPEN; else None."""
        ...

    @property
    def link(self) -> BreakerLink | None:
        """The breaker's link: set by :meth:`BreakerStore.link`, cleared by ``unlink``."""
        ...

    @link.setter
    def link(self, link: BreakerLink | None) -> None: ...

    def admit_locally(self) -> int:
        """Admit by the breaker's own state: a token, or raise CircuitOpenError."""
        ...

    def admit_unrecorded(self) -> int:
        """The token of a call let through whose outcome is not recorded."""
        ...

    def claim_trial(self) -> int | None:
        """Take a trial permit the fleet granted: the token, or None if not HALF_OPEN."""
        ...

    def reject(self, error: CircuitOpenError | None = None) -> CircuitOpenError:
        """Count and report a rejection the fleet decided; the caller raises it."""
        ...

    def apply_shared(
        self, state: CircuitState, *, remaining: float, period: float, reason: str
    ) -> None:
        """Take on the fleet's state: OPEN for ``remaining`` of ``period`` seconds, ..."""
        ...

    def read_shared(self, read: Callable[[CircuitState, int], R]) -> R:
        """Call ``read(state, streak)`` atomically with the breaker's transitions."""
        ...


@runtime_checkable
class BreakerStore(Protocol):
    """Shares the state of a registry's breakers with other processes.

    :class:`~resilience.BreakerRegistry` links each breaker it creates and unlinks each
    one it evicts; :class:`~resilience.RedisBreakerStore` is the implementation.
    """

    def link(self, breaker: SharedBreaker) -> BreakerLink:
        """Start sharing ``breaker``'s state; sets ``breaker.link`` to the link it returns."""
        ...

    def unlink(self, breaker: SharedBreaker) -> None:
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

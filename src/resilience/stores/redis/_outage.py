"""What the Redis breaker and rate stores share: their client, and how they live an outage.

While Redis is unreachable their breakers or limiters follow ``on_error``. Each outage
is told twice, to the log and to the store's listeners: as it begins
(:class:`~resilience.StoreDegraded`) and as it ends (:class:`~resilience.StoreRecovered`);
meanwhile the store's health check reports WARNING.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, Self, TypeVar

from resilience._core.clock import SYSTEM_CLOCK
from resilience._core.events import emit
from resilience._core.log import log_event
from resilience._core.text import safe_str
from resilience.health import CheckResult, ComponentStatus
from resilience.stores._events import StoreDegraded, StoreRecovered
from resilience.stores.redis._connection import connect

if TYPE_CHECKING:
    import redis

__all__ = ["Outage", "OutageStore", "describe"]


@dataclass(slots=True, eq=False, kw_only=True)
class Outage:
    """Whether a store's Redis is unreachable; read without a lock on each call."""

    down: BaseException | None = None
    """Why Redis is unreachable, while it is."""
    since: float = 0.0
    """When the last outage began, on the system's monotonic clock."""


def describe(exc: BaseException | None) -> str:
    """An outage's cause, for a message."""
    return f"{type(exc).__name__}: {safe_str(exc)}"


class _Options(Protocol):
    @property
    def namespace(self) -> str: ...
    @property
    def on_error(self) -> str: ...
    @property
    def timeout(self) -> float: ...


C = TypeVar("C", bound=_Options)


class OutageStore(Generic[C]):
    """Base of a store whose users carry on by ``on_error`` while Redis is unreachable.

    Args:
        url_or_client: A ``redis://`` URL (a fail-fast client is made, and closed by
            :meth:`close`), or a ``redis.Redis`` client (left open).
        config: The store's options.
        listeners: Receive the store's :class:`~resilience.StoreDegraded` and
            :class:`~resilience.StoreRecovered`.
    """

    _WHAT: ClassVar[str]
    """The store's class name, as its repr and its errors show it."""
    _USERS: ClassVar[str]
    """What follows ``on_error`` while Redis is away: "breakers", "rate limiters"."""

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        config: C,
        listeners: Iterable[Callable[[StoreDegraded | StoreRecovered], object]],
    ) -> None:
        self.config = config
        self._redis = connect(url_or_client, what=self._WHAT, timeout=config.timeout)
        self._client = self._redis.client
        self._listeners = tuple(listeners)
        self._lock = threading.Lock()
        """Guards the outage's changes, and what the store keeps of its users."""
        self._outage = Outage()

    def __repr__(self) -> str:
        c = self.config
        return (
            f"{self._WHAT}({self._redis.shown!r}, namespace={c.namespace!r}, "
            f"on_error={c.on_error!r})"
        )

    @property
    def degraded(self) -> bool:
        """Whether Redis is unreachable, so that the store's users follow ``on_error``."""
        return self._outage.down is not None

    def close(self) -> None:
        """Close a client the store made from a URL."""
        self._redis.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------- for subclasses

    def _health(self, shared: int) -> CheckResult:
        """OK while Redis is reachable, WARNING while it is not; ``shared`` users."""
        down = self._outage.down
        if down is None:
            return CheckResult(ComponentStatus.OK, f"sharing {shared} {self._USERS}")
        return CheckResult(
            ComponentStatus.WARNING,
            f"Redis unreachable ({describe(down)}); {self._USERS} follow "
            f"on_error={self.config.on_error!r} until it is back",
        )

    def _begin(self, exc: BaseException, now: float) -> bool:
        """Under the lock: Redis is unreachable since ``now``; False if it already was."""
        outage = self._outage
        if outage.down is not None:
            return False
        outage.down, outage.since = exc, now
        return True

    def _degraded(self, exc: BaseException) -> None:
        """Tell that an outage began (after :meth:`_begin` said so, outside the lock)."""
        event = StoreDegraded(repr(self), self.config.on_error, exc)
        log_event(event)
        emit(self._listeners, event)

    def _recovered(self) -> None:
        """End the outage, if any, and tell it."""
        outage = self._outage
        with self._lock:
            if outage.down is None:
                return
            outage.down = None
            down_for = SYSTEM_CLOCK.monotonic() - outage.since
        event = StoreRecovered(repr(self), down_for)
        log_event(event)
        emit(self._listeners, event)

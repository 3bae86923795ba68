"""RemoteBreakers: the strategy that sends each call through the breaker of its remote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.machine import Permit
from resilience._core.clock import Clock
from resilience._core.drive import Segment
from resilience._core.shells import Shell

__all__ = ["RemoteBreakers"]


class Breakers(Protocol):
    """Where the breakers are: a :class:`~resilience.BreakerRegistry`."""

    @property
    def clock(self) -> Clock:
        """The breakers' time source."""
        ...

    def get(self, remote: str) -> CircuitBreaker:
        """The breaker of ``remote``, created on first use."""
        ...


class RemoteBreakers(Shell):
    """Each call through the breaker of its remote, found in a registry.

    Built by :meth:`BreakerRegistry.protect` and by ``resilient(remote, breaker=registry)``.

    Args:
        registry: Where the breakers are, created on first use.
        remote: The remote's name, or a function of the call's arguments returning it.
    """

    __slots__ = ("_clock", "_get", "_name", "_pick", "_registry", "_segment")

    def __init__(self, registry: Breakers, remote: str | Callable[..., str]) -> None:
        if not remote or not (isinstance(remote, str) or callable(remote)):
            raise TypeError(
                "the remote must be a non-empty remote name or a function of the call's "
                f"arguments returning one; got {remote!r}"
            )
        self._registry = registry
        self._get = registry.get
        self._name = remote if isinstance(remote, str) else None
        self._pick = None if isinstance(remote, str) else remote
        self._clock: Clock = registry.clock
        self._segment: Segment | None = None

    def __repr__(self) -> str:
        remote = self._name if self._name is not None else self._pick
        return f"RemoteBreakers({self._registry!r}, remote={remote!r})"

    def breaker_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CircuitBreaker:
        """The breaker a call with these arguments goes through."""
        if self._name is not None:
            return self._get(self._name)
        return self._get(self._pick(*args, **kwargs))  # type: ignore[misc]

    def lanes(self) -> tuple[Callable[[str], CircuitBreaker], str | Callable[..., str]]:
        """How the drivers find a call's breaker: the lookup, and the name or the picker."""
        return self._get, self._name if self._name is not None else self._pick  # type: ignore[return-value]

    def before(
        self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[CircuitBreaker, Permit]:
        """Admit the call through its remote's breaker."""
        breaker = self.breaker_for(args, kwargs)
        return breaker, breaker.before(fn, args, kwargs)

    def after(
        self, token: tuple[CircuitBreaker, Permit], value: object, error: BaseException | None
    ) -> None:
        """Record the outcome on the breaker that admitted the call."""
        breaker, inner = token
        breaker.settle(inner, error)

    def settle(self, token: tuple[CircuitBreaker, Permit], error: BaseException | None) -> None:
        """Record the outcome of a block or an iteration on its breaker."""
        breaker, inner = token
        breaker.settle(inner, error)

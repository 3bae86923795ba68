"""Remotes: one strategy per remote, created on first use, and the strategy that picks it.

A bulkhead, a rate limiter or an adaptive limiter guards one remote; ``Remotes`` keeps one
of them per remote name, built by a factory (an override's factory for names it matches),
and :class:`PerRemote` sends each call through its remote's. Circuit breakers have their
own registry, :class:`~resilience.BreakerRegistry`, for they share state with a fleet.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any, Generic, TypeVar

from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.errors import RegistryFullError
from resilience._core.measure import Measurement
from resilience._core.names import check_name_length
from resilience._core.shells import Shell
from resilience._core.strategy import Decision, Strategy, Wrapping

__all__ = ["PerRemote", "Remotes"]

S = TypeVar("S", bound=Strategy)

_GLOB_CHARS = frozenset("*?[")


def _idle(strategy: object) -> bool:
    """Whether evicting ``strategy`` loses nothing: no call inside it, no state to keep."""
    idle = getattr(strategy, "idle", True)
    return bool(idle() if callable(idle) else idle)


class Remotes(Generic[S]):
    """One strategy per remote, created by ``factory(remote)`` on first use.

    Args:
        factory: Builds the strategy of a remote from its name.
        overrides: Factories by exact remote name or glob pattern (``"s3-*"``); an exact
            name wins over patterns, and the first matching pattern over later ones.
        max_remotes: The most strategies kept. When full, the least recently used idle
            one (a strategy whose ``idle`` is true, or that has no ``idle``) is dropped;
            one with calls inside it never is.
        clock: The time source the decorator forms wait on (the strategies have theirs).
    """

    __slots__ = ("_clock", "_exact", "_factory", "_lock", "_max", "_patterns", "_strategies")

    def __init__(
        self,
        factory: Callable[[str], S],
        *,
        overrides: Mapping[str, Callable[[str], S]] | None = None,
        max_remotes: int = 10_000,
        clock: Clock | None = None,
    ) -> None:
        if not callable(factory):
            raise TypeError(
                f"factory must build a strategy from a remote's name, got {factory!r}"
            )
        if isinstance(max_remotes, bool) or not isinstance(max_remotes, int) or max_remotes < 1:
            raise ValueError(f"max_remotes must be a positive int, got {max_remotes!r}")
        self._factory = factory
        self._exact: dict[str, Callable[[str], S]] = {}
        self._patterns: list[tuple[str, Callable[[str], S]]] = []
        for key, built in (overrides or {}).items():
            if not isinstance(key, str) or not key or not callable(built):
                raise TypeError(
                    "overrides map a remote name or glob pattern to a factory, e.g. "
                    f"{{'s3-*': lambda name: ...}}; got {key!r}: {built!r}"
                )
            if _GLOB_CHARS.isdisjoint(key):
                self._exact[key] = built
            else:
                self._patterns.append((key, built))
        self._max = max_remotes
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._lock = threading.Lock()
        self._strategies: OrderedDict[str, S] = OrderedDict()

    @property
    def clock(self) -> Clock:
        """The time source the decorator forms wait on."""
        return self._clock

    def get(self, remote: str) -> S:
        """The strategy of ``remote``, created on first use."""
        strategies = self._strategies
        found = strategies.get(remote)
        if found is not None:
            with contextlib.suppress(KeyError):  # dropped by another thread meanwhile
                strategies.move_to_end(remote)
            return found
        return self._create(remote)

    def protect(self, remote: str | Callable[..., str]) -> PerRemote[S]:
        """A strategy that sends each call through its remote's.

        ``remote`` is a name, or a function of the call's arguments returning one.
        """
        return PerRemote(self, remote)

    def measurements(self) -> list[Measurement]:
        """The measurements of every strategy that shows any (see :class:`Measured`)."""
        found: list[Measurement] = []
        for strategy in self:
            measure = getattr(strategy, "measurements", None)
            if measure is not None:
                found.extend(measure())
        return found

    def items(self) -> list[tuple[str, S]]:
        """The remotes and their strategies, least recently used first."""
        with self._lock:
            return list(self._strategies.items())

    def __len__(self) -> int:
        return len(self._strategies)

    def __iter__(self) -> Iterator[S]:
        return iter([strategy for _, strategy in self.items()])

    def __contains__(self, remote: object) -> bool:
        return remote in self._strategies

    def __repr__(self) -> str:
        return f"Remotes({len(self)} remotes, max_remotes={self._max})"

    def _factory_for(self, remote: str) -> Callable[[str], S]:
        exact = self._exact.get(remote)
        if exact is not None:
            return exact
        for pattern, built in self._patterns:
            if fnmatchcase(remote, pattern):
                return built
        return self._factory

    def _create(self, remote: str) -> S:
        if not isinstance(remote, str) or not remote:
            raise TypeError(f"a remote's name must be a non-empty str, got {remote!r}")
        check_name_length(remote, "a remote's name")
        strategy = self._factory_for(remote)(remote)
        with self._lock:
            known = self._strategies.get(remote)
            if known is not None:  # another thread created it first
                return known
            if len(self._strategies) >= self._max:
                self._evict()
            self._strategies[remote] = strategy
            return strategy

    def _evict(self) -> None:
        """Drop the least recently used idle strategy. Called under the lock."""
        for name, strategy in self._strategies.items():
            if _idle(strategy):
                del self._strategies[name]
                return
        raise RegistryFullError(
            f"registry is full: {self._max} remotes and every one has calls in flight, so "
            "none can be dropped. Raise max_remotes, or check that remote names are "
            "bounded (a name built from a URL with an id in it makes one per id)."
        )


class PerRemote(Shell, Generic[S]):
    """Each call through the strategy of its remote, found in :class:`Remotes`.

    Built by :meth:`Remotes.protect`. The remote's strategy decides before and after
    each attempt; a strategy that runs the call itself (a time limit, hedging) cannot be
    chosen per call, and is refused when first met.
    """

    __slots__ = ("_clock", "_name", "_pick", "_remotes", "_segment")

    def __init__(self, remotes: Remotes[S], remote: str | Callable[..., str]) -> None:
        if not remote or not (isinstance(remote, str) or callable(remote)):
            raise TypeError(
                "the remote must be a non-empty remote name or a function of the call's "
                f"arguments returning one; got {remote!r}"
            )
        self._remotes = remotes
        self._name = remote if isinstance(remote, str) else None
        self._pick = None if isinstance(remote, str) else remote
        self._clock: Clock = remotes.clock
        self._segment: Segment | None = None

    def __repr__(self) -> str:
        remote = self._name if self._name is not None else self._pick
        return f"PerRemote({self._remotes!r}, remote={remote!r})"

    def strategy_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> S:
        """The strategy a call with these arguments goes through."""
        name = self._name if self._name is not None else self._pick(*args, **kwargs)  # type: ignore[misc]
        strategy = self._remotes.get(name)
        if isinstance(strategy, Wrapping):
            raise TypeError(
                f"{strategy!r} runs the call itself, so it cannot be chosen per call; "
                "give each remote its own pipeline instead"
            )
        return strategy

    def before(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[S, object]:
        """Admit the attempt through its remote's strategy."""
        strategy = self.strategy_for(args, kwargs)
        return strategy, strategy.before(fn, args, kwargs)

    async def abefore(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[S, object]:
        """Admit an async attempt through its remote's strategy, awaiting its ``abefore``."""
        strategy = self.strategy_for(args, kwargs)
        abefore = getattr(strategy, "abefore", None)
        if abefore is None:
            return strategy, strategy.before(fn, args, kwargs)
        return strategy, await abefore(fn, args, kwargs)

    def after(
        self, token: tuple[S, object], value: object, error: BaseException | None
    ) -> Decision:
        """What the remote's strategy decides on the outcome."""
        strategy, inner = token
        return strategy.after(inner, value, error)

    def settle(self, token: tuple[S, object], error: BaseException | None) -> None:
        """Tell the remote's strategy the outcome of a block or an iteration, if it takes one."""
        strategy, inner = token
        settle = getattr(strategy, "settle", None)
        if settle is not None:
            settle(inner, error)
        else:
            strategy.after(inner, None, error)

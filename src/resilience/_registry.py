"""Per-remote breakers: created lazily by name, configured by pattern, bounded in number."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from fnmatch import fnmatchcase
from typing import ParamSpec, TypeVar

from resilience._breaker import BreakerSnapshot, CircuitBreaker
from resilience._breaker_store import BreakerStore
from resilience._classify import Classifier
from resilience._clock import SYSTEM_CLOCK, Clock
from resilience._config import BreakerConfig
from resilience._errors import RegistryFullError
from resilience._events import CircuitState, Listener

__all__ = ["BreakerRegistry"]

P = ParamSpec("P")
R = TypeVar("R")

_GLOB_CHARS = frozenset("*?[")


class BreakerRegistry:
    """One :class:`CircuitBreaker` per remote, created on first use.

    Args:
        default: The configuration of remotes no override matches.
        overrides: Configurations by exact remote name or glob pattern (``"s3-*"``);
            an exact name wins over patterns, and the first matching pattern wins
            over later ones.
        clock: Time source shared by every breaker.
        max_breakers: The most breakers kept. When full, the least recently used
            CLOSED breaker is evicted; an OPEN, HALF_OPEN or manually set breaker never
            is, so no remote's protection is lost to make room.
        listeners: Receive the events of every breaker.
        classifier: How every breaker counts failures; :meth:`Classifier.default`
            by default.
        store: Shares every breaker's state with other processes, e.g. a
            :class:`~resilience.RedisBreakerStore`; each process still decides its
            calls from its own copy, so no call waits on the store.
    """

    __slots__ = (
        "_breakers",
        "_classifier",
        "_clock",
        "_default",
        "_exact",
        "_listeners",
        "_lock",
        "_max",
        "_patterns",
        "_store",
    )

    def __init__(
        self,
        default: BreakerConfig | None = None,
        *,
        overrides: Mapping[str, BreakerConfig] | None = None,
        clock: Clock | None = None,
        max_breakers: int = 10_000,
        listeners: Iterable[Listener] = (),
        classifier: Classifier | None = None,
        store: BreakerStore | None = None,
    ) -> None:
        if store is not None and not isinstance(store, BreakerStore):
            raise TypeError(
                f"store must be a BreakerStore (e.g. RedisBreakerStore), got {store!r}"
            )
        if isinstance(max_breakers, bool) or not isinstance(max_breakers, int) or max_breakers < 1:
            raise ValueError(f"max_breakers must be a positive int, got {max_breakers!r}")
        self._default = default if default is not None else BreakerConfig()
        self._exact: dict[str, BreakerConfig] = {}
        self._patterns: list[tuple[str, BreakerConfig]] = []
        for key, config in (overrides or {}).items():
            if not isinstance(config, BreakerConfig):
                raise TypeError(
                    f"overrides[{key!r}] must be a BreakerConfig, got {type(config).__name__}"
                )
            if _GLOB_CHARS.isdisjoint(key):
                self._exact[key] = config
            else:
                self._patterns.append((key, config))
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._max = max_breakers
        self._listeners = tuple(listeners)
        self._classifier = classifier
        self._breakers: OrderedDict[str, CircuitBreaker] = OrderedDict()
        self._lock = threading.Lock()
        self._store = store

    def get(self, remote: str) -> CircuitBreaker:
        """The breaker of ``remote``, created with its configuration on first use."""
        breakers = self._breakers
        try:
            breaker = breakers[remote]
            # Recency, for eviction. If another thread evicts it between these two
            # lines, the KeyError below makes a new one, as it would a moment later.
            breakers.move_to_end(remote)
        except KeyError:
            return self._create(remote)
        return breaker

    def config_for(self, remote: str) -> BreakerConfig:
        """The configuration ``remote`` gets: exact override, first matching pattern, default."""
        config = self._exact.get(remote)
        if config is not None:
            return config
        for pattern, config in self._patterns:
            if fnmatchcase(remote, pattern):
                return config
        return self._default

    def protect(
        self, remote: str | Callable[..., str]
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorate a function so each call goes through the breaker of its remote.

        Args:
            remote: The remote's name, or a function of the call's arguments that
                returns it (e.g. ``lambda bucket, key: bucket``).
        """
        if not isinstance(remote, str) and not callable(remote):
            raise TypeError(
                f"protect() takes a remote name or a function of the call's arguments "
                f"returning one; got {remote!r}"
            )

        # The composed decorator, with this registry as its only layer: it runs each
        # call through the breaker's fast path inline (see resilient()).
        from resilience._compose import resilient  # noqa: PLC0415 - _compose imports us

        return resilient(remote, breaker=self)

    def add_listener(self, listener: Listener) -> None:
        """Deliver every later event of every breaker, existing or new, to ``listener``."""
        if not callable(listener):
            raise TypeError(f"a listener must be callable, got {listener!r}")
        with self._lock:
            self._listeners = (*self._listeners, listener)
            breakers = list(self._breakers.values())
        for breaker in breakers:
            breaker.add_listener(listener)

    def snapshot(self) -> dict[str, BreakerSnapshot]:
        """A reading of every breaker, by remote."""
        return {name: breaker.snapshot() for name, breaker in self._items()}

    def __len__(self) -> int:
        return len(self._breakers)

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter([breaker for _, breaker in self._items()])

    def __contains__(self, remote: object) -> bool:
        return remote in self._breakers

    def __repr__(self) -> str:
        return f"BreakerRegistry({len(self)} breakers, max_breakers={self._max})"

    def _items(self) -> list[tuple[str, CircuitBreaker]]:
        with self._lock:
            return list(self._breakers.items())

    def _create(self, remote: str) -> CircuitBreaker:
        if not isinstance(remote, str) or not remote:
            raise TypeError(f"a remote's name must be a non-empty str, got {remote!r}")
        config = self.config_for(remote)
        with self._lock:
            breaker = self._breakers.get(remote)
            if breaker is not None:  # another thread created it first
                return breaker
            if len(self._breakers) >= self._max:
                self._evict()
            breaker = CircuitBreaker(
                remote,
                config,
                clock=self._clock,
                listeners=self._listeners,
                classifier=self._classifier,
            )
            if self._store is not None:
                self._store.link(breaker)
            self._breakers[remote] = breaker
            return breaker

    def _evict(self) -> None:
        """Drop the least recently used CLOSED breakers. Called under the lock.

        A batch of about 1% goes at once, so a registry churning through remote names
        pays for the scan once per batch, not once per new remote.
        """
        # list() copies in one step: get() may reorder the dict from other threads.
        items = list(self._breakers.items())
        batch = max(1, self._max // 100)
        victims = [name for name, b in items if b.state is CircuitState.CLOSED][:batch]
        if not victims:
            raise RegistryFullError(
                f"breaker registry is full: {self._max} breakers and none is CLOSED, so "
                "none can be evicted without losing a remote's protection. Raise "
                "max_breakers, or check that remote names are bounded (a name built from "
                "a URL with an id in it makes a breaker per id)."
            )
        for name in victims:
            breaker = self._breakers.pop(name)
            if self._store is not None:
                self._store.unlink(breaker)

"""Per-remote breakers: created lazily by name, configured by pattern, bounded in number."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any, Final, ParamSpec, TypeVar

from pydantic import ValidationError

from resilience._breaker.breaker import BreakerSnapshot, CircuitBreaker
from resilience._breaker.config import BreakerConfig
from resilience._breaker.errors import RegistryFullError
from resilience._breaker.events import CLOSED, Listener
from resilience._breaker.remote import RemoteBreakers
from resilience._breaker.store import BreakerStore
from resilience._classify.classifier import Classifier
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.names import check_name_length

__all__ = ["BreakerRegistry"]

P = ParamSpec("P")
R = TypeVar("R")

_GLOB_CHARS = frozenset("*?[")

# An override inherits every field it does not set from the default, except that some
# fields are one decision. Setting any field of the first tuple replaces the default's
# fields of the second: the trip rule (which rules, and what makes a call slow), and the
# window (its kind and length, and minimum_calls, which must fit it).
_CHOICES: Final = (
    (
        ("failure_threshold", "failure_rate", "slow_call_rate", "slow_call_duration"),
        ("failure_threshold", "failure_rate", "slow_call_rate", "slow_call_duration"),
    ),
    (("window", "window_seconds"), ("window", "window_seconds", "minimum_calls")),
)


def _merge(key: str, default: BreakerConfig, override: BreakerConfig) -> BreakerConfig:
    """``override`` on top of ``default``: what it sets, else what the default sets."""
    given = override.model_fields_set
    fields: dict[str, Any] = {name: getattr(default, name) for name in default.model_fields_set}
    for choose, replaced in _CHOICES:
        if not given.isdisjoint(choose):
            for name in replaced:
                fields.pop(name, None)
    fields.update({name: getattr(override, name) for name in given})
    try:
        return BreakerConfig.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in error.errors()
        )
        raise ValueError(
            f"overrides[{key!r}] inherits the fields it does not set from the default "
            f"config, and the result is invalid: {problems}. Set the conflicting field in "
            "the override too."
        ) from error


def _resolve(
    default: BreakerConfig | None, overrides: Mapping[str, BreakerConfig] | None
) -> tuple[BreakerConfig, dict[str, BreakerConfig], list[tuple[str, BreakerConfig]]]:
    """The default, and the overrides merged with it: by exact name, and by pattern."""
    if default is None:
        default = BreakerConfig()
    elif not isinstance(default, BreakerConfig):
        raise TypeError(f"default must be a BreakerConfig, got {type(default).__name__}")
    exact: dict[str, BreakerConfig] = {}
    patterns: list[tuple[str, BreakerConfig]] = []
    for key, config in (overrides or {}).items():
        if not isinstance(config, BreakerConfig):
            raise TypeError(
                f"overrides[{key!r}] must be a BreakerConfig, got {type(config).__name__}"
            )
        # Merged once here, so that no get() resolves anything.
        merged = _merge(key, default, config)
        if _GLOB_CHARS.isdisjoint(key):
            exact[key] = merged
        else:
            patterns.append((key, merged))
    return default, exact, patterns


class BreakerRegistry:
    """One :class:`CircuitBreaker` per remote, created on first use.

    Args:
        default: The configuration of remotes no override matches.
        overrides: Configurations by exact remote name or glob pattern (``"s3-*"``);
            an exact name wins over patterns, and the first matching pattern wins
            over later ones. Each inherits the fields it does not set from
            ``default``, except that an override choosing a trip rule or a window
            replaces the default's rule or window whole (see ``docs/breakers.md``).
        clock: Time source shared by every breaker.
        max_breakers: The most breakers kept. When full, the least recently used
            CLOSED breaker is evicted; an OPEN, HALF_OPEN or manually set breaker never
            is, so no remote's protection is lost to make room. Making room costs
            O(1) per new remote, however many breakers are kept.
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
        "_closed_again",
        "_default",
        "_exact",
        "_listeners",
        "_lock",
        "_max",
        "_patterns",
        "_pinned",
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
        self._default, self._exact, self._patterns = _resolve(default, overrides)
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._max = max_breakers
        self._listeners = tuple(listeners)
        self._classifier = classifier
        # Breakers in least recently used order, but for those found not CLOSED while
        # making room: they wait in _pinned, and come back when they close, so that no
        # admission looks at them again and again.
        self._breakers: OrderedDict[str, CircuitBreaker] = OrderedDict()
        self._pinned: dict[str, CircuitBreaker] = {}
        self._closed_again: set[str] = set()  # pinned breakers that closed since
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
            pinned = self._pinned.get(remote)
            return pinned if pinned is not None else self._create(remote)
        return breaker

    def config_for(self, remote: str) -> BreakerConfig:
        """The configuration ``remote`` gets: exact override, first matching pattern, default.

        An override's configuration is merged with the default's (see ``overrides``).
        """
        config = self._exact.get(remote)
        if config is not None:
            return config
        for pattern, config in self._patterns:
            if fnmatchcase(remote, pattern):
                return config
        return self._default

    def reconfigure(
        self,
        default: BreakerConfig | None = None,
        *,
        overrides: Mapping[str, BreakerConfig] | None = None,
    ) -> None:
        """Replace the configurations, and apply them to every breaker kept, in place.

        Takes ``default`` and ``overrides`` as the constructor does, and checks them all
        before changing anything: an invalid override raises and leaves every
        configuration as it was. Each breaker keeps its state and counts (see
        :meth:`CircuitBreaker.reconfigure`); breakers created later get the new
        configurations. Calls go on meanwhile: no lock is held around one.
        """
        resolved = _resolve(default, overrides)
        with self._lock:
            self._default, self._exact, self._patterns = resolved
            breakers = [*self._pinned.items(), *self._breakers.items()]
        for name, breaker in breakers:
            breaker.reconfigure(self.config_for(name))

    def protect(self, remote: str | Callable[..., str]) -> RemoteBreakers:
        """A decorator (and ``call()``, ``with``) sending each call through its remote's breaker.

        Args:
            remote: The remote's name, or a function of the call's arguments that
                returns it (e.g. ``lambda bucket, key: bucket``).
        """
        if not isinstance(remote, str) and not callable(remote):
            raise TypeError(
                f"protect() takes a remote name or a function of the call's arguments "
                f"returning one; got {remote!r}"
            )
        return RemoteBreakers(self, remote)

    @property
    def clock(self) -> Clock:
        """The time source every breaker of the registry shares."""
        return self._clock

    def add_listener(self, listener: Listener) -> None:
        """Deliver every later event of every breaker, existing or new, to ``listener``."""
        if not callable(listener):
            raise TypeError(f"a listener must be callable, got {listener!r}")
        with self._lock:
            self._listeners = (*self._listeners, listener)
            breakers = [*self._pinned.values(), *self._breakers.values()]
        for breaker in breakers:
            breaker.add_listener(listener)

    def snapshot(self) -> dict[str, BreakerSnapshot]:
        """A reading of every breaker, by remote."""
        return {name: breaker.snapshot() for name, breaker in self._items()}

    def __len__(self) -> int:
        return len(self._breakers) + len(self._pinned)

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter([breaker for _, breaker in self._items()])

    def __contains__(self, remote: object) -> bool:
        return remote in self._breakers or remote in self._pinned

    def __repr__(self) -> str:
        return f"BreakerRegistry({len(self)} breakers, max_breakers={self._max})"

    def _items(self) -> list[tuple[str, CircuitBreaker]]:
        with self._lock:
            return [*self._pinned.items(), *self._breakers.items()]

    def _create(self, remote: str) -> CircuitBreaker:
        if not isinstance(remote, str) or not remote:
            raise TypeError(f"a remote's name must be a non-empty str, got {remote!r}")
        check_name_length(remote, "a remote's name")
        with self._lock:
            breaker = self._breakers.get(remote) or self._pinned.get(remote)
            if breaker is not None:  # another thread created it first
                return breaker
            # Under the lock: a reconfigure() either sees this breaker or came before it.
            config = self.config_for(remote)
            if len(self._breakers) + len(self._pinned) >= self._max:
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

        A batch of about 1% goes at once. A breaker found not CLOSED is set aside until
        it closes, so each is looked at once, however long it stays open: making room
        costs O(1) per new remote, amortized, not a scan of the registry.
        """
        breakers, pinned, closed_again = self._breakers, self._pinned, self._closed_again
        while closed_again:
            # Set aside, and closed since: back in the LRU order as recently used, for
            # what closed it was a use (a trial call, a reset, the fleet's decision).
            name = closed_again.pop()
            breaker = pinned.get(name)
            if breaker is not None and breaker.state is CLOSED:
                breaker.on_closed = None  # the registry's own hook
                del pinned[name]
                breakers[name] = breaker
        batch = max(1, self._max // 100)
        evicted = 0
        while evicted < batch and breakers:
            # Popped in one step: get() may reorder the dict from other threads.
            name, breaker = breakers.popitem(last=False)
            state = breaker.state
            if state is CLOSED:
                evicted += 1
                if self._store is not None:
                    self._store.unlink(breaker)
                continue
            # Told when it closes from now on; and if it closed just now, noted here.
            breaker.on_closed = closed_again.add  # the registry's own hook
            pinned[name] = breaker
            if breaker.state is CLOSED:
                closed_again.add(name)
        if not evicted:
            raise RegistryFullError(
                f"breaker registry is full: {self._max} breakers and none is CLOSED, so "
                "none can be evicted without losing a remote's protection. Raise "
                "max_breakers, or check that remote names are bounded (a name built from "
                "a URL with an id in it makes a breaker per id)."
            )

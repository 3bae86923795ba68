"""CachedFallback: when a call fails, the last good result of a call with the same key.

It records every success (bounded: the least recently stored key goes first) and serves
the stored value when a later call with that key fails, an open circuit's refusal
included, as long as the value is younger than ``max_age`` on the injected clock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import Field

from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.events import INFO, Event, emit
from resilience._core.measure import Measurement
from resilience._core.misuse import MisusedCallError
from resilience._core.options import Options, Seconds, seconds
from resilience._core.shells import Shell
from resilience._core.strategy import Replace
from resilience._core.text import safe_repr

__all__ = ["CachedFallback", "CachedResultServed"]

Kwargs = dict[str, Any]

# The last outcome, for measurements: compared by identity on every success.
_NONE, _OK, _SERVED, _MISSED = "none", "ok", "served", "missed"


class _CachedConfig(Options):
    name: str = Field(default="cached", min_length=1, max_length=1024)
    max_entries: int = Field(default=1024, ge=1)
    max_age: Seconds | None = Field(default=None, gt=0)


@dataclass(frozen=True, slots=True)
class CachedResultServed(Event):
    """A call failed and a :class:`CachedFallback` gave its last good result instead."""

    name: str
    age: float
    """Seconds since the value was stored, on the fallback's clock."""
    error: BaseException
    """The failure the cached value stands in for."""

    event_name = "fallback.cached"
    level = INFO

    def describe(self) -> str:
        """``'quotes' served a cached result 12.5 s old (ConnectionError)``."""
        return (
            f"{self.name!r} served a cached result {self.age:.3g} s old "
            f"({type(self.error).__name__})"
        )

    def fields(self) -> dict[str, object]:
        """The fallback's name, the value's age and the error's type name (never the key)."""
        return {
            "event": self.event_name,
            "name": self.name,
            "age": self.age,
            "error": type(self.error).__name__,
        }


class CachedFallback(Shell):
    """Serves the last good result of a call with the same arguments when the call fails.

    Put it outermost (``resilient(fallback=CachedFallback(...))``): it then sees the
    final outcome, after every retry, and an open circuit's refusal. Use it alone too,
    as a decorator (sync or async), through ``call()`` / ``acall()``, per remote through
    :class:`~resilience.Remotes`. It takes over from an ``Exception`` only; when no
    fresh value is stored, the failure goes on as it is.

    Args:
        name: Shown in measurements and events.
        key: ``key(*args, **kwargs)`` gives the cache key of a call; by default its
            arguments (which must then be hashable).
        max_entries: The most keys kept; storing one more drops the least recently
            stored.
        max_age: Seconds (or a ``timedelta``) a stored value may be served for; None
            (the default): for as long as it is kept.
        clock: Time source for the ages.
        on_served: Called with a :class:`CachedResultServed` each time a value is served
            (``resilience.log_event`` logs them).
    """

    __slots__ = (
        "_clock",
        "_entries",
        "_key",
        "_last",
        "_lock",
        "_max_age",
        "_max_entries",
        "_missed",
        "_name",
        "_now",
        "_on_served",
        "_segment",
        "_served",
        "_timed",
    )

    def __init__(
        self,
        *,
        name: str = "cached",
        key: Callable[..., Hashable] | None = None,
        max_entries: int = 1024,
        max_age: float | timedelta | None = None,
        clock: Clock | None = None,
        on_served: Callable[[CachedResultServed], object] | None = None,
    ) -> None:
        config = _CachedConfig(name=name, max_entries=max_entries, max_age=seconds(max_age))
        if key is not None and not callable(key):
            raise TypeError(
                f"CachedFallback(key=...) must be a function of the call's arguments, got {key!r}"
            )
        if on_served is not None and not callable(on_served):
            raise TypeError(f"CachedFallback(on_served=...) must be callable, got {on_served!r}")
        self._name = config.name
        self._max_entries = config.max_entries
        self._max_age = config.max_age
        self._key = key
        self._on_served = on_served
        self._clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self._now = self._clock.monotonic
        self._lock = threading.Lock()
        # key -> (value, stored at), the least recently stored first.
        self._entries: OrderedDict[Hashable, tuple[object, float]] = OrderedDict()
        self._served = self._missed = 0
        self._last = _NONE  # the last outcome
        # Only an age limit or the served event reads a value's age: else no clock read.
        self._timed = config.max_age is not None or on_served is not None
        self._segment: Segment | None = None

    def __repr__(self) -> str:
        age = "" if self._max_age is None else f", max_age={self._max_age:g}"
        return f"CachedFallback(name={self._name!r}, max_entries={self._max_entries}{age})"

    @property
    def name(self) -> str:
        """The name shown in measurements and events."""
        return self._name

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[Hashable]:
        """The keys stored, the least recently stored first (the next one dropped)."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every stored value."""
        with self._lock:
            self._entries.clear()

    # ------------------------------------------------------ the Strategy protocol

    def before(self, fn: object, args: tuple[Any, ...], kwargs: Kwargs) -> Hashable:
        """The call's cache key."""
        key = self._key
        if key is None:
            return args if not kwargs else (args, tuple(sorted(kwargs.items())))
        return key(*args, **kwargs)

    passive = True
    """Nothing before a first attempt; a success is recorded by :meth:`succeeded`."""

    def succeeded(self, args: tuple[Any, ...], kwargs: Kwargs, value: object) -> None:
        """Store a success (what the drivers' fast paths call instead of before/after)."""
        key = self._key
        if key is not None:
            return self._store(key(*args, **kwargs), value)
        token = args if not kwargs else (args, tuple(sorted(kwargs.items())))
        # _store, inline on the hot path of the common case (a frame less on a success).
        entries = self._entries
        try:
            entries[token] = (value, self._now() if self._timed else 0.0)
            entries.move_to_end(token)
            if len(entries) > self._max_entries:
                entries.popitem(last=False)
        except KeyError:
            pass
        except TypeError:
            return self._store(token, value)  # says what is wrong
        if self._last is not _OK:
            self._last = _OK
        return None

    def after(self, token: Hashable, value: object, error: BaseException | None) -> Replace | None:
        """Store a success; replace a failure by the stored value, if fresh enough."""
        if error is None:
            self._store(token, value)
            return None
        if not isinstance(error, Exception) or isinstance(error, MisusedCallError):
            return None
        return self._serve(token, error)

    def _store(self, token: Hashable, value: object) -> None:
        # No lock on a success: each step is one atomic operation of the C OrderedDict;
        # a key another thread dropped meanwhile is simply stored again.
        entries = self._entries
        try:
            entries[token] = (value, self._now() if self._timed else 0.0)
            entries.move_to_end(token)
            if len(entries) > self._max_entries:
                entries.popitem(last=False)  # the least recently stored
        except KeyError:
            pass  # dropped (or the oldest popped) by another thread: nothing to do
        except TypeError:
            raise TypeError(
                f"CachedFallback {self._name!r} cannot store a result under the key "
                f"{safe_repr(token)}: it is not hashable. Pass key= a function of the "
                "call's arguments that returns a hashable key"
            ) from None
        if self._last is not _OK:
            self._last = _OK

    def _serve(self, key: Hashable, error: Exception) -> Replace | None:
        now = self._now()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._max_age is not None and now - entry[1] > self._max_age:
                self._entries.pop(key, None)  # too old to serve, and only older from now on
                entry = None
            if entry is None:
                self._missed += 1
            else:
                self._served += 1
        if entry is None:
            self._last = _MISSED
            return None
        self._last = _SERVED
        value, stored = entry
        if self._on_served is not None:
            emit((self._on_served,), CachedResultServed(self._name, now - stored, error))
        return Replace(value)

    # ---------------------------------------------------------------- showing

    def measurements(self) -> list[Measurement]:
        """Entries kept; values served and missed (unhealthy while calls fail)."""
        served, missed = self._served, self._missed
        entries = len(self._entries)
        state = f"{entries} of {self._max_entries} cached"
        last = self._last
        if last is _SERVED:
            state += "; calls failing, the last one served from the cache"
        elif last is _MISSED:
            state += "; calls failing, the last one with nothing fresh to serve"
        return [
            Measurement(
                kind="cached_fallback",
                name=self._name,
                state=state,
                gauges={"entries": entries, "max_entries": self._max_entries},
                totals={"served": served, "missed": missed},
                healthy=last is _OK or last is _NONE,
            )
        ]

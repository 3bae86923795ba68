"""Graceful degradation: features that switch off while the components they need are down."""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from resilience._core.events import INFO, WARNING, Event, emit
from resilience._core.shells import is_async, require_callable
from resilience.health._registry import HealthRegistry
from resilience.health._status import ComponentChanged, ComponentStatus

__all__ = ["FeatureChanged", "FeatureGate"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class FeatureChanged(Event):
    """A feature was switched on or off by the health of what it requires."""

    feature: str
    enabled: bool
    reason: str
    """Why it is off (which component, in which state), or "" when it is on."""

    @property
    def event_name(self) -> str:
        """``"feature.enabled"`` or ``"feature.disabled"``."""
        return "feature.enabled" if self.enabled else "feature.disabled"

    @property
    def level(self) -> int:
        """WARNING when the feature was switched off, else INFO."""
        return INFO if self.enabled else WARNING

    def describe(self) -> str:
        """``feature 'search' disabled: elastic is ERROR``, or ``feature 'search' enabled``."""
        if self.enabled:
            return f"feature {self.feature!r} enabled"
        return f"feature {self.feature!r} disabled: {self.reason}"


class FeatureGate:
    """Features and the components they require, judged on the latest health report.

    A feature is enabled while every component it requires is OK in the registry's
    latest report; a component not yet checked counts as not OK. The gate never runs
    checks itself: run the registry (or its monitor) to refresh what it sees.

    Args:
        health: The registry whose reports decide.
        listeners: Receive a :class:`FeatureChanged` when a feature switches.
    """

    def __init__(
        self,
        health: HealthRegistry,
        *,
        listeners: Iterable[Callable[[FeatureChanged], object]] = (),
    ) -> None:
        if not isinstance(health, HealthRegistry):
            raise TypeError(f"FeatureGate needs a HealthRegistry, got {health!r}")
        self._health = health
        self._features: dict[str, tuple[str, ...]] = {}
        self._enabled: dict[str, bool] = {}
        self._listeners = list(listeners)
        self._lock = threading.Lock()
        health.add_listener(self._on_change)

    def feature(self, name: str, *, requires: Iterable[str]) -> None:
        """Declare feature ``name``, enabled only while ``requires`` are all OK."""
        needed = tuple([requires] if isinstance(requires, str) else requires)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a feature's name must be a non-empty str, got {name!r}")
        if not needed or not all(isinstance(c, str) and c for c in needed):
            raise ValueError(
                f"feature {name!r} must require at least one component name, got {needed!r}"
            )
        with self._lock:
            if name in self._features:
                raise ValueError(f"feature {name!r} is already declared")
            self._features[name] = needed
            self._enabled[name] = self._judge(needed) == ""

    def enabled(self, name: str) -> bool:
        """Whether feature ``name`` is on now."""
        return self.reason(name) == ""

    def reason(self, name: str) -> str:
        """Why feature ``name`` is off, or "" when it is on."""
        try:
            needed = self._features[name]
        except KeyError:
            raise KeyError(
                f"no feature {name!r}; declare it with gate.feature({name!r}, requires=[...])"
            ) from None
        return self._judge(needed)

    def _judge(self, needed: tuple[str, ...]) -> str:
        latest = self._health.latest()
        problems = []
        for component in needed:
            health = latest.get(component)
            if health is None:
                problems.append(f"{component} not checked yet")
            elif health.status is not ComponentStatus.OK:
                message = f": {health.message}" if health.message else ""
                problems.append(f"{component} {health.status.name}{message}")
        return "; ".join(problems)

    def requires(
        self, *components: str, fallback: Callable[..., Any]
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorate a function to run only while ``components`` are OK, else ``fallback``.

        ``fallback`` is called with the same arguments (e.g. the offline mode of the
        operation); for a coroutine function it may be async too.
        """
        if not components:
            raise ValueError("requires() needs at least one component name")
        require_callable(fallback, "requires(fallback=...)")
        needed = tuple(components)

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            require_callable(fn, "@gate.requires(...)")
            if is_async(fn):
                afn = cast("Callable[P, Awaitable[Any]]", fn)

                @functools.wraps(fn)
                async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
                    if self._judge(needed):
                        result = fallback(*args, **kwargs)
                        return await result if isinstance(result, Awaitable) else result
                    return await afn(*args, **kwargs)

                return cast("Callable[P, R]", async_wrapper)

            @functools.wraps(fn)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                if self._judge(needed):
                    return cast("R", fallback(*args, **kwargs))
                return fn(*args, **kwargs)

            return wrapper

        return decorate

    def _on_change(self, change: ComponentChanged) -> None:
        events = []
        with self._lock:
            for name, needed in self._features.items():
                if change.name not in needed:
                    continue
                reason = self._judge(needed)
                now = reason == ""
                if now != self._enabled[name]:
                    self._enabled[name] = now
                    events.append(FeatureChanged(name, now, reason))
        for event in events:
            emit(self._listeners, event)

    def __repr__(self) -> str:
        return f"FeatureGate({sorted(self._features)})"

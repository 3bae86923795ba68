"""CircuitBreaker: the state machine (:mod:`.machine`) as a strategy of the pipeline.

Its public surface: readings, manual control, the Strategy protocol, and the forms every
strategy has (decorator, ``call()``, ``with``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from resilience._breaker.config import BreakerConfig
from resilience._breaker.events import (
    CLOSED,
    DISABLED,
    FORCED_OPEN,
    HALF_OPEN,
    METRICS_ONLY,
    SUCCESS,
    CircuitState,
    Listener,
)
from resilience._breaker.machine import BLOCKS, Permit
from resilience._breaker.shared import SharedMachine
from resilience._classify.classifier import Classifier
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.names import MAX_NAME_LENGTH, check_name_length
from resilience._core.shells import Shell
from resilience._core.window import CountWindow, TimeWindow

__all__ = ["MAX_NAME_LENGTH", "BreakerSnapshot", "CircuitBreaker"]


@functools.cache
def _default_classifier() -> Classifier:
    return Classifier.default()


@functools.cache
def _default_config() -> BreakerConfig:
    return BreakerConfig()  # one for every breaker built without one: it is frozen


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """A consistent reading of a breaker at one moment."""

    name: str
    state: CircuitState
    calls: int
    """Outcomes in the window (0 without one: the consecutive rule keeps no window)."""
    failures: int
    """Failures among ``calls``."""
    slow_calls: int
    """Slow calls among ``calls``."""
    failure_rate: float | None
    """``failures / calls``, or None while the window is empty."""
    consecutive_failures: int
    rejected: int
    """Calls rejected since the breaker was created or reset."""
    half_open_calls: int
    """Trial calls in flight (HALF_OPEN only)."""
    opened_at: float | None
    """Clock reading when the circuit last opened, while it is OPEN or HALF_OPEN."""
    retry_after: float | None
    """Seconds until a trial call is allowed (see :class:`CircuitOpenError`)."""
    reason: str | None
    """Why the circuit is not CLOSED, or None when it is."""


class CircuitBreaker(SharedMachine, Shell):
    """Stops calling a remote that keeps failing, and tries it again after a while.

    Use it as a decorator (sync or async), as ``with breaker:`` / ``async with
    breaker:``, or through :meth:`call` / :meth:`acall`. A rejected call raises
    :class:`CircuitOpenError` at once; the call itself is never run under a lock.

    Args:
        name: What the breaker protects, e.g. the remote's name; shown in errors.
        config: How it trips and recovers; the defaults of :class:`BreakerConfig`.
        clock: Time source; :class:`resilience.testing.FakeClock` in tests.
        listeners: Callables receiving every :data:`Event` (transitions,
            rejections, recorded outcomes). A listener that raises is logged, never
            propagated.
        classifier: Decides how a failure counts: RETRYABLE ones are failures,
            PERMANENT ones are ignored unless ``config.count_permanent``;
            :meth:`Classifier.default` by default.

    Attributes:
        epoch: State changes so far. An outcome is applied only if no state change
            came while its call ran, so a late answer never counts in the wrong state.
        fast_epoch: ``epoch`` while a success needs nothing but ``streak`` reset (CLOSED,
            the consecutive rule, nobody listening), else None: the fast lane the
            pipeline drivers take. Read them; only the breaker writes them.
        streak: Failures in a row while CLOSED.
    """

    __slots__ = ()  # the machine's: a breaker is as small as the state it keeps

    once = True  # a function it decorates, called through it again, is admitted once

    def __init__(
        self,
        name: str,
        config: BreakerConfig | None = None,
        *,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
        classifier: Classifier | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"CircuitBreaker name must be a non-empty str, got {name!r}")
        check_name_length(name, "CircuitBreaker name")
        if config is None:
            config = _default_config()
        elif not isinstance(config, BreakerConfig):
            raise TypeError(
                f"CircuitBreaker config must be a BreakerConfig, got {type(config).__name__}: "
                f"build one with BreakerConfig(...)"
            )
        if classifier is not None and not isinstance(classifier, Classifier):
            raise TypeError(
                f"CircuitBreaker classifier must be a Classifier, got {type(classifier).__name__}"
            )
        super().__init__(
            name,
            config,
            clock if clock is not None else SYSTEM_CLOCK,
            tuple(listeners),
            classifier if classifier is not None else _default_classifier(),
        )

    # ------------------------------------------------------------------ public surface

    @property
    def name(self) -> str:
        """What this breaker protects."""
        return self._name

    @property
    def classifier(self) -> Classifier:
        """Decides how each failure counts."""
        return self._classifier

    @property
    def config(self) -> BreakerConfig:
        """The validated configuration."""
        return self._config

    @property
    def state(self) -> CircuitState:
        """The current state. OPEN turns HALF_OPEN on the first call after ``open_for``."""
        return self._state

    @property
    def on_closed(self) -> Callable[[str], object] | None:
        """Called with the breaker's name each time it closes (under its lock: be quick).

        A :class:`BreakerRegistry` sets it on the breakers it keeps aside while they are
        open, to take them back when they close; one hook, owned by that registry.
        """
        return self._on_closed

    @on_closed.setter
    def on_closed(self, hook: Callable[[str], object] | None) -> None:
        self._on_closed = hook

    def __repr__(self) -> str:
        return f"CircuitBreaker({self._name!r}, state={self._state.name})"

    def _shell_label(self) -> str:
        return f"CircuitBreaker({self._name!r})"

    # ------------------------------------------------------ the Strategy protocol

    def before(self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Permit:
        """Admit a call: its token for :meth:`after`, or raise :class:`CircuitOpenError`."""
        token = self._admit()
        if self._timed:
            return token, self._clock.monotonic()
        return token

    def settle(self, token: Permit, error: BaseException | None) -> None:
        """Record how the call (a ``with`` block, an iteration) ended."""
        self.after(token, None, error)

    def after(self, token: Permit, value: object, error: BaseException | None) -> None:
        """Record how the call ended (a breaker never retries nor replaces)."""
        if token.__class__ is tuple:
            gen, start = token
        else:
            gen, start = cast("int", token), 0.0
        if error is None:
            self._record(gen, start, SUCCESS, None)
        else:
            self._record(gen, start, self._outcome(error), error)

    def block(self, delta: int) -> None:
        """A ``with`` block of this breaker opened (+1) or closed (-1) somewhere.

        While one is open the fast lane is closed: a function this breaker decorates,
        called inside the block, is then covered by the block's permit.
        """
        with self._lock:
            count = BLOCKS.get(self, 0) + delta
            if count:
                BLOCKS[self] = count
            else:
                BLOCKS.pop(self, None)
            self._refresh_fast()

    def snapshot(self) -> BreakerSnapshot:
        """A consistent reading of the breaker's state and counts."""
        with self._lock:
            now = self._clock.monotonic()
            window = self._window
            if window is not None:
                window.expire(now)
                calls, failures, slow = window.calls, window.failures, window.slow
            else:
                calls = failures = slow = 0
            state = self._state
            return BreakerSnapshot(
                name=self._name,
                state=state,
                calls=calls,
                failures=failures,
                slow_calls=slow,
                failure_rate=failures / calls if calls else None,
                consecutive_failures=self.streak,
                rejected=self._rejected,
                half_open_calls=self._permits if state is HALF_OPEN else 0,
                opened_at=self._opened_at,
                retry_after=self._retry_after(now),
                reason=self._reason,
            )

    def add_listener(self, listener: Listener) -> None:
        """Deliver every later event to ``listener`` too (it costs the fast path)."""
        if not callable(listener):
            raise TypeError(f"a listener must be callable, got {listener!r}")
        with self._lock:
            self._listeners = (*self._listeners, listener)
            self._timed = True  # a CallRecorded event carries the call's duration
            self._refresh_fast()

    def reconfigure(self, config: BreakerConfig) -> None:
        """Decide by ``config`` from now on, keeping the state and what was counted.

        The state, the failure streak, the manual setting and an open period under way
        stay as they are (a new ``open_for`` applies from the next opening); the window
        keeps its outcomes when its kind and length are unchanged, and starts empty when
        they change (the old counts do not fit it). Calls under way are not disturbed:
        their outcomes are recorded by the new rules.
        """
        if not isinstance(config, BreakerConfig):
            raise TypeError(
                f"reconfigure() takes a BreakerConfig, got {type(config).__name__}: build "
                "one with BreakerConfig(...)"
            )
        with self._lock:
            old = self._config
            same_window = (old.uses_window, old.window_seconds, old.count_window) == (
                config.uses_window, config.window_seconds, config.count_window
            )
            if not same_window:
                self._window = (
                    None if not config.uses_window
                    else TimeWindow(config.window_seconds) if config.window_seconds is not None
                    else CountWindow(config.window_size)
                )
            self._config = config
            self._timed = (
                config.slow_call_duration is not None
                or config.window_seconds is not None
                or bool(self._listeners)
            )
            self._refresh_fast()

    # ---------------------------------------------------------------- manual control

    def force_open(self) -> None:
        """Reject every call until :meth:`reset` or another manual transition."""
        self._manual(FORCED_OPEN, "forced open by force_open()")

    def disable(self) -> None:
        """Let every call through and record nothing, until :meth:`reset`."""
        self._manual(DISABLED, "disabled by disable()")

    def metrics_only(self) -> None:
        """Let every call through and record outcomes, but never trip, until :meth:`reset`."""
        self._manual(METRICS_ONLY, "metrics only, by metrics_only()")

    def reset(self) -> None:
        """Close the circuit and forget every count, whatever the state."""
        self._manual(CLOSED, "reset()")

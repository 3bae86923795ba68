"""The adaptive limiter: a concurrency limit that follows what the remote can take.

Each call is admitted while fewer than the current limit are in flight, else refused
at once with :class:`LimitExceededError`. Its outcome is a sample for the algorithm
(:class:`~resilience.AIMD`, :class:`~resilience.Gradient2`): its round trip on the
limiter's clock, the calls in flight when it started, and whether it was dropped — a
``TimeoutError`` or a :class:`~resilience.RejectedError` from further in (a bulkhead, a
rate limit, a remote's own refusal turned into one). Other errors and cancellations
teach nothing about capacity: they free their place and are not sampled.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar, cast

from resilience._core.blocks import blocks
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.errors import RejectedError
from resilience._core.events import emit
from resilience._core.measure import Measurement
from resilience._core.names import check_name_length
from resilience._core.shells import Shell, is_async, require_callable
from resilience._limit.algorithms import AIMD, Algorithm, Gradient2
from resilience._limit.events import LimitChanged, LimiterRejected, Listener

__all__ = ["AdaptiveLimiter", "LimitExceededError"]

P = ParamSpec("P")
R = TypeVar("R")


class LimitExceededError(RejectedError):
    """An adaptive limiter refused a call: as many in flight as its current limit.

    Attributes:
        name: The limiter's name.
        in_flight: Calls in flight when the call was refused.
        limit: The limit then.
    """

    noun = "free place"

    def __init__(self, *, name: str, in_flight: int, limit: int) -> None:
        self.name = name
        self.in_flight = in_flight
        self.limit = limit
        super().__init__(
            f"limiter {name!r} is at its limit ({in_flight} calls in flight, limit "
            f"{limit}): the call was refused at once. The limit follows the remote's "
            "latency and drops; retry later, or shed this work"
        )

    @property
    def subject(self) -> str:
        """``"limiter 'db' is at its limit"``."""
        return f"limiter {self.name!r} is at its limit"


class AdaptiveLimiter(Shell):
    """A concurrency limit that grows while latency holds and shrinks under strain.

    Usable alone (a decorator, ``call``/``acall``, ``with`` / ``async with``), in a
    :class:`~resilience.Pipeline`, through ``resilient(limiter=)`` and per remote
    through :class:`~resilience.Remotes`. Put it inside a retry and a breaker, outside
    a time limit: its samples are then single attempts, and a timeout is a drop.

    Args:
        name: What it guards, in errors, events and metrics.
        algorithm: :class:`~resilience.AIMD` (the default) or :class:`~resilience.Gradient2`.
        clock: Measures each call's round trip.
        listeners: Called with each :class:`LimiterRejected` and :class:`LimitChanged`.
    """

    __slots__ = (
        "_admitted",
        "_algorithm",
        "_clock",
        "_dropped",
        "_estimate",
        "_in_flight",
        "_limit",
        "_listeners",
        "_lock",
        "_name",
        "_now",
        "_rejected",
        "_segment",
    )

    def __init__(
        self,
        name: str,
        algorithm: Algorithm | None = None,
        *,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"AdaptiveLimiter name must be a non-empty str, got {name!r}")
        check_name_length(name, "AdaptiveLimiter name")
        if algorithm is None:
            algorithm = AIMD()
        elif not isinstance(algorithm, AIMD | Gradient2):
            raise TypeError(
                f"AdaptiveLimiter algorithm must be AIMD(...) or Gradient2(...), got "
                f"{type(algorithm).__name__}"
            )
        self._name = name
        self._algorithm = algorithm
        self._estimate = algorithm.start()
        self._limit = int(self._estimate.limit)
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._now = self._clock.monotonic  # bound once: two readings per call
        self._listeners: tuple[Listener, ...] = tuple(listeners)
        for listener in self._listeners:
            if not callable(listener):
                raise TypeError(f"a listener must be callable, got {listener!r}")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._admitted = 0
        self._rejected = 0
        self._dropped = 0
        self._segment: Segment | None = None

    @property
    def name(self) -> str:
        """What it guards."""
        return self._name

    @property
    def algorithm(self) -> Algorithm:
        """How the limit moves."""
        return self._algorithm

    @property
    def limit(self) -> int:
        """The current limit: calls admitted at once."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Calls admitted and not finished."""
        return self._in_flight

    @property
    def idle(self) -> bool:
        """True when no call is in flight (its learned limit is lost if it is dropped)."""
        return self._in_flight == 0

    def add_listener(self, listener: Listener) -> None:
        """Deliver every later event to ``listener`` too."""
        if not callable(listener):
            raise TypeError(f"a listener must be callable, got {listener!r}")
        self._listeners = (*self._listeners, listener)

    def __repr__(self) -> str:
        algorithm = type(self._algorithm).__name__
        return f"AdaptiveLimiter({self._name!r}, {algorithm}, limit={self._limit})"

    def _shell_label(self) -> str:
        return f"AdaptiveLimiter({self._name!r})"

    # ----------------------------------------------------------------- the strategy

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn``: each call is admitted under the limit, and teaches it.

        A plain function gets a wrapper of its own, :meth:`before` and :meth:`after`
        inline (a lone limiter never retries or replaces, so the engine's loop would
        only cost); coroutine and generator functions go through the engine.
        """
        require_callable(fn, f"@{self._shell_label()}")
        if is_async(fn) or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            return super().__call__(fn)
        now, learn, after, acquire, release = (
            self._now,
            self._learn,
            self.after,
            self._lock.acquire,
            self._lock.release,
        )
        estimate = self._estimate

        @functools.wraps(fn)
        def limited(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            held = blocks()
            if held and self in held:
                return fn(*args, **kwargs)  # the enclosing `with` block admits the call
            started = now()
            acquire()  # before(), inline
            in_flight = self._in_flight
            if in_flight >= self._limit:
                raise self._refused(in_flight)
            self._in_flight = in_flight = in_flight + 1
            self._admitted += 1
            release()
            try:
                value = fn(*args, **kwargs)
            except BaseException as exc:
                after((started, in_flight), None, exc)
                raise
            rtt = now() - started  # after() of a success, inline
            if rtt <= estimate.quiet_rtt and in_flight < estimate.quiet_below:
                acquire()
                self._in_flight -= 1
                release()
            else:
                learn(rtt, in_flight, False)  # noqa: FBT003 - positional on the hot path
            return value

        return cast("Callable[P, R]", limited)

    def before(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[float, int]:
        """Admit the call if fewer than the limit are in flight: its start and that count.

        Raises:
            LimitExceededError: As many calls in flight as the limit.
        """
        started = self._now()
        lock = self._lock
        lock.acquire()  # nothing below can raise before it is released
        in_flight = self._in_flight
        if in_flight >= self._limit:
            raise self._refused(in_flight)
        self._in_flight = in_flight = in_flight + 1
        self._admitted += 1
        lock.release()
        return started, in_flight

    def _refused(self, in_flight: int) -> LimitExceededError:
        """Count a refusal, with the lock held (released here); the error to raise."""
        limit = self._limit
        self._rejected += 1
        self._lock.release()
        if self._listeners:
            emit(self._listeners, LimiterRejected(self._name, in_flight, limit))
        return LimitExceededError(name=self._name, in_flight=in_flight, limit=limit)

    def settle(self, token: tuple[float, int], error: BaseException | None) -> None:
        """Free the place of a ``with`` block or a generator's iteration, and learn."""
        self.after(token, None, error)

    def after(self, token: tuple[float, int], value: object, error: BaseException | None) -> None:
        """Free the call's place, and learn from its outcome."""
        started, in_flight = token
        rtt = self._now() - started
        estimate = self._estimate
        if error is None:
            if rtt > estimate.quiet_rtt or in_flight >= estimate.quiet_below:
                return self._learn(rtt, in_flight, False)  # noqa: FBT003
        elif isinstance(error, TimeoutError | RejectedError):
            return self._learn(rtt, in_flight, True)  # noqa: FBT003
        # A sample that would move nothing (e.g. AIMD, well under its limit), or an
        # error that teaches nothing about capacity: only the place is freed.
        lock = self._lock
        lock.acquire()
        self._in_flight -= 1
        lock.release()
        return None

    def _learn(self, rtt: float, in_flight: int, dropped: bool) -> None:
        """Free a place and give the algorithm its sample; tell of a limit that moved."""
        changed: LimitChanged | None = None
        lock = self._lock
        lock.acquire()
        try:
            self._in_flight -= 1
            if dropped:
                self._dropped += 1
            reason = self._estimate.update(rtt, in_flight, dropped)
            if reason is not None:
                new = int(self._estimate.limit)
                if new != self._limit:
                    changed = LimitChanged(self._name, self._limit, new, reason)
                    self._limit = new
        finally:
            lock.release()
        if changed is not None and self._listeners:
            emit(self._listeners, changed)

    # ---------------------------------------------------------------- measurements

    def measurements(self) -> list[Measurement]:
        """The limit, the calls in flight, and calls admitted, refused and dropped."""
        with self._lock:
            limit, in_flight = self._limit, self._in_flight
            admitted, rejected, dropped = self._admitted, self._rejected, self._dropped
            extra = self._estimate.gauges()
        a = self._algorithm
        return [
            Measurement(
                kind="adaptive_limiter",
                name=self._name,
                state=f"{in_flight} in flight, limit {limit} ({type(a).__name__} "
                f"{a.min_limit}..{a.max_limit})",
                gauges={
                    "limit": limit,
                    "in_flight": in_flight,
                    "min_limit": a.min_limit,
                    "max_limit": a.max_limit,
                    **extra,
                },
                totals={"admitted": admitted, "rejected": rejected, "dropped": dropped},
                healthy=in_flight < limit,
            )
        ]

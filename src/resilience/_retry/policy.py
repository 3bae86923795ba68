"""RetryPolicy: the retry strategy of the pipeline, with deadlines, budgets and tenacity's algebra.

The first attempt is an ordinary call: a plain policy (no budget, no deadline, no
tenacity stop or wait) is passive, so the drivers build nothing and read nothing unless
it fails. After a failure its :class:`~resilience._retry.run.Run` decides each next step;
the drivers wait and call again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

import tenacity
from pydantic import Field

from resilience._classify.classifier import Classifier
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.drive import Segment
from resilience._core.options import Options, Seconds, seconds
from resilience._core.shells import Shell, require_callable
from resilience._core.strategy import Replace
from resilience._retry.attempts import Attempt, Attempts
from resilience._retry.backoff import Backoff
from resilience._retry.budget import RetryBudget
from resilience._retry.events import RetryScheduled
from resilience._retry.partial import partial_shells
from resilience._retry.results import ResultCheck
from resilience._retry.run import Run, Settings, new_run

__all__ = ["RetryPolicy"]

P = ParamSpec("P")
R = TypeVar("R")

_DEFAULT_ATTEMPTS = 3
Kwargs = dict[str, Any]


class _RetryConfig(Options):
    attempts: int | None = Field(default=None, ge=1)
    deadline: Seconds | None = Field(default=None, gt=0)
    max_retry_after: Seconds = Field(default=60.0, ge=0)
    respect_retry_after: bool = True
    wait_for_open_circuit: Seconds | None = Field(default=None, ge=0)


class RetryPolicy(Shell):
    """Retries a call that failed with a RETRYABLE error, with backoff, within bounds.

    Use it as a decorator (sync or async), through :meth:`call` / :meth:`acall`, as
    ``for attempt in policy: with attempt: ...`` (``async for`` in coroutines), or as a
    strategy of a :class:`~resilience.Pipeline`.

    Args:
        attempts: Attempts in all, counting the first call. 3 by default; when ``stop``
            is given and ``attempts`` is not, ``stop`` alone decides.
        backoff: The waits between attempts; exponential with full jitter by default
            (0.1 s, 0.2 s, 0.4 s ... capped at 10 s, each drawn from zero to that).
        deadline: Seconds (or a ``timedelta``) for the whole operation, from the start of
            its first attempt, attempts and waits together; a wait that would pass it
            ends the retrying at once.
        classifier: Decides what is RETRYABLE; :meth:`Classifier.default` by default.
        budget: A :class:`RetryBudget`, usually shared per remote; a retry it refuses
            is not made.
        respect_retry_after: Wait as long as a Retry-After header asks when that is
            longer than the computed wait.
        max_retry_after: The most any Retry-After may make us wait.
        wait_for_open_circuit: Seconds we may wait for a rejection to pass: an open
            circuit's next trial call, say. None (the default): a refusal (a
            :class:`CircuitOpenError`) is never retried and reaches the fallback or the
            caller at once. With a number, a refusal whose ``retry_after`` is at most
            that is waited out and the call tried again.
        stop: A tenacity stop strategy (``stop_after_delay(30) | stop_after_attempt(5)``).
        wait: A tenacity wait strategy, replacing ``backoff``.
        clock: Time source for waits and the deadline.
        on_retry: Called with a :class:`RetryScheduled` before each wait.
        retry_on_result: Called with each value the call returns; a truthy answer retries
            it as a RETRYABLE failure would be (``lambda r: r is None``, or
            :func:`retry_on_status` for HTTP responses, or tenacity's
            ``retry_if_result(...)``). A number of seconds (or a
            ``timedelta``) retries too, waiting at least that, like a Retry-After. When
            the policy gives up, :class:`RetryResultError` carries the last value.
    """

    __slots__ = (
        "_check",
        "_clock",
        "_kwargs",
        "_segment",
        "_settings",
        "after",
        "before",
        "passive",
    )

    before: Callable[[Callable[..., object] | None, tuple[Any, ...], Kwargs], Run]
    """Begin an operation: a budget deposit and a start time, where they are needed.

    A plain policy's run is made on the first failure (the policy is passive) and needs
    neither: one small list.
    """
    after: Callable[[Run, object, BaseException | None], float | Replace | None]
    """After an attempt: the wait before the next one, or None (success, give-up).

    The settings' own :meth:`~resilience._retry.run.Settings.after`: one frame on the
    failure path, not two. With ``retry_on_result``, the result's judge, which gives up
    on an unwanted result with ``Replace(error=RetryResultError(...))``.
    """
    passive: bool
    """A plain policy needs nothing before a first attempt, and nothing after a success.

    A policy with ``retry_on_result`` is never passive: a success is judged too.
    """

    waits = True  # its after() asks for waits: a pipeline sleeps them on its clock

    def __init__(
        self,
        *,
        attempts: int | None = None,
        backoff: Backoff | None = None,
        deadline: float | timedelta | None = None,
        classifier: Classifier | None = None,
        budget: RetryBudget | None = None,
        respect_retry_after: bool = True,
        max_retry_after: float | timedelta = 60.0,
        wait_for_open_circuit: float | timedelta | None = None,
        stop: tenacity.stop.stop_base | None = None,
        wait: tenacity.wait.wait_base | None = None,
        clock: Clock | None = None,
        on_retry: Callable[[RetryScheduled], object] | None = None,
        retry_on_result: Callable[[Any], object] | None = None,
    ) -> None:
        config = _RetryConfig(
            attempts=attempts,
            deadline=seconds(deadline),
            max_retry_after=seconds(max_retry_after),
            respect_retry_after=respect_retry_after,
            wait_for_open_circuit=seconds(wait_for_open_circuit),
        )
        _check_type("backoff", backoff, Backoff)
        _check_type("classifier", classifier, Classifier)
        _check_type("budget", budget, RetryBudget)
        _check_type("stop", stop, tenacity.stop.stop_base)
        _check_type("wait", wait, tenacity.wait.wait_base)
        if on_retry is not None and not callable(on_retry):
            raise TypeError(f"on_retry must be callable, got {on_retry!r}")
        if retry_on_result is not None and not callable(retry_on_result):
            raise TypeError(
                "RetryPolicy(retry_on_result=...) must be a predicate taking the call's "
                f"result, got {type(retry_on_result).__name__}: {retry_on_result!r}"
            )
        self._kwargs: dict[str, Any] = {
            "attempts": attempts,
            "backoff": backoff,
            "deadline": deadline,
            "classifier": classifier,
            "budget": budget,
            "respect_retry_after": respect_retry_after,
            "max_retry_after": max_retry_after,
            "wait_for_open_circuit": wait_for_open_circuit,
            "stop": stop,
            "wait": wait,
            "clock": clock,
            "on_retry": on_retry,
            "retry_on_result": retry_on_result,
        }
        count = config.attempts
        if count is None and stop is None:
            count = _DEFAULT_ATTEMPTS
        backoff = backoff if backoff is not None else Backoff()
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._settings = Settings(
            attempts=count,
            backoff=backoff,
            bases=backoff.schedule(),
            jitter=backoff.jitter,
            deadline=config.deadline,
            classifier=classifier if classifier is not None else Classifier.default(),
            budget=budget,
            respect_retry_after=config.respect_retry_after,
            max_retry_after=config.max_retry_after,
            wait_for_open_circuit=config.wait_for_open_circuit,
            stop=stop,
            wait=wait,
            clock=self._clock,
            on_retry=on_retry,
        )
        # Judging results is the only thing a success pays for, and only when asked for.
        self._check = (
            None if retry_on_result is None else ResultCheck(self._settings, retry_on_result)
        )
        self._segment: Segment | None = None
        # The Strategy protocol, bound once: plain attributes, read on every attempt.
        check, plain = self._check, self._settings.plain
        self.passive = plain and check is None
        self.before = _plain_run if plain else self._begin
        after = self._settings.after_plain if plain else self._settings.after
        self.after = after if check is None else check

    def replace(self, **changes: Any) -> RetryPolicy:  # noqa: ANN401 - mirrors __init__
        """A copy with some arguments changed, e.g. ``policy.replace(attempts=5)``."""
        unknown = set(changes) - set(self._kwargs)
        if unknown:
            raise TypeError(f"RetryPolicy.replace() got unknown arguments: {sorted(unknown)}")
        return RetryPolicy(**{**self._kwargs, **changes})

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items() if v is not None)
        return f"RetryPolicy({shown})"

    @property
    def classifier(self) -> Classifier:
        """The classifier deciding what is retried."""
        return self._settings.classifier

    @property
    def clock(self) -> Clock:
        """The time source of its waits and deadline."""
        return self._clock

    @property
    def settings(self) -> Settings:
        """The validated decisions its runs read."""
        return self._settings

    @property
    def has_classifier(self) -> bool:
        """Whether a classifier was given (else the default one decides)."""
        return self._kwargs["classifier"] is not None

    # ------------------------------------------------------ the Strategy protocol

    def _begin(
        self,
        fn: Callable[..., object] | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Run:
        s = self._settings
        if s.budget is not None:
            s.budget.record_call()
        start = None if s.timeless else self._clock.monotonic()
        return new_run(s, start, fn, args, kwargs)

    # ------------------------------------------------------------------ forms

    def __iter__(self) -> Iterator[Attempt]:
        """``for attempt in policy: with attempt: ...``."""
        return iter(Attempts(self))

    def __aiter__(self) -> AsyncIterator[Attempt]:
        """``async for attempt in policy: with attempt: ...``."""
        return aiter(Attempts(self))

    def attempts(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *args: Any,  # noqa: ANN401 - the call's own
        **kwargs: Any,  # noqa: ANN401
    ) -> Attempts:
        """The attempts of one call of ``fn(*args, **kwargs)`` that your loop makes.

        ``for attempt in policy.attempts(fetch, url): with attempt: fetch(url)`` (or
        ``async for``): as ``for attempt in policy``, with the call named, for tenacity's
        ``stop=`` / ``wait=`` strategies (``retry_state.fn``, ``args``, ``kwargs``).
        """
        return Attempts(self, fn, args, kwargs)

    def partial(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a multi-item ``fn`` so that only its failed items are retried.

        ``fn`` takes the items as its first positional argument and raises
        :class:`PartialFailure` ``(succeeded=..., failed={item: exc})`` when some
        fail. It is called again with a list of the failed items whose errors are
        RETRYABLE; its other arguments are passed unchanged. When items still fail at
        the end, a :class:`PartialFailure` holding every success and every last
        failure is raised.
        """
        require_callable(fn, "@RetryPolicy(...).partial")
        return partial_shells(self, fn)


def _plain_run(fn: object, args: tuple[Any, ...], kwargs: Kwargs) -> Run:  # noqa: ARG001 - before()'s
    return [None, None, None]  # no start time, no tenacity state, no partial state


def _check_type(name: str, value: object, expected: type) -> None:
    if value is not None and not isinstance(value, expected):
        raise TypeError(
            f"RetryPolicy({name}=...) must be a {expected.__module__}.{expected.__qualname__}, "
            f"got {type(value).__name__}: {value!r}"
        )

"""``for attempt in policy: with attempt: ...``: the retry strategy driven by a loop of yours."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, cast

from resilience._core.strategy import Replace

if TYPE_CHECKING:
    from resilience._retry.run import Retrying, Run

__all__ = ["Attempt", "Attempts"]

_UNSET: Final = object()


class Attempt:
    """One attempt of ``for attempt in policy: with attempt: ...``."""

    __slots__ = ("_number", "_policy", "_result", "_run", "_wait")

    def __init__(self, number: int, policy: Retrying, run: Run) -> None:
        self._number = number
        self._policy = policy
        self._run = run
        self._wait: float | None = None
        self._result: object = _UNSET

    def set_result(self, value: object) -> None:
        """Hand the block's result to the policy's ``retry_on_result`` (as tenacity's).

        Without it, a block that does not raise is a success: the predicate judges only
        what is handed to it.
        """
        self._result = value

    @property
    def number(self) -> int:
        """1 for the first attempt."""
        return self._number

    @property
    def wait(self) -> float | None:
        """Seconds before the next attempt, once this one failed and will be retried."""
        return self._wait

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        result = self._result
        if exc is None and result is _UNSET:
            return False  # a success, no result to judge
        decision = self._policy.after(self._run, None if result is _UNSET else result, exc)
        if isinstance(decision, Replace):  # gave up on an unwanted result
            raise cast("BaseException", decision.error)
        self._wait = decision
        # Swallowed when it will be retried; else it propagates, with its note.
        return decision is not None


class Attempts:
    """The attempts of one operation, for ``for`` and ``async for``.

    Each waits as the policy says after a failure; the loop ends at the first attempt
    that does not fail, or with the failure the policy gives up on.
    """

    __slots__ = ("_args", "_fn", "_kwargs", "_policy")

    def __init__(
        self,
        policy: Retrying,
        fn: Callable[..., Any] | None = None,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._policy = policy
        self._fn = fn
        self._args = args
        self._kwargs = kwargs if kwargs is not None else {}

    def _steps(self) -> Iterator[tuple[float, Attempt]]:
        """Each attempt with the seconds to wait before it, until one is not retried.

        An attempt's wait is read when the next is asked for: once the caller's block ran.
        """
        policy = self._policy
        run = policy.before(self._fn, self._args, self._kwargs)
        number = 1
        wait: float | None = 0.0
        while wait is not None:
            attempt = Attempt(number, policy, run)
            yield wait, attempt
            wait = attempt.wait
            number += 1

    def __iter__(self) -> Iterator[Attempt]:
        sleep = self._policy.clock.sleep
        for wait, attempt in self._steps():
            if wait > 0:
                sleep(wait)
            yield attempt

    async def __aiter__(self) -> AsyncIterator[Attempt]:
        asleep = self._policy.clock.asleep
        for wait, attempt in self._steps():
            if wait > 0:
                await asleep(wait)
            yield attempt

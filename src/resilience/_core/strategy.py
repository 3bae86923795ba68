"""The Strategy protocol: one resilience decision around an attempt.

A pipeline runs its strategies around each attempt of a call. ``before`` runs
outermost first: it admits the attempt, returning a token of its own that is handed back
to ``after``, or refuses it by raising (a refusal counts as the attempt's error for the
strategies outside). ``after`` runs innermost first, once the attempt has its value or
its error, and says what happens next:

- ``None``: the outcome goes on outward as it is;
- a number of seconds: run the strategies inside this one, and the call, again after
  that wait (this strategy stays entered: its ``after`` gets the same token back);
- :class:`Replace`: the outcome becomes another value, or another error.

Strategies decide; the drivers call, wait and sleep, sync or async. Optional parts:

- ``passive = True``: ``before`` has no effect on the attempt it precedes and ``after``
  acts on an ``Exception`` only, so the drivers may run ``before`` once the first
  attempt failed, and skip ``after`` when it did not (a plain retry, a fallback).
- ``succeeded(args, kwargs, value)``: on a passive strategy, what the fast paths call
  on a success instead of skipping it (a cached fallback records the value); in the
  loop the strategy's ``after`` sees the success as usual. A breaker's fast lane
  beside one keeps running (``Segment.observed_lane``), but for ``acall()``.
- ``once = True``: a call is admitted at most once: a function the strategy decorates,
  called through the strategy's own ``call()`` or inside its ``with`` block, is not
  admitted again (a breaker would count it twice).
- ``settle(token, error)``: the outcome of what cannot be repeated or replaced (a
  ``with`` block, a generator after its first item); a strategy without it takes no
  part in those. ``block(delta)`` is told when a ``with`` block of it opens (+1) and
  closes (-1): a fast lane closes meanwhile, so that the block covers the functions it
  decorates.
- :class:`Wrapping`: a strategy that must run the inside of the pipeline itself (a time
  limit cancels it; hedging runs it more than once). If it has ``for_sync()``, sync
  calls run the plain strategy that returns in its place (a sync time limit cannot
  cancel: it only measures).
- :class:`FastLane` / :class:`LaneChooser`: what lets the drivers skip ``before`` and
  ``after`` on a success (a CLOSED circuit breaker; a registry of them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

__all__ = ["Decision", "FastLane", "LaneChooser", "Replace", "Strategy", "Wrapping"]

T = TypeVar("T")


class Replace:
    """A decision of :meth:`Strategy.after`: the outcome becomes ``value``, or ``error``."""

    __slots__ = ("error", "value")

    def __init__(self, value: object = None, *, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error

    def __repr__(self) -> str:
        if self.error is not None:
            return f"Replace(error={self.error!r})"
        return f"Replace({self.value!r})"


Decision: TypeAlias = "float | Replace | None"
"""What :meth:`Strategy.after` returns: None, a wait before another attempt, a Replace."""


@runtime_checkable
class Strategy(Protocol):
    """One resilience decision around an attempt (see the module's docstring)."""

    def before(
        self, fn: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> object:
        """Admit the next attempt of ``fn(*args, **kwargs)``: a token for :meth:`after`.

        ``fn`` is None, and ``args`` empty, for a ``with`` block. Raise to refuse.
        """
        ...

    def after(self, token: Any, value: object, error: BaseException | None) -> Decision:  # noqa: ANN401 - the token is the strategy's own
        """Decide what follows an attempt's outcome (``error`` is None on success)."""
        ...


@runtime_checkable
class Wrapping(Protocol):
    """A strategy that runs the inside of the pipeline itself: a time limit, hedging.

    ``inner`` runs the strategies inside this one, and the call, once; ``fn`` is the
    function called (for messages), or None.
    """

    def run(self, inner: Callable[[], T], fn: Callable[..., Any] | None) -> T:
        """Run ``inner`` (sync)."""
        ...

    async def arun(
        self, inner: Callable[[], Awaitable[T]], fn: Callable[..., Any] | None
    ) -> T:
        """Await ``inner`` (async)."""
        ...


class FastLane(Protocol):
    """A strategy whose quiet success the drivers handle with two reads and a write.

    While ``fast_epoch`` holds a number, an attempt needs no ``before``, and a success
    needs only ``streak`` set to 0 if ``epoch`` still equals it: a state change bumps
    ``epoch``, so a success from before it changes nothing. A failure goes to ``after``
    with ``fast_epoch`` as its token, as if ``before`` had returned it.
    """

    fast_epoch: int | None
    epoch: int
    streak: int


class LaneChooser(Protocol):
    """A strategy that sends each call through a fast lane chosen by the call's arguments.

    Its ``after`` takes ``(lane, lane_token)`` pairs as tokens: what the drivers build
    for a failure they saw on the fast path.
    """

    def lanes(self) -> tuple[Callable[[str], FastLane], str | Callable[..., str]]:
        """How to find the lane of a call: a lookup, and a name or a function of the arguments."""
        ...

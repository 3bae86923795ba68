"""A remote's policy that follows reloads: each call runs through the pipeline in force."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar, cast

from resilience._core.pipeline import Pipeline
from resilience._core.shells import is_async

__all__ = ["LivePolicy"]

P = ParamSpec("P")
R = TypeVar("R")


class LivePolicy:
    """Runs each call through a remote's pipeline as the settings in force build it.

    A reload that changes the remote's retry policy, timeout or a limit applies from the
    next call (a limit whose section is unchanged is the same instance, its state kept);
    a call under way finishes with the pipeline it started with. Built by
    :meth:`Configuration.live`; the pipeline of each version of the settings is built
    once, so a call costs one lookup more than the pipeline's own.
    """

    __slots__ = ("_current", "_remote")

    def __init__(self, remote: str, current: Callable[[], Pipeline]) -> None:
        self._remote = remote
        self._current = current

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline of the settings in force now."""
        return self._current()

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` through the pipeline in force; its result."""
        return self._current().call(fn, *args, **kwargs)

    async def acall(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``fn(*args, **kwargs)`` through the pipeline in force; its result."""
        return await self._current().acall(fn, *args, **kwargs)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a sync or async function: each call through the pipeline in force."""
        if is_async(fn):
            async_fn = cast("Callable[P, Awaitable[object]]", fn)

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> object:
                return await self._current().acall(async_fn, *args, **kwargs)

            return cast("Callable[P, R]", run_async)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            return self._current().call(fn, *args, **kwargs)

        return run

    def __repr__(self) -> str:
        return f"LivePolicy({self._remote!r})"

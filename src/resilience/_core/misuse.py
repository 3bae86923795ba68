"""An async function given to a sync ``call()``: refused, and said so plainly."""

from __future__ import annotations

import asyncio
import types
from typing import Final

from resilience._core.errors import ResilienceError
from resilience._core.text import safe_repr

__all__ = ["AWAITABLES", "MisusedCallError", "misused"]

AWAITABLES: Final[frozenset[type]] = frozenset({types.CoroutineType, asyncio.Future, asyncio.Task})
"""What a sync ``call()`` refuses as a result: one set lookup of the result's type."""


class MisusedCallError(ResilienceError, TypeError):
    """A sync ``call()`` got an async function: a bug in the caller, not a failed call.

    Never retried, never handed to a fallback, never counted by a breaker.
    """


def misused(owner: str, fn: object, result: object) -> MisusedCallError:
    """The error for a sync ``call()`` whose ``fn`` returned an awaitable; closes a coroutine.

    The coroutine never ran: closing it keeps Python from warning that it was never
    awaited, long after the call, where nothing says which call it was.
    """
    if isinstance(result, types.CoroutineType):
        result.close()
    return MisusedCallError(
        f"{owner}.call() got {safe_repr(fn, limit=200)}, which returned "
        f"{type(result).__name__} (an awaitable), not a result: nothing was awaited and "
        f"nothing recorded. Use `await {owner}.acall(fn, ...)` for async functions"
    )

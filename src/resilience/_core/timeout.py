"""A time limit on an awaitable that tells its own expiry from a TimeoutError raised inside."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["Overran", "within"]

T = TypeVar("T")


class Overran(Exception):  # noqa: N818 - an outcome, not a failure of ours
    """The awaitable was still running when its time limit expired, and was cancelled."""


async def within(seconds: float | None, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` for at most ``seconds`` (None: no limit).

    Raises:
        Overran: The limit expired. A TimeoutError the awaitable raises itself (a socket
            timeout, say) propagates as it is.
    """
    limit = asyncio.timeout(seconds)
    try:
        async with limit:
            return await awaitable
    except TimeoutError:
        if limit.expired():
            raise Overran from None
        raise

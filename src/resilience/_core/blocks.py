"""``with`` blocks of strategies, and the strategies a call must not apply twice.

One stack per context (thread, task) holds every strategy's open ``with`` block: blocks
pair up in order, and a decorated function called inside a block of a ``once`` strategy
it applies is covered by the block (see :data:`MARK` for the other case: a decorated
function called through the ``call()`` of a strategy it applies).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Final

from resilience._core.strategy import Strategy

__all__ = [
    "HELD",
    "MARK",
    "Held",
    "Settling",
    "aenter_block",
    "blocks",
    "enter_block",
    "exit_block",
    "settle",
    "settle_all",
]

logger = logging.getLogger("resilience")

HELD: Final = object()
"""The token of a strategy that an enclosing ``with`` block or the wrapper itself applies."""

MARK: Final = "__resilience_once__"
"""The attribute of a decorated function naming the ``once`` strategies it applies."""

Held = tuple[object, ...]

_BLOCKS: contextvars.ContextVar[tuple[tuple[Strategy, object], ...]] = contextvars.ContextVar(
    "resilience.blocks", default=()
)
# The strategies of _BLOCKS alone, kept beside it: every decorated call reads them, and a
# ContextVar's own get() is a C call, where building them from _BLOCKS is a Python frame.
_HELD: contextvars.ContextVar[Held] = contextvars.ContextVar("resilience.held", default=())

blocks: Final[Callable[[], Held]] = _HELD.get
"""The strategies whose ``with`` blocks are open in this context."""


def _keep(stack: tuple[tuple[Strategy, object], ...]) -> None:
    _BLOCKS.set(stack)
    _HELD.set(tuple(s for s, _ in stack))


def enter_block(strategy: Strategy) -> None:
    """Admit a ``with`` block (or raise the refusal); its token waits on the stack."""
    block = getattr(strategy, "block", None)
    if block is not None:
        block(1)  # a fast lane closes while a block may cover calls through it
    try:
        token = strategy.before(None, (), {})
    except BaseException:
        if block is not None:
            block(-1)
        raise
    _keep((*_BLOCKS.get(), (strategy, token)))


async def aenter_block(strategy: Strategy) -> None:
    """:func:`enter_block` for ``async with``: awaits the strategy's ``abefore`` if any."""
    abefore = getattr(strategy, "abefore", None)
    if abefore is None:
        enter_block(strategy)
        return
    block = getattr(strategy, "block", None)
    if block is not None:
        block(1)
    try:
        token = await abefore(None, (), {})
    except BaseException:
        if block is not None:
            block(-1)
        raise
    _keep((*_BLOCKS.get(), (strategy, token)))


def exit_block(strategy: Strategy, error: BaseException | None) -> None:
    """Settle the innermost open block of ``strategy`` in this context."""
    stack = _BLOCKS.get()
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][0] is strategy:
            token = stack[i][1]
            _keep(stack[:i] + stack[i + 1 :])
            break
    else:
        raise RuntimeError(
            f"{strategy!r}: __exit__ without a matching __enter__ in this context; use "
            "`with ...:` or `async with ...:` as a block"
        )
    try:
        settle(strategy, token, error)
    finally:
        block = getattr(strategy, "block", None)
        if block is not None:
            block(-1)


def settle(strategy: Strategy, token: object, error: BaseException | None) -> None:
    """Report an outcome that cannot be repeated or replaced, if the strategy takes one."""
    method = getattr(strategy, "settle", None)
    if method is not None and token is not HELD:
        method(token, error)


def settle_all(
    strategies: tuple[Strategy, ...], tokens: list[object], error: BaseException | None
) -> None:
    """Settle every strategy of a generator's iteration, innermost first."""
    for i in range(len(strategies) - 1, -1, -1):
        try:
            settle(strategies[i], tokens[i], error)
        except Exception:  # the iteration's own outcome goes on; ours is logged
            logger.exception("resilience: %r failed to settle a generator's outcome", strategies[i])


class Settling:
    """``with`` it, a generator's iteration settles its strategies when it ends.

    Exhausted or closed by its consumer (``GeneratorExit``), the iteration is a success;
    any other exception that ends it is its failure.
    """

    __slots__ = ("_strategies", "_tokens")

    def __init__(self, strategies: tuple[Strategy, ...], tokens: list[object]) -> None:
        self._strategies = strategies
        self._tokens = tokens

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        outcome = None if isinstance(error, GeneratorExit) else error
        settle_all(self._strategies, self._tokens, outcome)

"""What travels between the breaker store and Redis: milliseconds, text, and published events.

A published event is untrusted input (anything may publish on the channel), so it is
parsed strictly: a malformed one raises, and the subscriber logs and drops it.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from resilience._breaker.events import CircuitState

__all__ = ["STATES", "check_reply", "ms", "parse_event", "text"]

STATES: Final = {s.value: s for s in CircuitState}
"""The circuit states, by the name the scripts store and publish."""

EVENT_ERRORS: Final = (ValueError, KeyError, TypeError, OverflowError, RecursionError)
"""What :func:`parse_event` raises for a malformed event."""


def ms(seconds: float | None) -> int:
    """``seconds`` as the scripts' whole milliseconds (at least 1), 0 for None (unset)."""
    return 0 if seconds is None else max(1, round(seconds * 1000))


def text(value: object) -> str:
    """A reply item as text: redis-py returns bytes unless the client decodes responses."""
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_event(data: bytes | str) -> tuple[str, list[Any]]:
    """A published transition: the breaker's name, and the reply the scripts return.

    Raises:
        One of :data:`EVENT_ERRORS` unless ``data`` is what the scripts publish.
    """
    message = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    name = message["name"]
    reply = [
        message["state"],
        message["gen"],
        message["left"],
        message["period"],
        message["reason"],
    ]
    check_reply(reply)
    return name, reply


def check_reply(reply: list[Any]) -> None:
    """Raise ValueError or TypeError unless ``reply`` is what the scripts publish."""
    state, gen, left, period, reason = reply
    if not isinstance(state, str) or state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    if not isinstance(gen, str) or not gen.isdigit():
        raise ValueError(f"generation {gen!r} is not a number as text")
    for value in (left, period):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{value!r} is not a number of milliseconds")
    if not isinstance(reason, str):
        raise TypeError(f"reason {reason!r} is not text")


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number the store writes")


def _finite(number: str) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"{number} is not a finite number")
    return value

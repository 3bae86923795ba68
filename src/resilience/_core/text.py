"""Text from objects we do not control: a repr or str that never raises, on one line, bounded.

An exception passed through a breaker, a retry or a health check is the caller's; its
``__repr__`` may raise, return something absurd or run to megabytes. Whatever it does,
the caller must get their own error back, and our logs must stay one line per record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

__all__ = ["json_bytes", "one_line", "safe_repr", "safe_str"]

_LIMIT = 500
# Control characters (C0, DEL, C1) that would end a log line, forge a new one or move a
# terminal's cursor: shown escaped.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROL |= {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_CONTROL |= {c: f"\\u{c:04x}" for c in (0x2028, 0x2029)}  # Unicode line separators


def _fallback(obj: object, what: str, error: BaseException) -> str:
    return f"<{type(obj).__name__} object; its {what} raised {type(error).__name__}>"


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…({len(text) - limit} more characters)"


def safe_repr(obj: object, *, limit: int = _LIMIT) -> str:
    """``repr(obj)`` on one line and at most about ``limit`` characters; never raises."""
    return _safe(obj, repr, "__repr__", limit)


def safe_str(obj: object, *, limit: int = _LIMIT) -> str:
    """``str(obj)`` on one line and at most about ``limit`` characters; never raises."""
    return _safe(obj, str, "__str__", limit)


def _safe(obj: object, render: Callable[[object], str], what: str, limit: int) -> str:
    try:
        text = render(obj)
        if type(text) is not str:
            raise TypeError(f"{what} returned {type(text).__name__}")  # noqa: TRY301
    except Exception as error:
        return _fallback(obj, what, error)
    return one_line(_bounded(text, limit))


def one_line(text: str) -> str:
    """``text`` with newlines and other control characters escaped."""
    if text.isprintable():
        return text
    return text.translate(_CONTROL)


def json_bytes(value: object, *, sort_keys: bool = False) -> bytes:
    """Strict JSON of ``value`` as we serve it: never ``NaN`` or ``Infinity``.

    Non-finite numbers become null; objects JSON has no form for (a datetime, a set, an
    exception) become their :func:`safe_str`.
    """
    return json.dumps(
        _finite(value), allow_nan=False, default=safe_str, sort_keys=sort_keys
    ).encode()


def _finite(value: object) -> object:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value

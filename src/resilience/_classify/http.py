"""HTTP on foreign exceptions: statuses, headers and Retry-After, read by duck typing.

Nothing here raises on an odd object: an attribute that raises, or a value of the wrong
type, reads as "not there".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = [
    "as_status",
    "attribute",
    "header",
    "headers_of",
    "http_date",
    "retry_after",
    "status_of",
]


def attribute(obj: object, name: str) -> object:
    """``obj.name``, or None when it is missing or raises."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def as_status(value: object) -> int | None:
    """``value`` if it is an HTTP status code (an int in 100..599), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:  # noqa: PLR2004
        return value
    return None


def status_of(exc: BaseException) -> int | None:
    """The error status (4xx, 5xx) on ``exc`` or its ``response``; None for 1xx-3xx."""
    for name in ("status_code", "status", "code"):
        status = as_status(attribute(exc, name))
        if status is not None:
            return status if status >= 400 else None  # noqa: PLR2004 - 1xx-3xx: no verdict
    response = attribute(exc, "response")
    if response is not None:
        for name in ("status_code", "status"):
            status = as_status(attribute(response, name))
            if status is not None:
                return status if status >= 400 else None  # noqa: PLR2004
    return None


def headers_of(exc: BaseException) -> object | None:
    """The headers on ``exc`` or on its ``response``, in whatever shape they come."""
    headers = attribute(exc, "headers")
    if headers is None:
        response = attribute(exc, "response")
        headers = attribute(response, "headers") if response is not None else None
    return headers


def header(headers: object, wanted: str) -> str | None:
    """A header's value, looked up case-insensitively in any common headers shape."""
    get = attribute(headers, "get")
    if callable(get):
        for key in (wanted, wanted.lower()):
            value = get(key)
            if isinstance(value, str | bytes):
                return value.decode("latin-1") if isinstance(value, bytes) else value
    items = attribute(headers, "items")
    pairs = items() if callable(items) else headers
    if isinstance(pairs, Iterable) and not isinstance(pairs, str | bytes):
        for pair in pairs:
            if isinstance(pair, tuple) and len(pair) == 2:  # noqa: PLR2004
                key, value = pair
                if isinstance(key, str) and key.lower() == wanted.lower():
                    return value if isinstance(value, str) else None
    return None


def retry_after(headers: object, wall_clock: Callable[[], float]) -> float | None:
    """Seconds from a Retry-After header (seconds or HTTP date), or None if unusable."""
    try:
        raw = header(headers, "Retry-After")
    except Exception:
        return None
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        now = wall_clock()
        when = http_date(raw, now)
        return None if when is None else max(0.0, when - now)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


# RFC 9110 section 5.6.7: the obsolete RFC 850 form, whose year has two digits.
_RFC850 = re.compile(
    r"[A-Za-z]+, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT", re.ASCII
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_FIFTY_YEARS = 50 * 365.2425 * 86_400.0


def http_date(raw: str, now: float) -> float | None:
    """Epoch seconds of an HTTP date in any of RFC 9110's three forms, or None.

    IMF-fixdate and asctime go through :func:`email.utils.parsedate_to_datetime`; a date
    without a zone (asctime has none) is UTC. An RFC 850 date's two-digit year is the
    one in this century of ``now``, or the century before if that is more than 50 years
    after ``now``, as RFC 9110 says.
    """
    try:
        rfc850 = _RFC850.fullmatch(raw)
        if rfc850 is not None:
            day, month, yy, hour, minute, second = rfc850.groups()
            this_century = datetime.fromtimestamp(now, UTC).year // 100 * 100
            values = (_MONTHS[month.lower()], int(day), int(hour), int(minute), int(second))
            when = datetime(this_century + int(yy), *values, tzinfo=UTC).timestamp()
            if when - now > _FIFTY_YEARS:
                when = datetime(this_century - 100 + int(yy), *values, tzinfo=UTC).timestamp()
            return when
        parsed = parsedate_to_datetime(raw)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (TypeError, ValueError, IndexError, KeyError, OverflowError):
        return None

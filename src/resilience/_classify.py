"""Failure classification: one decision, retryable, permanent or partial, for every failure."""

from __future__ import annotations

import enum
import errno
import logging
import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeAlias

from resilience._clock import wall_time
from resilience._errors import CircuitOpenError

__all__ = ["Classification", "Classifier", "FailureKind", "PartialFailure"]

logger = logging.getLogger("resilience")


class FailureKind(enum.Enum):
    """What trying again can do about a failure."""

    RETRYABLE = "retryable"
    """Transient: trying again may succeed."""
    PERMANENT = "permanent"
    """Trying again will fail the same way."""
    PARTIAL = "partial"
    """Some items of a multi-item operation failed; only those are worth retrying."""

    def __repr__(self) -> str:
        return f"FailureKind.{self.name}"


_RETRYABLE = FailureKind.RETRYABLE
_PERMANENT = FailureKind.PERMANENT


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one failure."""

    kind: FailureKind
    reason: str
    """A short human reason, e.g. ``"HTTP 503"`` or ``"errno ENOSPC"``."""
    retry_after: float | None = None
    """Seconds the remote asked us to wait (Retry-After), if it said."""


class PartialFailure(Exception):  # noqa: N818 - it is a failure of part, not an error
    """Some items of a multi-item operation failed.

    Args:
        succeeded: The items (or their keys) that were done.
        failed: Item key to the exception it failed with; must not be empty.
        message: Overrides the generated message.
    """

    def __init__(
        self,
        *,
        succeeded: Iterable[object] = (),
        failed: Mapping[object, BaseException],
        message: str | None = None,
    ) -> None:
        self.succeeded: list[object] = list(succeeded)
        self.failed: dict[object, BaseException] = dict(failed)
        if not self.failed:
            raise ValueError(
                "PartialFailure needs at least one failed item: with none, the operation "
                "succeeded and should return normally"
            )
        if message is None:
            total = len(self.succeeded) + len(self.failed)
            shown = ", ".join(f"{k!r}: {e!r}" for k, e in list(self.failed.items())[:3])
            more = f", and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""  # noqa: PLR2004
            message = f"{len(self.failed)} of {total} items failed: {shown}{more}"
        super().__init__(message)


Match: TypeAlias = type[BaseException] | tuple[type[BaseException], ...] | Callable[
    [BaseException], bool
]

# The default table's sets, computed once.
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_PERMANENT_5XX = frozenset({501, 505})
_RETRYABLE_GRPC = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "ABORTED", "DEADLINE_EXCEEDED"})
_PERMANENT_GRPC = frozenset(
    {
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "FAILED_PRECONDITION",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
    }
)
_RETRYABLE_SQLSTATE = frozenset({"40001", "40P01", "53300", "57P01", "57P02", "57P03"})
_RETRYABLE_SQLSTATE_CLASSES = frozenset({"08"})
_PERMANENT_SQLSTATE_CLASSES = frozenset({"22", "23", "28", "42"})
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def _errnos(*names: str) -> frozenset[int]:
    return frozenset(getattr(errno, name) for name in names if hasattr(errno, name))


_RETRYABLE_ERRNO = _errnos(
    "ECONNRESET",
    "ECONNREFUSED",
    "ETIMEDOUT",
    "EHOSTUNREACH",
    "ENETUNREACH",
    "ECONNABORTED",
    "EPIPE",
    "EAGAIN",
)
_PERMANENT_ERRNO = _errnos("ENOSPC", "EACCES", "EPERM", "ENOENT", "EROFS", "EDQUOT")
# Transport errors of popular clients, recognised by (top-level module, class name) in
# the exception's MRO, so that none of them needs importing.
_TRANSPORT = frozenset(
    {
        ("httpx", "TimeoutException"),
        ("httpx", "NetworkError"),
        ("httpx", "RemoteProtocolError"),
        ("requests", "ConnectionError"),
        ("requests", "Timeout"),
        ("aiohttp", "ClientConnectionError"),
        ("aiohttp", "ServerTimeoutError"),
        ("urllib3", "ProtocolError"),
        ("urllib3", "NewConnectionError"),
        ("urllib3", "TimeoutError"),
    }
)
_PROGRAMMING = (
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    NotImplementedError,
    AssertionError,
    NameError,
    ArithmeticError,
    ImportError,
)
# The verdicts of plain builtin exceptions, by exact type: for an instance with nothing
# added to it (no status, no headers, no notes) the table could only give these, so the
# common failures of the retry path skip the duck typing.
_BY_TYPE: dict[type[BaseException], Classification] = {
    t: Classification(_RETRYABLE, t.__name__)
    for t in (
        TimeoutError,
        ConnectionError,
        ConnectionResetError,
        ConnectionRefusedError,
        ConnectionAbortedError,
        BrokenPipeError,
    )
} | {
    t: Classification(_PERMANENT, f"programming error: {t.__name__}")
    for t in (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        NotImplementedError,
        AssertionError,
        NameError,
        ZeroDivisionError,
        ImportError,
        ModuleNotFoundError,
    )
}
_MAX_CAUSES = 8
_reported_rules: set[int] = set()  # rules whose predicate raised, logged once each


class Classifier:
    """Sorts failures into RETRYABLE, PERMANENT and PARTIAL; immutable.

    Build one with :meth:`default` and extend it with :meth:`with_rule`, which returns a
    new classifier. :meth:`classify` never raises.
    """

    __slots__ = ("_rules", "_unknown", "_wall_clock")

    def __init__(
        self,
        *,
        rules: tuple[tuple[Match, FailureKind, str | None], ...] = (),
        unknown: FailureKind = FailureKind.PERMANENT,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(unknown, FailureKind) or unknown is FailureKind.PARTIAL:
            raise TypeError(
                f"Classifier unknown= must be FailureKind.RETRYABLE or PERMANENT, got {unknown!r}"
            )
        self._rules = rules
        self._unknown = unknown
        self._wall_clock = wall_clock if wall_clock is not None else wall_time

    @classmethod
    def default(
        cls,
        *,
        unknown: FailureKind = FailureKind.PERMANENT,
        wall_clock: Callable[[], float] | None = None,
    ) -> Classifier:
        """The default table (see the classification docs).

        Args:
            unknown: The kind of a failure the table does not recognise.
            wall_clock: Epoch seconds, to turn a Retry-After HTTP date into a wait.
        """
        return cls(unknown=unknown, wall_clock=wall_clock)

    def with_rule(
        self, match: Match, kind: FailureKind, *, reason: str | None = None
    ) -> Classifier:
        """A new classifier in which this rule wins over every earlier rule and the table.

        Args:
            match: An exception type, a tuple of them, or a predicate on the exception.
            kind: The kind of a matching failure.
            reason: Shown in notes and events; the exception's type name by default.
        """
        if not isinstance(kind, FailureKind):
            raise TypeError(f"with_rule() kind must be a FailureKind, got {kind!r}")
        if isinstance(match, tuple):
            if not match or not all(_is_exception_type(t) for t in match):
                raise TypeError(
                    f"with_rule() match tuple must hold exception types, got {match!r}"
                )
        elif isinstance(match, type) and not issubclass(match, BaseException):
            # A class is callable, so it would pass as a predicate; calling it on every
            # failure builds an instance, which is truthy or raises: never what was meant.
            raise TypeError(
                f"with_rule() match {match!r} is a class but not an exception type; pass "
                "an exception class, a tuple of them, or a predicate taking the exception"
            )
        elif not _is_exception_type(match) and not callable(match):
            raise TypeError(
                "with_rule() match must be an exception type, a tuple of them, or a "
                f"predicate taking the exception; got {match!r}"
            )
        return Classifier(
            rules=((match, kind, reason), *self._rules),
            unknown=self._unknown,
            wall_clock=self._wall_clock,
        )

    def __repr__(self) -> str:
        return f"Classifier(rules={len(self._rules)}, unknown={self._unknown!r})"

    def classify(self, exc: BaseException) -> Classification:
        """The classification of ``exc``. Never raises."""
        try:
            for match, kind, reason in self._rules:
                if self._matches(match, exc):
                    return Classification(kind, reason or type(exc).__name__)
            known = _BY_TYPE.get(type(exc))
            if known is not None and not exc.__dict__:
                return known
            seen: set[int] = set()
            current: BaseException | None = exc
            prefix = ""
            while current is not None and id(current) not in seen and len(seen) < _MAX_CAUSES:
                seen.add(id(current))
                verdict = self._table(current)
                if verdict is not None:
                    if prefix:
                        return Classification(
                            verdict.kind, prefix + verdict.reason, verdict.retry_after
                        )
                    return verdict
                current = _cause(current)
                prefix = "caused by "
        except Exception:  # a hostile exception must not break the caller's error path
            logger.debug("resilience: classifying %s failed", type(exc).__name__, exc_info=True)
        return Classification(
            self._unknown,
            f"unrecognised {type(exc).__name__}; add a rule with Classifier.with_rule() "
            "to change this",
        )

    def classify_status(self, status: int, headers: object | None = None) -> Classification:
        """The classification of an HTTP status, with Retry-After read from ``headers``."""
        if status in _RETRYABLE_STATUS or (500 <= status < 600 and status not in _PERMANENT_5XX):  # noqa: PLR2004
            wait = _retry_after(headers, self._wall_clock) if headers is not None else None
            if wait is not None:
                return Classification(_RETRYABLE, f"HTTP {status} (Retry-After {wait:g} s)", wait)
            return Classification(_RETRYABLE, f"HTTP {status}")
        return Classification(_PERMANENT, f"HTTP {status}")

    # ---------------------------------------------------------------- the table

    def _matches(self, match: Match, exc: BaseException) -> bool:
        if isinstance(match, type | tuple):
            return isinstance(exc, match)
        try:
            return bool(match(exc))
        except Exception:
            if id(match) not in _reported_rules:
                _reported_rules.add(id(match))
                logger.exception(
                    "resilience: classifier rule %r raised on %r; treated as no match. "
                    "Further errors from this rule are not logged.",
                    match,
                    exc,
                )
            return False

    def _table(self, exc: BaseException) -> Classification | None:
        """The default table's verdict on ``exc`` alone, or None if it has none."""
        if not isinstance(exc, Exception):
            return Classification(
                _PERMANENT, f"{type(exc).__name__}: a cancellation is never retried"
            )
        if isinstance(exc, PartialFailure):
            return Classification(FailureKind.PARTIAL, f"{len(exc.failed)} items failed")
        if isinstance(exc, CircuitOpenError):
            if exc.retry_after is None:
                return Classification(_PERMANENT, f"circuit {exc.name!r} {exc.state.name}")
            return Classification(_RETRYABLE, f"circuit {exc.name!r} open", exc.retry_after)
        status = _status(exc)
        if status is not None:
            return self.classify_status(status, _headers(exc))
        verdict = _grpc(exc) or _sqlstate(exc) or _sqlite(exc)
        if verdict is not None:
            return verdict
        name = type(exc).__name__
        if isinstance(exc, TimeoutError | ConnectionError):
            return Classification(_RETRYABLE, name)
        if isinstance(exc, OSError) and isinstance(exc.errno, int):
            code = errno.errorcode.get(exc.errno, str(exc.errno))
            if exc.errno in _RETRYABLE_ERRNO:
                return Classification(_RETRYABLE, f"errno {code}")
            if exc.errno in _PERMANENT_ERRNO:
                return Classification(_PERMANENT, f"errno {code}")
        for klass in type(exc).__mro__:
            if (klass.__module__.partition(".")[0], klass.__name__) in _TRANSPORT:
                return Classification(_RETRYABLE, f"{klass.__module__}.{klass.__name__}")
        if isinstance(exc, _PROGRAMMING):
            return Classification(_PERMANENT, f"programming error: {name}")
        return None


def _is_exception_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def _cause(exc: BaseException) -> BaseException | None:
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


def _get(obj: object, name: str) -> object:
    """``obj.name``, or None when it is missing or raises."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _as_status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:  # noqa: PLR2004
        return value
    return None


def _status(exc: BaseException) -> int | None:
    for name in ("status_code", "status", "code"):
        status = _as_status(_get(exc, name))
        if status is not None:
            return status if status >= 400 else None  # noqa: PLR2004 - 1xx-3xx: no verdict
    response = _get(exc, "response")
    if response is not None:
        for name in ("status_code", "status"):
            status = _as_status(_get(response, name))
            if status is not None:
                return status if status >= 400 else None  # noqa: PLR2004
    return None


def _headers(exc: BaseException) -> object | None:
    headers = _get(exc, "headers")
    if headers is None:
        response = _get(exc, "response")
        headers = _get(response, "headers") if response is not None else None
    return headers


def _header(headers: object, wanted: str) -> str | None:
    """A header's value, looked up case-insensitively in any common headers shape."""
    get = _get(headers, "get")
    if callable(get):
        for key in (wanted, wanted.lower()):
            value = get(key)
            if isinstance(value, str | bytes):
                return value.decode("latin-1") if isinstance(value, bytes) else value
    items = _get(headers, "items")
    pairs = items() if callable(items) else headers
    if isinstance(pairs, Iterable) and not isinstance(pairs, str | bytes):
        for pair in pairs:
            if isinstance(pair, tuple) and len(pair) == 2:  # noqa: PLR2004
                key, value = pair
                if isinstance(key, str) and key.lower() == wanted.lower():
                    return value if isinstance(value, str) else None
    return None


def _retry_after(headers: object, wall_clock: Callable[[], float]) -> float | None:
    """Seconds from a Retry-After header (seconds or HTTP date), or None if unusable."""
    try:
        raw = _header(headers, "Retry-After")
    except Exception:
        return None
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        now = wall_clock()
        when = _http_date(raw, now)
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


def _http_date(raw: str, now: float) -> float | None:
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


def _grpc(exc: BaseException) -> Classification | None:
    code = _get(exc, "code")
    if not callable(code):
        return None
    try:
        name = _get(code(), "name")
    except Exception:
        return None
    if name in _RETRYABLE_GRPC:
        return Classification(_RETRYABLE, f"gRPC {name}")
    if name in _PERMANENT_GRPC:
        return Classification(_PERMANENT, f"gRPC {name}")
    return None


def _sqlstate(exc: BaseException) -> Classification | None:
    for name in ("sqlstate", "pgcode"):
        state = _get(exc, name)
        if isinstance(state, str) and len(state) == 5:  # noqa: PLR2004
            if state in _RETRYABLE_SQLSTATE or state[:2] in _RETRYABLE_SQLSTATE_CLASSES:
                return Classification(_RETRYABLE, f"SQLSTATE {state}")
            if state[:2] in _PERMANENT_SQLSTATE_CLASSES:
                return Classification(_PERMANENT, f"SQLSTATE {state}")
            return None
    return None


def _sqlite(exc: BaseException) -> Classification | None:
    if isinstance(exc, sqlite3.OperationalError):
        code = _get(exc, "sqlite_errorcode")
        message = str(exc).lower()
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in message or "busy" in message:
            return Classification(_RETRYABLE, "sqlite busy/locked")
        return None
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
        return Classification(_PERMANENT, f"sqlite {type(exc).__name__}")
    return None

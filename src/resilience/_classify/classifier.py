"""Failure classification: one decision, retryable, permanent or partial, for every failure."""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

from resilience._classify.http import attribute, headers_of, retry_after, status_of
from resilience._classify.libraries import grpc_verdict, library_verdict, wrapped
from resilience._classify.verdict import PERMANENT, RETRYABLE, Classification, FailureKind
from resilience._core.clock import wall_time
from resilience._core.errors import RejectedError

__all__ = ["Classification", "Classifier", "FailureKind", "PartialFailure"]

logger = logging.getLogger("resilience")


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
    t: Classification(RETRYABLE, t.__name__)
    for t in (
        TimeoutError,
        ConnectionError,
        ConnectionResetError,
        ConnectionRefusedError,
        ConnectionAbortedError,
        BrokenPipeError,
    )
} | {
    t: Classification(PERMANENT, f"programming error: {t.__name__}")
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

    def plain_types(self) -> Mapping[type[BaseException], Classification] | None:
        """The verdicts of plain builtin exceptions by exact type, when no rule can change them.

        For an instance with nothing added to it (an empty ``__dict__``) the verdict is
        what :meth:`classify` would give; None when this classifier has rules of its own.
        A retry's failure path reads it to skip a call.
        """
        return None if self._rules else _BY_TYPE

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
            wait = retry_after(headers, self._wall_clock) if headers is not None else None
            if wait is not None:
                return Classification(RETRYABLE, f"HTTP {status} (Retry-After {wait:g} s)", wait)
            return Classification(RETRYABLE, f"HTTP {status}")
        return Classification(PERMANENT, f"HTTP {status}")

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
                PERMANENT, f"{type(exc).__name__}: a cancellation is never retried"
            )
        if isinstance(exc, PartialFailure):
            return Classification(FailureKind.PARTIAL, f"{len(exc.failed)} items failed")
        if isinstance(exc, RejectedError):
            # A refusal (an open circuit) is worth another try when it says when.
            if exc.retry_after is None:
                return Classification(PERMANENT, exc.subject)
            return Classification(RETRYABLE, exc.subject, exc.retry_after)
        verdict = library_verdict(exc, self.classify_status)
        if verdict is not None:
            return verdict
        status = status_of(exc)
        if status is not None:
            return self.classify_status(status, headers_of(exc))
        verdict = grpc_verdict(exc) or _sqlstate(exc) or _sqlite(exc)
        if verdict is not None:
            return verdict
        name = type(exc).__name__
        if isinstance(exc, TimeoutError | ConnectionError):
            return Classification(RETRYABLE, name)
        if isinstance(exc, OSError) and isinstance(exc.errno, int):
            code = errno.errorcode.get(exc.errno, str(exc.errno))
            if exc.errno in _RETRYABLE_ERRNO:
                return Classification(RETRYABLE, f"errno {code}")
            if exc.errno in _PERMANENT_ERRNO:
                return Classification(PERMANENT, f"errno {code}")
        if isinstance(exc, _PROGRAMMING):
            return Classification(PERMANENT, f"programming error: {name}")
        return None


def _is_exception_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def _cause(exc: BaseException) -> BaseException | None:
    if exc.__cause__ is not None:
        return exc.__cause__
    inner = wrapped(exc)  # a library's wrapper that holds its cause in an attribute
    if inner is not None:
        return inner
    return None if exc.__suppress_context__ else exc.__context__


def _sqlstate(exc: BaseException) -> Classification | None:
    for name in ("sqlstate", "pgcode"):
        state = attribute(exc, name)
        if isinstance(state, str) and len(state) == 5:  # noqa: PLR2004
            if state in _RETRYABLE_SQLSTATE or state[:2] in _RETRYABLE_SQLSTATE_CLASSES:
                return Classification(RETRYABLE, f"SQLSTATE {state}")
            if state[:2] in _PERMANENT_SQLSTATE_CLASSES:
                return Classification(PERMANENT, f"SQLSTATE {state}")
            return None
    return None


def _sqlite(exc: BaseException) -> Classification | None:
    if isinstance(exc, sqlite3.OperationalError):
        code = attribute(exc, "sqlite_errorcode")
        message = str(exc).lower()
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in message or "busy" in message:
            return Classification(RETRYABLE, "sqlite busy/locked")
        return None
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
        return Classification(PERMANENT, f"sqlite {type(exc).__name__}")
    return None

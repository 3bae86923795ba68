"""The failure classifier: every row of the default table, rules, and never raising."""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import errno
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience import (
    CircuitOpenError,
    CircuitState,
    Classification,
    Classifier,
    FailureKind,
    PartialFailure,
)

RETRYABLE, PERMANENT, PARTIAL = FailureKind.RETRYABLE, FailureKind.PERMANENT, FailureKind.PARTIAL
DEFAULT = Classifier.default()


class HTTPError(Exception):
    """Like requests/httpx errors: a status and headers somewhere on the exception."""

    def __init__(self, status: int, headers: object = None, *, where: str = "status_code") -> None:
        super().__init__(f"HTTP {status}")
        if where == "response":
            self.response = type("Response", (), {"status_code": status, "headers": headers})()
        elif where == "response.status":
            self.response = type("Response", (), {"status": status, "headers": headers})()
        else:
            setattr(self, where, status)
            self.headers = headers


class GrpcCode:
    def __init__(self, name: str) -> None:
        self.name = name


class RpcError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self._code = GrpcCode(code)

    def code(self) -> GrpcCode:
        return self._code


class PgError(Exception):
    def __init__(self, state: str, attribute: str = "sqlstate") -> None:
        super().__init__(state)
        setattr(self, attribute, state)


def _foreign(module: str, name: str, base: type[Exception] = Exception) -> type[Exception]:
    """An exception class that looks as if it came from another package."""
    return type(name, (base,), {"__module__": module})


TABLE: list[tuple[str, BaseException, FailureKind]] = [
    # cancellation: never retried
    ("CancelledError", asyncio.CancelledError(), PERMANENT),
    ("KeyboardInterrupt", KeyboardInterrupt(), PERMANENT),
    ("SystemExit", SystemExit(1), PERMANENT),
    ("GeneratorExit", GeneratorExit(), PERMANENT),
    # partial
    ("PartialFailure", PartialFailure(succeeded=["a"], failed={"b": TimeoutError()}), PARTIAL),
    # circuits
    ("open circuit", CircuitOpenError("x", CircuitState.OPEN, 5.0, "down"), RETRYABLE),
    ("forced open", CircuitOpenError("x", CircuitState.FORCED_OPEN, None, "ops"), PERMANENT),
    # HTTP, retryable
    *[(f"HTTP {s}", HTTPError(s), RETRYABLE) for s in (408, 429, 500, 502, 503, 504, 507, 599)],
    # HTTP, permanent
    *[
        (f"HTTP {s}", HTTPError(s), PERMANENT)
        for s in (400, 401, 403, 404, 405, 409, 410, 413, 422, 451, 501, 505)
    ],
    ("status attribute", HTTPError(503, where="status"), RETRYABLE),
    ("urllib code attribute", HTTPError(404, where="code"), PERMANENT),
    ("response.status_code", HTTPError(502, where="response"), RETRYABLE),
    ("response.status (aiohttp)", HTTPError(403, where="response.status"), PERMANENT),
    # gRPC
    *[
        (f"gRPC {c}", RpcError(c), RETRYABLE)
        for c in ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "ABORTED", "DEADLINE_EXCEEDED")
    ],
    *[
        (f"gRPC {c}", RpcError(c), PERMANENT)
        for c in (
            "INVALID_ARGUMENT",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "UNAUTHENTICATED",
            "FAILED_PRECONDITION",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
        )
    ],
    # SQLSTATE
    *[
        (f"SQLSTATE {s}", PgError(s), RETRYABLE)
        for s in ("40001", "40P01", "08006", "08001", "53300", "57P01", "57P03")
    ],
    ("pgcode (psycopg2)", PgError("40P01", "pgcode"), RETRYABLE),
    *[(f"SQLSTATE {s}", PgError(s), PERMANENT) for s in ("28P01", "42P01", "23505", "22P02")],
    # sqlite3
    ("sqlite locked", sqlite3.OperationalError("database is locked"), RETRYABLE),
    ("sqlite table locked", sqlite3.OperationalError("database table is locked"), RETRYABLE),
    ("sqlite integrity", sqlite3.IntegrityError("UNIQUE constraint failed"), PERMANENT),
    ("sqlite programming", sqlite3.ProgrammingError("closed database"), PERMANENT),
    # builtins
    ("TimeoutError", TimeoutError("timed out"), RETRYABLE),
    ("ConnectionError", ConnectionError("lost"), RETRYABLE),
    ("ConnectionResetError", ConnectionResetError(), RETRYABLE),
    ("ConnectionRefusedError", ConnectionRefusedError(), RETRYABLE),
    ("ConnectionAbortedError", ConnectionAbortedError(), RETRYABLE),
    ("BrokenPipeError", BrokenPipeError(), RETRYABLE),
    # errno
    *[
        (f"errno {name}", OSError(getattr(errno, name), name), RETRYABLE)
        for name in (
            "ECONNRESET",
            "ECONNREFUSED",
            "ETIMEDOUT",
            "EHOSTUNREACH",
            "ENETUNREACH",
            "ECONNABORTED",
            "EPIPE",
            "EAGAIN",
        )
    ],
    *[
        (f"errno {name}", OSError(getattr(errno, name), name), PERMANENT)
        for name in ("ENOSPC", "EACCES", "EPERM", "ENOENT", "EROFS", "EDQUOT")
    ],
    ("PermissionError", PermissionError(errno.EACCES, "denied"), PERMANENT),
    ("FileNotFoundError", FileNotFoundError(errno.ENOENT, "missing"), PERMANENT),
    # third-party transports, by name
    ("httpx.ConnectError", _foreign("httpx", "NetworkError")(), RETRYABLE),
    ("httpx.ReadTimeout", _foreign("httpx._exceptions", "TimeoutException")(), RETRYABLE),
    ("httpx.RemoteProtocolError", _foreign("httpx", "RemoteProtocolError")(), RETRYABLE),
    ("requests.ConnectionError", _foreign("requests.exceptions", "ConnectionError")(), RETRYABLE),
    ("requests.Timeout", _foreign("requests.exceptions", "Timeout")(), RETRYABLE),
    ("aiohttp.ClientConnectionError", _foreign("aiohttp", "ClientConnectionError")(), RETRYABLE),
    ("aiohttp.ServerTimeoutError", _foreign("aiohttp", "ServerTimeoutError")(), RETRYABLE),
    ("urllib3.ProtocolError", _foreign("urllib3.exceptions", "ProtocolError")(), RETRYABLE),
    ("urllib3.NewConnectionError", _foreign("urllib3", "NewConnectionError")(), RETRYABLE),
    ("urllib3.TimeoutError", _foreign("urllib3.exceptions", "TimeoutError")(), RETRYABLE),
    ("a subclass of httpx.NetworkError", type(
        "ConnectError", (_foreign("httpx", "NetworkError"),), {"__module__": "httpx"}
    )(), RETRYABLE),
    ("same name, other package", _foreign("mylib", "NetworkError")(), PERMANENT),
    # programming errors
    *[
        (type(e).__name__, e, PERMANENT)
        for e in (
            ValueError(),
            TypeError(),
            KeyError("k"),
            IndexError(),
            AttributeError(),
            NotImplementedError(),
            AssertionError(),
            NameError(),
            ZeroDivisionError(),
            ImportError(),
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
        )
    ],
    # unknown
    ("unknown Exception", Exception("?"), PERMANENT),
    ("unknown RuntimeError", RuntimeError("?"), PERMANENT),
]


@pytest.mark.parametrize(("exc", "kind"), [(e, k) for _, e, k in TABLE], ids=[n for n, *_ in TABLE])
def test_default_table(exc: BaseException, kind: FailureKind) -> None:
    """Each row of the default table gives its kind, with a reason."""
    verdict = DEFAULT.classify(exc)
    assert verdict.kind is kind
    assert verdict.reason


def test_reasons_are_short_and_specific() -> None:
    """Reasons say what was recognised."""
    assert DEFAULT.classify(HTTPError(503)).reason == "HTTP 503"
    assert DEFAULT.classify(OSError(errno.ENOSPC, "full")).reason == "errno ENOSPC"
    assert DEFAULT.classify(PgError("40001")).reason == "SQLSTATE 40001"
    assert DEFAULT.classify(RpcError("UNAVAILABLE")).reason == "gRPC UNAVAILABLE"
    assert DEFAULT.classify(ValueError()).reason == "programming error: ValueError"
    assert "with_rule" in DEFAULT.classify(RuntimeError()).reason


def test_real_sqlite_busy_error_is_retryable(tmp_path: Path) -> None:
    """A real "database is locked" from a second writer is RETRYABLE."""
    path = tmp_path / "busy.db"
    first = sqlite3.connect(path, timeout=0, isolation_level=None)
    second = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        first.execute("create table t (x)")
        first.execute("begin exclusive")
        with pytest.raises(sqlite3.OperationalError) as info:
            second.execute("insert into t values (1)")
        assert DEFAULT.classify(info.value).kind is RETRYABLE
    finally:
        first.execute("rollback")
        first.close()
        second.close()


def test_a_2xx_or_3xx_status_on_an_exception_gives_no_verdict() -> None:
    """A status that is not an error falls through to the rest of the table."""
    assert DEFAULT.classify(HTTPError(302)).kind is PERMANENT
    assert "unrecognised" in DEFAULT.classify(HTTPError(302)).reason


def test_unknown_kind_can_be_retryable() -> None:
    """Classifier.default(unknown=RETRYABLE) retries what the table does not know."""
    assert Classifier.default(unknown=RETRYABLE).classify(RuntimeError()).kind is RETRYABLE
    assert Classifier.default(unknown=RETRYABLE).classify(ValueError()).kind is PERMANENT
    with pytest.raises(TypeError, match="unknown"):
        Classifier.default(unknown=PARTIAL)


# ------------------------------------------------------------------- Retry-After

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
AT_NOW = Classifier.default(wall_clock=NOW.timestamp)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"RETRY-AFTER": " 0 "}, 0.0),
        ([("Retry-After", "4")], 4.0),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=90), usegmt=True)}, 90.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=90), usegmt=True)}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "Wed, 99 Foo 2026 25:61:00"}, None),
        ({}, None),
        ("not headers", None),
        (42, None),
    ],
)
def test_retry_after_in_seconds_or_as_http_date(headers: object, expected: float | None) -> None:
    """Retry-After is read in both forms, in any key case; anything unusable is ignored."""
    verdict = AT_NOW.classify(HTTPError(503, headers))
    assert verdict.kind is RETRYABLE
    assert verdict.retry_after == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    "date",
    [
        "Mon, 23 Nov 2026 12:01:30 GMT",  # IMF-fixdate
        "Monday, 23-Nov-26 12:01:30 GMT",  # RFC 850
        "Mon Nov 23 12:01:30 2026",  # asctime
    ],
    ids=["IMF-fixdate", "RFC 850", "asctime"],
)
def test_retry_after_reads_all_three_http_date_forms(date: str) -> None:
    """Each of RFC 9110's three HTTP-date forms gives the seconds until that date."""
    verdict = AT_NOW.classify(HTTPError(503, {"Retry-After": date}))
    assert verdict.retry_after == pytest.approx(90.0)


def test_an_asctime_retry_after_without_a_zone_is_utc() -> None:
    """An asctime date, with a one-digit day padded by a space and no zone, is UTC."""
    verdict = AT_NOW.classify(HTTPError(429, {"Retry-After": "Thu Dec  3 12:00:00 2026"}))
    assert verdict.retry_after == pytest.approx(10 * 86_400.0)


@pytest.mark.parametrize(
    ("now", "date", "expected"),
    [
        # 2070 is this century's year 70, not 1970.
        (datetime(2070, 6, 1, 12, tzinfo=UTC), "Sunday, 01-Jun-70 12:01:00 GMT", 60.0),
        # 2089 is 49 years after 2040: still this century.
        (
            datetime(2040, 1, 1, tzinfo=UTC),
            "Sunday, 01-Jan-89 00:00:00 GMT",
            (datetime(2089, 1, 1, tzinfo=UTC) - datetime(2040, 1, 1, tzinfo=UTC)).total_seconds(),
        ),
        # 2091 would be more than 50 years after 2040: it is 1991, in the past.
        (datetime(2040, 1, 1, tzinfo=UTC), "Tuesday, 01-Jan-91 00:00:00 GMT", 0.0),
    ],
    ids=["this century", "49 years ahead", "51 years ahead is the century before"],
)
def test_an_rfc850_two_digit_year_is_read_within_fifty_years_of_the_wall_clock(
    now: datetime, date: str, expected: float
) -> None:
    """An RFC 850 year more than 50 years after the injected wall clock is a past one."""
    classifier = Classifier.default(wall_clock=now.timestamp)
    verdict = classifier.classify(HTTPError(503, {"Retry-After": date}))
    assert verdict.retry_after == pytest.approx(expected)


@pytest.mark.parametrize(
    "date",
    [
        "Sunday, 31-Feb-26 12:00:00 GMT",
        "Sunday, 01-Foo-26 12:00:00 GMT",
        "Mon Nov 99 12:00:00 2026",
    ],
)
def test_an_impossible_http_date_is_ignored(date: str) -> None:
    """A date that names no real day is ignored; the status still decides."""
    verdict = AT_NOW.classify(HTTPError(503, {"Retry-After": date}))
    assert verdict.kind is RETRYABLE
    assert verdict.retry_after is None


def test_retry_after_from_an_email_message_and_response_headers() -> None:
    """urllib's Message headers and headers on the response are read too."""
    message = email.message.Message()
    message["Retry-After"] = "3"
    assert AT_NOW.classify(HTTPError(429, message)).retry_after == 3.0
    assert AT_NOW.classify(HTTPError(429, {"Retry-After": "5"}, where="response")).retry_after == 5


def test_classify_status_directly() -> None:
    """classify_status() judges a status and its headers without an exception."""
    assert DEFAULT.classify_status(429, {"Retry-After": "2"}) == Classification(
        RETRYABLE, "HTTP 429 (Retry-After 2 s)", 2.0
    )
    assert DEFAULT.classify_status(404) == Classification(PERMANENT, "HTTP 404")
    assert DEFAULT.classify_status(503).retry_after is None


# ------------------------------------------------------------------------- rules


class QuotaError(Exception):
    pass


def test_latest_rule_wins_and_the_original_is_unchanged() -> None:
    """with_rule returns a new classifier whose newest rule wins over older ones."""
    retry_quota = DEFAULT.with_rule(QuotaError, RETRYABLE, reason="quota resets")
    both = retry_quota.with_rule(QuotaError, PERMANENT)
    assert DEFAULT.classify(QuotaError()).kind is PERMANENT
    assert retry_quota.classify(QuotaError()) == Classification(RETRYABLE, "quota resets")
    assert both.classify(QuotaError()) == Classification(PERMANENT, "QuotaError")


def test_rules_win_over_the_table() -> None:
    """A rule can make a table-retryable error permanent."""
    classifier = DEFAULT.with_rule((TimeoutError, ConnectionError), PERMANENT)
    assert classifier.classify(ConnectionResetError()).kind is PERMANENT
    assert classifier.classify(HTTPError(503)).kind is RETRYABLE


def test_predicate_rules() -> None:
    """A predicate rule matches on anything about the exception."""
    classifier = DEFAULT.with_rule(lambda e: "quota" in str(e), PERMANENT, reason="quota")
    assert classifier.classify(HTTPError(429)).kind is RETRYABLE
    verdict = classifier.classify(RuntimeError("daily quota exceeded"))
    assert verdict == Classification(PERMANENT, "quota")


def test_raising_predicate_is_no_match_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A predicate that raises counts as no match; the table decides; it is logged once."""

    def broken(exc: BaseException) -> bool:
        raise LookupError("bug in rule")

    classifier = DEFAULT.with_rule(broken, PERMANENT)
    with caplog.at_level(logging.ERROR, logger="resilience"):
        assert classifier.classify(TimeoutError()).kind is RETRYABLE
        assert classifier.classify(TimeoutError()).kind is RETRYABLE
    assert len([r for r in caplog.records if "raised" in r.getMessage()]) == 1


@pytest.mark.parametrize("bad", [42, "TimeoutError", (TimeoutError, "x"), (), object()])
def test_bad_rules_are_refused(bad: Any) -> None:
    """A match that is not a type, a tuple of types or a callable is a TypeError."""
    with pytest.raises(TypeError, match="match"):
        DEFAULT.with_rule(bad, RETRYABLE)


def test_rule_kind_must_be_a_failure_kind() -> None:
    """with_rule needs a FailureKind."""
    with pytest.raises(TypeError, match="FailureKind"):
        DEFAULT.with_rule(TimeoutError, "retryable")  # type: ignore[arg-type]


# ------------------------------------------------------------------------ causes


def _raised_from(cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        return outer


def test_an_unknown_wrapper_is_classified_by_its_cause() -> None:
    """A wrapper the table does not know takes its cause's kind."""
    verdict = DEFAULT.classify(_raised_from(ConnectionResetError()))
    assert verdict.kind is RETRYABLE
    assert verdict.reason == "caused by ConnectionResetError"


def _while_handling(*, suppress: bool) -> None:
    try:
        raise TimeoutError
    except TimeoutError:
        if suppress:
            raise RuntimeError("while handling") from None
        raise RuntimeError("while handling")  # noqa: B904 - the point of the test


def test_implicit_context_counts_unless_suppressed() -> None:
    """``__context__`` is followed; ``raise ... from None`` hides it."""
    with pytest.raises(RuntimeError) as suppressed:
        _while_handling(suppress=True)
    assert DEFAULT.classify(suppressed.value).kind is PERMANENT
    with pytest.raises(RuntimeError) as implicit:
        _while_handling(suppress=False)
    assert DEFAULT.classify(implicit.value).kind is RETRYABLE


def test_cause_cycles_end() -> None:
    """A cycle of causes is followed once and ends in the unknown kind."""
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__cause__, b.__cause__ = b, a
    assert DEFAULT.classify(a).kind is PERMANENT


# ---------------------------------------------------------------- PartialFailure


def test_partial_failure_keeps_successes_and_failures() -> None:
    """PartialFailure holds what succeeded and each failed item's exception."""
    failed: dict[object, BaseException] = {f"f{i}": TimeoutError(i) for i in range(5)}
    exc = PartialFailure(succeeded=iter(["a", "b"]), failed=failed)
    assert exc.succeeded == ["a", "b"]
    assert exc.failed == failed
    assert str(exc).startswith("5 of 7 items failed: 'f0': TimeoutError(0)")
    assert str(exc).endswith("and 2 more")
    assert str(PartialFailure(failed={"x": TimeoutError()}, message="custom")) == "custom"


def test_partial_failure_needs_a_failure() -> None:
    """An empty ``failed`` is a mistake: the operation succeeded."""
    with pytest.raises(ValueError, match="at least one failed item"):
        PartialFailure(succeeded=["a"], failed={})


# ------------------------------------------------------------------ never raises


class HostileError(Exception):
    """An exception whose every interesting attribute raises on access."""

    def __getattribute__(self, name: str) -> Any:
        if name in {
            "status_code",
            "status",
            "code",
            "response",
            "headers",
            "sqlstate",
            "pgcode",
            "errno",
            "sqlite_errorcode",
        }:
            raise RuntimeError(f"no {name} for you")
        return super().__getattribute__(name)

    def __str__(self) -> str:
        raise RuntimeError("no str either")


class _Headers:
    """A headers object whose lookups raise."""

    def get(self, key: str) -> str:
        raise KeyError(key)

    def items(self) -> list[tuple[str, str]]:
        raise RuntimeError("no items")


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=10),
    st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=3),
    st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=12), st.integers())),
    st.builds(_Headers),
    st.builds(lambda: GrpcCode("UNAVAILABLE")),
)
ATTRIBUTES = [
    "status_code",
    "status",
    "code",
    "headers",
    "response",
    "sqlstate",
    "pgcode",
    "errno",
    "sqlite_errorcode",
    "retry_after",
    "failed",
]
attributes = st.dictionaries(st.sampled_from(ATTRIBUTES), values, max_size=5)
bases: list[type[BaseException]] = [
    Exception,
    PartialFailure,
    CircuitOpenError,
    OSError,
    ConnectionError,
    TimeoutError,
    ValueError,
    sqlite3.OperationalError,
    KeyboardInterrupt,
    HostileError,
]


INIT_ARGS = {PartialFailure, CircuitOpenError}


def _raising_str(_self: object) -> str:
    raise RuntimeError("no str")


def _raising_property(message: str) -> property:
    def get(_self: object) -> object:
        raise RuntimeError(message)

    return property(get)


@st.composite
def hostile_exceptions(draw: st.DrawFn) -> BaseException:
    """Exceptions of many shapes: odd attribute types, properties that raise, causes."""
    base = draw(st.sampled_from(bases))
    namespace: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=3)):
        namespace[name] = _raising_property(name)
    if draw(st.booleans()):
        namespace["__str__"] = _raising_str
    if draw(st.booleans()):
        namespace["code"] = lambda _self: draw(values)
    klass: type[BaseException] = type("Generated", (base,), namespace)
    # __new__ without __init__: even our own exception types may arrive half-built.
    half_built = draw(st.booleans()) or base in INIT_ARGS
    exc: BaseException = klass.__new__(klass) if half_built else klass()
    for name, value in draw(attributes).items():
        if name not in namespace and base is not HostileError:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(exc, name, value)
    if draw(st.booleans()):
        exc.__cause__ = draw(st.sampled_from([TimeoutError(), exc, HostileError()]))
    return exc


@given(exc=hostile_exceptions(), unknown=st.sampled_from([RETRYABLE, PERMANENT]))
def test_classify_never_raises(exc: BaseException, unknown: FailureKind) -> None:
    """Whatever the exception looks like, classify returns a Classification."""
    verdict = Classifier.default(unknown=unknown).classify(exc)
    assert isinstance(verdict, Classification)
    assert isinstance(verdict.kind, FailureKind)
    assert verdict.retry_after is None or verdict.retry_after >= 0


@given(status=st.integers(100, 599), headers=values)
def test_classify_status_never_raises(status: int, headers: object) -> None:
    """classify_status accepts any headers object and any status."""
    verdict: Classification = DEFAULT.classify_status(status, headers)
    assert verdict.kind in (RETRYABLE, PERMANENT)


def test_classifier_repr() -> None:
    """repr says how many rules and the unknown kind."""
    classify: Callable[[BaseException], bool] = lambda _e: False  # noqa: E731
    assert repr(DEFAULT.with_rule(classify, RETRYABLE)) == (
        "Classifier(rules=1, unknown=FailureKind.PERMANENT)"
    )


@pytest.mark.parametrize("klass", [int, str, dict, Classification, type("Plain", (), {})])
def test_a_class_that_is_not_an_exception_type_is_refused_as_a_rule(klass: type) -> None:
    """A class that is not an exception type is a TypeError naming it, not a predicate."""
    with pytest.raises(TypeError, match=rf"{klass.__name__}.*not an exception type"):
        DEFAULT.with_rule(klass, RETRYABLE)

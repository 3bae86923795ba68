"""The classifier on the real failures of grpc, google-api-core, redis-py and the databases.

gRPC calls go to a real in-process server or to a closed port; redis-py talks to a
private redis-server; psycopg, psycopg2, asyncpg and SQLAlchemy to the PostgreSQL server
(and SQLite). Where a failure cannot be provoked here, the exception is constructed as
the library constructs it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import grpc  # type: ignore[import-untyped]
import psycopg
import psycopg2  # type: ignore[import-untyped]
import psycopg2.errors  # type: ignore[import-untyped]
import pytest
import redis
import sqlalchemy
from google.api_core import exceptions as _google_exceptions
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from redis.backoff import NoBackoff
from redis.retry import Retry

from resilience import Classifier, FailureKind
from servers import RedisServer, free_port

RETRYABLE, PERMANENT = FailureKind.RETRYABLE, FailureKind.PERMANENT
DEFAULT = Classifier.default()
google: Any = _google_exceptions  # its constructors are untyped


# Both unknown kinds: a verdict they agree on comes from the table, not from the default.
_BOTH_UNKNOWNS = (Classifier.default(), Classifier.default(unknown=RETRYABLE))


def kind_of(exc: BaseException) -> FailureKind | None:
    """The kind the table gives ``exc``, or None if it does not recognise it."""
    kinds = {classifier.classify(exc).kind for classifier in _BOTH_UNKNOWNS}
    return kinds.pop() if len(kinds) == 1 else None


def terminate(admin: psycopg.Connection[Any], pid: int) -> None:
    """Terminate a PostgreSQL backend and wait until it is gone (bounded).

    ``pg_terminate_backend`` only signals the backend: a query sent before it has exited
    races its exit, and the connection may then fail anywhere, its close included.
    """
    admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 10
    while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
        assert time.monotonic() < deadline, f"backend {pid} outlived pg_terminate_backend"
        time.sleep(0.01)


def raised(call: Any, *args: Any, **kwargs: Any) -> BaseException:
    """What ``call(*args, **kwargs)`` raised."""
    with pytest.raises(Exception) as info:
        call(*args, **kwargs)
    return info.value


# --------------------------------------------------------------------------------- gRPC


@pytest.fixture(scope="module")
def grpc_target() -> Iterator[str]:
    """A real gRPC server whose /test.Svc/Fail aborts with the status named in the request."""
    release = threading.Event()

    def fail(request: bytes, context: grpc.ServicerContext) -> bytes:
        if request == b"HANG":
            release.wait(5)  # past the caller's deadline; ended at teardown
            return b""
        context.abort(grpc.StatusCode[request.decode()], "as asked")
        return b""  # pragma: no cover - abort raises

    handler = grpc.method_handlers_generic_handler(
        "test.Svc", {"Fail": grpc.unary_unary_rpc_method_handler(fail)}
    )
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    release.set()
    server.stop(grace=None).wait(5)


def rpc_error(target: str, request: bytes, timeout: float = 5) -> grpc.RpcError:
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/test.Svc/Fail")
        error = raised(call, request, timeout=timeout)
    assert isinstance(error, grpc.RpcError)
    return error


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("UNAVAILABLE", RETRYABLE),
        ("RESOURCE_EXHAUSTED", RETRYABLE),
        ("ABORTED", RETRYABLE),
        ("INVALID_ARGUMENT", PERMANENT),
        ("PERMISSION_DENIED", PERMANENT),
        ("NOT_FOUND", PERMANENT),
    ],
)
def test_grpc_errors_are_judged_by_their_status_code(
    grpc_target: str, status: str, kind: FailureKind
) -> None:
    """A real RpcError is judged by code(); google-api-core's wrapper of it agrees."""
    error = rpc_error(grpc_target, status.encode())
    assert error.code().name == status
    assert kind_of(error) is kind
    wrapped = google.from_grpc_error(error)
    assert isinstance(wrapped, google.GoogleAPICallError)
    assert kind_of(wrapped) is kind


def test_grpc_unreachable_and_late_calls_are_retryable(grpc_target: str) -> None:
    """A closed port is UNAVAILABLE and a missed deadline DEADLINE_EXCEEDED: both retry."""
    unreachable = rpc_error(f"127.0.0.1:{free_port()}", b"OK")
    late = rpc_error(grpc_target, b"HANG", timeout=0.3)
    assert unreachable.code() is grpc.StatusCode.UNAVAILABLE
    assert late.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert kind_of(unreachable) is RETRYABLE
    assert kind_of(late) is RETRYABLE
    assert kind_of(google.from_grpc_error(late)) is RETRYABLE


def test_a_grpc_channel_not_ready_in_time_is_retryable() -> None:
    """channel_ready_future() that times out raises grpc.FutureTimeoutError: retryable."""
    with grpc.insecure_channel(f"127.0.0.1:{free_port()}") as channel:
        error = raised(grpc.channel_ready_future(channel).result, timeout=0.2)
    assert isinstance(error, grpc.FutureTimeoutError)
    assert kind_of(error) is RETRYABLE


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (google.ServiceUnavailable("down"), RETRYABLE),
        (google.TooManyRequests("slow down"), RETRYABLE),
        (google.ResourceExhausted("quota"), RETRYABLE),
        (google.DeadlineExceeded("late"), RETRYABLE),
        (google.InternalServerError("oops"), RETRYABLE),
        (google.Aborted("contention"), RETRYABLE),  # an HTTP 409 whose gRPC code says retry
        (google.from_http_status(503, "down"), RETRYABLE),
        (google.from_http_status(429, "slow down"), RETRYABLE),
        (google.Conflict("exists"), PERMANENT),
        (google.AlreadyExists("exists"), PERMANENT),
        (google.NotFound("missing"), PERMANENT),
        (google.InvalidArgument("bad"), PERMANENT),
        (google.Unauthenticated("who"), PERMANENT),
        (google.from_http_status(404, "missing"), PERMANENT),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_google_api_errors_are_judged_by_grpc_code_then_http_code(
    error: Exception, kind: FailureKind
) -> None:
    """google-api-core's errors: the gRPC status when they have one, else the HTTP code."""
    assert kind_of(error) is kind


def test_a_google_retry_error_is_judged_by_its_cause() -> None:
    """RetryError (the retry deadline passed) takes the kind of the last error it holds."""
    gave_up = google.RetryError("Timeout of 1.0s exceeded", google.ServiceUnavailable("down"))
    refused = google.RetryError("Timeout of 1.0s exceeded", google.PermissionDenied("no"))
    assert DEFAULT.classify(gave_up).reason == "caused by gRPC UNAVAILABLE"
    assert kind_of(refused) is PERMANENT


# -------------------------------------------------------------------------------- redis


def _redis(port: int, **options: Any) -> redis.Redis:
    """A client that does not retry by itself (redis-py 6+ retries three times by default)."""
    return redis.Redis(port=port, retry=Retry(NoBackoff(), 0), **options)


def test_redis_connection_and_timeout_errors_are_retryable(
    redis_server: RedisServer,
) -> None:
    """redis-py's ConnectionError and TimeoutError (not the builtins) are retryable."""
    refused = raised(_redis(free_port(), socket_connect_timeout=1).ping)
    slow = _redis(redis_server.port, socket_timeout=0.3)
    timed_out = raised(slow.blpop, ["nothing-comes"], timeout=2)  # answers after 2 s
    assert isinstance(refused, redis.ConnectionError)
    assert not isinstance(refused, ConnectionError)
    assert isinstance(timed_out, redis.TimeoutError)
    assert kind_of(refused) is RETRYABLE
    assert kind_of(timed_out) is RETRYABLE
    client = _redis(redis_server.port)
    client.ping()
    redis_server.kill()
    assert kind_of(raised(client.ping)) is RETRYABLE  # the server died mid-conversation


def test_redis_errors_of_the_request_are_permanent(redis_server: RedisServer) -> None:
    """A wrong command, a wrong type, bad data and bad credentials are permanent."""
    client = _redis(redis_server.port)
    client.set("text", "x")
    errors = [
        raised(client.execute_command, "NO-SUCH-COMMAND"),
        raised(client.lpush, "text", "y"),  # WRONGTYPE
        raised(client.set, "k", {"a": "dict"}),  # DataError, before anything is sent
    ]
    client.config_set("requirepass", "sesame")
    errors.append(raised(_redis(redis_server.port, password="wrong").ping))  # noqa: S106
    assert [type(e).__name__ for e in errors] == [
        "ResponseError",
        "ResponseError",
        "DataError",
        "AuthenticationError",
    ]
    for error in errors:
        assert kind_of(error) is PERMANENT, error


def test_a_redis_transaction_that_lost_a_race_is_retryable(redis_server: RedisServer) -> None:
    """WatchError: a watched key changed; running the transaction again may succeed."""
    client = _redis(redis_server.port)
    pipeline: Any = client.pipeline()  # watch() is untyped
    with pipeline as pipe:
        pipe.watch("counter")
        client.incr("counter")  # another client's write
        pipe.multi()
        pipe.incr("counter")
        error = raised(pipe.execute)
    assert isinstance(error, redis.WatchError)
    assert kind_of(error) is RETRYABLE


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        # As redis-py's parser builds them from the server's error replies.
        (redis.exceptions.ConnectionError("Connection closed by server."), RETRYABLE),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), RETRYABLE),
        (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), RETRYABLE),
        (redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
         RETRYABLE),
        (redis.exceptions.TryAgainError("Multiple keys request during rehashing"), RETRYABLE),
        (redis.exceptions.ClusterDownError("The cluster is down"), RETRYABLE),
        (redis.exceptions.MasterDownError("Link with MASTER is down"), RETRYABLE),
        (redis.exceptions.AuthenticationError("invalid username-password pair"), PERMANENT),
        (redis.exceptions.NoPermissionError("this user has no permissions"), PERMANENT),
        (redis.exceptions.NoScriptError("No matching script"), PERMANENT),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_redis_server_replies_are_sorted_by_class(error: Exception, kind: FailureKind) -> None:
    """BusyLoadingError retries although AuthenticationError, also a ConnectionError, does not."""
    assert kind_of(error) is kind


# ----------------------------------------------------------------------------- PostgreSQL


def test_psycopg_lost_and_refused_connections(pg_dsn: str) -> None:
    """A refused or lost connection retries; a server refusing who we are does not."""
    closed = raised(psycopg.connect, f"{pg_dsn} port={free_port()}", connect_timeout=2)
    nowhere = raised(psycopg.connect, f"{pg_dsn} dbname=no_such_database_here")
    assert isinstance(closed, psycopg.OperationalError)
    assert closed.sqlstate is None
    assert kind_of(closed) is RETRYABLE
    assert isinstance(nowhere, psycopg.OperationalError)
    assert kind_of(nowhere) is PERMANENT
    with psycopg.connect(pg_dsn, autocommit=True) as admin, psycopg.connect(pg_dsn) as victim:
        terminate(admin, victim.info.backend_pid)
        shutdown = raised(victim.execute, "SELECT 1")
        after = raised(victim.execute, "SELECT 1")
    assert isinstance(shutdown, psycopg.errors.AdminShutdown)
    assert kind_of(shutdown) is RETRYABLE  # 57P01
    assert str(after) == "the connection is closed"
    assert kind_of(after) is RETRYABLE
    assert kind_of(psycopg.errors.ConnectionTimeout("connection timeout expired")) is RETRYABLE


def test_psycopg_errors_with_a_sqlstate_follow_the_sqlstate(pg_dsn: str) -> None:
    """A serialization failure retries; a syntax error does not."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        syntax = raised(conn.execute, "SELEC 1")
    assert kind_of(syntax) is PERMANENT
    assert kind_of(_serialization_failure(pg_dsn)) is RETRYABLE


def _serialization_failure(dsn: str) -> BaseException:
    """A real 40001 from two SERIALIZABLE transactions that read what the other writes."""
    table = sql.Identifier(f"classify_serial_{free_port()}")
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute(sql.SQL("CREATE TABLE {} (x int)").format(table))
    try:
        with psycopg.connect(dsn) as a, psycopg.connect(dsn) as b:
            for conn in (a, b):
                conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
            a.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(table))
            b.execute(sql.SQL("INSERT INTO {} VALUES (2)").format(table))
            a.commit()
            return raised(b.commit)
    finally:
        with psycopg.connect(dsn, autocommit=True) as cleanup:
            cleanup.execute(sql.SQL("DROP TABLE {}").format(table))


def test_psycopg2_refused_connections_and_pgcodes(pg_dsn: str) -> None:
    """psycopg2: a refused connection retries, a missing database not; pgcode decides."""
    closed = raised(psycopg2.connect, f"{pg_dsn} port={free_port()}", connect_timeout=2)
    nowhere = raised(psycopg2.connect, f"{pg_dsn} dbname=no_such_database_here")
    assert isinstance(closed, psycopg2.OperationalError)
    assert closed.pgcode is None
    assert kind_of(closed) is RETRYABLE
    assert kind_of(nowhere) is PERMANENT
    conn = psycopg2.connect(pg_dsn)
    try:
        syntax = raised(conn.cursor().execute, "SELEC 1")
    finally:
        conn.close()
    assert isinstance(syntax, psycopg2.errors.SyntaxError)
    assert syntax.pgcode == "42601"
    assert kind_of(syntax) is PERMANENT


def _asyncpg_params(dsn: str) -> dict[str, Any]:
    info = conninfo_to_dict(dsn)
    return {"host": info["host"], "port": int(str(info.get("port", 5432))),
            "database": info["dbname"], "user": info.get("user")}


async def test_asyncpg_errors_follow_their_sqlstate(pg_dsn: str) -> None:
    """asyncpg: SQLSTATEs decide; a refused connection is the builtin, retryable."""
    params = _asyncpg_params(pg_dsn)
    with pytest.raises(OSError) as refused:
        await asyncpg.connect(**{**params, "port": free_port()}, timeout=2)
    assert kind_of(refused.value) is RETRYABLE
    conn = await asyncpg.connect(**params)
    try:
        with pytest.raises(asyncpg.PostgresSyntaxError) as syntax:
            await conn.execute("SELEC 1")
    finally:
        await conn.close()
    assert kind_of(syntax.value) is PERMANENT
    lost = asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation"
    )
    assert kind_of(lost) is RETRYABLE  # 08003
    assert kind_of(asyncpg.exceptions.TooManyConnectionsError("too many")) is RETRYABLE
    assert kind_of(asyncpg.exceptions.SerializationError("could not serialize")) is RETRYABLE


# ---------------------------------------------------------------------------- SQLAlchemy


def _engine(dsn: str, **options: Any) -> sqlalchemy.Engine:
    params = _asyncpg_params(dsn)
    url = sqlalchemy.URL.create(
        "postgresql+psycopg", host=params["host"], port=params["port"],
        database=params["database"], username=params["user"],
    )
    return sqlalchemy.create_engine(url, **options)


def test_sqlalchemy_errors_are_judged_by_the_driver_error_they_wrap(pg_dsn: str) -> None:
    """OperationalError and IntegrityError take the kind of their ``orig``."""
    refused = _engine(f"{pg_dsn} port={free_port()}")
    closed = raised(refused.connect)
    refused.dispose()
    assert isinstance(closed, sqlalchemy.exc.OperationalError)
    assert kind_of(closed) is RETRYABLE
    engine = _engine(pg_dsn)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("CREATE TEMP TABLE t (x int PRIMARY KEY)"))
            conn.execute(sqlalchemy.text("INSERT INTO t VALUES (1)"))
            duplicate = raised(conn.execute, sqlalchemy.text("INSERT INTO t VALUES (1)"))
    finally:
        engine.dispose()
    assert isinstance(duplicate, sqlalchemy.exc.IntegrityError)
    assert kind_of(duplicate) is PERMANENT
    # Built as SQLAlchemy builds it, before it is raised: no __cause__ yet, only orig.
    built = sqlalchemy.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("lost"))
    assert built.__cause__ is None
    assert kind_of(built) is RETRYABLE


def test_a_connection_sqlalchemy_invalidated_is_retryable(pg_dsn: str) -> None:
    """A DBAPIError with connection_invalidated: the next attempt gets a new connection."""
    engine = _engine(pg_dsn)
    try:
        with engine.connect() as victim, psycopg.connect(pg_dsn, autocommit=True) as admin:
            pid = victim.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            terminate(admin, pid)
            lost = raised(victim.execute, sqlalchemy.text("SELECT 1"))
    finally:
        engine.dispose()
    assert isinstance(lost, sqlalchemy.exc.DBAPIError)
    assert lost.connection_invalidated
    assert DEFAULT.classify(lost).reason == "SQLAlchemy: connection invalidated"


def test_sqlalchemy_pool_timeouts_and_sqlite_locks_are_retryable(
    pg_dsn: str, tmp_path: Path
) -> None:
    """No pooled connection free in time, and a locked SQLite database, are retryable."""
    engine = _engine(pg_dsn, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        with engine.connect():
            exhausted = raised(engine.connect)
    finally:
        engine.dispose()
    assert isinstance(exhausted, sqlalchemy.exc.TimeoutError)
    assert kind_of(exhausted) is RETRYABLE
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    lite = sqlalchemy.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with lite.connect() as conn:
            locked = raised(conn.execute, sqlalchemy.text("INSERT INTO t VALUES (1)"))
    finally:
        lite.dispose()
        holder.execute("ROLLBACK")
        holder.close()
    assert isinstance(locked, sqlalchemy.exc.OperationalError)
    assert kind_of(locked) is RETRYABLE
    assert kind_of(sqlalchemy.exc.NoResultFound("No row was found")) is PERMANENT

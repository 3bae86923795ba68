"""The failures of the client libraries people call, recognised without importing them.

An exception is matched by the (top-level package, class name) pairs of its MRO, most
derived first, so that ``import resilience`` needs none of these libraries and a subclass
of a library's class (yours, or the library's own) is judged like its parent unless it
is listed itself. Where a library's hierarchy and its meaning part ways (redis-py's
``AuthenticationError`` is a ``ConnectionError``; botocore puts throttling in an error
code beside an HTTP 400), the more derived entry or a reader of the payload decides.

The lists follow each library's own retry logic where it has one: botocore's
``retries/standard.py``, urllib3's ``Retry``, redis-py's ``Retry``, google-api-core's
``if_transient_error``, SQLAlchemy's disconnect detection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeAlias

from resilience._classify.http import as_status, attribute, header, headers_of
from resilience._classify.verdict import Classification, FailureKind
from resilience._core.text import safe_str

__all__ = ["grpc_name_verdict", "grpc_verdict", "library_verdict", "wrapped"]

_RETRYABLE = FailureKind.RETRYABLE
_PERMANENT = FailureKind.PERMANENT

StatusVerdict: TypeAlias = Callable[[int, object | None], Classification]
"""Judges an HTTP status with its headers: :meth:`Classifier.classify_status`."""

_KNOWN: dict[tuple[str, str], FailureKind] = {
    # botocore: its ConnectionError and HTTPClientError families are what botocore's own
    # retries treat as transient (EndpointConnectionError, ConnectTimeoutError,
    # ProxyConnectionError, SSLError; ReadTimeoutError, ConnectionClosedError,
    # ResponseStreamingError). Neither is a builtin ConnectionError.
    ("botocore", "ConnectionError"): _RETRYABLE,
    ("botocore", "HTTPClientError"): _RETRYABLE,
    ("botocore", "NoCredentialsError"): _PERMANENT,
    ("botocore", "PartialCredentialsError"): _PERMANENT,
    ("botocore", "ParamValidationError"): _PERMANENT,
    ("botocore", "NoRegionError"): _PERMANENT,
    # requests: ConnectionError covers ConnectTimeout, ProxyError and SSLError; Timeout
    # covers ReadTimeout. RetryError: urllib3 retried error statuses until it gave up.
    ("requests", "ConnectionError"): _RETRYABLE,
    ("requests", "Timeout"): _RETRYABLE,
    ("requests", "ChunkedEncodingError"): _RETRYABLE,
    ("requests", "RetryError"): _RETRYABLE,
    ("requests", "ContentDecodingError"): _PERMANENT,
    ("requests", "TooManyRedirects"): _PERMANENT,
    ("requests", "URLRequired"): _PERMANENT,
    # urllib3 (1.x and 2.x): TimeoutError covers ConnectTimeoutError, ReadTimeoutError and,
    # in 2.x, NewConnectionError and NameResolutionError. MaxRetryError is judged by its
    # reason (see wrapped()).
    ("urllib3", "TimeoutError"): _RETRYABLE,
    ("urllib3", "NewConnectionError"): _RETRYABLE,
    ("urllib3", "ProtocolError"): _RETRYABLE,
    ("urllib3", "IncompleteRead"): _RETRYABLE,
    ("urllib3", "InvalidChunkLength"): _RETRYABLE,
    ("urllib3", "ProxyError"): _RETRYABLE,
    ("urllib3", "SSLError"): _RETRYABLE,  # as requests and botocore, which retry it
    ("urllib3", "EmptyPoolError"): _RETRYABLE,
    ("urllib3", "ResponseError"): _RETRYABLE,  # "too many 503 error responses"
    ("urllib3", "ResponseNotChunked"): _PERMANENT,
    ("urllib3", "ClosedPoolError"): _PERMANENT,
    ("urllib3", "DecodeError"): _PERMANENT,
    # httpx: TransportError's families; HTTPStatusError is judged by its response.
    ("httpx", "TimeoutException"): _RETRYABLE,
    ("httpx", "NetworkError"): _RETRYABLE,
    ("httpx", "RemoteProtocolError"): _RETRYABLE,
    ("httpx", "ProxyError"): _RETRYABLE,
    ("httpx", "LocalProtocolError"): _PERMANENT,
    ("httpx", "UnsupportedProtocol"): _PERMANENT,
    ("httpx", "DecodingError"): _PERMANENT,
    ("httpx", "TooManyRedirects"): _PERMANENT,
    ("httpx", "InvalidURL"): _PERMANENT,
    # aiohttp: ClientConnectionError covers ClientConnectorError, ServerDisconnectedError
    # and ServerTimeoutError; ClientResponseError is judged by its status.
    ("aiohttp", "ClientConnectionError"): _RETRYABLE,
    ("aiohttp", "ServerTimeoutError"): _RETRYABLE,  # also a builtin TimeoutError
    ("aiohttp", "ClientPayloadError"): _RETRYABLE,
    ("aiohttp", "ServerFingerprintMismatch"): _PERMANENT,
    ("aiohttp", "TooManyRedirects"): _PERMANENT,
    ("aiohttp", "ContentTypeError"): _PERMANENT,
    ("aiohttp", "NonHttpUrlClientError"): _PERMANENT,
    # grpc: an RpcError is judged by its code(); this one is a channel not ready in time.
    ("grpc", "FutureTimeoutError"): _RETRYABLE,
    # redis-py: none of these subclasses the builtin ConnectionError or TimeoutError.
    ("redis", "ConnectionError"): _RETRYABLE,  # BusyLoadingError, MaxConnectionsError too
    ("redis", "TimeoutError"): _RETRYABLE,
    ("redis", "AuthenticationError"): _PERMANENT,  # a ConnectionError in redis-py
    ("redis", "AuthorizationError"): _PERMANENT,  # likewise
    ("redis", "ClusterDownError"): _RETRYABLE,  # MasterDownError too
    ("redis", "TryAgainError"): _RETRYABLE,
    ("redis", "ReadOnlyError"): _RETRYABLE,  # a replica during failover
    ("redis", "WatchError"): _RETRYABLE,  # the optimistic transaction lost a race: run it again
    ("redis", "ResponseError"): _PERMANENT,
    ("redis", "DataError"): _PERMANENT,
    # psycopg 3 and its pool: client-side timeouts, which carry no SQLSTATE.
    ("psycopg", "ConnectionTimeout"): _RETRYABLE,
    ("psycopg", "CancellationTimeout"): _RETRYABLE,
    ("psycopg_pool", "PoolTimeout"): _RETRYABLE,
    ("psycopg_pool", "TooManyRequests"): _RETRYABLE,
    # SQLAlchemy: DBAPIError is judged by connection_invalidated, then by its orig.
    ("sqlalchemy", "DisconnectionError"): _RETRYABLE,
    ("sqlalchemy", "TimeoutError"): _RETRYABLE,  # no pooled connection free in time
    ("sqlalchemy", "InvalidRequestError"): _PERMANENT,
    ("sqlalchemy", "ArgumentError"): _PERMANENT,
    ("sqlalchemy", "CompileError"): _PERMANENT,
}

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

# The error codes botocore retries as throttling or as transient failures: the union of
# its standard retry mode's checkers and its legacy mode's _retry.json.
_AWS_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
_AWS_TRANSIENT = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})

# A connection refused by PostgreSQL itself ("FATAL: password authentication failed")
# fails again; these refusals pass.
_PG_PASSING_FATAL = (
    "the database system is",  # starting up, shutting down, in recovery mode
    "too many clients",
    "connection slots are reserved",
    "terminating connection",
)


def grpc_verdict(exc: BaseException) -> Classification | None:
    """The verdict on a gRPC status read from ``exc.code().name`` (grpc's RpcError)."""
    code = attribute(exc, "code")
    if not callable(code):
        return None
    try:
        name = attribute(code(), "name")
    except Exception:
        return None
    return grpc_name_verdict(name)


def grpc_name_verdict(name: object) -> Classification | None:
    """The verdict on a gRPC status code's name, e.g. ``"UNAVAILABLE"``."""
    if name in _RETRYABLE_GRPC:
        return Classification(_RETRYABLE, f"gRPC {name}")
    if name in _PERMANENT_GRPC:
        return Classification(_PERMANENT, f"gRPC {name}")
    return None


def _aws(exc: BaseException, status_verdict: StatusVerdict) -> Classification | None:
    """A botocore ClientError: its error code, then its HTTP status, from ``response``."""
    response = attribute(exc, "response")
    if not isinstance(response, Mapping):
        return None
    error = response.get("Error")
    code = error.get("Code") if isinstance(error, Mapping) else None
    code = code if isinstance(code, str) and code else None
    metadata = response.get("ResponseMetadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    status = as_status(metadata.get("HTTPStatusCode"))
    headers = metadata.get("HTTPHeaders")
    verdict = status_verdict(status, headers) if status is not None and status >= 400 else None  # noqa: PLR2004
    if code in _AWS_THROTTLING or code in _AWS_TRANSIENT:
        kind = _RETRYABLE  # throttling comes as HTTP 400 ("Throttling") as often as 429 or 503
    elif verdict is not None:
        kind = verdict.kind
    elif status is not None:
        kind = _PERMANENT  # a 3xx (S3's 304 Not Modified) is an answer; asking again gets it
    else:
        return None
    wait = None
    if kind is _RETRYABLE:
        # botocore's own header, in milliseconds, wins over Retry-After, as in botocore.
        wait = _milliseconds(header(headers, "x-amz-retry-after")) if headers is not None else None
        if wait is None and verdict is not None:
            wait = verdict.retry_after
    parts = [f"AWS {code}"] if code else []
    if status is not None:
        parts.append(f"HTTP {status}")
    reason = ", ".join(parts)
    if wait is not None:
        reason += f" (Retry-After {wait:g} s)"
    return Classification(kind, reason, wait)


def _milliseconds(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value / 1000 if value >= 0 else None


def _google(exc: BaseException, status_verdict: StatusVerdict) -> Classification | None:
    """google-api-core's GoogleAPICallError: its gRPC status code, else its HTTP code."""
    verdict = grpc_name_verdict(attribute(attribute(exc, "grpc_status_code"), "name"))
    if verdict is not None:
        return verdict
    status = as_status(attribute(exc, "code"))
    if status is not None and status >= 400:  # noqa: PLR2004
        return status_verdict(status, headers_of(exc))
    return None


def _sqlalchemy(exc: BaseException, _status_verdict: StatusVerdict) -> Classification | None:
    """SQLAlchemy's DBAPIError: a connection it found dead is worth a new one."""
    if attribute(exc, "connection_invalidated") is True:
        return Classification(_RETRYABLE, "SQLAlchemy: connection invalidated")
    return None  # judged by its orig, as a cause


def _postgres(exc: BaseException, _status_verdict: StatusVerdict) -> Classification | None:
    """An OperationalError of psycopg or psycopg2 without a SQLSTATE: a lost connection."""
    for name in ("sqlstate", "pgcode"):
        if isinstance(attribute(exc, name), str):
            return None  # the SQLSTATE table decides
    # No SQLSTATE: libpq failed to connect, or lost the connection. The message is all
    # there is; libpq writes "FATAL:" when the server itself refused.
    message = safe_str(exc, limit=2000).lower()
    if "fatal:" in message and not any(text in message for text in _PG_PASSING_FATAL):
        return Classification(_PERMANENT, "PostgreSQL refused the connection")
    return Classification(_RETRYABLE, "PostgreSQL connection failed or lost")


_Reader: TypeAlias = Callable[[BaseException, StatusVerdict], Classification | None]
_READERS: dict[tuple[str, str], _Reader] = {
    ("botocore", "ClientError"): _aws,
    ("google", "GoogleAPICallError"): _google,
    ("sqlalchemy", "DBAPIError"): _sqlalchemy,
    ("psycopg", "OperationalError"): _postgres,
    ("psycopg2", "OperationalError"): _postgres,
}
_WRAPPED: dict[tuple[str, str], str] = {
    ("urllib3", "MaxRetryError"): "reason",
    ("sqlalchemy", "DBAPIError"): "orig",
    ("google", "RetryError"): "cause",
}
_ROOTS = frozenset(root for root, _ in (*_KNOWN, *_READERS, *_WRAPPED))


_CLASSES: dict[type, tuple[tuple[str, type], ...]] = {}
_MAX_CLASSES = 1024  # types seen; past it the cache starts afresh, so made-up types cannot grow it


def _library_classes(exc_type: type) -> tuple[tuple[str, type], ...]:
    """The (package, class) pairs of the MRO of ``exc_type`` that come from a listed package.

    Cached by type: an application raises few types, and most have none (an empty tuple),
    so a failure of no listed library costs one lookup however deep its MRO.
    """
    found = _CLASSES.get(exc_type)
    if found is None:
        found = tuple(
            (root, klass)
            for klass in exc_type.__mro__
            if (root := klass.__module__.partition(".")[0]) in _ROOTS
        )
        if len(_CLASSES) >= _MAX_CLASSES:
            _CLASSES.clear()
        _CLASSES[exc_type] = found
    return found


def library_verdict(exc: BaseException, status_verdict: StatusVerdict) -> Classification | None:
    """The verdict on a failure of a known client library, or None if it is not one."""
    for root, klass in _library_classes(type(exc)):
        key = (root, klass.__name__)
        reader = _READERS.get(key)
        if reader is not None:
            verdict = reader(exc, status_verdict)
            if verdict is not None:
                return verdict
        kind = _KNOWN.get(key)
        if kind is not None:
            return Classification(kind, f"{klass.__module__}.{klass.__name__}")
    return None


def wrapped(exc: BaseException) -> BaseException | None:
    """The error a library's wrapper holds (``MaxRetryError.reason``, ``.orig``), if any."""
    for root, klass in _library_classes(type(exc)):
        name = _WRAPPED.get((root, klass.__name__))
        if name is not None:
            inner = attribute(exc, name)
            return inner if isinstance(inner, BaseException) else None
    return None

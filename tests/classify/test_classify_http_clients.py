"""The classifier on the real failures of botocore, requests, urllib3, httpx and aiohttp.

Each failure is produced by the library itself against a loopback HTTP server (refused,
slow, hanging up, sending a broken body, answering an error status), or constructed as
the library constructs it where a real one cannot be provoked here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp
import botocore.session  # type: ignore[import-untyped]
import httpx
import pytest
import requests
import urllib3
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from resilience import Classification, Classifier, FailureKind
from servers import free_port

RETRYABLE, PERMANENT = FailureKind.RETRYABLE, FailureKind.PERMANENT
DEFAULT = Classifier.default()


class _Remote(BaseHTTPRequestHandler):
    """Misbehaves as the path says: /status/<code>, /s3/<code>, /slow, /hang-up, /broken.

    /broken sends part of a chunked body and hangs up before its last chunk.
    """

    protocol_version = "HTTP/1.1"
    release: threading.Event

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if parts[0] == "slow":
            self.release.wait(5)  # past the client's read timeout; ended at teardown
            self._answer(200, b"late")
        elif parts[0] == "hang-up":
            self.close_connection = True
            self.connection.close()  # no response at all
        elif parts[0] == "broken":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n")  # then hangs up before the last chunk
            self.wfile.flush()
            self.close_connection = True
        elif parts[0] == "s3" and len(parts) > 2:  # /s3/<status>/<Code>/...
            # Headers as path segments: botocore refuses an endpoint with a query.
            query |= dict(unquote(p).split("=", 1) for p in parts[3:] if "=" in unquote(p))
            body = (
                "<?xml version='1.0' encoding='UTF-8'?>"
                f"<Error><Code>{parts[2]}</Code><Message>as S3 says it</Message>"
                "<RequestId>1</RequestId></Error>"
            ).encode()
            self._answer(int(parts[1]), body, query, "application/xml")
        else:  # /status/<code>
            self._answer(int(parts[1]), b"{}", query)

    do_GET = do_HEAD = do_PUT = do_POST = _handle  # noqa: N815

    def _answer(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def remote() -> Iterator[str]:
    """A loopback HTTP server that fails on demand; its base URL."""
    release = threading.Event()
    handler = type("Handler", (_Remote,), {"release": release})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def closed() -> str:
    """The URL of a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


def raised(call: Any, *args: Any, **kwargs: Any) -> BaseException:
    """What ``call(*args, **kwargs)`` raised."""
    with pytest.raises(Exception) as info:
        call(*args, **kwargs)
    return info.value


def verdict_on(exc: BaseException) -> Classification:
    return DEFAULT.classify(exc)


# Both unknown kinds: a verdict they agree on comes from the table, not from the default.
_BOTH_UNKNOWNS = (Classifier.default(), Classifier.default(unknown=RETRYABLE))


def kind_of(exc: BaseException) -> FailureKind | None:
    """The kind the table gives ``exc``, or None if it does not recognise it."""
    kinds = {classifier.classify(exc).kind for classifier in _BOTH_UNKNOWNS}
    return kinds.pop() if len(kinds) == 1 else None


# ----------------------------------------------------------------------------- botocore


@pytest.fixture(scope="module")
def s3_session() -> botocore.session.Session:
    return botocore.session.get_session()


def s3(session: botocore.session.Session, url: str) -> Any:
    """A real S3 client against ``url``: no retries of its own, short timeouts."""
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=1,
        read_timeout=0.3,
        s3={"addressing_style": "path"},
    )
    return session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - a loopback server's fake key
        config=config,
    )


def s3_error(session: botocore.session.Session, url: str) -> BaseException:
    return raised(s3(session, url).get_object, Bucket="photos", Key="a.jpg")


def test_an_s3_503_slowdown_is_retryable(
    s3_session: botocore.session.Session, remote: str
) -> None:
    """An S3 503 SlowDown, a real botocore ClientError, is retried as the README says."""
    error = s3_error(s3_session, f"{remote}/s3/503/SlowDown")
    assert isinstance(error, ClientError)
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    verdict = verdict_on(error)
    assert verdict.kind is RETRYABLE
    assert verdict.reason == "AWS SlowDown, HTTP 503"


def test_aws_throttling_at_http_400_is_retryable(
    s3_session: botocore.session.Session, remote: str
) -> None:
    """Throttling and transient error codes are retryable even when the status is a 400."""
    for code in ("Throttling", "RequestTimeout", "ThrottlingException"):
        verdict = verdict_on(s3_error(s3_session, f"{remote}/s3/400/{code}"))
        assert verdict == Classification(RETRYABLE, f"AWS {code}, HTTP 400")


def test_aws_client_errors_are_permanent(
    s3_session: botocore.session.Session, remote: str
) -> None:
    """A ClientError of another code is judged by its status: 4xx permanent."""
    for status, code in ((403, "AccessDenied"), (404, "NoSuchKey"), (400, "InvalidRequest")):
        verdict = verdict_on(s3_error(s3_session, f"{remote}/s3/{status}/{code}"))
        assert verdict == Classification(PERMANENT, f"AWS {code}, HTTP {status}")


def test_aws_retry_after_in_milliseconds_wins_over_retry_after(
    s3_session: botocore.session.Session, remote: str
) -> None:
    """x-amz-retry-after (milliseconds) is the wait; else Retry-After is."""
    both = s3_error(s3_session, f"{remote}/s3/503/SlowDown/x-amz-retry-after=1500/Retry-After=9")
    assert verdict_on(both).retry_after == 1.5
    plain = s3_error(s3_session, f"{remote}/s3/503/SlowDown/Retry-After=9")
    assert verdict_on(plain).retry_after == 9.0
    assert "Retry-After 9 s" in verdict_on(plain).reason


def test_aws_connection_failures_are_retryable(
    s3_session: botocore.session.Session, remote: str, closed: str
) -> None:
    """botocore's refused, hung-up and timed-out connections are retryable."""
    refused = s3_error(s3_session, closed)
    hung_up = s3_error(s3_session, f"{remote}/hang-up")
    slow = s3_error(s3_session, f"{remote}/slow")
    assert isinstance(refused, EndpointConnectionError)
    assert isinstance(hung_up, ConnectionClosedError)
    assert isinstance(slow, ReadTimeoutError)
    connect_timeout = ConnectTimeoutError(endpoint_url="https://s3.amazonaws.com/")
    for error in (refused, hung_up, slow, connect_timeout):
        assert kind_of(error) is RETRYABLE, error


@pytest.mark.parametrize(
    "code",
    [
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
        "RequestTimeout",
        "RequestTimeoutException",
    ],
)
def test_every_code_botocore_retries_is_retryable(code: str) -> None:
    """The throttling and transient codes of botocore's own retries are RETRYABLE."""
    error = ClientError(
        {
            "Error": {"Code": code, "Message": "slow down"},
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}},
        },
        "PutItem",
    )
    assert kind_of(error) is RETRYABLE


def test_aws_errors_that_retrying_cannot_fix_are_permanent() -> None:
    """Missing credentials, a 304 and a ClientError without a status are not retried."""
    not_modified = ClientError(
        {"Error": {"Code": "304", "Message": "Not Modified"},
         "ResponseMetadata": {"HTTPStatusCode": 304, "HTTPHeaders": {}}},
        "GetObject",
    )
    assert kind_of(NoCredentialsError()) is PERMANENT
    assert kind_of(not_modified) is PERMANENT
    assert verdict_on(ClientError({}, "GetObject")).kind is PERMANENT  # unrecognised


# ------------------------------------------------------------------ requests and urllib3


def test_requests_connection_failures_are_retryable(remote: str, closed: str) -> None:
    """Refused, hung-up, timed-out and broken-body failures of requests are retryable."""
    errors = {
        requests.ConnectionError: raised(requests.get, closed, timeout=2),
        requests.ReadTimeout: raised(requests.get, f"{remote}/slow", timeout=0.3),
    }
    errors[requests.exceptions.ChunkedEncodingError] = raised(
        lambda: requests.get(f"{remote}/broken", timeout=2).content
    )
    hung_up = raised(requests.get, f"{remote}/hang-up", timeout=2)
    for kind, error in [*errors.items(), (requests.ConnectionError, hung_up)]:
        assert isinstance(error, kind)
        assert kind_of(error) is RETRYABLE, error


def test_requests_http_errors_are_judged_by_their_response(remote: str) -> None:
    """raise_for_status(): a 503 with Retry-After is retryable after it; a 404 is not."""
    unavailable = raised(
        requests.get(f"{remote}/status/503?Retry-After=7", timeout=2).raise_for_status
    )
    missing = raised(requests.get(f"{remote}/status/404", timeout=2).raise_for_status)
    assert verdict_on(unavailable) == Classification(RETRYABLE, "HTTP 503 (Retry-After 7 s)", 7.0)
    assert verdict_on(missing) == Classification(PERMANENT, "HTTP 404")


def test_requests_giving_up_on_error_statuses_is_retryable(remote: str) -> None:
    """A RetryError (urllib3 retried 503s until it gave up) is retryable later."""
    session = requests.Session()
    retry = Retry(total=1, status_forcelist=[503], backoff_factor=0,
                  respect_retry_after_header=False)
    session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retry))
    error = raised(session.get, f"{remote}/status/503", timeout=2)
    assert isinstance(error, requests.exceptions.RetryError)
    assert kind_of(error) is RETRYABLE


def test_requests_errors_of_the_caller_are_permanent() -> None:
    """A URL without a scheme or with a bad one is a programming error."""
    assert kind_of(raised(requests.get, "nowhere", timeout=2)) is PERMANENT
    assert kind_of(raised(requests.get, "gopher://x", timeout=2)) is PERMANENT


def test_urllib3_max_retry_error_is_judged_by_its_reason(remote: str, closed: str) -> None:
    """MaxRetryError takes its reason's kind; the bare connection errors are retryable."""
    pool = urllib3.PoolManager(retries=Retry(0), timeout=urllib3.Timeout(connect=1, read=0.3))
    gave_up = raised(pool.request, "GET", closed)
    assert isinstance(gave_up, urllib3.exceptions.MaxRetryError)
    assert isinstance(gave_up.reason, urllib3.exceptions.NewConnectionError)
    verdict = verdict_on(gave_up)
    assert verdict.kind is RETRYABLE
    assert verdict.reason.startswith("caused by urllib3")
    constructed = urllib3.exceptions.MaxRetryError(
        None, "/", urllib3.exceptions.ProtocolError("Connection aborted.")  # type: ignore[arg-type]
    )
    assert constructed.__cause__ is None
    assert kind_of(constructed) is RETRYABLE
    bare = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1, read=0.3))
    for error, kind in (
        (raised(bare.request, "GET", closed), urllib3.exceptions.NewConnectionError),
        (raised(bare.request, "GET", f"{remote}/slow"), urllib3.exceptions.ReadTimeoutError),
        (raised(bare.request, "GET", f"{remote}/hang-up"), urllib3.exceptions.ProtocolError),
    ):
        assert isinstance(error, kind)
        assert kind_of(error) is RETRYABLE, error


# -------------------------------------------------------------------------------- httpx


def test_httpx_transport_errors_are_retryable(remote: str, closed: str) -> None:
    """httpx's ConnectError, ReadTimeout and RemoteProtocolError are retryable."""
    with httpx.Client(timeout=httpx.Timeout(2, read=0.3)) as client:
        errors = [
            (raised(client.get, closed), httpx.ConnectError),
            (raised(client.get, f"{remote}/slow"), httpx.ReadTimeout),
            (raised(client.get, f"{remote}/hang-up"), httpx.RemoteProtocolError),
        ]
    for error, kind in errors:
        assert isinstance(error, kind)
        assert kind_of(error) is RETRYABLE, error


def test_httpx_status_errors_and_bad_urls(remote: str) -> None:
    """HTTPStatusError is judged by its response; an unsupported scheme is permanent."""
    with httpx.Client(timeout=2) as client:
        throttled = raised(client.get(f"{remote}/status/429?Retry-After=3").raise_for_status)
        missing = raised(client.get(f"{remote}/status/404").raise_for_status)
        scheme = raised(client.get, "ftp://127.0.0.1/")
    assert isinstance(throttled, httpx.HTTPStatusError)
    assert verdict_on(throttled) == Classification(RETRYABLE, "HTTP 429 (Retry-After 3 s)", 3.0)
    assert kind_of(missing) is PERMANENT
    assert isinstance(scheme, httpx.UnsupportedProtocol)
    assert kind_of(scheme) is PERMANENT


# ------------------------------------------------------------------------------ aiohttp


async def test_aiohttp_connection_failures_are_retryable(remote: str, closed: str) -> None:
    """ClientConnectorError, ServerDisconnectedError, timeouts and payload errors retry."""
    timeout = aiohttp.ClientTimeout(total=3, sock_read=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        expected: list[tuple[str, type[BaseException]]] = [
            (closed, aiohttp.ClientConnectorError),
            (f"{remote}/hang-up", aiohttp.ServerDisconnectedError),
            (f"{remote}/slow", aiohttp.ServerTimeoutError),
            (f"{remote}/broken", aiohttp.ClientPayloadError),
        ]
        found: list[tuple[BaseException, type[BaseException]]] = []
        for url, kind in expected:
            try:
                async with session.get(url) as response:
                    await response.read()
            except aiohttp.ClientError as error:
                found.append((error, kind))
    assert len(found) == len(expected)
    for failure, kind in found:
        assert isinstance(failure, kind)
        assert kind_of(failure) is RETRYABLE, failure


async def test_aiohttp_response_errors_are_judged_by_their_status(remote: str) -> None:
    """ClientResponseError.status: a 429 with Retry-After retries after it, a 403 never."""
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        found = []
        for path in ("/status/429?Retry-After=4", "/status/403"):
            try:
                async with session.get(f"{remote}{path}"):
                    pass
            except aiohttp.ClientResponseError as error:
                found.append(error)
    throttled, forbidden = found
    assert verdict_on(throttled) == Classification(RETRYABLE, "HTTP 429 (Retry-After 4 s)", 4.0)
    assert verdict_on(forbidden) == Classification(PERMANENT, "HTTP 403")

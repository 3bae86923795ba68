"""Notifiers: webhooks against a real loopback server, routing, redaction."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal, Protocol

import pytest

from resilience import (
    CallbackNotifier,
    Incident,
    LoggingNotifier,
    NotifyError,
    RecoveryManager,
    Resolution,
    Severity,
    Stage,
    WebhookNotifier,
)
from resilience._core.redact import redact_url
from resilience.testing import FakeClock

SECRET_PATH = "/services/T000/B000/SECRET?token=abc"  # noqa: S105 - fake, on loopback
SECRETS = ("SECRET", "pass", "abc")
HANG_LIMIT = 30.0  # a hanging handler gives up after this, if teardown never releases it

Behaviour = Literal["ok", "no-content", "error", "hang", "redirect"]

_STATUS: dict[Behaviour, int] = {"ok": 200, "no-content": 204, "error": 500}


def assert_no_secret(text: str, *, incident: Incident | None = None) -> None:
    if incident is not None:  # a random hex id may well contain "abc"
        text = text.replace(incident.id, "<id>")
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {text!r}"


# ------------------------------------------------------------------ a real server


@dataclass(frozen=True)
class Received:
    """One request the server got."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


class RecordingServer(ThreadingHTTPServer):
    """Records every POST and answers as ``behaviour`` says; serves on a thread."""

    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _Handler)
        self.host = host
        self.behaviour: Behaviour = behaviour
        self.redirect: tuple[int, str] = (302, "/")  # for "redirect": the status and Location
        self.release = threading.Event()  # set on teardown: a hanging handler ends
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str = SECRET_PATH) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def record(self, request: Received) -> None:
        with self._lock:
            self._received.append(request)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def stop(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()
        self._thread.join(10)
        assert not self._thread.is_alive()


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # seconds a client may take to send its request: handlers always end

    def do_GET(self) -> None:
        self.do_POST()  # recorded too: a followed redirect may arrive as a GET

    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, RecordingServer)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        server.record(Received(self.command, self.path, headers, body))
        behaviour = server.behaviour
        if behaviour == "hang":
            server.release.wait(HANG_LIMIT)
            self.close_connection = True
            return  # never answers: the connection just closes
        if behaviour == "redirect":
            status, location = server.redirect
            self.send_response(status)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = _STATUS[behaviour]
        self.send_response(status)
        if status == 204:
            self.end_headers()
            return
        payload = b'{"ok": true}' if status < 300 else b'{"error": "boom"}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


class Serve(Protocol):
    def __call__(self, behaviour: Behaviour, host: str = ...) -> RecordingServer: ...


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Start loopback webhook servers; each is stopped (and any hang released) on teardown."""
    for scheme in ("http", "https", "all"):  # loopback must never go through a proxy
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    servers: list[RecordingServer] = []

    def start(behaviour: Behaviour, host: str = "127.0.0.1") -> RecordingServer:
        server = RecordingServer(behaviour, host)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound by nobody listening: connecting to it is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: no one else gets the port
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def make_incident(
    severity: Severity = Severity.P1, resolution: Resolution = Resolution.ESCALATED
) -> Incident:
    return Incident(
        id="inc-1",
        component="payments-db",
        reason="health check: connection refused",
        severity=severity,
        started_at=1_700_000_000.0,
        ended_at=1_700_000_360.0,
        resolution=resolution,
        detail="every stage failed (2 stages, 2 action runs)",
    )


def always_fails() -> None:
    raise ConnectionRefusedError(111, "Connection refused")


# ------------------------------------------------------------------ webhook, directly


@pytest.mark.parametrize("behaviour", ["ok", "no-content"])
async def test_webhook_posts_the_incident_as_json(serve: Serve, behaviour: Behaviour) -> None:
    """Webhook posts the incident as json."""
    server = serve(behaviour)
    incident = make_incident()
    notifier = WebhookNotifier(server.url(), timeout=5, headers={"X-Team": "storage"})

    await notifier.notify(incident)

    [request] = server.received
    assert request.method == "POST"
    assert request.path == SECRET_PATH  # the real URL is used; only its display is redacted
    assert request.json() == {**incident.to_dict(), "text": incident.summary()}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-team"] == "storage"
    assert request.headers["user-agent"].startswith("Python-urllib/")


async def test_webhook_sends_url_credentials_as_basic_auth(serve: Serve) -> None:
    """Webhook sends url credentials as basic auth."""
    server = serve("ok")
    url = f"http://user:pass@127.0.0.1:{server.port}{SECRET_PATH}"

    await WebhookNotifier(url, timeout=5).notify(make_incident())

    [request] = server.received
    assert request.path == SECRET_PATH
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"user:pass").decode()
    assert request.headers["user-agent"].startswith("Python-urllib/")


async def test_webhook_http_500_is_a_notify_error(serve: Serve) -> None:
    """Webhook http 500 is a notify error."""
    server = serve("error")
    notifier = WebhookNotifier(server.url(), timeout=5)

    with pytest.raises(NotifyError, match="HTTP 500") as raised:
        await notifier.notify(make_incident())

    assert len(server.received) == 1
    assert f"127.0.0.1:{server.port}" in str(raised.value)
    assert_no_secret(str(raised.value))
    assert raised.value.__cause__ is None


async def test_webhook_that_does_not_answer_times_out(serve: Serve) -> None:
    """Webhook that does not answer times out."""
    server = serve("hang")
    notifier = WebhookNotifier(server.url(), timeout=0.3)
    loop = asyncio.get_running_loop()
    start = loop.time()

    with pytest.raises(NotifyError, match=r"did not answer within 0\.3 s") as raised:
        await notifier.notify(make_incident())

    assert loop.time() - start < 5
    assert len(server.received) == 1  # it got there; no answer came back
    assert_no_secret(str(raised.value))


async def test_webhook_connection_refused(refused_port: int) -> None:
    """Webhook connection refused."""
    url = f"http://user:pass@127.0.0.1:{refused_port}{SECRET_PATH}"
    notifier = WebhookNotifier(url, timeout=5)

    with pytest.raises(NotifyError, match="failed") as raised:
        await notifier.notify(make_incident())

    message = str(raised.value)
    assert f"http://127.0.0.1:{refused_port}/<redacted>" in message
    assert_no_secret(message)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_a_failed_delivery_and_the_other_host_receives_nothing(
    serve: Serve, status: int
) -> None:
    """A 3xx fails the notification; neither the body nor any credential reaches the target."""
    other = serve("ok", "127.0.0.2")  # another loopback address: another host
    first = serve("redirect")
    first.redirect = (status, other.url("/collect?token=abc"))
    url = f"http://user:pass@127.0.0.1:{first.port}{SECRET_PATH}"
    notifier = WebhookNotifier(url, timeout=5, headers={"Authorization": "Bearer SECRET-token"})

    with pytest.raises(NotifyError, match=f"answered HTTP {status}, a redirect") as raised:
        await notifier.notify(make_incident())

    assert len(first.received) == 1
    assert other.received == []
    message = str(raised.value)
    assert f"to http://127.0.0.2:{other.port}/<redacted>" in message
    assert "not followed" in message
    assert_no_secret(message)
    assert raised.value.__cause__ is None


async def test_a_relative_redirect_is_shown_on_the_webhooks_host(serve: Serve) -> None:
    """A Location without a host is named as the host it points to, redacted."""
    server = serve("redirect")
    server.redirect = (308, "/elsewhere?token=abc")
    notifier = WebhookNotifier(server.url(), timeout=5)
    with pytest.raises(NotifyError, match="answered HTTP 308") as raised:
        await notifier.notify(make_incident())
    assert f"to http://127.0.0.1:{server.port}/<redacted>" in str(raised.value)
    assert len(server.received) == 1
    assert_no_secret(str(raised.value))


# ------------------------------------------------------------------ through the manager


async def test_escalation_reaches_each_notifier_once_and_failures_are_recorded(
    serve: Serve, caplog: pytest.LogCaptureFixture, fake_clock: FakeClock
) -> None:
    """Escalation reaches each notifier once and failures are recorded."""
    caplog.set_level(logging.INFO, logger="resilience")
    ok_server, error_server, hang_server = serve("ok"), serve("error"), serve("hang")
    webhook_ok = WebhookNotifier(ok_server.url(), timeout=5)
    webhook_500 = WebhookNotifier(error_server.url(), timeout=5)
    webhook_timeout = WebhookNotifier(hang_server.url(), timeout=0.3)
    told: list[Incident] = []
    callback = CallbackNotifier(told.append)
    manager = RecoveryManager(
        clock=fake_clock,
        stages=[Stage(delay=0, attempts=1), Stage(delay=60, attempts=1)],
        notifiers=[webhook_ok, webhook_500, webhook_timeout, callback],
        notify_timeout=10,
    )
    runs: list[float] = []

    def restart() -> None:
        runs.append(fake_clock.monotonic())
        always_fails()

    manager.register("payments-db", actions=[restart], severity="P1")

    incident = await manager.recover("payments-db", reason="db down")

    # Recovery ran every stage, undisturbed by the notifiers.
    assert incident.resolution is Resolution.ESCALATED
    assert runs == [0, 60]
    assert [(a.stage, a.attempt, a.ok) for a in incident.actions] == [(1, 1, False), (2, 1, False)]

    records = incident.notifications
    assert [r.notifier for r in records] == [
        repr(webhook_ok),
        repr(webhook_500),
        repr(webhook_timeout),
        repr(callback),
    ]
    assert [r.ok for r in records] == [True, False, False, True]
    assert records[0].error is None
    assert records[3].error is None
    assert records[1].error is not None
    assert "NotifyError" in records[1].error
    assert "HTTP 500" in records[1].error
    assert records[2].error is not None
    assert "did not answer within 0.3 s" in records[2].error

    # Escalation happens once: one POST each, one callback.
    assert len(ok_server.received) == 1
    assert len(error_server.received) == 1
    assert len(hang_server.received) == 1
    posted = ok_server.received[0].json()
    assert isinstance(posted, dict)
    assert posted["id"] == incident.id
    assert posted["resolution"] == "escalated"
    assert posted["notifications"] == []  # posted before the outcomes were known
    assert [i.id for i in told] == [incident.id]

    assert manager.incidents() == [incident]
    assert manager.incidents()[0].notifications == records

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert all(r.name == "resilience" for r in errors)
    assert len(errors) == 2
    messages = [r.getMessage() for r in errors]
    assert any("HTTP 500" in m for m in messages)
    assert any("did not answer" in m for m in messages)
    assert all("recovery is unaffected" in m for m in messages)
    for record in caplog.records:
        assert_no_secret(record.getMessage(), incident=incident)
    assert_no_secret(caplog.text, incident=incident)
    assert_no_secret(repr(incident.to_dict()), incident=incident)


async def test_a_recovered_component_notifies_nobody(
    serve: Serve,
    fake_clock: FakeClock,
) -> None:
    """A recovered component notifies nobody."""
    server = serve("ok")
    told: list[Incident] = []
    manager = RecoveryManager(
        clock=fake_clock,
        stages=[Stage(delay=0, attempts=1), Stage(delay=60, attempts=1)],
        notifiers=[WebhookNotifier(server.url(), timeout=5), CallbackNotifier(told.append)],
    )
    manager.register("cache", actions=[lambda: True], severity="P0")

    incident = await manager.recover("cache")

    assert incident.resolution is Resolution.RECOVERED
    assert incident.notifications == ()
    assert told == []
    assert server.received == []


async def test_a_notifier_beyond_notify_timeout_fails_and_recovery_returns(
    caplog: pytest.LogCaptureFixture,
    fake_clock: FakeClock,
) -> None:
    """A notifier beyond notify timeout fails and recovery returns."""
    caplog.set_level(logging.INFO, logger="resilience")
    never = asyncio.Event()
    told: list[Incident] = []

    async def hangs(incident: Incident) -> None:
        await never.wait()

    hanging = CallbackNotifier(hangs)
    manager = RecoveryManager(
        clock=fake_clock,
        stages=[Stage(delay=0, attempts=1)],
        notifiers=[hanging, CallbackNotifier(told.append)],
        notify_timeout=0.2,
    )
    manager.register("queue", actions=[always_fails])

    incident = await asyncio.wait_for(manager.recover("queue"), timeout=10)

    assert incident.resolution is Resolution.ESCALATED
    first, second = incident.notifications
    assert first.notifier == repr(hanging)
    assert not first.ok
    assert first.error is not None
    assert "notify_timeout" in first.error
    assert second.ok
    assert [i.id for i in told] == [incident.id]
    assert any(
        r.levelno == logging.ERROR and "notify_timeout" in r.getMessage() for r in caplog.records
    )


# ------------------------------------------------------------------ routing by severity


async def test_notifiers_are_routed_by_severity(fake_clock: FakeClock) -> None:
    """Notifiers are routed by severity."""
    told: dict[str, list[str]] = {"P0": [], "P1": [], "P3": []}

    def collector(level: Severity | str) -> CallbackNotifier:
        key = Severity(level).value
        return CallbackNotifier(lambda i: told[key].append(i.component), min_severity=level)

    manager = RecoveryManager(
        clock=fake_clock,
        stages=[Stage(delay=0, attempts=1)],
        notifiers=[collector("P0"), collector("P1"), collector(Severity.P3)],
    )
    for severity in ("P0", "P2", "P3"):
        manager.register(f"svc-{severity}", actions=[always_fails], severity=severity)

    incidents = [await manager.recover(f"svc-{s}") for s in ("P0", "P2", "P3")]

    assert [i.severity for i in incidents] == [Severity.P0, Severity.P2, Severity.P3]
    assert told == {"P0": ["svc-P0"], "P1": ["svc-P0"], "P3": ["svc-P0", "svc-P2", "svc-P3"]}
    assert [len(i.notifications) for i in incidents] == [3, 1, 1]
    assert all(r.ok for i in incidents for r in i.notifications)


# ------------------------------------------------------------------ redaction


def test_redact_shows_scheme_host_and_port_only() -> None:
    """Redact shows scheme host and port only."""
    url = "https://user:pass@hooks.example.com:8443/services/T000/B000/SECRET?token=abc"
    assert redact_url(url, path=False) == "https://hooks.example.com:8443/<redacted>"
    assert redact_url("https://hooks.example.com/x?token=abc", path=False) == (
        "https://hooks.example.com/<redacted>"
    )


@pytest.mark.parametrize(
    "url", ["http://user:pass@host:99999/SECRET?token=abc", "http://host:SECRET/abc", "http://[::1"]
)
def test_redact_never_raises_nor_echoes(url: str) -> None:
    """Redact never raises nor echoes."""
    assert_no_secret(redact_url(url, path=False))


def test_webhook_repr_and_url_are_redacted() -> None:
    """Webhook repr and url are redacted."""
    url = "https://user:pass@hooks.example.com:8443/services/T000/B000/SECRET?token=abc"
    notifier = WebhookNotifier(url, min_severity="P1")
    assert repr(notifier) == (
        "WebhookNotifier('https://hooks.example.com:8443/<redacted>', min_severity=P1)"
    )
    assert notifier.url == "https://hooks.example.com:8443/<redacted>"
    assert_no_secret(repr(notifier))


@pytest.mark.parametrize("value", ["Bearer SECRET\n", "Bearer SECRET\r\nX-Evil: 1", " SECRET"])
def test_a_secret_header_with_a_newline_or_stray_space_is_refused_without_showing_it(
    value: str,
) -> None:
    """A header value that could split the request is refused at construction, masked."""
    for name in ("Authorization", "X-Api-Key", "Cookie"):
        with pytest.raises(ValueError, match=f"the value of '{name}'") as raised:
            WebhookNotifier("https://hooks.example.com/x", headers={name: value})
        assert "SECRET" not in str(raised.value)


@pytest.mark.parametrize("name", ["X Team", "X-Team\n", ""])
def test_a_malformed_header_name_is_refused(name: str) -> None:
    """A header name that is not an HTTP token is refused at construction."""
    with pytest.raises(ValueError, match="not a valid header name"):
        WebhookNotifier("https://hooks.example.com/x", headers={name: "storage"})


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/services/SECRET\n",
        "https://hooks.example.com/services/\tSECRET",
        "https://hooks.example.com/services/SECRET ?token=abc",
    ],
)
def test_a_webhook_url_with_whitespace_is_refused_without_echoing_it(url: str) -> None:
    """Whitespace urlsplit would drop silently is refused, and the URL shown redacted."""
    with pytest.raises(ValueError, match="whitespace or control characters") as raised:
        WebhookNotifier(url)
    assert_no_secret(str(raised.value))


async def test_a_failed_delivery_never_shows_a_secret_header(refused_port: int) -> None:
    """The error of an unreachable webhook names it, without any secret header value."""
    notifier = WebhookNotifier(
        f"http://127.0.0.1:{refused_port}{SECRET_PATH}",
        timeout=5,
        headers={"X-Api-Key": "SECRET-key", "Cookie": "session=SECRET"},
    )
    with pytest.raises(NotifyError, match="failed") as raised:
        await notifier.notify(make_incident())
    assert_no_secret(str(raised.value))
    assert_no_secret(repr(notifier))


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "url",
    [
        "ftp://user:pass@x/SECRET?token=abc",
        "not a url",
        "http:///SECRET?token=abc",  # no host
        "http://user:pass@127.0.0.1:99999/SECRET?token=abc",  # port out of range
        "http://127.0.0.1:SECRET/abc",  # port not a number
    ],
)
def test_webhook_refuses_bad_urls_without_echoing_them(url: str) -> None:
    """Webhook refuses bad urls without echoing them."""
    with pytest.raises(ValueError, match="url") as raised:
        WebhookNotifier(url)
    assert_no_secret(str(raised.value))


@pytest.mark.parametrize("timeout", [0, -1, True, float("nan")])
def test_webhook_refuses_bad_timeouts(timeout: float) -> None:
    """Webhook refuses bad timeouts."""
    with pytest.raises(ValueError, match="timeout"):
        WebhookNotifier("https://hooks.example.com/x", timeout=timeout)


def test_webhook_timeout_accepts_a_timedelta() -> None:
    """A webhook's timeout may be a timedelta, kept as float seconds."""
    assert (
        WebhookNotifier("https://hooks.example.com/x", timeout=timedelta(seconds=2.5)).timeout
        == 2.5
    )
    with pytest.raises(ValueError, match="timeout"):
        WebhookNotifier("https://hooks.example.com/x", timeout=timedelta(0))


def test_bad_min_severity_names_the_choices() -> None:
    """Bad min severity names the choices."""
    for make in (
        lambda: WebhookNotifier("https://hooks.example.com/x", min_severity="P9"),
        lambda: CallbackNotifier(print, min_severity="P9"),
        lambda: LoggingNotifier(min_severity="P9"),
    ):
        with pytest.raises(ValueError, match="P9") as raised:
            make()
        assert all(level in str(raised.value) for level in ("P0", "P1", "P2", "P3"))


def test_callback_notifier_takes_a_function() -> None:
    """Callback notifier takes a function."""
    with pytest.raises(TypeError, match="42"):
        CallbackNotifier(42)  # type: ignore[arg-type]


def test_manager_refuses_what_is_not_a_notifier() -> None:
    """Manager refuses what is not a notifier."""
    with pytest.raises(TypeError, match="notifiers"):
        RecoveryManager(notifiers=[object()])  # type: ignore[list-item]


# ------------------------------------------------------------------ LoggingNotifier


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (Severity.P0, logging.CRITICAL),
        (Severity.P1, logging.ERROR),
        (Severity.P2, logging.WARNING),
        (Severity.P3, logging.INFO),
    ],
)
async def test_logging_notifier_levels_by_severity(
    caplog: pytest.LogCaptureFixture, severity: Severity, level: int
) -> None:
    """Logging notifier levels by severity."""
    caplog.set_level(logging.DEBUG, logger="resilience")
    incident = make_incident(severity)

    await LoggingNotifier().notify(incident)

    [record] = [r for r in caplog.records if r.name == "resilience"]
    assert record.levelno == level
    assert incident.summary() in record.getMessage()
    assert incident.id in record.getMessage()
    assert record.__dict__["incident"] == incident.to_dict()


async def test_logging_notifier_logs_a_recovery_at_info(caplog: pytest.LogCaptureFixture) -> None:
    """Logging notifier logs a recovery at info."""
    logger = logging.getLogger("resilience.test.oncall")
    caplog.set_level(logging.DEBUG, logger=logger.name)
    notifier = LoggingNotifier(logger, min_severity="P0")
    assert repr(notifier) == "LoggingNotifier('resilience.test.oncall', min_severity=P0)"

    await notifier.notify(make_incident(Severity.P0, Resolution.RECOVERED))

    [record] = [r for r in caplog.records if r.name == logger.name]
    assert record.levelno == logging.INFO

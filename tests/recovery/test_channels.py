"""Channels against real loopback servers: Slack, Telegram, PagerDuty (HTTP), e-mail (SMTP)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from receivers import Certificate, HangingServer, Mailbox, Receiver, free_port, make_certificate

from resilience import (
    EmailNotifier,
    Incident,
    NotifyError,
    PagerDutyNotifier,
    RecoveryManager,
    Resolution,
    Router,
    Severity,
    SlackNotifier,
    Stage,
    TelegramNotifier,
)
from resilience.recovery import ActionRecord
from resilience.testing import FakeClock

SLACK_PATH = "/services/T0000/B0000/XXXXSLACKSECRET"
BOT_TOKEN = "123456:AAH-bot-SECRET_token"  # noqa: S105 - fake, on loopback
ROUTING_KEY = "R0UT1NGKEYSECRET0000000000000000"
PASSWORD = "smtp-pa55-SECRET"  # noqa: S105 - fake, on loopback
SECRETS = ("XXXXSLACKSECRET", "bot-SECRET_token", "R0UT1NGKEYSECRET", "pa55-SECRET")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {text!r}"


def make_incident(
    severity: Severity = Severity.P0, resolution: Resolution = Resolution.ESCALATED
) -> Incident:
    return Incident(
        id="inc-42",
        component="payments-db",
        reason="health check: connection refused",
        severity=severity,
        started_at=1_700_000_000.0,
        ended_at=1_700_000_090.0,
        resolution=resolution,
        detail="every stage failed (2 stages, 2 action runs)",
        actions=(
            ActionRecord("reconnect", 1, 1, 1_700_000_000.0, 1.5, ok=False, outcome="refused"),
            ActionRecord("restart", 2, 1, 1_700_000_060.0, 20.0, ok=False, outcome="timed out"),
        ),
    )


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start HTTP receivers on loopback; each is stopped, any hang released, on teardown."""
    for scheme in ("http", "https", "all"):  # loopback must never go through a proxy
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    started: list[Receiver] = []

    def start(status: int = 200, answer: object = "ok", *, hang: bool = False) -> Receiver:
        receiver = Receiver(status, answer, hang=hang)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


def _authenticator(mailbox: Mailbox) -> Any:
    def authenticate(
        server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        mailbox.logins.append((data.login.decode(), mechanism))
        ok = data.login == b"alerts" and data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # unhandled: aiosmtpd answers 535

    return authenticate


@pytest.fixture
def smtp(certificate: Certificate) -> Iterator[Any]:
    """Start aiosmtpd servers on loopback (plain, STARTTLS or TLS, with AUTH); stopped after."""
    controllers: list[Controller] = []

    def start(mode: str = "plain") -> tuple[Mailbox, int]:
        mailbox = Mailbox()
        port = free_port()
        options: dict[str, Any] = {}
        if mode == "starttls":
            options = {
                "tls_context": certificate.server_context(),
                "require_starttls": True,
                "authenticator": _authenticator(mailbox),
                "auth_required": True,
            }
        elif mode == "tls":
            options = {
                "ssl_context": certificate.server_context(),
                "authenticator": _authenticator(mailbox),
                "auth_require_tls": False,  # the whole connection is TLS already
            }
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return mailbox, port

    yield start
    for controller in controllers:
        controller.stop()


# ------------------------------------------------------------------ Slack


async def test_slack_posts_a_block_kit_message(serve: Any) -> None:
    """Slack gets an incoming-webhook body: fallback text, and Block Kit blocks with the facts."""
    receiver = serve(200, "ok")
    slack = SlackNotifier(receiver.base + SLACK_PATH, timeout=5)

    await slack.notify(make_incident())

    [request] = receiver.requests
    assert request.path == SLACK_PATH
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["text"] == "[P0] payments-db: automatic recovery failed"
    blocks = body["blocks"]
    assert [b["type"] for b in blocks] == [
        "header",
        "section",
        "section",
        "section",
        "section",
        "context",
    ]
    assert blocks[0]["text"] == {
        "type": "plain_text",
        "text": "[P0] payments-db: automatic recovery failed",
    }
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert all(f["type"] == "mrkdwn" for f in blocks[1]["fields"])
    assert fields[0] == "*Severity*\nP0 critical: everyone, now"
    assert fields[1].startswith("*Since*\n2023-11-14T22:13:20+00:00 (recovery ran 1 min 30 s)")
    sections = [b["text"]["text"] for b in blocks[2:5]]
    assert all(b["text"]["type"] == "mrkdwn" for b in blocks[2:5])
    assert sections[0] == "*What failed*\nhealth check: connection refused"
    assert sections[1] == (
        "*What was tried*\n"
        "• stage 1 attempt 1: reconnect failed after 1.5 s: refused\n"
        "• stage 2 attempt 1: restart failed after 20.0 s: timed out"
    )
    assert sections[2].startswith("*What to do next*\nAcknowledge the incident")
    assert blocks[5]["elements"] == [{"type": "mrkdwn", "text": "Incident `inc-42`"}]


async def test_slack_text_is_escaped_and_cut_to_block_kit_limits(serve: Any) -> None:
    """Markup characters are escaped for mrkdwn, and a long header is cut to 150 characters."""
    receiver = serve(200, "ok")
    incident = make_incident()
    long = Incident(**{**_fields(incident), "component": "c" * 200, "reason": "<!channel> a & b"})

    await SlackNotifier(receiver.base + SLACK_PATH, timeout=5).notify(long)

    blocks = receiver.requests[0].json()["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150
    assert blocks[0]["text"]["text"].endswith("…")
    assert blocks[2]["text"]["text"] == "*What failed*\n&lt;!channel&gt; a &amp; b"


def _fields(incident: Incident) -> dict[str, Any]:
    return {name: getattr(incident, name) for name in Incident.__dataclass_fields__}


async def test_slack_error_quotes_slack_and_hides_the_webhook_path(serve: Any) -> None:
    """A 400 from Slack is a NotifyError with Slack's word for it, and never the secret path."""
    receiver = serve(400, "invalid_blocks")
    slack = SlackNotifier(receiver.base + SLACK_PATH, timeout=5)

    with pytest.raises(NotifyError, match="HTTP 400: invalid_blocks") as raised:
        await slack.notify(make_incident())

    assert_no_secret(str(raised.value))
    assert_no_secret(repr(slack))
    assert "<redacted>" in repr(slack)


def test_slack_refuses_a_bad_url_without_showing_it() -> None:
    """A webhook URL that is not http(s) is refused by name, its path not shown."""
    with pytest.raises(ValueError, match="webhook_url must be an http") as raised:
        SlackNotifier("ftp://hooks.slack.com" + SLACK_PATH)
    assert_no_secret(str(raised.value))


# ------------------------------------------------------------------ Telegram


async def test_telegram_calls_send_message_with_html(serve: Any) -> None:
    """Telegram gets sendMessage on /bot<token>/ with the chat, HTML text and no previews."""
    receiver = serve(200, {"ok": True, "result": {"message_id": 7}})
    telegram = TelegramNotifier(BOT_TOKEN, chat_id=-1001234, api_url=receiver.base, timeout=5)
    incident = Incident(**{**_fields(make_incident()), "reason": "x < y & z"})

    await telegram.notify(incident)

    [request] = receiver.requests
    assert request.path == f"/bot{BOT_TOKEN}/sendMessage"
    body = request.json()
    assert body["chat_id"] == -1001234
    assert body["parse_mode"] == "HTML"
    assert body["link_preview_options"] == {"is_disabled": True}
    text = body["text"]
    assert text.startswith("<b>[P0] payments-db: automatic recovery failed</b>\n")
    assert "What failed: x &lt; y &amp; z" in text
    assert "  - stage 2 attempt 1: restart failed after 20.0 s: timed out" in text
    assert "What to do next: Acknowledge the incident" in text
    assert len(text) <= 4096


async def test_telegram_error_quotes_the_description_without_the_token(serve: Any) -> None:
    """Telegram's {"ok": false} answer becomes a NotifyError with its description, token masked."""
    receiver = serve(
        400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    )
    telegram = TelegramNotifier(BOT_TOKEN, chat_id="@ops", api_url=receiver.base, timeout=5)

    with pytest.raises(NotifyError, match="HTTP 400: Bad Request: chat not found") as raised:
        await telegram.notify(make_incident())

    assert_no_secret(str(raised.value))
    assert_no_secret(repr(telegram))


async def test_telegram_200_without_ok_is_a_failure(serve: Any) -> None:
    """A 200 that is not the Bot API's answer (a proxy, a wrong api_url) is not a delivery."""
    receiver = serve(200, "<html>welcome</html>")
    telegram = TelegramNotifier(BOT_TOKEN, chat_id=1, api_url=receiver.base, timeout=5)

    with pytest.raises(NotifyError, match="without"):
        await telegram.notify(make_incident())


@pytest.mark.parametrize("token", ["", "no-colon", "123:has space", f"{BOT_TOKEN}\n"])
def test_telegram_refuses_a_malformed_token_without_echoing_it(token: str) -> None:
    """A token that is not '<digits>:<secret>' is refused, and the value is never echoed."""
    with pytest.raises(ValueError, match="token must be a bot token") as raised:
        TelegramNotifier(token, chat_id=1)
    assert_no_secret(str(raised.value))


# ------------------------------------------------------------------ PagerDuty


ACCEPTED = {"status": "success", "message": "Event processed", "dedup_key": "resilience/inc-42"}


async def test_pagerduty_triggers_an_events_v2_alert(serve: Any) -> None:
    """An escalated incident is an Events API v2 trigger: routing key, dedup_key and the payload."""
    receiver = serve(202, ACCEPTED)
    pagerduty = PagerDutyNotifier(ROUTING_KEY, url=receiver.base + "/v2/enqueue", timeout=5)

    await pagerduty.notify(make_incident())

    [request] = receiver.requests
    assert request.path == "/v2/enqueue"
    event = request.json()
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "resilience/inc-42"
    assert event["client"] == "resilience"
    payload = event["payload"]
    assert payload["summary"] == (
        "[P0] payments-db: automatic recovery failed: health check: connection refused"
    )
    assert payload["source"] == "payments-db"
    assert payload["severity"] == "critical"
    assert payload["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert payload["component"] == "payments-db"
    details = payload["custom_details"]
    assert details["what failed"] == "health check: connection refused"
    assert (
        details["what was tried"][1] == "stage 2 attempt 1: restart failed after 20.0 s: timed out"
    )
    assert details["what to do next"].startswith("Acknowledge the incident")


async def test_pagerduty_acknowledge_and_resolve_share_the_dedup_key(serve: Any) -> None:
    """Acknowledge and resolve carry only the routing key, the action and the dedup_key."""
    receiver = serve(202, ACCEPTED)
    pagerduty = PagerDutyNotifier(ROUTING_KEY, url=receiver.base + "/v2/enqueue", timeout=5)
    incident = make_incident()

    await pagerduty.notify(incident)
    await pagerduty.acknowledge(incident)
    await pagerduty.resolve(incident)
    await pagerduty.notify(make_incident(resolution=Resolution.RECOVERED))

    events = [r.json() for r in receiver.requests]
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve", "resolve"]
    assert {e["dedup_key"] for e in events} == {"resilience/inc-42"}
    assert events[1] == {
        "routing_key": ROUTING_KEY,
        "event_action": "acknowledge",
        "dedup_key": "resilience/inc-42",
    }


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("P0", "critical"), ("P1", "error"), ("P2", "warning"), ("P3", "info")],
)
async def test_pagerduty_severities(serve: Any, severity: str, expected: str) -> None:
    """P0..P3 map onto PagerDuty's critical, error, warning and info."""
    receiver = serve(202, ACCEPTED)
    pagerduty = PagerDutyNotifier(ROUTING_KEY, url=receiver.base, timeout=5)

    await pagerduty.notify(make_incident(Severity(severity)))

    assert receiver.requests[0].json()["payload"]["severity"] == expected


async def test_pagerduty_invalid_event_quotes_its_errors_without_the_key(serve: Any) -> None:
    """A 400 quotes PagerDuty's message and errors; the routing key never shows."""
    receiver = serve(
        400,
        {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": [f"'routing_key' {ROUTING_KEY} invalid"],
        },
    )
    pagerduty = PagerDutyNotifier(ROUTING_KEY, url=receiver.base, timeout=5)

    with pytest.raises(
        NotifyError, match="HTTP 400: Event object is invalid; 'routing_key'"
    ) as raised:
        await pagerduty.notify(make_incident())

    assert_no_secret(str(raised.value))
    assert_no_secret(repr(pagerduty))


async def test_pagerduty_rate_limit_says_so(serve: Any) -> None:
    """A 429 says the routing key sent too many events."""
    receiver = serve(
        429, {"status": "throttle", "message": "Requests for this service are throttled"}
    )

    with pytest.raises(NotifyError, match="HTTP 429: too many events"):
        await PagerDutyNotifier(ROUTING_KEY, url=receiver.base, timeout=5).notify(make_incident())


def test_pagerduty_refuses_a_malformed_routing_key_without_echoing_it() -> None:
    """A routing key that cannot be one is refused; the value is not in the error."""
    with pytest.raises(ValueError, match="routing_key must be") as raised:
        PagerDutyNotifier("R0UT1NGKEYSECRET with spaces")
    assert_no_secret(str(raised.value))


# ------------------------------------------------------------------ e-mail


async def test_email_is_delivered_over_plain_smtp(smtp: Any) -> None:
    """A relay without TLS receives the mail: subject, addresses, headers and the five facts."""
    mailbox, port = smtp("plain")
    email = EmailNotifier(
        "127.0.0.1",
        port=port,
        security="none",
        sender="alerts@example.com",
        recipients=["oncall@example.com", "dba@example.com"],
        timeout=5,
    )

    await email.notify(make_incident())

    [mail] = mailbox.messages
    assert mailbox.envelopes == [("alerts@example.com", ["oncall@example.com", "dba@example.com"])]
    assert mail["Subject"] == "[P0] payments-db: automatic recovery failed"
    assert mail["From"] == "alerts@example.com"
    assert mail["To"] == "oncall@example.com, dba@example.com"
    assert mail["X-Resilience-Incident"] == "inc-42"
    assert mail["X-Resilience-Severity"] == "P0"
    assert mail["Importance"] == "high"
    body = mail.get_content()
    assert "Severity: P0 critical: everyone, now" in body
    assert "What failed: health check: connection refused" in body
    assert "Since: 2023-11-14T22:13:20+00:00" in body
    assert "  - stage 1 attempt 1: reconnect failed after 1.5 s: refused" in body
    assert "What to do next: Acknowledge the incident" in body


async def test_email_starttls_and_login(smtp: Any, certificate: Certificate) -> None:
    """Over STARTTLS the notifier logs in and delivers, to a server that demands both."""
    mailbox, port = smtp("starttls")
    email = EmailNotifier(
        "127.0.0.1",
        port=port,
        sender="alerts@example.com",
        recipients=["oncall@example.com"],
        username="alerts",
        password=PASSWORD,
        ssl_context=certificate.client_context(),
        timeout=5,
    )

    await email.notify(make_incident(Severity.P3))

    assert [login for login, _ in mailbox.logins] == ["alerts"]
    [mail] = mailbox.messages
    assert mail["Subject"] == "[P3] payments-db: automatic recovery failed"
    assert mail["Importance"] is None


async def test_email_over_implicit_tls(smtp: Any, certificate: Certificate) -> None:
    """security='tls' speaks TLS from the first byte (port 465 style)."""
    mailbox, port = smtp("tls")
    email = EmailNotifier(
        "127.0.0.1",
        port=port,
        security="tls",
        sender="alerts@example.com",
        recipients=["oncall@example.com"],
        username="alerts",
        password=PASSWORD,
        ssl_context=certificate.client_context(),
        timeout=5,
    )

    await email.notify(make_incident())

    assert len(mailbox.messages) == 1


async def test_email_wrong_password_is_a_clear_error_without_it(
    smtp: Any, certificate: Certificate
) -> None:
    """A refused login names the user and the fix; the password appears nowhere."""
    mailbox, port = smtp("starttls")
    email = EmailNotifier(
        "127.0.0.1",
        port=port,
        sender="alerts@example.com",
        recipients=["oncall@example.com"],
        username="alerts",
        password=PASSWORD + "-wrong",
        ssl_context=certificate.client_context(),
        timeout=5,
    )

    with pytest.raises(NotifyError, match="refused the login of 'alerts'") as raised:
        await email.notify(make_incident())

    assert mailbox.messages == []
    assert_no_secret(str(raised.value))
    assert_no_secret(repr(email))
    assert "password='***'" in repr(email)


async def test_email_without_starttls_on_the_server_sends_no_password(smtp: Any) -> None:
    """A server without STARTTLS gets no login: the notifier stops and says what to change."""
    mailbox, port = smtp("plain")
    email = EmailNotifier(
        "127.0.0.1",
        port=port,
        sender="alerts@example.com",
        recipients=["oncall@example.com"],
        username="alerts",
        password=PASSWORD,
        timeout=5,
    )

    with pytest.raises(NotifyError, match="no STARTTLS") as raised:
        await email.notify(make_incident())

    assert mailbox.logins == []
    assert mailbox.messages == []
    assert_no_secret(str(raised.value))


async def test_a_silent_smtp_server_times_out() -> None:
    """A server that accepts and never greets is a failure after the timeout, not a hang."""
    server = HangingServer()
    try:
        email = EmailNotifier(
            "127.0.0.1",
            port=server.port,
            security="none",
            sender="a@example.com",
            recipients=["b@example.com"],
            timeout=0.3,
        )
        start = time.perf_counter()
        with pytest.raises(NotifyError, match=r"did not answer within 0\.3 s|timed out"):
            await email.notify(make_incident())
        assert time.perf_counter() - start < 2
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"recipients": "oncall@example.com"}, "recipients must be a list"),
        ({"recipients": []}, "recipients must be a list"),
        ({"recipients": ["not-an-address"]}, "recipients must be an e-mail address"),
        ({"sender": "a@b\r\nBcc: x@y"}, "sender must be an e-mail address on one line"),
        ({"username": "alerts"}, "username and password go together"),
        ({"username": "u", "password": PASSWORD, "security": "none"}, "in the clear"),
        ({"security": "ssl"}, "security must be"),
        ({"port": 70000}, "port must be"),
        ({"min_severity": "P9"}, "min_severity must be one of"),
        ({"timeout": 0}, "timeout must be a positive"),
    ],
)
def test_email_bad_settings_are_clear_errors(options: dict[str, Any], message: str) -> None:
    """Each bad setting is refused at construction, by name, with no password shown."""
    settings: dict[str, Any] = {"sender": "alerts@example.com", "recipients": ["o@example.com"]}
    with pytest.raises(ValueError, match=message) as raised:
        EmailNotifier("127.0.0.1", **{**settings, **options})
    assert_no_secret(str(raised.value))


# ------------------------------------------------------------------ many channels at once


async def test_a_hanging_or_failing_channel_does_not_hold_up_the_others(
    serve: Any, smtp: Any
) -> None:
    """Slack and e-mail deliver at once while Telegram hangs to its timeout and PagerDuty errs."""
    slack_server = serve(200, "ok")
    telegram_server = serve(hang=True)
    pagerduty_server = serve(500, {"status": "error", "message": "internal"})
    mailbox, port = smtp("plain")
    router = Router(
        {
            "slack": SlackNotifier(slack_server.base + SLACK_PATH, timeout=5),
            "telegram": TelegramNotifier(
                BOT_TOKEN, chat_id=1, api_url=telegram_server.base, timeout=0.5
            ),
            "pagerduty": PagerDutyNotifier(ROUTING_KEY, url=pagerduty_server.base, timeout=5),
            "email": EmailNotifier(
                "127.0.0.1",
                port=port,
                security="none",
                sender="a@example.com",
                recipients=["b@example.com"],
                timeout=5,
            ),
        }
    )
    start = time.perf_counter()

    records = await router.deliver(make_incident(Severity.P0))

    elapsed = time.perf_counter() - start
    assert elapsed < 0.5 + 1.5  # the hang costs its own timeout, not more
    assert [(r.notifier, r.ok) for r in records] == [
        ("slack", True),
        ("telegram", False),
        ("pagerduty", False),
        ("email", True),
    ]
    assert records[1].error is not None
    assert "did not answer within 0.5 s" in records[1].error
    assert records[2].error is not None
    assert "HTTP 500: internal" in records[2].error
    assert len(slack_server.requests) == 1
    assert len(mailbox.messages) == 1
    for record in records:
        assert_no_secret(str(record.error))


async def test_the_router_raises_naming_each_failed_channel(serve: Any) -> None:
    """notify() delivers what it can, then raises one NotifyError naming each failed channel."""
    ok = serve(200, "ok")
    broken = serve(403, "invalid_token")
    router = Router(
        {
            "ops": SlackNotifier(ok.base + SLACK_PATH, timeout=5),
            "dba": SlackNotifier(broken.base + SLACK_PATH, timeout=5),
        }
    )

    with pytest.raises(
        NotifyError, match=r"1 of 2 channels failed: dba: .*HTTP 403: invalid_token"
    ) as raised:
        await router.notify(make_incident())

    assert len(ok.requests) == 1
    assert_no_secret(str(raised.value))
    assert_no_secret(repr(router))


async def test_escalation_reaches_the_routed_channels_through_the_manager(
    serve: Any, fake_clock: FakeClock
) -> None:
    """A RecoveryManager whose every stage fails tells the router, which tells its P1 channels."""
    slack_server = serve(200, "ok")
    pagerduty_server = serve(202, ACCEPTED)
    router = Router(
        {
            "slack": SlackNotifier(slack_server.base + SLACK_PATH, timeout=5),
            "pagerduty": PagerDutyNotifier(ROUTING_KEY, url=pagerduty_server.base, timeout=5),
        },
        routes={"P1": ["pagerduty"]},
    )
    manager = RecoveryManager(
        clock=fake_clock, stages=[Stage(delay=0, attempts=1)], notifiers=[router]
    )

    def reconnect() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    manager.register("payments-db", actions=[reconnect], severity="P1")

    incident = await manager.recover("payments-db", reason="health check failed")

    assert incident.resolution is Resolution.ESCALATED
    assert [(r.notifier, r.ok) for r in incident.notifications] == [("pagerduty", True)]
    assert slack_server.requests == []
    [event] = [r.json() for r in pagerduty_server.requests]
    assert event["event_action"] == "trigger"
    assert event["payload"]["severity"] == "error"
    assert "reconnect failed" in event["payload"]["custom_details"]["what was tried"][0]


async def test_router_lifecycle_hooks_reach_only_channels_that_keep_alerts(serve: Any) -> None:
    """acknowledge() and resolve() go to PagerDuty; Slack has no such hook and is not told."""
    slack_server = serve(200, "ok")
    pagerduty_server = serve(202, ACCEPTED)
    router = Router(
        {
            "slack": SlackNotifier(slack_server.base + SLACK_PATH, timeout=5),
            "pagerduty": PagerDutyNotifier(ROUTING_KEY, url=pagerduty_server.base, timeout=5),
        }
    )

    acked = await router.acknowledge(make_incident())
    resolved = await router.resolve(make_incident())

    assert [(r.notifier, r.ok) for r in acked + resolved] == [("pagerduty", True)] * 2
    assert [r.json()["event_action"] for r in pagerduty_server.requests] == [
        "acknowledge",
        "resolve",
    ]
    assert slack_server.requests == []


def test_parallel_delivery_is_concurrent_not_sequential() -> None:
    """Two hanging channels cost one timeout, not two: they are told at the same time."""

    class Slow:
        min_severity = Severity.P3
        timeout = 0.2

        async def notify(self, incident: Incident) -> None:
            await asyncio.sleep(10)

    router = Router({"a": Slow(), "b": Slow()}, timeout=0.3)
    start = time.perf_counter()
    records = asyncio.run(router.deliver(make_incident()))
    assert time.perf_counter() - start < 0.3 + 0.4
    assert [r.error for r in records] == ["no answer within 0.3 s"] * 2


async def test_the_message_tells_of_recurrences_acknowledgement_and_flapping(serve: Any) -> None:
    """A folded, acknowledged, flapping incident says so in its title and its 'since'."""
    receiver = serve(200, "ok")
    incident = Incident(
        **{
            **_fields(make_incident()),
            "occurrences": 3,
            "acknowledged_by": "alice",
            "flapping": True,
        }
    )

    await SlackNotifier(receiver.base + SLACK_PATH, timeout=5).notify(incident)

    body = receiver.requests[0].json()
    assert body["text"] == "[P0] payments-db: automatic recovery failed (flapping)"
    since = body["blocks"][1]["fields"][1]["text"]
    assert since.endswith("; failed 3 times; acknowledged by alice")

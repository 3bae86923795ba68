"""The routing matrix: defaults by severity, explicit routes, and bad input refused clearly."""

from __future__ import annotations

from typing import Any

import pytest

from resilience import (
    CallbackNotifier,
    EmailNotifier,
    Incident,
    PagerDutyNotifier,
    Resolution,
    Router,
    RoutingMatrix,
    Severity,
    SlackNotifier,
    TelegramNotifier,
)

SLACK_URL = "https://hooks.slack.com/services/T0/B0/XXXXSLACKSECRET"
ROUTING_KEY = "R0UT1NGKEYSECRET0000000000000000"
PASSWORD = "smtp-pa55-SECRET"  # noqa: S105 - fake
SECRETS = ("XXXXSLACKSECRET", "R0UT1NGKEYSECRET", "pa55-SECRET", "bot-SECRET")


def channels() -> dict[str, Any]:
    return {
        "slack": SlackNotifier(SLACK_URL),
        "pagerduty": PagerDutyNotifier(ROUTING_KEY),
        "telegram": TelegramNotifier("1:bot-SECRET", chat_id=1),
        "email": EmailNotifier(
            "smtp.example.com",
            sender="a@example.com",
            recipients=["b@example.com"],
            username="a",
            password=PASSWORD,
        ),
        "audit": CallbackNotifier(print),
    }


def incident(severity: Severity) -> Incident:
    return Incident(
        id="i",
        component="db",
        reason="down",
        severity=severity,
        started_at=0.0,
        ended_at=1.0,
        resolution=Resolution.ESCALATED,
        detail="",
    )


def test_the_default_matrix_follows_the_runbook() -> None:
    """By default P0 and P1 reach every channel, P2 all but the pagers, P3 e-mail only."""
    matrix = Router(channels()).matrix

    assert matrix.to_dict() == {
        "P0": ["slack", "pagerduty", "telegram", "email", "audit"],
        "P1": ["slack", "pagerduty", "telegram", "email", "audit"],
        "P2": ["slack", "email", "audit"],
        "P3": ["email"],
    }


def test_explicit_routes_replace_the_default_of_their_severity_only() -> None:
    """A route given for one severity replaces its default; '*' is every channel."""
    matrix = RoutingMatrix.build(
        channels(), {"P1": ["pagerduty", "slack", "pagerduty"], Severity.P3: "*"}
    )

    assert matrix.channels_for(Severity.P1) == ("pagerduty", "slack")  # repeats dropped
    assert matrix.channels_for(Severity.P3) == tuple(channels())
    assert matrix.channels_for(Severity.P0) == tuple(channels())


def test_a_channel_min_severity_still_applies() -> None:
    """A channel routed P2 but with min_severity P1 is not told of a P2 incident."""
    router = Router(
        {"slack": SlackNotifier(SLACK_URL, min_severity="P1"), "log": CallbackNotifier(print)},
        routes={"P2": "*"},
    )

    assert router.chosen(incident(Severity.P2)) == ("log",)
    assert router.chosen(incident(Severity.P0)) == ("slack", "log")


@pytest.mark.parametrize(
    ("routes", "error", "message"),
    [
        ({"P5": ["slack"]}, ValueError, r"routes: 'P5' is not a severity; use P0, P1, P2 or P3"),
        ({"critical": "*"}, ValueError, "'critical' is not a severity"),
        (
            {"P0": ["slack", "sms"]},
            ValueError,
            (
                r"routes\['P0'\] names 'sms', which is not a channel; the channels are 'slack', "
                "'pagerduty'"
            ),
        ),
        ({"P1": "slack"}, TypeError, r"routes\['P1'\] must be a list of channel names or '\*'"),
        ({"P1": None}, TypeError, "must be a list of channel names"),
    ],
)
def test_bad_routes_are_clear_errors(
    routes: dict[Any, Any], error: type[Exception], message: str
) -> None:
    """An unknown severity, a channel that does not exist or a bare name is refused by name."""
    with pytest.raises(error, match=message) as raised:
        Router(channels(), routes=routes)
    for secret in SECRETS:
        assert secret not in str(raised.value)


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        ({}, ValueError, "channels must map one or more names"),
        ({"": CallbackNotifier(print)}, ValueError, "channel names must be non-empty"),
        ({"*": CallbackNotifier(print)}, ValueError, "channel names must be non-empty"),
        ({"x": object()}, TypeError, r"channels\['x'\] must have a min_severity"),
    ],
)
def test_bad_channels_are_clear_errors(
    given: dict[str, Any], error: type[Exception], message: str
) -> None:
    """No channels, an unnamed one or something that is not a notifier is refused."""
    with pytest.raises(error, match=message):
        Router(given)


def test_no_secret_in_any_repr() -> None:
    """The router's repr shows each channel, and no webhook path, token, key or password."""
    shown = repr(Router(channels()))

    assert "slack=SlackNotifier('https://hooks.slack.com/<redacted>'" in shown
    assert "password='***'" in shown
    for secret in SECRETS:
        assert secret not in shown

"""Slack: an incoming webhook, posting a Block Kit message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from resilience.recovery._channels._http import (
    Endpoint,
    checked_severity,
    checked_timeout,
    checked_url,
)
from resilience.recovery._channels._message import Message, message_for
from resilience.recovery._incidents import Incident, Severity

__all__ = ["SlackNotifier", "slack_payload"]

# Block Kit's limits: a header's text, a section's text, a field's text.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELD_MAX = 2000


def _escaped(text: str) -> str:
    """Text safe in mrkdwn: Slack reads &, < and > as its own markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(title: str, body: str) -> dict[str, Any]:
    text = _cut(f"*{title}*\n{_escaped(body)}", _SECTION_MAX)
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _field(title: str, body: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(f"*{title}*\n{_escaped(body)}", _FIELD_MAX)}


def slack_payload(message: Message) -> dict[str, Any]:
    """The webhook's JSON body: ``text`` for notifications and ``blocks`` for the message."""
    tried = "\n".join(f"• {line}" for line in message.tried) or "nothing: no action ran"
    return {
        "text": message.title,  # what the notification and old clients show
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _cut(message.title, _HEADER_MAX)},
            },
            {
                "type": "section",
                "fields": [
                    _field("Severity", message.severity),
                    _field("Since", message.since),
                ],
            },
            _section("What failed", message.what_failed),
            _section("What was tried", tried),
            _section("What to do next", message.next_step),
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"Incident `{_escaped(message.incident_id)}`"}
                ],
            },
        ],
    }


class SlackNotifier:
    """Posts each incident to a Slack channel through an incoming webhook, as Block Kit.

    The webhook URL is a secret (its path is the token): it is shown as host and port
    only, in the ``repr`` and in errors. Slack answers ``200 ok``; anything else is a
    failed notification, with what Slack said (``invalid_payload``, ``no_service``...).

    Args:
        webhook_url: ``https://hooks.slack.com/services/...``.
        min_severity: The least urgent severity posted.
        timeout: Seconds (or a timedelta) for the whole exchange.
    """

    kind = "slack"

    def __init__(
        self,
        webhook_url: str,
        *,
        min_severity: Severity | str = Severity.P3,
        timeout: float | timedelta = 10.0,
    ) -> None:
        self._endpoint = Endpoint(
            what="Slack webhook",
            url=checked_url(webhook_url, field="webhook_url"),
            timeout=checked_timeout(timeout),
        )
        self.min_severity = checked_severity(min_severity)
        self.timeout = self._endpoint.timeout

    async def notify(self, incident: Incident) -> None:
        """Post the incident's message; raise :class:`NotifyError` unless Slack took it."""
        reply = await self._endpoint.post(slack_payload(message_for(incident)))
        if not 200 <= reply.status < 300:  # noqa: PLR2004
            raise self._endpoint.failed(reply)

    def __repr__(self) -> str:
        return f"SlackNotifier({self._endpoint.shown!r}, min_severity={self.min_severity.value})"

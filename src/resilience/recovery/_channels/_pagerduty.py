"""PagerDuty: the Events API v2 (trigger, acknowledge, resolve, one ``dedup_key``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from resilience.recovery._channels._http import (
    Endpoint,
    NotifyError,
    checked_severity,
    checked_timeout,
    checked_url,
)
from resilience.recovery._channels._message import message_for
from resilience.recovery._incidents import Incident, Resolution, Severity

__all__ = ["PagerDutyNotifier", "dedup_key", "pagerduty_event"]

Action = Literal["trigger", "acknowledge", "resolve"]

_SEVERITY = {
    Severity.P0: "critical",
    Severity.P1: "error",
    Severity.P2: "warning",
    Severity.P3: "info",
}
_SUMMARY_MAX = 1024
_DEDUP_MAX = 255
_KEY = re.compile(r"[A-Za-z0-9]{8,64}")  # an integration key is 32 of these


def dedup_key(incident: Incident) -> str:
    """The key PagerDuty groups one incident's events by: the same for its whole life."""
    return f"resilience/{incident.id}"[:_DEDUP_MAX]


def pagerduty_event(
    incident: Incident, *, action: Action, routing_key: str, source: str | None = None
) -> dict[str, Any]:
    """The Events API v2 body for ``action`` on ``incident``."""
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(incident),
    }
    if action != "trigger":
        return event  # acknowledge and resolve name the alert by its dedup_key alone
    message = message_for(incident)
    summary = f"{message.title}: {message.what_failed}"
    if len(summary) > _SUMMARY_MAX:
        summary = summary[: _SUMMARY_MAX - 1] + "…"
    event["payload"] = {
        "summary": summary,
        "source": source or incident.component,
        "severity": _SEVERITY[incident.severity],
        "timestamp": datetime.fromtimestamp(incident.started_at, UTC).isoformat(),
        "component": incident.component,
        "custom_details": {
            "what failed": message.what_failed,
            "since": message.since,
            "what was tried": list(message.tried),
            "what to do next": message.next_step,
            "incident": incident.id,
        },
    }
    event["client"] = "resilience"
    return event


class PagerDutyNotifier:
    """Sends each incident to a PagerDuty service as an Events API v2 alert.

    An escalated incident triggers an alert; a recovered one resolves it. Call
    :meth:`acknowledge` and :meth:`resolve` as the incident moves on: every event of
    one incident carries the same ``dedup_key`` (:func:`dedup_key`), so PagerDuty keeps
    one alert for it. The routing key is a secret: never in the ``repr`` or an error.

    Args:
        routing_key: The service integration's key (32 characters).
        min_severity: The least urgent severity sent.
        timeout: Seconds (or a timedelta) for the whole exchange.
        source: The alert's ``source``; the incident's component by default.
        url: The Events API's address; another only for a regional endpoint or a test.
    """

    kind = "pagerduty"

    def __init__(
        self,
        routing_key: str,
        *,
        min_severity: Severity | str = Severity.P3,
        timeout: float | timedelta = 10.0,
        source: str | None = None,
        url: str = "https://events.pagerduty.com/v2/enqueue",
    ) -> None:
        if not isinstance(routing_key, str) or not _KEY.fullmatch(routing_key):
            raise ValueError(
                "routing_key must be a PagerDuty integration key: 32 letters and digits, from "
                "the service's Events API v2 integration (the value is not shown: it is a secret)"
            )
        self.min_severity = checked_severity(min_severity)
        self.source = source
        self._routing_key = routing_key
        self._endpoint = Endpoint(
            what="PagerDuty",
            url=checked_url(url),
            timeout=checked_timeout(timeout),
            secrets=[routing_key],
        )
        self.timeout = self._endpoint.timeout

    async def notify(self, incident: Incident) -> None:
        """Trigger an alert for the incident (resolve it, if it recovered)."""
        action: Action = "resolve" if incident.resolution is Resolution.RECOVERED else "trigger"
        await self.send(incident, action)

    async def acknowledge(self, incident: Incident) -> None:
        """Acknowledge the incident's alert: PagerDuty stops escalating it."""
        await self.send(incident, "acknowledge")

    async def resolve(self, incident: Incident) -> None:
        """Resolve the incident's alert."""
        await self.send(incident, "resolve")

    async def send(self, incident: Incident, action: Action) -> None:
        """Send one event; raise :class:`NotifyError` unless PagerDuty accepted it."""
        event = pagerduty_event(
            incident, action=action, routing_key=self._routing_key, source=self.source
        )
        reply = await self._endpoint.post(event)
        if 200 <= reply.status < 300:  # noqa: PLR2004 - 202 Accepted, documented
            return
        answer = reply.json()
        said = None
        if isinstance(answer, dict):
            errors = answer.get("errors")
            said = "; ".join(
                str(part)
                for part in (answer.get("message"), *(errors if isinstance(errors, list) else ()))
                if part
            )
        if reply.status == 429:  # noqa: PLR2004
            raise NotifyError(
                f"PagerDuty {self._endpoint.shown} answered HTTP 429: too many events for this "
                "routing key; it accepts more shortly"
            )
        raise self._endpoint.failed(reply, said)

    def __repr__(self) -> str:
        return (
            f"PagerDutyNotifier({self._endpoint.shown!r}, min_severity={self.min_severity.value})"
        )

"""Channels: where incidents reach people (Slack, e-mail, Telegram, PagerDuty)."""

from __future__ import annotations

from resilience.recovery._channels._email import EmailNotifier
from resilience.recovery._channels._pagerduty import PagerDutyNotifier
from resilience.recovery._channels._slack import SlackNotifier
from resilience.recovery._channels._telegram import TelegramNotifier

__all__ = ["EmailNotifier", "PagerDutyNotifier", "SlackNotifier", "TelegramNotifier"]

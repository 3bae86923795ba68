"""Staged auto-recovery: actions tried in stages, a restart budget, incidents, notifiers.

Register how to recover each component on a :class:`RecoveryManager`, attach it to a
:class:`~resilience.health.HealthRegistry`, and keep the :class:`Incident` of every
recovery in an :class:`IncidentStore` (in memory by default; in SQLite with
:class:`~resilience.SQLiteIncidentStore`, one of the SQLite stores). Escalations go to
notifiers.
"""

from __future__ import annotations

from resilience.recovery._budget import RestartBudget
from resilience.recovery._channels import (
    EmailNotifier,
    PagerDutyNotifier,
    SlackNotifier,
    TelegramNotifier,
)
from resilience.recovery._incidents import (
    ActionRecord,
    Incident,
    IncidentStore,
    MemoryIncidentStore,
    NotifierRecord,
    Resolution,
    Severity,
)
from resilience.recovery._manager import RecoveryManager
from resilience.recovery._notifiers import (
    CallbackNotifier,
    LoggingNotifier,
    Notifier,
    NotifyError,
    WebhookNotifier,
)
from resilience.recovery._routing import Router, RoutingMatrix
from resilience.recovery._stages import DEFAULT_STAGES, Stage
from resilience.recovery._stats import RecoveryStats

__all__ = [
    "DEFAULT_STAGES",
    "ActionRecord",
    "CallbackNotifier",
    "EmailNotifier",
    "Incident",
    "IncidentStore",
    "LoggingNotifier",
    "MemoryIncidentStore",
    "Notifier",
    "NotifierRecord",
    "NotifyError",
    "PagerDutyNotifier",
    "RecoveryManager",
    "RecoveryStats",
    "Resolution",
    "RestartBudget",
    "Router",
    "RoutingMatrix",
    "Severity",
    "SlackNotifier",
    "Stage",
    "TelegramNotifier",
    "WebhookNotifier",
]

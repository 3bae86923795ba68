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
from resilience.recovery._diagnostics import EventRecorder, diagnostics_bundle
from resilience.recovery._incidents import (
    ActionRecord,
    Incident,
    IncidentStore,
    MutableIncidentStore,
    NotifierRecord,
    Resolution,
)
from resilience.recovery._manager import RecoveryManager
from resilience.recovery._memory import MemoryIncidentStore
from resilience.recovery._notifiers import (
    CallbackNotifier,
    LoggingNotifier,
    Notifier,
    NotifyError,
    WebhookNotifier,
)
from resilience.recovery._postmortem import postmortem
from resilience.recovery._report import (
    ComponentFigures,
    IncidentReport,
    WeekFigures,
    failure_type,
    incident_report,
)
from resilience.recovery._routing import Router, RoutingMatrix
from resilience.recovery._stages import DEFAULT_STAGES, Stage
from resilience.recovery._stats import RecoveryStats
from resilience.recovery._targets import (
    EscalationPolicy,
    EscalationTier,
    IncidentPolicy,
    SeverityTargets,
    Targets,
)
from resilience.recovery._timeline import (
    Breach,
    EntryKind,
    IncidentError,
    IncidentState,
    Severity,
    Target,
    TimelineEntry,
    UnknownIncidentError,
)
from resilience.recovery._tracker import IncidentTracker

__all__ = [
    "DEFAULT_STAGES",
    "ActionRecord",
    "Breach",
    "CallbackNotifier",
    "ComponentFigures",
    "EmailNotifier",
    "EntryKind",
    "EscalationPolicy",
    "EscalationTier",
    "EventRecorder",
    "Incident",
    "IncidentError",
    "IncidentPolicy",
    "IncidentReport",
    "IncidentState",
    "IncidentStore",
    "IncidentTracker",
    "LoggingNotifier",
    "MemoryIncidentStore",
    "MutableIncidentStore",
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
    "SeverityTargets",
    "SlackNotifier",
    "Stage",
    "Target",
    "Targets",
    "TelegramNotifier",
    "TimelineEntry",
    "UnknownIncidentError",
    "WebhookNotifier",
    "WeekFigures",
    "diagnostics_bundle",
    "failure_type",
    "incident_report",
    "postmortem",
]

"""A component's recovery record: success rate, MTTR and MTBF from its incidents."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from resilience.recovery._incidents import Incident, Resolution

__all__ = ["RecoveryStats", "recovery_stats"]

_RECOVERED, _ESCALATED = Resolution.RECOVERED, Resolution.ESCALATED
_EXHAUSTED = Resolution.BUDGET_EXHAUSTED


@dataclass(frozen=True, slots=True)
class RecoveryStats:
    """A component's record, from the incident history."""

    component: str
    incidents: int
    recovered: int
    escalated: int
    """Incidents that reached a person: every stage failed, or the budget ran out."""
    success_rate: float | None
    """recovered / (recovered + escalated); None before either happened."""
    mean_time_to_recovery: float | None
    """Mean seconds from trigger to recovery, over the recovered incidents."""
    mean_time_between_failures: float | None
    """Mean seconds from the end of one incident to the start of the next."""


def recovery_stats(name: str, incidents: list[Incident]) -> RecoveryStats:
    """The record of component ``name`` from its ``incidents``, oldest first."""
    recovered = [i for i in incidents if i.resolution is _RECOVERED]
    escalated = sum(i.resolution in (_ESCALATED, _EXHAUSTED) for i in incidents)
    judged = len(recovered) + escalated
    gaps = [b.started_at - a.ended_at for a, b in itertools.pairwise(incidents)]
    return RecoveryStats(
        component=name,
        incidents=len(incidents),
        recovered=len(recovered),
        escalated=escalated,
        success_rate=len(recovered) / judged if judged else None,
        mean_time_to_recovery=(
            sum(i.duration for i in recovered) / len(recovered) if recovered else None
        ),
        mean_time_between_failures=sum(gaps) / len(gaps) if gaps else None,
    )

"""The restart budget: how many recoveries of a component a period allows."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pydantic import Field

from resilience._core.options import Options, Seconds

__all__ = ["BudgetRecord", "RestartBudget"]


class RestartBudget(Options):
    """At most ``max_recoveries`` recoveries of a component within ``period`` seconds.

    One more stops automatic recovery of the component and escalates, as an Erlang/OTP
    supervisor's intensity or systemd's ``StartLimitBurst`` do. The count starts over once
    the component has gone ``reset_after`` seconds without an incident, or on
    :meth:`RecoveryManager.resume`. Both durations take seconds or a timedelta.
    """

    max_recoveries: int = Field(default=5, gt=0)
    period: Seconds = Field(default=600.0, gt=0)
    reset_after: Seconds = Field(default=600.0, gt=0)


@dataclass(eq=False, slots=True)
class BudgetRecord:
    """One component's spending of its budget; guarded by the manager's lock."""

    exhausted: bool = False
    starts: deque[float] = field(default_factory=deque)  # clock readings of recoveries
    last_end: float | None = None  # clock reading of the end of the last incident

    def spend(self, budget: RestartBudget, now: float) -> tuple[str, bool] | None:
        """Count a recovery starting at ``now``: None if allowed, else why not.

        A refusal is the reason and whether the budget ran out just now (people are told
        once, not at every refused trigger).
        """
        if self.last_end is not None and now - self.last_end >= budget.reset_after:
            self.starts.clear()
            self.exhausted = False
        while self.starts and now - self.starts[0] >= budget.period:
            self.starts.popleft()
        if self.exhausted or len(self.starts) >= budget.max_recoveries:
            newly, self.exhausted = not self.exhausted, True
            return (
                f"restart budget exhausted ({budget.max_recoveries} recoveries "
                f"within {budget.period:g} s); automatic recovery stays off until "
                f"the component runs {budget.reset_after:g} s without an incident, "
                "or resume()"
            ), newly
        self.starts.append(now)
        return None

    def reset(self) -> None:
        """A fresh budget (on resume)."""
        self.exhausted = False
        self.starts.clear()

"""What incidents are held to: targets per severity, escalation, de-duplication, flapping."""

from __future__ import annotations

from typing import Any, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from resilience._core.options import Options, Seconds
from resilience.recovery._notifiers import Notifier
from resilience.recovery._timeline import Severity

__all__ = ["EscalationPolicy", "EscalationTier", "IncidentPolicy", "SeverityTargets", "Targets"]

_MINUTE, _HOUR = 60.0, 3600.0


class SeverityTargets(Options):
    """One severity's targets: acknowledged within ``response``, resolved within ``resolution``.

    Both are seconds (or a timedelta) from the incident's opening (or re-opening).
    """

    response: Seconds = Field(gt=0)
    resolution: Seconds = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.resolution < self.response:
            raise ValueError(
                f"resolution ({self.resolution:g} s) must not be shorter than response "
                f"({self.response:g} s): an incident is acknowledged before it is resolved"
            )
        return self


class Targets(Options):
    """The targets of each severity; the defaults are the operations runbook's.

    P0: respond in 15 min, resolve in 2 h; P1: 30 min / 4 h; P2: 2 h / 24 h;
    P3: 24 h / 72 h. Give only the severities to change:
    ``Targets(P1=SeverityTargets(response=600, resolution=3600))``.
    """

    P0: SeverityTargets = SeverityTargets(response=15 * _MINUTE, resolution=2 * _HOUR)
    P1: SeverityTargets = SeverityTargets(response=30 * _MINUTE, resolution=4 * _HOUR)
    P2: SeverityTargets = SeverityTargets(response=2 * _HOUR, resolution=24 * _HOUR)
    P3: SeverityTargets = SeverityTargets(response=24 * _HOUR, resolution=72 * _HOUR)

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:  # noqa: ANN401 - pydantic hands over what it was given
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in data if k not in cls.model_fields)
            if unknown:
                raise ValueError(
                    f"unknown severities {unknown}: targets are given for P0, P1, P2 and P3"
                )
        return data

    def of(self, severity: Severity) -> SeverityTargets:
        """The targets of ``severity``."""
        targets: SeverityTargets = getattr(self, severity.value)
        return targets


class EscalationTier(Options):
    """Who else is told about an incident nobody acknowledged, and when.

    Args:
        after: Seconds (or a timedelta) past the incident's response target; the first
            tier usually 0: told as soon as the target is missed.
        notifiers: Told when the tier is reached (each whatever its ``min_severity``).
        raise_severity: Whether reaching the tier also makes the incident one step more
            urgent (P2 -> P1), which brings its targets closer.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    after: Seconds = Field(default=0.0, ge=0)
    notifiers: tuple[Notifier, ...] = ()
    raise_severity: bool = False

    @field_validator("notifiers", mode="before")
    @classmethod
    def _notifiers(cls, value: Any) -> Any:  # noqa: ANN401 - checked here
        values = tuple(value) if isinstance(value, list | tuple) else value
        if isinstance(values, tuple):
            for n in values:
                if not isinstance(n, Notifier):
                    raise ValueError(  # noqa: TRY004 - pydantic reports ValueErrors by field
                        f"notifiers must have a min_severity and an async notify(incident); "
                        f"got {n!r}"
                    )
        return values


class EscalationPolicy(Options):
    """The tiers an unacknowledged incident escalates through, in order."""

    tiers: tuple[EscalationTier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        afters = [t.after for t in self.tiers]
        if afters != sorted(afters):
            raise ValueError(f"tiers must come in order of their after= delays, got {afters}")
        return self


class IncidentPolicy(Options):
    """How a :class:`RecoveryManager` handles incidents once they are opened.

    Args:
        targets: Response and resolution targets per severity.
        escalation: The tiers told when an incident is not acknowledged by its response
            target; None: nobody beyond the manager's notifiers.
        dedup_window: Seconds: a failure of a component with an incident open of the same
            fingerprint (component and trigger), updated less than this long ago, folds
            into that incident instead of opening another. None: every recovery opens
            its own incident.
        cooldown: Seconds: the notifiers are told about one incident at most once in
            this long (a recurrence within it is recorded, not paged). 0: no cool-down.
        flapping_threshold: A component that opened this many incidents within
            ``flapping_window`` is flapping: its incident is marked and pages once, and
            its further incidents do not page while it flaps. None: never flapping.
        flapping_window: Seconds over which openings are counted.
    """

    targets: Targets = Targets()
    escalation: EscalationPolicy | None = None
    dedup_window: Seconds | None = Field(default=None, gt=0)
    cooldown: Seconds = Field(default=0.0, ge=0)
    flapping_threshold: int | None = Field(default=None, ge=2)
    flapping_window: Seconds = Field(default=3600.0, gt=0)

"""The routing matrix: which channels hear of an incident, by its severity.

Declared once, checked at construction: a severity that does not exist or a channel
name nobody registered is an error then, not a page that silently goes nowhere at
night. By default (SCENARIOS.md 3) P0 and P1 reach every channel, P2 every channel but
the pagers (PagerDuty, Telegram), and P3 e-mail only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType

from resilience._core.text import safe_repr, safe_str
from resilience._core.timeout import Overran, within
from resilience.recovery._channels._http import NotifyError, checked_timeout
from resilience.recovery._incidents import Incident, NotifierRecord, Severity
from resilience.recovery._notifiers import Notifier

__all__ = ["EVERY_CHANNEL", "Router", "RoutingMatrix"]

logger = logging.getLogger("resilience")

EVERY_CHANNEL = "*"
"""A route naming every channel."""

_PAGERS = frozenset({"pagerduty", "telegram"})  # they wake people: not for P2


def _default(severity: Severity, channels: Mapping[str, Notifier]) -> tuple[str, ...]:
    kinds = {name: getattr(channel, "kind", None) for name, channel in channels.items()}
    if severity in (Severity.P0, Severity.P1):
        return tuple(channels)
    if severity is Severity.P2:
        return tuple(name for name, kind in kinds.items() if kind not in _PAGERS)
    return tuple(name for name, kind in kinds.items() if kind == "email")


def _severity(key: object) -> Severity:
    try:
        return Severity(key)
    except ValueError:
        raise ValueError(
            f"routes: {safe_repr(key)} is not a severity; use P0, P1, P2 or P3"
        ) from None


@dataclass(frozen=True, slots=True)
class RoutingMatrix:
    """Severity to channel names, every name a registered channel's."""

    routes: Mapping[Severity, tuple[str, ...]]

    @classmethod
    def build(
        cls,
        channels: Mapping[str, Notifier],
        routes: Mapping[Severity | str, Sequence[str] | str] | None = None,
    ) -> RoutingMatrix:
        """The matrix of ``routes`` over ``channels``; a severity not routed takes its default.

        Raises:
            ValueError: A key is not a severity, a route names a channel that does not
                exist.
            TypeError: A route is not a list of names (or ``"*"``).
        """
        chosen = {s: _default(s, channels) for s in Severity}
        known = ", ".join(repr(n) for n in channels)
        for key, names in (routes or {}).items():
            severity = _severity(key)
            where = f"routes[{severity.value!r}]"
            if names == EVERY_CHANNEL:
                chosen[severity] = tuple(channels)
                continue
            if isinstance(names, str) or not isinstance(names, Sequence):
                raise TypeError(
                    f"{where} must be a list of channel names or '*' (every channel), got "
                    f"{safe_repr(names)}; for one channel write [{safe_repr(names)}]"
                )
            for name in names:
                if name not in channels:
                    raise ValueError(
                        f"{where} names {safe_repr(name)}, which is not a channel; the "
                        f"channels are {known}"
                    )
            chosen[severity] = tuple(dict.fromkeys(names))
        return cls(MappingProxyType(chosen))

    def channels_for(self, severity: Severity) -> tuple[str, ...]:
        """The names of the channels an incident of ``severity`` goes to."""
        return self.routes[severity]

    def to_dict(self) -> dict[str, list[str]]:
        """JSON-ready: ``{"P0": ["slack", "email"], ...}``."""
        return {s.value: list(names) for s, names in self.routes.items()}


class Router:
    """A notifier that tells each incident to the channels its severity routes to.

    Channels are told at once, each bounded by its own time limit: one that fails or
    hangs never holds up the others. A channel's own ``min_severity`` still applies.

    Args:
        channels: Channel name to notifier (``{"slack": SlackNotifier(...), ...}``).
        routes: Severity to channel names, or ``"*"`` for every channel; severities
            left out take the defaults (P0, P1 every channel; P2 all but the pagers;
            P3 e-mail only).
        timeout: Seconds any one channel may take; by default its own ``timeout`` (plus
            a second to report it), else 30 s.

    Raises:
        ValueError: No channels, an unnamed channel, or a bad route (see
            :meth:`RoutingMatrix.build`).
        TypeError: A channel is not a notifier.
    """

    kind = "router"
    min_severity = Severity.P3  # the matrix decides, for every severity

    def __init__(
        self,
        channels: Mapping[str, Notifier],
        *,
        routes: Mapping[Severity | str, Sequence[str] | str] | None = None,
        timeout: float | timedelta | None = None,
    ) -> None:
        if not isinstance(channels, Mapping) or not channels:
            raise ValueError(
                'channels must map one or more names to notifiers, as {"slack": SlackNotifier(...)}'
            )
        for name, channel in channels.items():
            if not isinstance(name, str) or not name.strip() or name == EVERY_CHANNEL:
                raise ValueError(f"channel names must be non-empty words, got {safe_repr(name)}")
            if not isinstance(channel, Notifier):
                raise TypeError(
                    f"channels[{name!r}] must have a min_severity and an async "
                    f"notify(incident); got {safe_repr(channel)}"
                )
        self.channels: Mapping[str, Notifier] = MappingProxyType(dict(channels))
        self.matrix = RoutingMatrix.build(self.channels, routes)
        self.timeout = None if timeout is None else checked_timeout(timeout)

    def chosen(self, incident: Incident) -> tuple[str, ...]:
        """The channels ``incident`` goes to: routed, and as urgent as each one's minimum."""
        return tuple(
            name
            for name in self.matrix.channels_for(incident.severity)
            if incident.severity.at_least(self.channels[name].min_severity)
        )

    async def deliver(self, incident: Incident) -> tuple[NotifierRecord, ...]:
        """Tell every chosen channel at once; one record per channel, in route order."""
        names = self.chosen(incident)
        return tuple(await asyncio.gather(*(self._tell(n, "notify", incident) for n in names)))

    async def notify(self, incident: Incident) -> None:
        """Tell the chosen channels; raise :class:`NotifyError` naming each that failed."""
        records = await self.deliver(incident)
        failed = [r for r in records if not r.ok]
        if failed:
            raise NotifyError(
                f"{len(failed)} of {len(records)} channels failed: "
                + "; ".join(f"{r.notifier}: {r.error}" for r in failed)
            )

    async def acknowledge(self, incident: Incident) -> tuple[NotifierRecord, ...]:
        """Tell the chosen channels that keep alerts (PagerDuty) it was acknowledged."""
        return await self._lifecycle("acknowledge", incident)

    async def resolve(self, incident: Incident) -> tuple[NotifierRecord, ...]:
        """Tell the chosen channels that keep alerts (PagerDuty) it was resolved."""
        return await self._lifecycle("resolve", incident)

    async def _lifecycle(self, hook: str, incident: Incident) -> tuple[NotifierRecord, ...]:
        names = [
            n for n in self.chosen(incident) if callable(getattr(self.channels[n], hook, None))
        ]
        return tuple(await asyncio.gather(*(self._tell(n, hook, incident) for n in names)))

    def _limit(self, channel: Notifier) -> float:
        if self.timeout is not None:
            return self.timeout
        own = getattr(channel, "timeout", None)
        return float(own) + 1.0 if isinstance(own, int | float) and own > 0 else 30.0

    async def _tell(self, name: str, hook: str, incident: Incident) -> NotifierRecord:
        channel = self.channels[name]
        limit = self._limit(channel)
        try:
            await within(limit, getattr(channel, hook)(incident))
        except (Overran, TimeoutError):
            error = f"no answer within {limit:g} s"
        except Exception as exc:
            error = (
                safe_str(exc)
                if isinstance(exc, NotifyError)
                else (f"{type(exc).__name__}: {safe_str(exc)}")
            )
        else:
            return NotifierRecord(name, ok=True)
        logger.error(
            "channel %s failed to report incident %s of %s: %s",
            name,
            incident.id,
            incident.component,
            error,
        )
        return NotifierRecord(name, ok=False, error=error)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={safe_repr(c)}" for n, c in self.channels.items())
        return f"Router({shown})"

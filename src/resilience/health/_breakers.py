"""The breakers of a :class:`BreakerRegistry` as health components (``add_breakers``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from typing import Final

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.events import CircuitState
from resilience._breaker.registry import BreakerRegistry
from resilience.health._check import Check, CheckConfig
from resilience.health._status import CheckResult, ComponentHealth, ComponentStatus

__all__ = ["BreakerComponents", "breaker_check"]

_OK: Final = ComponentStatus.OK
_WARNING: Final = ComponentStatus.WARNING
_ERROR: Final = ComponentStatus.ERROR


class BreakerComponents:
    """The components ``breaker:<remote>`` of one breaker registry, kept up to date.

    Args:
        registry: The breakers to report.
        template: The configuration of each component, but for its name.
    """

    def __init__(self, registry: BreakerRegistry, *, template: CheckConfig) -> None:
        self._registry = registry
        self._template = template
        self._mine: dict[str, CircuitBreaker] = {}  # component name -> the breaker it reports

    def sync(
        self,
        checks: MutableMapping[str, Check],
        latest: MutableMapping[str, ComponentHealth],
        *,
        lock: threading.Lock,
    ) -> None:
        """Bring the breaker components of ``checks`` (and ``latest``) up to date.

        ``lock`` guards both mappings; the breakers are listed before it is taken. The
        registry creates and evicts breakers at will, so the components are recomputed
        whenever the set of checks is read. A check registered by hand under the same
        name is left alone: it wins.
        """
        current = {f"breaker:{b.name}": b for b in self._registry}
        mine = self._mine
        with lock:
            for name in [n for n, b in mine.items() if current.get(n) is not b]:
                del mine[name]
                checks.pop(name, None)
                latest.pop(name, None)
            for name, breaker in current.items():
                if name not in mine and name not in checks:
                    mine[name] = breaker
                    config = self._template.model_copy(update={"name": name})
                    checks[name] = Check(config, breaker_check(breaker), is_async=False)


def breaker_check(breaker: CircuitBreaker) -> Callable[[], CheckResult]:
    """The check of one breaker's component: its state, reason and next trial."""

    def check() -> CheckResult:
        snap = breaker.snapshot()
        details = {"state": snap.state.value}
        if snap.state in (CircuitState.OPEN, CircuitState.FORCED_OPEN):
            status = _ERROR
        elif snap.state is CircuitState.HALF_OPEN:
            status = _WARNING
        else:
            return CheckResult(_OK, "", details)
        when = f"; trial in {snap.retry_after:.0f} s" if snap.retry_after is not None else ""
        return CheckResult(status, f"{snap.state.name} ({snap.reason}{when})", details)

    return check

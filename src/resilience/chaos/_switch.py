"""The switch that turns fault injection on and off at run time, off unless told."""

from __future__ import annotations

import threading
from collections.abc import Callable

from resilience._core.log import logger
from resilience._core.text import safe_repr

__all__ = ["ChaosSwitch"]


class ChaosSwitch:
    """Whether the chaos strategies that share it inject anything: off by default.

    Turn it on with :meth:`enable` (or build it with ``enabled=True``), or give it a
    function (``when=lambda: os.environ.get("CHAOS") == "1"``) asked on every call. Each
    time it turns on, a WARNING is logged on the ``resilience`` logger, so that faults
    injected on purpose are never a mystery in production logs; turning off is logged
    at INFO.

    Args:
        name: What the switch guards, for the log lines: ``"payments drill"``.
        enabled: Whether it starts on.
        when: Asked on every call instead of a flag: True means on. ``enable()`` and
            ``disable()`` are then refused.
    """

    __slots__ = ("_lock", "_name", "_on", "_when")

    def __init__(
        self,
        name: str = "chaos",
        *,
        enabled: bool = False,
        when: Callable[[], bool] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"ChaosSwitch(name=...) must be a non-empty str, got {name!r}")
        if not isinstance(enabled, bool):
            raise TypeError(f"ChaosSwitch(enabled=...) must be a bool, got {enabled!r}")
        if when is not None and not callable(when):
            raise TypeError(
                f"ChaosSwitch(when=...) must be a function returning a bool, got {when!r}"
            )
        if when is not None and enabled:
            raise TypeError(
                "ChaosSwitch takes enabled= or when=, not both: with when=, the function "
                "says whether it is on"
            )
        self._name = name
        self._when = when
        self._on = False
        self._lock = threading.Lock()
        if enabled:
            self.enable()

    @property
    def name(self) -> str:
        """What the switch guards."""
        return self._name

    @property
    def enabled(self) -> bool:
        """Whether faults are injected now (with ``when=``: what it says, asked now)."""
        when = self._when
        if when is None:
            return self._on
        on = bool(when())
        if on is not self._on:
            self._turned(on)
        return on

    def enable(self) -> None:
        """Turn injection on, with a WARNING in the log."""
        self._set(on=True)

    def disable(self) -> None:
        """Turn injection off, with an INFO line in the log."""
        self._set(on=False)

    def __repr__(self) -> str:
        state = "by function" if self._when is not None else ("on" if self._on else "off")
        return f"ChaosSwitch({self._name!r}, {state})"

    def _set(self, *, on: bool) -> None:
        if self._when is not None:
            raise TypeError(
                f"{self!r} follows its when= function; change what the function reads "
                f"({safe_repr(self._when, limit=80)}) instead of calling enable()/disable()"
            )
        self._turned(on)

    def _turned(self, on: bool) -> None:
        with self._lock:
            if on is self._on:
                return
            self._on = on
        if on:
            logger.warning(
                "chaos ENABLED by switch %r: the strategies it controls now inject "
                "failures, latency or substituted results into real calls on purpose. "
                "Disable it (switch.disable()) unless this is a drill",
                self._name,
                extra={"resilience": {"event": "chaos.enabled", "switch": self._name}},
            )
        else:
            logger.info(
                "chaos disabled by switch %r: calls run untouched",
                self._name,
                extra={"resilience": {"event": "chaos.disabled", "switch": self._name}},
            )

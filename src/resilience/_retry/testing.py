"""Testing mode: every retry waits zero seconds, and attempts may be capped."""

from __future__ import annotations

__all__ = ["TESTING", "set_testing"]


class _Testing:
    """The testing switch: zero every wait, optionally cap attempts.

    ``on`` is what a retry reads first: one attribute, False unless testing is enabled.
    """

    __slots__ = ("_attempts", "_enabled", "on")

    def __init__(self) -> None:
        self._enabled = False
        self._attempts: int | None = None
        self.on = False

    @property
    def enabled(self) -> bool:
        """Whether every wait is zero."""
        return self._enabled

    @property
    def attempts(self) -> int | None:
        """The cap on attempts, if any."""
        return self._attempts

    def set(self, enabled: bool, attempts: int | None) -> None:
        """Switch testing mode."""
        self._enabled, self._attempts = enabled, attempts
        self.on = enabled or attempts is not None


TESTING = _Testing()
"""Read by every retry decision; set only by :func:`set_testing`."""


class _TestingMode:
    """What :func:`set_testing` returns: already applied; restores on ``__exit__``."""

    __slots__ = ("_previous",)

    def __init__(self, previous: tuple[bool, int | None]) -> None:
        self._previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        TESTING.set(*self._previous)


def set_testing(enabled: bool = True, *, attempts: int | None = None) -> _TestingMode:
    """Make every retry wait zero seconds (and, if given, cap ``attempts``) in tests.

    It applies at once, process-wide; used as a context manager it restores the previous
    setting on exit::

        with set_testing(attempts=2):
            ...
    """
    if attempts is not None and attempts < 1:
        raise ValueError(f"set_testing(attempts=...) must be at least 1, got {attempts}")
    previous = (TESTING.enabled, TESTING.attempts)
    TESTING.set(enabled, attempts if enabled else None)
    return _TestingMode(previous)

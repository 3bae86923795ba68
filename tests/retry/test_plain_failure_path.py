"""A plain policy decides its usual failure in a few steps: the same decision as the full one.

``RetryPolicy.after`` of a plain policy is ``Settings.after_plain``, which decides a plain
builtin failure itself and hands everything else to ``Settings.after``. Both are run here
on the same failures, from the same state, and must agree on the wait, the record of the
attempt and the note a give-up leaves.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience import (
    Backoff,
    CircuitOpenError,
    CircuitState,
    Classifier,
    FailureKind,
    RetryPolicy,
)
from resilience.testing import FakeClock, set_testing


class TaggedError(Exception):
    """Not a builtin: the classifier's table decides."""


def _with_attribute() -> Exception:
    exc = ConnectionResetError("reset")
    exc.status_code = 400  # type: ignore[attr-defined] # duck-typed: a permanent HTTP status
    return exc


FAILURES: dict[str, Callable[[], Exception]] = {
    "reset": lambda: ConnectionResetError("reset"),
    "refused": lambda: ConnectionRefusedError(111, "refused"),
    "timeout": TimeoutError,
    "value": lambda: ValueError("bad"),
    "attribute added": _with_attribute,
    "own class": lambda: TaggedError("x"),
    "open circuit": lambda: CircuitOpenError("api", CircuitState.OPEN, 0.5, "tripped"),
}


def _decide(policy: RetryPolicy, after: Any, names: list[str]) -> list[object]:
    """Each failure in turn through ``after``: the waits, the notes and the record kept."""
    run = policy.before(None, (), {})
    seen: list[object] = []
    for name in names:
        exc = FAILURES[name]()
        delay = after(run, None, exc)
        seen.append((name, delay, getattr(exc, "__notes__", None)))
        if delay is None:
            break
    seen.append(list(run))  # the start of the run (a fake clock's reading), the tries
    return seen


@given(
    names=st.lists(st.sampled_from(sorted(FAILURES)), min_size=1, max_size=6),
    attempts=st.sampled_from([None, 1, 2, 3, 5]),
    initial=st.sampled_from([0.0, 0.5]),
    testing=st.sampled_from([None, (True, None), (False, 2), (True, 1)]),
    level=st.sampled_from([logging.INFO, logging.WARNING]),
    rules=st.booleans(),
)
def test_the_plain_path_decides_as_the_full_one(  # noqa: PLR0917 - the drawn dimensions
    names: list[str],
    attempts: int | None,
    initial: float,
    testing: tuple[bool, int | None] | None,
    level: int,
    rules: bool,
) -> None:
    """Every failure, attempt count, testing mode, log level and classifier: same decision."""
    classifier = Classifier().with_rule(TaggedError, FailureKind.RETRYABLE) if rules else None
    policy = RetryPolicy(
        attempts=attempts,
        backoff=Backoff(initial=initial, multiplier=2, jitter="none"),
        classifier=classifier,
        clock=FakeClock(),
    )
    assert policy.after == policy.settings.after_plain  # the path under test
    logger = logging.getLogger("resilience")
    previous = logger.level
    logger.setLevel(level)
    try:
        with set_testing(testing[0], attempts=testing[1]) if testing else contextlib.nullcontext():
            quick = _decide(policy, policy.after, names)
            full = _decide(policy, policy.settings.after, names)
    finally:
        logger.setLevel(previous)
    assert quick == full


def test_a_policy_that_is_not_plain_uses_the_full_path() -> None:
    """A deadline, a budget or a hook: the plain path is not taken."""
    hooked = RetryPolicy(
        on_retry=lambda _event: None, backoff=Backoff(jitter="none"), clock=FakeClock()
    )
    assert hooked.after == hooked.settings.after_plain  # plain, but hooked: decided in full
    assert _decide(hooked, hooked.after, ["reset"]) == _decide(
        hooked, hooked.settings.after, ["reset"]
    )
    timed = RetryPolicy(deadline=5)
    assert timed.after == timed.settings.after


def test_the_plain_path_takes_the_usual_failure_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain builtin retried with no Retry-After never reaches the full decision."""
    policy = RetryPolicy(attempts=3, backoff=Backoff(initial=0.25, jitter="none"))
    settings = policy.settings
    calls: list[object] = []
    full = settings.after

    def counted(*args: object) -> float | None:
        calls.append(args)
        return full(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(type(settings), "after", lambda _s, *args: counted(*args))
    run = policy.before(None, (), {})
    assert policy.after(run, None, ConnectionResetError()) == 0.25
    assert calls == []
    assert policy.after(run, None, ValueError()) is None  # permanent: decided in full
    assert len(calls) == 1

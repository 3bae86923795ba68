"""Recovery under hostile actions: whatever an action raises is recorded and paged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from resilience import (
    CallbackNotifier,
    Incident,
    RecoveryManager,
    Resolution,
    Stage,
)
from resilience.testing import FakeClock

ESCALATED = Resolution.ESCALATED


def manager_with(told: list[Incident], *, stages: list[Stage] | None = None) -> RecoveryManager:
    notifiers = [CallbackNotifier(told.append)]
    if stages is None:
        return RecoveryManager(clock=FakeClock(), notifiers=notifiers)
    return RecoveryManager(clock=FakeClock(), notifiers=notifiers, stages=stages)


class AbortError(BaseException):
    """Neither an Exception nor a cancellation: e.g. a framework's own control flow."""


class StrRaisesError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str refused")

    def __repr__(self) -> str:
        raise RuntimeError("repr refused")


class HugeError(Exception):
    def __str__(self) -> str:
        return "y" * 5_000_000


class ForgedError(Exception):
    def __str__(self) -> str:
        return "refused\nINFO resilience: recovery of db: recovered"


def raising(error: BaseException) -> Callable[[], None]:
    def restart() -> None:
        raise error

    return restart


def araising(error: BaseException) -> Callable[[], object]:
    async def restart() -> None:
        await asyncio.sleep(0)
        raise error

    return restart


@pytest.mark.parametrize("make", [raising, araising], ids=["sync", "async"])
async def test_an_action_raising_a_base_exception_is_recorded_and_paged(
    make: Callable[[BaseException], Callable[[], object]],
) -> None:
    """A BaseException from an action is that action's failure; the recovery goes on."""
    told: list[Incident] = []
    manager = manager_with(told, stages=[Stage(attempts=2)])
    manager.register("db", actions=[make(AbortError("worker torn down"))])
    incident = await manager.recover("db")
    assert incident.resolution is ESCALATED
    assert [a.outcome for a in incident.actions] == ["AbortError: worker torn down"] * 2
    assert manager.incidents() == [incident]
    assert [i.id for i in told] == [incident.id]


@pytest.mark.parametrize("make", [raising, araising], ids=["sync", "async"])
async def test_an_action_raising_cancelled_error_of_its_own_is_a_failed_action(
    make: Callable[[BaseException], Callable[[], object]],
) -> None:
    """A CancelledError the action raises, not a cancellation of the recovery, is a failure."""
    told: list[Incident] = []
    manager = manager_with(told, stages=[Stage(attempts=1)])
    manager.register("db", actions=[make(asyncio.CancelledError())])
    incident = await manager.recover("db")
    assert incident.resolution is ESCALATED
    assert incident.actions[0].outcome.startswith("CancelledError")
    assert manager.incidents() == [incident]
    assert len(told) == 1


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(2)], ids=repr)
@pytest.mark.parametrize("make", [raising, araising], ids=["sync", "async"])
async def test_keyboard_interrupt_and_system_exit_propagate_after_the_incident_is_kept(
    make: Callable[[BaseException], Callable[[], object]], error: BaseException
) -> None:
    """An interrupt stops the recovery, is stored and paged, then reaches the caller."""
    told: list[Incident] = []
    after: list[str] = []
    manager = manager_with(told)  # the default three stages: none runs after it
    manager.register("db", actions=[make(error), lambda: after.append("next")])
    with pytest.raises(type(error)):
        await manager.recover("db")
    (incident,) = manager.incidents()
    assert incident.resolution is ESCALATED
    assert type(error).__name__ in incident.detail
    assert [a.outcome.split(":")[0] for a in incident.actions] == [type(error).__name__]
    assert after == []
    assert [i.id for i in told] == [incident.id]
    assert manager.running() == {}


async def test_hostile_errors_of_actions_are_recorded_with_safe_outcomes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error whose str raises, runs to megabytes or forges lines is a one-line outcome."""
    told: list[Incident] = []
    manager = manager_with(told, stages=[Stage(attempts=1)])
    errors = [StrRaisesError(), HugeError(), ForgedError()]
    manager.register("db", actions=[raising(e) for e in errors])
    with caplog.at_level(logging.INFO, logger="resilience"):
        incident = await manager.recover("db")
    assert incident.resolution is ESCALATED
    assert manager.incidents() == [incident]
    assert len(told) == 1
    outcomes = [a.outcome for a in incident.actions]
    for outcome, error in zip(outcomes, errors, strict=True):
        assert outcome.startswith(type(error).__name__)
        assert "\n" not in outcome
        assert len(outcome) < 1000
    assert "refused\\nINFO" in outcomes[2]
    for record in caplog.records:
        assert "\n" not in record.getMessage()


async def test_a_verification_or_notifier_raising_a_hostile_error_is_recorded(
    fake_clock: FakeClock,
) -> None:
    """A hostile error from verify() or a notifier is recorded, not raised."""

    def verify() -> None:
        raise StrRaisesError

    def page(_incident: Incident) -> None:
        raise StrRaisesError

    manager = RecoveryManager(
        clock=fake_clock, notifiers=[CallbackNotifier(page)], stages=[Stage(attempts=1)]
    )
    manager.register("db", actions=[lambda: None], verify=verify)
    incident = await manager.recover("db")
    assert incident.resolution is ESCALATED
    assert incident.actions[0].outcome.startswith("verification raised StrRaisesError")
    (notification,) = incident.notifications
    assert not notification.ok
    assert (notification.error or "").startswith("StrRaisesError")
    assert manager.incidents() == [incident]

"""RecoveryManager: stages on the injected clock, verification, escalation, budget, history."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import threading
from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from resilience import (
    CallbackNotifier,
    CheckResult,
    ComponentStatus,
    HealthRegistry,
    Incident,
    RecoveryManager,
    Resolution,
    RestartBudget,
    Severity,
    SQLiteCheckpointStore,
    SQLiteIncidentStore,
    Stage,
)
from resilience.testing import FakeClock

RECOVERED, ESCALATED = Resolution.RECOVERED, Resolution.ESCALATED
SUSPENDED, EXHAUSTED = Resolution.SUSPENDED, Resolution.BUDGET_EXHAUSTED


class Remote:
    """A component that comes back at the ``heals_at``-th restart (never if None)."""

    def __init__(self, clock: FakeClock, heals_at: int | None = None) -> None:
        self.clock = clock
        self.heals_at = heals_at
        self.restarts: list[float] = []  # the clock reading of each restart

    @property
    def up(self) -> bool:
        return self.heals_at is not None and len(self.restarts) >= self.heals_at

    def restart(self) -> None:
        self.restarts.append(self.clock.monotonic())
        if not self.up:
            raise ConnectionRefusedError(111, "Connection refused")


def manager_with(
    clock: FakeClock, *, told: list[Incident] | None = None, **kwargs: object
) -> RecoveryManager:
    notifiers = [CallbackNotifier(told.append)] if told is not None else []
    return RecoveryManager(clock=clock, notifiers=notifiers, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- stages


async def test_default_stages_run_at_once_then_after_1_and_5_minutes(fake_clock: FakeClock) -> None:
    """Default stages run at once then after 1 and 5 minutes."""
    remote = Remote(fake_clock)
    manager = manager_with(fake_clock)
    manager.register("api", actions=[remote.restart])

    incident = await manager.recover("api", reason="api down")

    # Stage 1 at 0 s; stage 2 (2 attempts) 60 s after stage 1; stage 3 (3 attempts)
    # 300 s after stage 2.
    assert remote.restarts == [0, 60, 60, 360, 360, 360]
    assert incident.resolution is ESCALATED
    assert [(a.stage, a.attempt) for a in incident.actions] == [
        (1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3),
    ]  # fmt: skip
    assert all(not a.ok and "Connection refused" in a.outcome for a in incident.actions)
    assert incident.duration == 360
    assert incident.reason == "api down"
    assert incident.severity is Severity.P1


async def test_stage_delays_count_from_the_end_of_the_previous_stage(fake_clock: FakeClock) -> None:
    """Stage delays count from the end of the previous stage."""
    manager = manager_with(
        fake_clock, stages=[Stage(delay=0, attempts=2, interval=5), Stage(delay=30, attempts=2)]
    )
    starts: list[float] = []

    def slow_restart() -> None:
        starts.append(fake_clock.monotonic())
        fake_clock.advance(10)  # the action itself takes 10 s
        raise TimeoutError

    manager.register("api", actions=[slow_restart])
    await manager.recover("api")
    # 0: attempt 1 (ends at 10); +5 interval: attempt 2 at 15 (ends 25);
    # +30: stage 2 at 55 (ends 65); attempt 2 at 65.
    assert starts == [0, 15, 55, 65]


async def test_success_ends_the_incident_and_later_actions_do_not_run(
    fake_clock: FakeClock,
) -> None:
    """Success ends the incident and later actions do not run."""
    remote = Remote(fake_clock, heals_at=2)
    cleared: list[str] = []
    manager = manager_with(fake_clock)
    manager.register("api", actions=[remote.restart, lambda: cleared.append("cache")])

    incident = await manager.recover("api")

    # Attempt 1: restart fails, clearing the cache "works" (no verification); done.
    assert incident.resolution is RECOVERED
    assert [a.ok for a in incident.actions] == [False, True]
    assert incident.actions[1].action == "<lambda>"
    assert cleared == ["cache"]


async def test_verify_decides_success_like_a_health_check(fake_clock: FakeClock) -> None:
    """Verify decides success like a health check."""
    answers: list[object] = [
        False,
        CheckResult(ComponentStatus.ERROR, "still corrupt"),
        "yes",
        CheckResult(ComponentStatus.WARNING, "slow but serving"),
    ]
    manager = manager_with(fake_clock, stages=[Stage(attempts=5)])
    manager.register("db", actions=[lambda: None], verify=lambda: answers.pop(0))

    incident = await manager.recover("db")

    outcomes = [(a.ok, a.outcome) for a in incident.actions]
    assert outcomes[0] == (False, "verification returned False")
    assert outcomes[1] == (False, "ERROR: still corrupt")
    assert outcomes[2][0] is False
    assert "must return None or True" in outcomes[2][1]
    assert outcomes[3] == (True, "WARNING: slow but serving")
    assert incident.resolution is RECOVERED


async def test_an_action_returning_false_or_raising_fails_without_verification(
    fake_clock: FakeClock,
) -> None:
    """An action returning false or raising fails without verification."""
    verified: list[int] = []
    manager = manager_with(fake_clock, stages=[Stage(attempts=1)])
    manager.register(
        "db", actions=[lambda: False, _raise_os_error], verify=lambda: verified.append(1)
    )
    incident = await manager.recover("db")
    assert [a.outcome for a in incident.actions] == [
        "the action returned False",
        "OSError: [Errno 28] No space left on device",
    ]
    assert verified == []


def _raise_os_error() -> None:
    raise OSError(28, "No space left on device")


async def test_async_actions_and_verify_are_awaited(fake_clock: FakeClock) -> None:
    """Async actions and verify are awaited."""
    calls: list[str] = []

    async def reconnect() -> None:
        calls.append("reconnect")
        await asyncio.sleep(0)

    async def ping() -> bool:
        calls.append("ping")
        return True

    manager = manager_with(fake_clock)
    manager.register("queue", actions=[reconnect], verify=ping)
    assert (await manager.recover("queue")).resolution is RECOVERED
    assert calls == ["reconnect", "ping"]


async def test_an_action_that_overruns_its_timeout_fails(fake_clock: FakeClock) -> None:
    """An action that overruns its timeout fails."""
    manager = manager_with(fake_clock, stages=[Stage(attempts=1)])
    never = asyncio.Event()

    async def hang() -> None:
        await never.wait()

    manager.register("api", actions=[hang], timeout=0.05)
    incident = await manager.recover("api")
    assert incident.actions[0].outcome == "no result within timeout=0.05 s"


async def test_a_timeout_error_of_the_action_itself_is_reported_as_its_own(
    fake_clock: FakeClock,
) -> None:
    """A timeout error of the action itself is reported as its own."""
    manager = manager_with(fake_clock, stages=[Stage(attempts=1)])

    def connect() -> None:
        raise TimeoutError("db.internal:5432 did not answer within 5 s")

    manager.register("db", actions=[connect], timeout=60)
    incident = await manager.recover("db")
    assert incident.actions[0].outcome == "TimeoutError: db.internal:5432 did not answer within 5 s"


# ------------------------------------------------------------------ escalation


async def test_escalation_tells_the_notifiers_exactly_once_with_the_actions(
    fake_clock: FakeClock,
) -> None:
    """Escalation tells the notifiers exactly once with the actions."""
    told: list[Incident] = []
    manager = manager_with(fake_clock, told=told)
    manager.register("db", actions=[Remote(fake_clock).restart], severity="P0")

    incident = await manager.recover("db", reason="connection refused")

    assert told == [dataclasses.replace(incident, notifications=())]
    assert told[0].severity is Severity.P0
    assert len(told[0].actions) == 6
    assert "connection refused" in told[0].summary()
    assert [n.ok for n in incident.notifications] == [True]


async def test_a_recovery_that_works_tells_no_one(fake_clock: FakeClock) -> None:
    """A recovery that works tells no one."""
    told: list[Incident] = []
    manager = manager_with(fake_clock, told=told)
    manager.register("db", actions=[Remote(fake_clock, heals_at=3).restart])
    incident = await manager.recover("db")
    assert incident.resolution is RECOVERED
    assert incident.duration == 60  # the third restart: stage 2, attempt 2
    assert told == []
    assert incident.notifications == ()


# --------------------------------------------------------------- one at a time


async def test_duplicate_triggers_join_the_running_recovery(fake_clock: FakeClock) -> None:
    """Duplicate triggers join the running recovery."""
    release = asyncio.Event()
    runs: list[int] = []

    async def restart() -> None:
        runs.append(1)
        await release.wait()

    manager = manager_with(fake_clock)
    manager.register("api", actions=[restart])

    first = asyncio.ensure_future(manager.recover("api", reason="first"))
    await asyncio.sleep(0)
    joined = manager.trigger("api", reason="second")
    second = asyncio.ensure_future(manager.recover("api", reason="third"))
    await asyncio.sleep(0)
    release.set()
    incident = await first

    assert await second is incident
    assert joined.result() is incident
    assert incident.reason == "first"
    assert runs == [1]
    assert len(manager.incidents()) == 1
    # Once it ended, the next trigger starts a new incident.
    assert (await manager.recover("api")).id != incident.id


async def test_trigger_in_a_loop_runs_as_a_task(fake_clock: FakeClock) -> None:
    """Trigger in a loop runs as a task."""
    manager = manager_with(fake_clock)
    manager.register("api", actions=[Remote(fake_clock, heals_at=1).restart])
    future = manager.trigger("api")
    incident = await asyncio.wrap_future(future)
    assert incident.resolution is RECOVERED


def test_trigger_outside_a_loop_runs_on_a_thread(fake_clock: FakeClock) -> None:
    """Trigger outside a loop runs on a thread."""
    manager = manager_with(fake_clock)
    manager.register("api", actions=[Remote(fake_clock, heals_at=4).restart])
    incident = manager.trigger("api").result(timeout=10)
    assert incident.resolution is RECOVERED
    assert [a.ok for a in incident.actions] == [False, False, False, True]


def test_triggers_from_many_threads_join_one_recovery(fake_clock: FakeClock) -> None:
    """Triggers from many threads join one recovery."""
    release = threading.Event()
    runs: list[int] = []

    def restart() -> None:
        runs.append(1)
        assert release.wait(timeout=10)

    manager = manager_with(fake_clock)
    manager.register("db", actions=[restart])
    futures: list[Future[Incident]] = []
    lock = threading.Lock()

    def trigger_many() -> None:
        for _ in range(50):
            future = manager.trigger("db", reason="down")
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=trigger_many) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    release.set()
    incidents = {future.result(timeout=10).id for future in futures}
    assert len(futures) == 800
    assert len(incidents) == 1
    assert runs == [1]
    assert len(manager.incidents()) == 1


async def test_concurrent_recover_calls_in_one_loop_join_one_recovery(
    fake_clock: FakeClock,
) -> None:
    """Concurrent recover calls in one loop join one recovery."""
    release = asyncio.Event()
    runs: list[int] = []

    async def restart() -> None:
        runs.append(1)
        await release.wait()

    manager = manager_with(fake_clock)
    manager.register("db", actions=[restart])
    tasks = [asyncio.ensure_future(manager.recover("db")) for _ in range(200)]
    await asyncio.sleep(0)
    release.set()
    incidents = await asyncio.gather(*tasks)
    assert len({i.id for i in incidents}) == 1
    assert runs == [1]


async def test_a_cancelled_recovery_is_kept_and_its_joiners_get_it(fake_clock: FakeClock) -> None:
    """A cancelled recovery is kept and its joiners get it."""
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    manager = manager_with(fake_clock)
    manager.register("db", actions=[hang])
    owner = asyncio.ensure_future(manager.recover("db"))
    await started.wait()
    joiner = asyncio.ensure_future(manager.recover("db"))
    await asyncio.sleep(0)
    owner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await owner
    incident = await joiner
    assert incident.resolution is Resolution.CANCELLED
    assert manager.incidents() == [incident]
    assert manager.running() == {}


# ------------------------------------------------------------ manual override


async def test_suspend_before_a_trigger_records_it_without_acting(fake_clock: FakeClock) -> None:
    """Suspend before a trigger records it without acting."""
    remote = Remote(fake_clock)
    told: list[Incident] = []
    manager = manager_with(fake_clock, told=told)
    manager.register("db", actions=[remote.restart])
    manager.suspend("db")
    assert manager.suspended("db")

    incident = await manager.recover("db", reason="db down")

    assert incident.resolution is SUSPENDED
    assert "resume()" in incident.detail
    assert remote.restarts == []
    assert told == []

    manager.resume("db")
    assert not manager.suspended("db")
    assert (await manager.recover("db")).resolution is ESCALATED
    assert len(remote.restarts) == 6


async def test_suspend_during_a_recovery_stops_it_after_the_current_action(
    fake_clock: FakeClock,
) -> None:
    """Suspend during a recovery stops it after the current action."""
    manager = manager_with(fake_clock)
    restarts: list[float] = []

    def restart() -> None:
        restarts.append(fake_clock.monotonic())
        if len(restarts) == 2:
            manager.suspend("db")  # an operator steps in while stage 2 runs
        raise ConnectionRefusedError

    manager.register("db", actions=[restart])
    incident = await manager.recover("db")
    assert incident.resolution is SUSPENDED
    assert restarts == [0, 60]
    assert len(incident.actions) == 2


def test_suspend_cuts_a_real_stage_delay_short() -> None:
    """On the real clock: a minute's wait ends at once when an operator suspends."""
    first_try = threading.Event()

    def restart() -> None:
        first_try.set()
        raise ConnectionRefusedError

    manager = RecoveryManager(stages=[Stage(), Stage(delay=60)])
    manager.register("db", actions=[restart])
    future = manager.trigger("db")  # no loop here: a thread of its own
    assert first_try.wait(timeout=10)
    manager.suspend("db")
    incident = future.result(timeout=10)  # not 60 s
    assert incident.resolution is SUSPENDED
    assert len(incident.actions) == 1


# ------------------------------------------------------------- restart budget


async def test_the_restart_budget_stops_recovery_and_escalates_once(fake_clock: FakeClock) -> None:
    """The restart budget stops recovery and escalates once."""
    told: list[Incident] = []
    budget = RestartBudget(max_recoveries=3, period=600, reset_after=900)
    manager = manager_with(fake_clock, told=told, budget=budget)
    remote = Remote(fake_clock, heals_at=1)
    manager.register("worker", actions=[remote.restart])

    for _ in range(3):  # three crashes, each recovered at once, a minute apart
        remote.restarts.clear()
        assert (await manager.recover("worker")).resolution is RECOVERED
        fake_clock.advance(60)
    fourth = await manager.recover("worker", reason="crashed again")
    fifth = await manager.recover("worker")

    assert fourth.resolution is fifth.resolution is EXHAUSTED
    assert "restart budget exhausted (3 recoveries within 600 s)" in fourth.detail
    assert fourth.actions == fifth.actions == ()
    assert [i.id for i in told] == [fourth.id]  # escalated once, not on every trigger

    # Still failing well after the period: the budget does not refill by itself...
    fake_clock.advance(700)
    assert (await manager.recover("worker")).resolution is EXHAUSTED
    # ...only after reset_after seconds without an incident.
    fake_clock.advance(900)
    remote.restarts.clear()
    assert (await manager.recover("worker")).resolution is RECOVERED


async def test_recoveries_older_than_the_period_do_not_count(fake_clock: FakeClock) -> None:
    """Recoveries older than the period do not count."""
    manager = manager_with(
        fake_clock, budget=RestartBudget(max_recoveries=2, period=100, reset_after=1_000)
    )
    manager.register("worker", actions=[lambda: None])
    for _ in range(6):  # one recovery every 60 s: never 3 within 100 s
        assert (await manager.recover("worker")).resolution is RECOVERED
        fake_clock.advance(60)


async def test_resume_restores_an_exhausted_budget(fake_clock: FakeClock) -> None:
    """Resume restores an exhausted budget."""
    manager = manager_with(
        fake_clock, budget=RestartBudget(max_recoveries=1, period=600, reset_after=600)
    )
    manager.register("worker", actions=[lambda: None])
    await manager.recover("worker")
    assert (await manager.recover("worker")).resolution is EXHAUSTED
    manager.resume("worker")
    assert (await manager.recover("worker")).resolution is RECOVERED


# --------------------------------------------------------- health integration


def test_attach_recovers_a_component_whose_check_turns_error(fake_clock: FakeClock) -> None:
    """Attach recovers a component whose check turns error."""
    health = HealthRegistry(clock=fake_clock)
    state = {"ok": False}
    health.register("cache", lambda: state["ok"])

    def rebuild() -> None:
        state["ok"] = True

    manager = manager_with(fake_clock)
    manager.register("cache", actions=[rebuild])  # verified by the health check
    manager.attach(health)

    health.run()  # the check fails: ERROR, which triggers the recovery
    (incident,) = _wait_for_incidents(manager, 1)
    assert incident.resolution is RECOVERED
    assert incident.reason == "health check: the check returned False"
    assert incident.actions[0].outcome == "OK"
    assert health.latest()["cache"].status is ComponentStatus.OK


def test_attach_ignores_components_without_a_recovery_and_other_statuses(
    fake_clock: FakeClock,
) -> None:
    """Attach ignores components without a recovery and other statuses."""
    health = HealthRegistry(clock=fake_clock)
    health.register("backend", lambda: False)
    health.register("cache", lambda: CheckResult(ComponentStatus.WARNING, "cold"))
    manager = manager_with(fake_clock)
    manager.register("cache", actions=[lambda: None])
    manager.attach(health)
    health.run()
    assert manager.incidents() == []


def _wait_for_incidents(manager: RecoveryManager, count: int) -> list[Incident]:
    """The running recovery is on a thread of its own: wait (bounded) for it."""
    for future in manager.running().values():
        future.result(timeout=10)
    incidents = manager.incidents()
    assert len(incidents) == count
    return incidents


async def test_health_verification_failing_keeps_trying(fake_clock: FakeClock) -> None:
    """Health verification failing keeps trying."""
    health = HealthRegistry(clock=fake_clock)
    health.register("db", lambda: CheckResult(ComponentStatus.ERROR, "malformed"))
    manager = manager_with(fake_clock, stages=[Stage(attempts=2)])
    manager.register("db", actions=[lambda: None])
    manager.attach(health)
    incident = await manager.recover("db")
    assert [a.outcome for a in incident.actions] == ["ERROR: malformed"] * 2
    assert incident.resolution is ESCALATED


# ------------------------------------------------------------------- history


async def test_stats_give_success_rate_mttr_and_mtbf(fake_clock: FakeClock) -> None:
    """Stats give success rate mttr and mtbf."""
    manager = manager_with(fake_clock)
    remote = Remote(fake_clock, heals_at=2)  # recovers on stage 2: 60 s after the trigger
    manager.register("api", actions=[remote.restart])
    manager.register("idle", actions=[lambda: None])

    await manager.recover("api")  # 0 -> 60, recovered
    fake_clock.advance(940)
    remote.restarts.clear()
    await manager.recover("api")  # 1000 -> 1060, recovered
    fake_clock.advance(1940)
    remote.heals_at = None
    await manager.recover("api")  # 3000 -> 3360, escalated

    stats = manager.stats()
    api = stats["api"]
    assert (api.incidents, api.recovered, api.escalated) == (3, 2, 1)
    assert api.success_rate == pytest.approx(2 / 3)
    assert api.mean_time_to_recovery == pytest.approx(60)
    assert api.mean_time_between_failures == pytest.approx((940 + 1940) / 2)
    assert stats["idle"].incidents == 0
    assert stats["idle"].success_rate is None


async def test_sqlite_store_keeps_incidents_across_managers(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """Sqlite store keeps incidents across managers."""
    path = tmp_path / "app.db"
    SQLiteCheckpointStore(path).close()  # one file may hold checkpoints and incidents
    store = SQLiteIncidentStore(path)
    manager = manager_with(fake_clock, store=store)
    manager.register("api", actions=[Remote(fake_clock, heals_at=2).restart], severity=Severity.P2)
    first = await manager.recover("api", reason="refused")
    store.close()

    store = SQLiteIncidentStore(path)
    later = manager_with(fake_clock, store=store)
    later.register("api", actions=[lambda: None])
    assert later.incidents() == [first]
    assert later.stats()["api"].recovered == 1
    store.close()


def test_sqlite_store_refuses_another_applications_database(tmp_path: Path) -> None:
    """Sqlite store refuses another applications database."""
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    before = path.read_bytes()
    with pytest.raises(OSError, match=r"theirs\.db.*another application"):
        SQLiteIncidentStore(path)
    assert path.read_bytes() == before


async def test_a_store_that_fails_does_not_lose_the_incident(
    caplog: pytest.LogCaptureFixture,
    fake_clock: FakeClock,
) -> None:
    """A store that fails does not lose the incident."""

    class Broken:
        def add(self, incident: Incident) -> None:
            raise OSError(28, "No space left on device")

        def incidents(self, component: str | None = None) -> list[Incident]:
            return []

        def close(self) -> None:
            pass

    manager = manager_with(fake_clock, store=Broken())
    manager.register("api", actions=[lambda: None])
    with caplog.at_level(logging.ERROR, logger="resilience"):
        incident = await manager.recover("api")
    assert incident.resolution is RECOVERED
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert incident.id in record.getMessage()
    assert "'resolution': 'recovered'" in record.getMessage()


# ---------------------------------------------------------------- bad input


def test_configuration_errors_name_the_field() -> None:
    """Configuration errors name the field."""
    with pytest.raises(ValidationError, match="delay"):
        Stage(delay=-1)
    with pytest.raises(ValidationError, match="attempts"):
        Stage(attempts=0)
    with pytest.raises(ValidationError, match="max_recoveries"):
        RestartBudget(max_recoveries=0)
    with pytest.raises(ValidationError, match="stages"):
        RecoveryManager(stages=[])
    with pytest.raises(ValidationError, match="notify_timeout"):
        RecoveryManager(notify_timeout=0)
    manager = RecoveryManager()
    with pytest.raises(ValidationError, match="severity"):
        manager.register("db", actions=[print], severity="P9")
    with pytest.raises(ValidationError, match="timeout"):
        manager.register("db", actions=[print], timeout=-1)
    with pytest.raises(TypeError, match="actions"):
        manager.register("db", actions=[])
    with pytest.raises(TypeError, match="verify"):
        manager.register("db", actions=[print], verify="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store"):
        RecoveryManager(store=object())  # type: ignore[arg-type]
    manager.register("db", actions=[print])
    with pytest.raises(ValueError, match="already registered"):
        manager.register("db", actions=[print])


async def test_an_unknown_component_is_named_with_what_to_do() -> None:
    """An unknown component is named with what to do."""
    manager = RecoveryManager()
    manager.register("db", actions=[print])
    with pytest.raises(KeyError, match=r"no recovery registered for 'dbb'.*register"):
        await manager.recover("dbb")
    with pytest.raises(KeyError, match="'dbb'"):
        manager.suspend("dbb")


# ---------------------------------------------------------------------- durations


async def test_durations_accept_a_timedelta(fake_clock: FakeClock) -> None:
    """Stage delays and intervals, budget periods and the timeouts take a timedelta too."""
    # model_validate: the models' static types say float (what they hold), not the input.
    stages = [
        Stage.model_validate(
            {"delay": timedelta(0), "attempts": 2, "interval": timedelta(seconds=5)}
        ),
        Stage.model_validate({"delay": timedelta(minutes=1), "attempts": 1}),
    ]
    budget = RestartBudget.model_validate(
        {"period": timedelta(minutes=10), "reset_after": timedelta(minutes=15)}
    )
    assert (budget.period, budget.reset_after) == (600, 900)
    manager = manager_with(
        fake_clock, stages=stages, budget=budget, notify_timeout=timedelta(seconds=3)
    )
    remote = Remote(fake_clock)
    manager.register("api", actions=[remote.restart], timeout=timedelta(seconds=2))
    incident = await manager.recover("api")
    assert remote.restarts == [0, 5, 65]
    assert incident.resolution is ESCALATED

    never = asyncio.Event()

    async def hangs() -> None:
        await never.wait()

    manager.register("hung", actions=[hangs], timeout=timedelta(milliseconds=50))
    hung = await manager.recover("hung")
    assert hung.actions[0].outcome == "no result within timeout=0.05 s"

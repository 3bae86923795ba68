"""Health checks under attack: probe storms, hostile exceptions, checks that will not stop.

The probe storms run on real threads against a real uvicorn server, and the timeouts
are real (a check's timeout is real time); everything else runs on a FakeClock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from pydantic import ValidationError

from resilience import CheckResult, ComponentStatus, HealthRegistry, HealthReport
from resilience.testing import FakeClock
from servers import uvicorn_serving

OK, ERROR, UNKNOWN = ComponentStatus.OK, ComponentStatus.ERROR, ComponentStatus.UNKNOWN


@pytest.fixture
def health(fake_clock: FakeClock) -> Iterator[HealthRegistry]:
    registry = HealthRegistry(clock=fake_clock, default_timeout=5)
    yield registry
    registry.close()


def probe(url: str) -> tuple[int, float]:
    """GET ``url``: its HTTP status and how long it took."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, time.monotonic() - start


def storm(url: str, *, clients: int, seconds: float) -> list[tuple[int, float]]:
    """``clients`` threads GETting ``url`` back to back for ``seconds``: every answer."""
    answers: list[tuple[int, float]] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def client() -> None:
        until = time.monotonic() + seconds
        try:
            while time.monotonic() < until:
                answer = probe(url)
                with lock:
                    answers.append(answer)
        except BaseException as error:  # reported by the test, not lost in a thread
            failures.append(error)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    assert not any(t.is_alive() for t in threads), "a probe client hung"
    assert not failures, failures
    return answers


# ------------------------------------------------------------- single flight


def test_overlapping_probes_under_uvicorn_never_fail_a_healthy_instance() -> None:
    """Eight clients hammering /readyz for 2 s against healthy 50 ms checks get no 503."""
    health = HealthRegistry(default_timeout=2)
    calls = {"sync": 0, "async": 0}

    def database() -> bool:
        calls["sync"] += 1
        time.sleep(0.05)  # a real 50 ms dependency
        return True

    async def cache() -> bool:
        calls["async"] += 1
        await asyncio.sleep(0.05)
        return True

    health.register("database", database)
    health.register("cache", cache)
    try:
        with uvicorn_serving(health.asgi_app()) as base:
            answers = storm(f"{base}/readyz", clients=8, seconds=2)
    finally:
        health.close()
    failed = [a for a in answers if a[0] != 200]
    assert len(answers) >= 16
    assert failed == [], f"{len(failed)} of {len(answers)} probes failed"
    # Shared runs: far fewer runs of each check than probes answered.
    assert calls["sync"] < len(answers)
    assert calls["async"] < len(answers)


def test_a_hung_critical_check_still_fails_probes_at_its_timeout_under_a_storm() -> None:
    """A check that never answers makes /readyz 503 at its timeout, and is not piled up."""
    health = HealthRegistry(default_timeout=2)
    release = threading.Event()
    calls = 0

    def hangs() -> None:
        nonlocal calls
        calls += 1
        release.wait(30)

    health.register("database", hangs, timeout=0.3)
    try:
        with uvicorn_serving(health.asgi_app()) as base:
            answers = storm(f"{base}/readyz", clients=4, seconds=1)
    finally:
        release.set()
        health.close()
    assert answers
    assert {status for status, _ in answers} == {503}
    slowest = max(took for _, took in answers)
    assert slowest < 2, f"a probe waited {slowest:.2f} s for a check with a 0.3 s timeout"
    assert calls == 1  # not started again while it still hangs


def test_concurrent_sync_runs_share_the_run_in_flight(fake_clock: FakeClock) -> None:
    """Threads calling run() while a check runs wait for that run and get its result."""
    health = HealthRegistry(clock=fake_clock, default_timeout=10)
    entered = threading.Semaphore(0)
    release = threading.Event()
    calls = 0

    def slow() -> bool:
        nonlocal calls
        calls += 1
        return release.wait(10)

    health.register("database", slow)
    reports: list[HealthReport] = []

    def caller() -> None:
        entered.release()
        reports.append(health.run())

    threads = [threading.Thread(target=caller) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for _ in threads:
            assert entered.acquire(timeout=10)
        time.sleep(0.3)  # real threads: let the last callers reach the run in flight
        release.set()
        for thread in threads:
            thread.join(10)
    finally:
        release.set()
        health.close()
    assert [r.components["database"].status for r in reports] == [OK] * 8
    assert calls == 1


async def test_concurrent_async_runs_share_the_run_in_flight(health: HealthRegistry) -> None:
    """arun() calls overlapping in one loop share one run of each check and its result."""
    release = asyncio.Event()
    calls = 0

    async def slow() -> CheckResult:
        nonlocal calls
        calls += 1
        await release.wait()
        return CheckResult(OK, f"run {calls}")

    health.register("database", slow)
    runs = [asyncio.ensure_future(health.arun()) for _ in range(8)]
    for _ in range(5):
        await asyncio.sleep(0)  # every run reaches the check in flight
    release.set()
    reports = await asyncio.gather(*runs)
    assert [r.components["database"].message for r in reports] == ["run 1"] * 8
    assert calls == 1


async def test_a_sync_and_an_async_run_overlapping_share_one_run(
    health: HealthRegistry,
) -> None:
    """A thread's run() joins the run an arun() started, across the thread and the loop."""
    started, release = threading.Event(), threading.Event()
    calls = 0

    async def slow() -> bool:
        nonlocal calls
        calls += 1
        started.set()
        while not release.is_set():
            await asyncio.sleep(0.01)
        return True

    health.register("database", slow)
    first = asyncio.ensure_future(health.arun())
    assert await asyncio.to_thread(started.wait, 10)
    second = asyncio.ensure_future(asyncio.to_thread(health.run))
    await asyncio.sleep(0.3)  # a real thread: let it reach the run in flight
    release.set()
    reports = await asyncio.gather(first, second)
    assert [r.components["database"].status for r in reports] == [OK, OK]
    assert calls == 1


# -------------------------------------------------------- hostile exceptions


class ReprRaisesError(Exception):
    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    def __str__(self) -> str:
        raise RuntimeError("str refused")


class HugeError(Exception):
    def __str__(self) -> str:
        return "x" * 5_000_000


class ForgedError(Exception):
    def __str__(self) -> str:
        return "timeout\nCRITICAL resilience: forged line"


def raising(error: BaseException) -> Callable[[], None]:
    def check() -> None:
        raise error

    return check


def test_hostile_exceptions_from_checks_are_errors_with_safe_messages(
    health: HealthRegistry,
) -> None:
    """A check's exception whose str raises, runs to megabytes or holds newlines is ERROR."""
    health.register("raises", raising(ReprRaisesError()))
    health.register("huge", raising(HugeError()))
    health.register("forged", raising(ForgedError()))
    components = health.run().components
    kinds = {"raises": "ReprRaisesError", "huge": "HugeError", "forged": "ForgedError"}
    for name, kind in kinds.items():
        component = components[name]
        assert component.status is ERROR
        assert component.message.startswith(kind)
        assert "\n" not in component.message
        assert len(component.message) < 1000
    assert "timeout\\nCRITICAL" in components["forged"].message


def test_a_check_returning_an_object_whose_repr_raises_is_an_error(
    health: HealthRegistry,
) -> None:
    """What a check returns is described safely, even when its repr raises."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    health.register("odd", Hostile)
    component = health.run().components["odd"]
    assert component.status is ERROR
    assert "Hostile" in component.message


# ----------------------------------------------------------- log forgery


def test_newlines_in_health_messages_do_not_forge_log_lines(
    health: HealthRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A message with newlines reaches the log, the report and listeners on one line."""
    message = "disk full\nCRITICAL resilience: all good\r\x1b[2J"
    health.register("disk", lambda: CheckResult(ERROR, message))
    with caplog.at_level(logging.INFO, logger="resilience"):
        report = health.run()
    records = [r for r in caplog.records if "disk" in r.getMessage()]
    assert records
    for record in records:
        assert not any(c in record.getMessage() for c in "\n\r\x1b")
    escaped = "disk full\\nCRITICAL resilience: all good\\r\\x1b[2J"
    assert report.components["disk"].message == escaped
    assert len(str(report).splitlines()) == 2


# ------------------------------------------------ checks that kill or hang


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()])
def test_a_sync_check_raising_a_base_exception_is_an_error(
    health: HealthRegistry, error: BaseException
) -> None:
    """SystemExit, KeyboardInterrupt or any BaseException from a check is its ERROR."""
    health.register("fatal", raising(error))
    health.register("fine", lambda: True)
    report = health.run()
    assert report.components["fatal"].status is ERROR
    assert report.components["fatal"].message.startswith(type(error).__name__)
    assert report.components["fine"].status is OK


async def test_an_async_check_raising_system_exit_is_an_error(health: HealthRegistry) -> None:
    """An async check's SystemExit is its ERROR too, in arun() and in run()."""

    async def fatal() -> None:
        raise SystemExit(1)

    health.register("fatal", fatal)
    assert (await health.arun()).components["fatal"].status is ERROR
    assert (await asyncio.to_thread(health.run)).components["fatal"].status is ERROR


def test_the_monitor_thread_survives_checks_raising_base_exceptions(
    health: HealthRegistry,
) -> None:
    """A monitor whose check raises SystemExit goes on running rounds."""
    enough = threading.Event()
    calls = 0

    def fatal() -> None:
        nonlocal calls
        calls += 1
        if calls >= 3:
            enough.set()
        raise SystemExit(1)

    health.register("fatal", fatal)
    monitor = health.monitor(interval=30)
    with monitor:
        assert enough.wait(10), "the monitor thread stopped after a check raised SystemExit"
    assert monitor.rounds >= 3


def test_an_async_check_that_swallows_cancellation_cannot_hold_arun(
    caplog: pytest.LogCaptureFixture, fake_clock: FakeClock,
) -> None:
    """arun() returns at the timeout with the check UNKNOWN, and logs that it still runs."""
    health = HealthRegistry(clock=fake_clock, default_timeout=5)
    stop = threading.Event()
    cancelled = 0

    async def stubborn() -> None:
        nonlocal cancelled
        while not stop.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                cancelled += 1  # swallowed: the check goes on

    health.register("stubborn", stubborn, timeout=0.2)
    health.register("fine", lambda: True)
    answers: list[tuple[HealthReport, float]] = []

    async def main() -> None:
        start = time.monotonic()
        report = await health.arun()
        answers.append((report, time.monotonic() - start))
        again = await health.arun()  # the stubborn check is not started twice
        answers.append((again, time.monotonic() - start))

    # Its own loop on a thread: that loop's shutdown waits for the stubborn task.
    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    with caplog.at_level(logging.WARNING, logger="resilience"):
        thread.start()
        try:
            for _ in range(100):
                if len(answers) == 2:
                    break
                thread.join(0.05)
        finally:
            stop.set()
            thread.join(10)
            health.close()
    assert len(answers) == 2, "arun() was held by a check that ignores cancellation"
    (report, took), (again, _) = answers
    assert took < 1.5, f"arun() took {took:.2f} s for a check with a 0.2 s timeout"
    assert report.components["stubborn"].status is UNKNOWN
    assert report.components["fine"].status is OK
    assert again.components["stubborn"].status is UNKNOWN
    assert "has not finished" in again.components["stubborn"].message
    assert cancelled >= 1
    assert any(
        "stubborn" in r.getMessage() and "left" in r.getMessage() for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
    assert not thread.is_alive()


def test_timeout_status_ok_is_refused_for_a_critical_check(health: HealthRegistry) -> None:
    """A critical check may not report a hang as OK: refused at registration."""
    with pytest.raises(ValidationError) as info:
        health.register("db", lambda: True, timeout_status=OK)
    assert info.value.errors()[0]["loc"] == ("timeout_status",)
    assert "critical" in str(info.value)
    health.register("cache", lambda: True, critical=False, timeout_status=OK)
    assert health.names() == ["cache"]


def test_a_check_left_running_by_a_closed_event_loop_is_started_again(
    health: HealthRegistry,
) -> None:
    """A run whose event loop was closed under it does not block the check for ever."""
    calls = 0

    async def first_hangs() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()
        return True

    health.register("database", first_hangs, timeout=2)
    loop = asyncio.new_event_loop()
    with pytest.raises(TimeoutError):
        # The caller gives up at once; the check's task is left pending on the loop.
        loop.run_until_complete(asyncio.wait_for(health.arun(), 0.01))
    loop.close()
    start = time.monotonic()
    assert health.run().components["database"].status is OK
    assert time.monotonic() - start < 1
    assert calls == 2


async def test_a_sync_run_inside_an_event_loop_does_not_wait_for_that_loops_run(
    health: HealthRegistry,
) -> None:
    """run() called on a loop's thread runs the check itself: that loop's run cannot move."""

    async def quick() -> bool:
        await asyncio.sleep(0.01)
        return True

    health.register("database", quick, timeout=2)
    first = asyncio.ensure_future(health.arun())
    await asyncio.sleep(0)  # the arun() has started the check as a task of this loop
    start = time.monotonic()
    blocking = health.run()  # blocks this loop: joining its task would wait 2 s
    assert time.monotonic() - start < 1
    assert blocking.components["database"].status is OK
    assert (await first).components["database"].status is OK

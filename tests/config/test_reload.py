"""Live reload: settings replaced whole or not at all, breakers reconfigured in place."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from resilience import CircuitBreaker, CircuitOpenError, CircuitState
from resilience.config import ConfigReloaded, ReloadRefused, load
from resilience.events import Event
from resilience.testing import FakeClock

THREADS = 3
MIN_CALLS = 50


def settings(threshold: int) -> str:
    """A file of two remotes whose breakers open after ``threshold`` failures."""
    return (
        f"[defaults.breaker]\nfailure_threshold = {threshold}\nopen_for = 30\n\n"
        "[remotes.s3]\n[remotes.gcs]\ntimeout = 2\n"
    )


def fail(breaker: CircuitBreaker, times: int) -> None:
    """Make ``times`` failed calls through ``breaker``."""

    def down() -> None:
        raise ConnectionResetError("down")

    for _ in range(times):
        with pytest.raises(ConnectionResetError):
            breaker.call(down)


def test_a_reload_under_load_changes_the_threshold_and_keeps_every_call_and_state(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """Threads call while the threshold flips: no call is lost, an open breaker stays open."""
    path = tmp_path / "app.toml"
    path.write_text(settings(3))
    events: list[Event] = []
    config = load(path, env={}, clock=fake_clock, listeners=[events.append])
    gcs = config.registry.get("gcs")
    fail(gcs, 3)
    assert gcs.state is CircuitState.OPEN
    opened = gcs.snapshot()
    s3 = config.registry.get("s3")
    fail(s3, 2)  # a streak of 2: below every threshold used below

    attempted = [0] * THREADS
    returned = [0] * THREADS
    errors: list[BaseException] = []
    stop = threading.Event()

    def caller(index: int) -> None:
        policy = config.policy("s3")
        while not stop.is_set():
            attempted[index] += 1
            try:
                policy.call(lambda: None)
                returned[index] += 1
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        while min(attempted) < MIN_CALLS:  # every thread is calling
            stop.wait(0.001)
        before = sum(attempted)
        reloads = 0
        for threshold in (50, 7, 50, 9):
            path.write_text(settings(threshold))
            assert config.reload()
            reloads += 1
            assert config.registry.get("gcs") is gcs
        during = sum(attempted) - before
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert (errors, returned) == ([], attempted)  # every call ran and returned
    assert during > 0  # calls ran while the reloads did
    assert config.registry.get("s3") is s3
    assert s3.config.failure_threshold == 9
    assert gcs.config.failure_threshold == 9
    after = gcs.snapshot()
    assert (after.state, after.opened_at, after.reason) == (
        opened.state, opened.opened_at, opened.reason
    )
    with pytest.raises(CircuitOpenError):
        config.policy("gcs").call(lambda: None)  # still open: the reloads did not close it
    assert sum(isinstance(e, ConfigReloaded) for e in events) == reloads


def test_a_lower_threshold_applies_to_the_streak_already_counted(fake_clock: FakeClock) -> None:
    """A breaker with 4 failures in a row opens on the next one once the threshold is 5."""
    config = load({"remotes": {"s3": {"breaker": {"failure_threshold": 10}}}}, env={},
                  clock=fake_clock)
    breaker = config.registry.get("s3")

    def down() -> None:
        raise ConnectionResetError("down")

    for _ in range(4):
        with pytest.raises(ConnectionResetError):
            breaker.call(down)
    assert config.reload({"remotes": {"s3": {"breaker": {"failure_threshold": 5}}}})
    assert breaker.snapshot().consecutive_failures == 4
    assert breaker.state is CircuitState.CLOSED
    with pytest.raises(ConnectionResetError):
        breaker.call(down)
    assert breaker.snapshot().state is CircuitState.OPEN


def test_a_bad_reload_is_refused_and_the_config_in_force_stays(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """An invalid file is refused whole, with an event naming its line and field."""
    path = tmp_path / "app.toml"
    path.write_text(settings(3))
    events: list[Event] = []
    config = load(path, env={}, clock=fake_clock, listeners=[events.append])
    before = config.settings
    breaker = config.registry.get("s3")
    path.write_text(
        "[defaults.breaker]\nfailure_threshold = 0\nopen_for = 1\n\n[remotes.s3]\ntimeout = 9\n"
    )
    assert config.reload() is False
    assert config.settings is before
    assert breaker.config.failure_threshold == 3
    assert breaker.config.open_for == 30
    assert config.section("gcs", "timeout") == 2
    [refused] = events
    assert isinstance(refused, ReloadRefused)
    assert refused.reason == (
        f"{path}:2: defaults.breaker.failure_threshold: Input should be greater than 0 (got 0)"
    )
    assert refused.fields()["event"] == "config.reload_refused"
    assert "the configuration in force stays" in refused.describe()

    path.write_text("not = [valid")
    assert config.reload() is False
    assert "not valid TOML" in events[-1].fields()["reason"]  # type: ignore[operator]
    path.unlink()
    assert config.reload() is False
    assert "cannot read it" in events[-1].fields()["reason"]  # type: ignore[operator]
    assert config.settings is before


def test_a_reload_whose_override_does_not_merge_changes_no_breaker(
    fake_clock: FakeClock,
) -> None:
    """If one override cannot merge with the new defaults, no breaker is reconfigured at all."""
    config = load({"remotes": {"a": {}, "b": {}}}, env={}, clock=fake_clock)
    a, b = config.registry.get("a"), config.registry.get("b")
    bad = {
        "defaults": {"breaker": {"failure_rate": 0.5, "window": 10, "failure_threshold": 2}},
        "remotes": {"a": {}, "b": {"breaker": {"minimum_calls": 50}}},
    }
    assert config.reload(bad) is False
    assert a.config.failure_threshold == b.config.failure_threshold == 5


def test_poll_reloads_a_changed_file_once_per_interval_of_the_clock(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """poll() looks at the file every poll_interval seconds, reloads if it changed."""
    path = tmp_path / "app.toml"
    path.write_text(settings(3))
    events: list[Event] = []
    config = load(path, env={}, clock=fake_clock, poll_interval=5, listeners=[events.append])
    assert config.poll() is None  # not due
    path.write_text(settings(8))
    fake_clock.advance(4)
    assert config.poll() is None  # not due yet
    assert config.breaker("s3").failure_threshold == 3
    fake_clock.advance(1)
    assert config.poll() is True
    assert config.breaker("s3").failure_threshold == 8
    assert events == [ConfigReloaded(str(path), ("gcs", "s3"))]
    fake_clock.advance(5)
    assert config.poll() is None  # unchanged
    path.write_text("[remotes.s3]\nretry = { attempts = 0 }\n")
    fake_clock.advance(5)
    assert config.poll() is False
    fake_clock.advance(5)
    assert config.poll() is None  # the refused file is not tried again until it changes
    assert len(events) == 2


def test_reload_takes_a_new_mapping_only_for_a_mapping() -> None:
    """A file's configuration reloads its file; a mapping's may be given a new mapping."""
    config = load({"remotes": {"a": {}}}, env={})
    assert config.poll() is None
    with pytest.raises(TypeError, match="takes a new mapping"):
        config.reload("other.toml")


async def test_a_live_policy_follows_a_reload_of_its_retry_and_timeout(
    fake_clock: FakeClock,
) -> None:
    """live() runs each call through the pipeline in force: new attempts apply at once."""
    def remote(attempts: int) -> dict[str, object]:
        return {"remotes": {"s3": {"retry": {"attempts": attempts,
                                             "backoff": {"initial": 1, "jitter": "none"}},
                                   "breaker": {"failure_threshold": 50}, "timeout": 5}}}

    config = load(remote(2), env={}, clock=fake_clock)
    live = config.live("s3")
    first = config.policy("s3")
    assert config.policy("s3") is first  # built once per version of the settings
    failures: list[int] = []

    def flaky() -> str:
        failures.append(1)
        if len(failures) % 3:
            raise ConnectionResetError("reset")
        return "ok"

    with pytest.raises(ConnectionResetError):
        live.call(flaky)  # 2 attempts: both fail
    assert config.reload(remote(4))
    assert config.policy("s3") is not first
    failures.clear()
    assert live.call(flaky) == "ok"  # 4 attempts now: the third succeeds
    assert len(failures) == 3

    @live
    def decorated() -> str:
        return flaky()

    @live
    async def adecorated() -> str:
        return flaky()

    failures.clear()
    assert decorated() == "ok"
    failures.clear()
    assert await adecorated() == "ok"
    failures.clear()

    async def aflaky() -> str:
        return flaky()

    assert await live.acall(aflaky) == "ok"
    assert live.pipeline is config.policy("s3")
    assert repr(live) == "LivePolicy('s3')"
    with pytest.raises(TypeError, match="non-empty str"):
        config.live("")

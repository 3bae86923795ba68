"""RedisRetryBudget on a real redis-server: one budget for many processes."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from resilience import Backoff, BudgetSnapshot, RetryBudget, RetryPolicy
from resilience.testing import FakeClock
from servers import RedisServer

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

    from resilience.stores.redis._budget import RedisRetryBudget

Make = Callable[..., "RedisRetryBudget"]


# The client library is imported once the server fixture has run: without it, the
# fixture skips (or fails under CI=true) with the reason, instead of the whole module.
def _budget(url_or_client: Any, **kwargs: Any) -> RedisRetryBudget:
    from resilience.stores.redis._budget import RedisRetryBudget  # noqa: PLC0415

    return RedisRetryBudget(url_or_client, **kwargs)


@pytest.fixture
def make(redis_server: RedisServer) -> Iterator[Make]:
    """Opens budgets on the test's server (like processes of one fleet); closes them."""
    opened: list[RedisRetryBudget] = []

    def opener(**kwargs: Any) -> RedisRetryBudget:
        budget = _budget(redis_server.url, **kwargs)
        opened.append(budget)
        return budget

    yield opener
    for budget in opened:
        budget.close()


def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0) -> float:
    """Poll until ``condition()`` (a real server's clock decides); the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - start


def _messages(caplog: pytest.LogCaptureFixture, level: int, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "resilience" and r.levelno == level and name in r.getMessage()
    ]


def test_two_budgets_with_one_name_share_calls_and_retries(make: Make) -> None:
    """Calls counted by one allow retries on the other; retries spent on one are spent."""
    a = make(name="api", ratio=0.5, min_per_second=0)
    b = make(name="api", ratio=0.5, min_per_second=0)
    stranger = make(name="other", ratio=0.5, min_per_second=0)
    for _ in range(10):
        a.record_call()
    # Nobody asks a: its flusher sends the calls within flush_every.
    wait_until(lambda: b.snapshot().calls == 10)
    assert [b.try_retry() for _ in range(3)] == [True] * 3
    assert [a.try_retry() for _ in range(3)] == [True, True, False]
    assert not b.try_retry()
    # The fleet's calls and retries; each process's own refusals.
    assert a.snapshot() == b.snapshot() == BudgetSnapshot(10, 5, 5.0, rejected=1)
    assert stranger.snapshot() == BudgetSnapshot(calls=0, retries=0, allowed=0.0)


def test_record_call_sends_nothing_until_a_batch(make: Make, redis_server: RedisServer) -> None:
    """A thousand calls cost no command; the next snapshot sends them in one script call."""
    import redis  # noqa: PLC0415

    budget = make(name="quiet", ratio=0.1, min_per_second=0, flush_every=60)
    probe = redis.Redis.from_url(redis_server.url)

    def scripts() -> int:
        stats = probe.info("commandstats")
        return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))

    budget.snapshot()  # loads the script
    before = scripts()
    for _ in range(1000):
        budget.record_call()
    assert scripts() == before
    assert budget.snapshot() == BudgetSnapshot(calls=1000, retries=0, allowed=100.0)
    assert scripts() == before + 1
    probe.close()


@pytest.mark.alone  # the slide is timed in real time, within half a window
def test_the_window_slides_on_the_server_clock(make: Make, redis_server: RedisServer) -> None:
    """Retries leave the window after `window` seconds of the server's time, not before."""
    import redis  # noqa: PLC0415

    budget = make(name="slide", ratio=0.5, min_per_second=2, window=1.0)
    assert [budget.try_retry() for _ in range(3)] == [True, True, False]
    probe = redis.Redis.from_url(redis_server.url)
    assert 0 < probe.pttl("resilience:budget:{slide}") <= 2000  # two windows
    probe.close()
    took = wait_until(budget.try_retry, timeout=3)
    assert 0.7 < took < 1.5
    snapshot = budget.snapshot()
    assert (snapshot.calls, snapshot.retries, snapshot.allowed) == (0, 1, 2.0)
    assert snapshot.rejected >= 1  # one per poll while the window was spent


def _worker(url: str, name: str, barrier: Barrier, results: Any) -> None:
    budget = _budget(url, name=name, ratio=0.25, min_per_second=0, window=60)
    for _ in range(20):
        budget.record_call()
    budget.snapshot()  # every call is in before any process retries
    barrier.wait(timeout=30)
    results.put(sum(budget.try_retry() for _ in range(20)))
    budget.close()


def test_processes_never_take_more_than_the_fleet_allows(
    make: Make, redis_server: RedisServer
) -> None:
    """4 processes, 80 calls at ratio 0.25: exactly 20 retries granted among them."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(redis_server.url, "fleet", barrier, results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    granted = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert sum(granted) == 20
    reader = make(name="fleet", ratio=0.25, min_per_second=0, window=60)
    assert reader.snapshot() == BudgetSnapshot(calls=80, retries=20, allowed=20.0)


def test_an_outage_falls_back_to_this_process_then_sharing_resumes(
    make: Make, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Without Redis the budget decides alone, warning once; back, it shares again, telling once."""
    caplog.set_level(logging.INFO, logger="resilience")
    kwargs: dict[str, Any] = {"ratio": 0.5, "min_per_second": 0, "window": 30}
    budget = make(name="outage", **kwargs)
    local = RetryBudget(**kwargs)  # what this process alone would decide

    def call() -> None:
        budget.record_call()
        local.record_call()

    for _ in range(4):
        call()
    assert budget.try_retry() is local.try_retry() is True

    redis_server.kill()
    for _ in range(6):
        call()
    decisions = [(budget.try_retry(), local.try_retry()) for _ in range(6)]
    assert decisions == [(True, True)] * 4 + [(False, False)] * 2
    assert budget.snapshot() == local.snapshot() == BudgetSnapshot(10, 5, 5.0, rejected=2)
    time.sleep(0.3)  # the flusher probes the dead server a few times: still one warning
    [warning] = _messages(caplog, logging.WARNING, "'outage'")
    assert "this process's calls and retries only" in warning
    assert "resumes sharing" in warning
    assert _messages(caplog, logging.INFO, "'outage'") == []

    redis_server.start()  # empty: what was sent before the outage died with it
    other = make(name="outage", **kwargs)
    # The 6 calls counted during the outage were kept and reach the new server.
    wait_until(lambda: other.snapshot().calls == 6)
    wait_until(lambda: len(_messages(caplog, logging.INFO, "'outage'")) == 1)
    assert [other.try_retry() for _ in range(3)] == [True, True, True]
    assert not budget.try_retry()  # other's retries count here: shared again
    assert budget.snapshot() == BudgetSnapshot(6, 3, 3.0, rejected=3)
    assert len(_messages(caplog, logging.WARNING, "'outage'")) == 1
    assert len(_messages(caplog, logging.INFO, "'outage'")) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": ""}, ValueError, "name must not be empty"),
        ({"name": 7}, TypeError, "name must be a str"),
        ({"name": "x", "namespace": ""}, ValueError, "namespace must not be empty"),
        ({"name": "x", "namespace": "a{b}"}, ValueError, "namespace must not contain braces"),
        ({"name": "x", "flush_every": 0}, ValueError, "flush_every must be more than 0"),
        ({"name": "x", "flush_every": -1.0}, ValueError, "flush_every must be more than 0"),
        ({"name": "x", "flush_every": "1"}, TypeError, "flush_every must be a number"),
    ],
)
def test_bad_arguments_are_named(
    redis_server: RedisServer, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Bad names, namespaces and flush intervals are refused, naming the argument."""
    with pytest.raises(error, match=match):
        _budget(redis_server.url, **kwargs)


@pytest.mark.parametrize(("field", "value"), [("ratio", 1.5), ("window", 0)])
def test_bad_budget_fields_name_the_field(
    redis_server: RedisServer, field: str, value: float
) -> None:
    """A bad ratio or window is a ValidationError naming that field alone."""
    with pytest.raises(ValidationError) as info:
        _budget(redis_server.url, name="x", **{field: value})
    assert {e["loc"][0] for e in info.value.errors()} == {field}


def test_a_url_or_a_client_only(redis_server: RedisServer) -> None:
    """The budget takes a redis:// URL or a client, and refuses anything else."""
    with pytest.raises(TypeError, match="needs a redis:// URL"):
        _budget(42, name="x")
    with pytest.raises(ValueError, match="cannot use the URL"):
        _budget("http://127.0.0.1/", name="x")


def test_repr_hides_the_password(redis_server: RedisServer) -> None:
    """The repr hides the URL's password, and a client passed in is left open."""
    import redis  # noqa: PLC0415

    url = f"redis://app:s3cret@127.0.0.1:{redis_server.port}/0"
    with _budget(url, name="api", ratio=0.1, min_per_second=1, window=5) as budget:
        shown = repr(budget)
    assert "s3cret" not in shown
    assert shown == (
        f"RedisRetryBudget('redis://app:***@127.0.0.1:{redis_server.port}/0', name='api', "
        "ratio=0.1, min_per_second=1.0, window=5.0)"
    )
    client = redis.Redis.from_url(redis_server.url)
    with _budget(client, name="api") as budget:
        assert repr(budget).startswith("RedisRetryBudget('<redis.Redis client>', name='api'")
        assert budget.snapshot().calls == 0
    assert client.ping()  # a client passed in is left open
    client.close()


def test_a_retry_policy_stops_when_the_fleet_budget_is_spent(
    make: Make, fake_clock: FakeClock,
) -> None:
    """A policy on one process retries only as far as the fleet's calls allow."""
    mine = make(name="remote", ratio=0.5, min_per_second=0)
    theirs = make(name="remote", ratio=0.5, min_per_second=0)
    for _ in range(4):
        theirs.record_call()
    theirs.snapshot()  # sent: 4 calls fleet-wide
    policy = RetryPolicy(attempts=10, backoff=Backoff(initial=0), budget=mine, clock=fake_clock)
    attempts = 0

    def down() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError) as info:
        policy.call(down)
    assert attempts == 3  # 5 calls in the fleet allow 2.5 retries: 2 taken
    assert "retry budget spent (RedisRetryBudget(" in info.value.__notes__[0]
    assert not theirs.try_retry()
    assert theirs.snapshot() == BudgetSnapshot(calls=5, retries=2, allowed=2.5, rejected=1)


def test_a_budget_dropped_unclosed_is_collected_and_its_thread_ends(
    redis_server: RedisServer,
) -> None:
    """A budget dropped without close() is collected, and its flusher thread ends."""
    budget = _budget(redis_server.url, name="dropped", flush_every=0.01)
    [thread] = [t for t in threading.enumerate() if t.name == "resilience-budget-dropped"]
    del budget
    gc.collect()
    thread.join(timeout=2)
    assert not thread.is_alive()


def test_the_budget_durations_accept_a_timedelta(make: Make) -> None:
    """window and flush_every take a timedelta as well as seconds."""
    budget = make(name="td", window=timedelta(seconds=5), flush_every=timedelta(milliseconds=50))
    assert budget.config.window == 5.0
    budget.record_call()
    assert budget.snapshot().calls == 1

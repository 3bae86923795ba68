"""Shared checkpoint stores on real servers: Redis and PostgreSQL, records and leases."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from resilience import (
    BatchProcessor,
    CheckpointError,
    CheckpointStore,
    ItemRecord,
    JobBusyError,
    JobLeases,
    LeaseLostError,
)
from servers import RedisServer

if TYPE_CHECKING:
    from resilience.stores.postgres._checkpoint import PostgresCheckpointStore
    from resilience.stores.redis._checkpoint import RedisCheckpointStore

    Store = RedisCheckpointStore | PostgresCheckpointStore


# The client libraries are imported once a server fixture has run: without one, the
# fixture skips (or fails under CI=true) with the reason, instead of the whole module.
def _redis_store(url: str, **kwargs: Any) -> RedisCheckpointStore:
    from resilience.stores.redis._checkpoint import RedisCheckpointStore  # noqa: PLC0415

    return RedisCheckpointStore(url, **kwargs)


def _pg_store(conninfo: Any, **kwargs: Any) -> PostgresCheckpointStore:
    from resilience.stores.postgres._checkpoint import PostgresCheckpointStore  # noqa: PLC0415

    return PostgresCheckpointStore(conninfo, **kwargs)


def _pg_named(dsn: str) -> tuple[str, str]:
    """``dsn`` with an application name of its own, and that name: to find its backend."""
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415

    name = f"resilience-test-{uuid.uuid4().hex[:12]}"
    return make_conninfo(dsn, application_name=name), name


def _pg_terminate(dsn: str, application_name: str) -> None:
    """End the server backends of the connections opened under ``application_name``."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        )


def table(prefix: str, name: str) -> Any:
    """The identifier of one of a store's tables, for SQL composed in the tests."""
    from psycopg import sql  # noqa: PLC0415

    return sql.Identifier(f"{prefix}_{name}")


def drop_tables(dsn: str, prefix: str) -> None:
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}, {}").format(
                table(prefix, "checkpoints"), table(prefix, "leases")
            )
        )


def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0) -> float:
    """Poll until ``condition()`` (a real server's clock decides); the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - start


class Backend:
    """Opens stores on one Redis server, or on one set of PostgreSQL tables."""

    def __init__(self, name: str, opener: Callable[[], Store]) -> None:
        self.name = name
        self._opener = opener
        self.opened: list[Store] = []

    def open(self) -> Store:
        store = self._opener()
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture
def pg_prefix(pg_dsn: str) -> Iterator[str]:
    """A table prefix of the test's own; its tables are dropped afterwards."""
    prefix = f"rt_{uuid.uuid4().hex[:12]}"
    yield prefix
    drop_tables(pg_dsn, prefix)


@pytest.fixture(params=["redis", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        made = Backend("redis", lambda: _redis_store(server.url))
    else:
        dsn: str = request.getfixturevalue("pg_dsn")
        prefix: str = request.getfixturevalue("pg_prefix")
        made = Backend("postgres", lambda: _pg_store(dsn, table_prefix=prefix))
    yield made
    made.close_all()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


# ---------------------------------------------------------------- records


RECORDS = [
    ItemRecord(1, "done"),
    ItemRecord("1", "done", attempts=3),
    ItemRecord(
        "failed-item",
        "failed",
        kind="partial",
        reason="some parts failed",
        attempts=4,
        error="PartialFailure: 2 of 5",
        details='{"a": "PERMANENT: ValueError: bad", "b": "RETRYABLE: TimeoutError"}',
    ),
    ItemRecord(-7, "deferred", reason="circuit 'api' is open", attempts=0),
    ItemRecord(2**62, "failed", kind="permanent", reason="bad input", error="ValueError: x"),
    ItemRecord('quote " colon : {brace}', "done"),
    ItemRecord("ключ ✓", "done"),
    ItemRecord("", "done"),
]


def test_round_trip_keeps_every_field_and_key_type(store: Store) -> None:
    """Committed records load back whole, each key with its own type (1 and "1" are two items)."""
    assert isinstance(store, CheckpointStore)
    assert isinstance(store, JobLeases)
    assert store.load("job") == {}
    store.commit("job", RECORDS)
    store.commit("job", [])  # nothing to record: nothing changes
    loaded = store.load("job")
    assert loaded == {r.key: r for r in RECORDS}
    for record in RECORDS:  # 1 and "1" are two items, each with its own type
        assert type(loaded[record.key].key) is type(record.key)
        assert loaded[record.key] == record


def test_a_later_record_of_a_key_replaces_the_earlier(backend: Backend) -> None:
    """A later record of a key replaces the earlier one, across stores and within one commit."""
    store, other = backend.open(), backend.open()
    store.commit("job", [ItemRecord("a", "failed", kind="retryable", error="E", attempts=2)])
    other.commit("job", [ItemRecord("a", "done", attempts=3), ItemRecord("b", "done")])
    assert store.load("job") == {
        "a": ItemRecord("a", "done", attempts=3),
        "b": ItemRecord("b", "done"),
    }
    # Within one commit the last record of a key wins.
    store.commit("job", [ItemRecord(5, "failed", kind="permanent"), ItemRecord(5, "done")])
    assert store.load("job")[5] == ItemRecord(5, "done")


def test_jobs_are_independent(store: Store) -> None:
    """Jobs keep their own records, and forgetting one leaves the others."""
    store.commit("one", [ItemRecord(1, "done")])
    store.commit("two", [ItemRecord(1, "failed", kind="permanent", error="E")])
    store.commit("one:two", [ItemRecord(2, "done")])  # a job name that looks like a path
    assert store.load("one") == {1: ItemRecord(1, "done")}
    assert store.load("two")[1].status == "failed"
    assert store.jobs() == {"one": 1, "two": 1, "one:two": 1}
    store.forget("one")
    assert store.load("one") == {}
    assert store.load("two")[1].status == "failed"
    assert store.load("one:two") == {2: ItemRecord(2, "done")}


def test_keys_must_be_str_or_int(store: Store) -> None:
    """A key that is neither str nor int (a bool, a float) is refused and nothing is written."""
    with pytest.raises(TypeError, match=r"'job'.*str or int"):
        store.commit("job", [ItemRecord(True, "done")])
    with pytest.raises(TypeError, match="str or int"):
        store.commit("job", [ItemRecord(1.5, "done")])  # type: ignore[arg-type]
    assert store.load("job") == {}


# ----------------------------------------------------------------- leases


def test_a_lease_is_exclusive_and_the_busy_error_names_the_holder(backend: Backend) -> None:
    """A job's lease is exclusive; JobBusyError names the holder and how long it has left."""
    store, other = backend.open(), backend.open()
    token = store.acquire("job", owner="worker-1", ttl=30)
    assert isinstance(token, int)
    with pytest.raises(JobBusyError) as busy:
        other.acquire("job", owner="worker-2", ttl=30)
    message = str(busy.value)
    assert "'job'" in message
    assert "'worker-1'" in message
    assert " s more" in message
    seconds = float(message.split(" for ", 1)[1].split(" s more", 1)[0])
    assert 25 < seconds <= 30
    # Another job is free.
    other.acquire("other-job", owner="worker-2", ttl=30)


def test_each_store_words_a_busy_or_lost_lease_and_a_bad_key_alike(store: Store) -> None:
    """A busy job, a lost lease and a bad key read the same in each store, named in each."""
    with pytest.raises(TypeError) as bad:
        store.commit("job", [ItemRecord(True, "done")])
    assert str(bad.value) == (
        "batch job 'job': item key True is a bool; checkpoint keys must be str or int"
    )
    token = store.acquire("job", owner="w", ttl=30)
    with pytest.raises(JobBusyError) as busy:
        store.acquire("job", owner="x", ttl=30)
    assert re.fullmatch(
        "batch job 'job' cannot be run now: worker 'w' holds its lease in "
        rf"{re.escape(repr(store))} for (\d+\.\d) s more\. Wait for that worker to finish "
        r"\(if it died, its lease lapses by itself within \1 s\), or run another job",
        str(busy.value),
    )
    with pytest.raises(JobBusyError) as forgetting:
        store.forget("job")
    assert str(forgetting.value).startswith("batch job 'job' cannot be forgotten now: ")
    assert str(forgetting.value).endswith(", then try again to have it forgotten")
    store.release("job", token)
    with pytest.raises(LeaseLostError) as lost:
        store.renew("job", token, ttl=30)
    assert str(lost.value).startswith(
        f"batch job 'job': the lease with token {token} in {store!r} is no longer this "
        "worker's (it expired or was released, "
    )
    assert str(lost.value).endswith(
        "and no worker holds it now), so nothing was renewed. Another worker runs (or will "
        "run) the job and redoes what this one did not commit; run it again later to "
        "resume, and renew leases more often than their ttl"
    )


def test_the_same_owner_takes_its_lease_again_with_a_new_token(store: Store) -> None:
    """An owner taking its lease again gets a new token, which fences out the old one."""
    first = store.acquire("job", owner="w", ttl=30)
    second = store.acquire("job", owner="w", ttl=30)
    assert second > first
    with pytest.raises(LeaseLostError, match="token"):
        store.commit_leased("job", [ItemRecord(1, "done")], token=first, ttl=30)
    store.commit_leased("job", [ItemRecord(2, "done")], token=second, ttl=30)
    assert set(store.load("job")) == {2}


def test_an_expired_lease_is_taken_over_and_its_old_holder_is_fenced(backend: Backend) -> None:
    """An expired lease is taken over, and its old holder can neither commit nor renew."""
    old, new = backend.open(), backend.open()
    stale = old.acquire("job", owner="old", ttl=0.3)
    old.commit_leased("job", [ItemRecord("before", "done")], token=stale, ttl=0.3)
    with pytest.raises(JobBusyError):
        new.acquire("job", owner="new", ttl=30)
    tokens: list[int] = []

    def taken() -> bool:
        try:
            tokens.append(new.acquire("job", owner="new", ttl=30))
        except JobBusyError:
            return False
        return True

    waited = wait_until(taken)
    assert waited > 0.1, "taken over before the lease's ttl passed"
    assert tokens[0] > stale
    with pytest.raises(LeaseLostError) as lost:
        old.commit_leased("job", [ItemRecord("stale", "done")], token=stale, ttl=30)
    assert "'new'" in str(lost.value)
    assert "nothing was committed" in str(lost.value)
    with pytest.raises(LeaseLostError, match="nothing was renewed"):
        old.renew("job", stale, ttl=30)
    old.release("job", stale)  # not its lease any more: nothing happens
    with pytest.raises(JobBusyError, match="'new'"):
        old.acquire("job", owner="old", ttl=30)
    assert set(new.load("job")) == {"before"}
    new.commit_leased("job", [ItemRecord("after", "done")], token=tokens[0], ttl=30)
    assert set(old.load("job")) == {"before", "after"}


def test_an_expired_lease_cannot_be_renewed_even_if_nobody_took_it(store: Store) -> None:
    """A lease that expired cannot be renewed or committed under, even if nobody took it."""
    token = store.acquire("job", owner="w", ttl=0.2)

    def lapsed() -> bool:
        try:
            store.renew("job", token, ttl=0.2)
        except LeaseLostError:
            return True
        time.sleep(0.3)  # longer than the ttl: the next renewal comes too late
        return False

    wait_until(lapsed)
    with pytest.raises(LeaseLostError, match="expired or was released"):
        store.commit_leased("job", [ItemRecord(1, "done")], token=token, ttl=30)
    assert store.load("job") == {}


def test_renewing_and_committing_keep_the_lease(backend: Backend) -> None:
    """Renewals and commits, even empty ones, keep the lease for as long as they come."""
    store, other = backend.open(), backend.open()
    token = store.acquire("job", owner="w", ttl=0.3)
    deadline = time.monotonic() + 1.0  # over three ttls
    step = 0
    while time.monotonic() < deadline:
        if step % 2:
            store.renew("job", token, ttl=0.3)
        else:
            store.commit_leased("job", [], token=token, ttl=0.3)  # no records: still renews
        with pytest.raises(JobBusyError):
            other.acquire("job", owner="other", ttl=30)
        step += 1
        time.sleep(0.1)
    assert store.load("job") == {}


def test_release_frees_the_job_at_once_and_tokens_never_repeat(backend: Backend) -> None:
    """release() frees the job at once, and fencing tokens only grow, even across forget()."""
    store, other = backend.open(), backend.open()
    tokens = []
    for round_ in range(6):
        owner, mine = (f"w{round_}", store if round_ % 2 else other)
        token = mine.acquire("job", owner=owner, ttl=30)
        tokens.append(token)
        mine.commit_leased("job", [ItemRecord(round_, "done")], token=token, ttl=30)
        mine.release("job", token)
        if round_ == 3:
            store.forget("job")  # starting over keeps the fencing counter
    assert tokens == sorted(set(tokens)), f"tokens {tokens} did not strictly increase"
    assert set(store.load("job")) == {4, 5}


def test_forget_refuses_while_a_worker_holds_the_lease(store: Store) -> None:
    """forget() refuses while a worker holds the job's lease, and works once it is released."""
    token = store.acquire("job", owner="w", ttl=30)
    store.commit_leased("job", [ItemRecord(1, "done")], token=token, ttl=30)
    with pytest.raises(JobBusyError, match=r"'job' cannot be forgotten.*'w'"):
        store.forget("job")
    assert set(store.load("job")) == {1}
    store.release("job", token)
    store.forget("job")
    assert store.load("job") == {}
    assert store.acquire("job", owner="w", ttl=30) > token


def test_a_lease_needs_a_positive_ttl(store: Store) -> None:
    """A lease with a ttl of zero is refused."""
    with pytest.raises(ValueError, match="ttl"):
        store.acquire("job", owner="w", ttl=0)


# -------------------------------------------------------- BatchProcessor


def test_a_batch_runs_end_to_end_on_the_shared_store(backend: Backend) -> None:
    """A batch runs to the end on a shared store, records every item and releases its lease."""
    seen: list[int] = []
    processor = BatchProcessor(
        "copy", seen.append, store=backend.open(), checkpoint_every=25, lease=5
    )
    result = processor.run(range(200))
    assert result.succeeded == 200
    assert not result.aborted
    assert sorted(seen) == list(range(200))
    records = backend.open().load("copy")
    assert set(records) == set(range(200))
    assert all(r.status == "done" for r in records.values())
    # The run released its lease: another worker may take the job at once.
    backend.open().acquire("copy", owner="next", ttl=5)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_an_interrupted_batch_resumes(backend: Backend, concurrency: int) -> None:
    """An interrupted batch commits what it finished, and the next run does only the rest."""
    seen: list[int] = []

    def interrupted(item: int) -> None:
        if item == 120:
            raise KeyboardInterrupt
        seen.append(item)

    first = BatchProcessor(
        "copy", interrupted, store=backend.open(), checkpoint_every=25,
        concurrency=concurrency, lease=5,
    )
    with pytest.raises(KeyboardInterrupt):
        first.run(range(200))
    done = set(backend.open().load("copy"))
    assert done == set(seen), "what finished is committed however the run ends"
    assert len(done) >= 100

    again: list[int] = []
    second = BatchProcessor(
        "copy", again.append, store=backend.open(), checkpoint_every=25, lease=5
    )
    result = second.run(range(200))  # no JobBusyError: the interrupted run released
    assert result.skipped == len(done)
    assert set(again) == set(range(200)) - done
    assert set(seen) | set(again) == set(range(200))
    assert set(backend.open().load("copy")) == set(range(200))


def test_a_second_worker_on_a_running_job_is_told_it_is_busy(backend: Backend) -> None:
    """A second worker on a running job gets JobBusyError naming the holder."""
    busy: list[JobBusyError] = []
    other = BatchProcessor("copy", lambda _: None, store=backend.open(), lease=5)

    def handler(item: int) -> None:
        if item == 3:
            with pytest.raises(JobBusyError) as raised:
                other.run(range(10))
            busy.append(raised.value)

    first = BatchProcessor("copy", handler, store=backend.open(), lease=5)
    assert first.run(range(10)).succeeded == 10
    assert len(busy) == 1
    assert "'copy'" in str(busy[0])
    assert f":{os.getpid()}:" in str(busy[0]), "the holder is named"
    assert other.run(range(10)).skipped == 10  # free again once the first finished


def test_the_lease_is_renewed_while_a_long_item_runs(backend: Backend) -> None:
    """The lease is renewed while an item runs longer than the lease."""
    outcomes: list[str] = []
    other = BatchProcessor("copy", lambda _: None, store=backend.open(), lease=0.3)

    def slow(item: int) -> None:
        time.sleep(1.0)  # over three leases: only the renewal thread keeps the job
        try:
            other.run(range(2))
        except JobBusyError:
            outcomes.append("busy")

    first = BatchProcessor("copy", slow, store=backend.open(), lease=0.3)
    result = first.run(range(1))
    assert result.succeeded == 1
    assert not result.aborted
    assert outcomes == ["busy"]


def test_a_worker_whose_lease_was_taken_over_stops_and_commits_nothing_more(
    redis_server: RedisServer,
) -> None:
    """A worker whose lease a peer took over stops, and commits nothing after the takeover."""
    import redis  # noqa: PLC0415

    raw = redis.Redis.from_url(redis_server.url)
    other = _redis_store(redis_server.url)
    seen: list[int] = []

    def handler(item: int) -> None:
        seen.append(item)
        if item == 30:  # the lease vanishes (a partition outlasting it) and a peer takes it
            raw.delete("resilience:lease:{copy}")
            other.acquire("copy", owner="peer", ttl=30)

    store = _redis_store(redis_server.url)
    result = BatchProcessor("copy", handler, store=store, checkpoint_every=25, lease=30).run(
        range(100)
    )
    assert result.aborted
    assert result.reason is not None
    assert "another worker runs the job now" in result.reason
    # Items 0-24 were committed before the takeover; nothing after it was.
    assert set(other.load("copy")) == set(range(25))
    assert len(seen) < 100
    raw.close()
    other.close()
    store.close()


def test_a_failing_load_releases_the_lease(redis_server: RedisServer) -> None:
    """A run whose load fails releases its lease at once."""
    import redis  # noqa: PLC0415

    raw = redis.Redis.from_url(redis_server.url)
    raw.set("resilience:checkpoints:{copy}", "not a hash")  # load() refuses this key
    store = _redis_store(redis_server.url)
    with pytest.raises(CheckpointError):
        BatchProcessor("copy", lambda _: None, store=store, lease=30).run(range(3))
    raw.delete("resilience:checkpoints:{copy}")
    store.acquire("copy", owner="next", ttl=30)  # free at once, not after 30 s
    raw.close()
    store.close()


# -------------------------------------------------------------- redacted


def test_redis_repr_and_errors_hide_the_password(redis_server: RedisServer) -> None:
    """The Redis store's repr and errors hide the password of its URL."""
    url = redis_server.url.replace("redis://", "redis://user:s3cret@")
    store = _redis_store(url)
    assert "s3cret" not in repr(store)
    assert "***" in repr(store)
    with pytest.raises(CheckpointError) as failed:
        store.load("job")  # the server has no such user
    assert "s3cret" not in str(failed.value)
    assert "'job'" in str(failed.value)
    store.close()


def test_postgres_repr_and_errors_hide_the_password(pg_dsn: str, pg_prefix: str) -> None:
    """The PostgreSQL store's repr and errors hide the password of its conninfo."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415

    params = conninfo_to_dict(pg_dsn)
    secret = str(params.get("password") or "s3cret-password")
    store = _pg_store(make_conninfo(pg_dsn, password=secret), table_prefix=pg_prefix)
    assert secret not in repr(store)
    store.close()
    with pytest.raises(CheckpointError, match="cannot connect") as failed:
        _pg_store(f"host=127.0.0.1 port=1 dbname=x password={secret}")
    assert secret not in str(failed.value)


# ------------------------------------------------------------ Redis only


def test_redis_key_layout(redis_server: RedisServer) -> None:
    """The Redis store keeps a job in three keys of one hash slot, records as JSON."""
    import redis  # noqa: PLC0415

    store = _redis_store(redis_server.url, namespace="app")
    token = store.acquire("my job", owner="w", ttl=30)
    both = [ItemRecord(1, "done"), ItemRecord("1", "done")]
    store.commit_leased("my job", both, token=token, ttl=30)
    raw = redis.Redis.from_url(redis_server.url, decode_responses=True)
    assert sorted(raw.keys("*")) == [
        "app:checkpoints:{my job}",
        "app:fence:{my job}",
        "app:lease:{my job}",
    ]
    assert raw.hgetall("app:checkpoints:{my job}") == {
        "1": '{"status":"done"}',
        '"1"': '{"status":"done"}',
    }
    assert raw.hgetall("app:lease:{my job}") == {"owner": "w", "token": str(token)}
    assert 29_000 < raw.pttl("app:lease:{my job}") <= 30_000
    assert store.keys("my job")[0] == "app:checkpoints:{my job}"
    raw.close()
    store.close()


def test_redis_commit_leased_is_one_atomic_script(redis_server: RedisServer) -> None:
    """A leased Redis commit is one script: readers see it all, lease renewed, or nothing."""
    import redis  # noqa: PLC0415

    store = _redis_store(redis_server.url)
    checkpoints, lease, _ = store.keys("job")
    token = store.acquire("job", owner="w", ttl=2)
    store.commit_leased("job", [], token=token, ttl=2)  # the script is loaded now
    raw = redis.Redis.from_url(redis_server.url, decode_responses=True)
    records = [ItemRecord(i, "done") for i in range(20_000)]

    # A reader in a loop: records and the lease's extension appear together, or not at all.
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        reader = redis.Redis.from_url(redis_server.url)
        while not stop.is_set():
            pipe = reader.pipeline(transaction=True)  # MULTI/EXEC: one consistent view
            pipe.hlen(checkpoints)
            pipe.pttl(lease)
            hlen, pttl = pipe.execute()
            seen.append((hlen, pttl))
        reader.close()

    watcher = threading.Thread(target=watch)
    with raw.monitor() as monitor:  # type: ignore[no-untyped-call]
        watcher.start()
        wait_until(lambda: len(seen) > 5)
        store.commit_leased("job", records, token=token, ttl=60)
        wait_until(lambda: seen[-1][0] > 0)
        stop.set()
        watcher.join(timeout=10)
        raw.echo("end of the commit")
        commands = []
        while not (command := monitor.next_command())["command"].endswith("end of the commit"):
            commands.append(command)
    assert not watcher.is_alive()
    assert {hlen for hlen, _ in seen} == {0, 20_000}, "a reader saw part of a commit"
    for hlen, pttl in seen:
        assert (pttl > 2_000) == (hlen == 20_000), "records and lease apart"
    # One command from the store; the writes all happened inside the script.
    ours = [c["command"] for c in commands if c["client_type"] != "lua"]
    watching = ("HELLO", "CLIENT", "MULTI", "HLEN", "PTTL", "EXEC")  # connecting, reading
    ours = [c for c in ours if not c.startswith(watching)]
    assert len(ours) == 1
    assert ours[0].startswith("EVALSHA")
    inside = {c["command"].split()[0] for c in commands if c["client_type"] == "lua"}
    assert inside == {"HMGET", "TYPE", "PEXPIRE", "HSET"}
    raw.close()
    store.close()


def test_redis_refuses_a_key_of_another_program_and_leaves_it(redis_server: RedisServer) -> None:
    """The Redis store refuses a key of another program, renews nothing and leaves the key."""
    import redis  # noqa: PLC0415

    store = _redis_store(redis_server.url)
    checkpoints, lease, _ = store.keys("job")
    raw = redis.Redis.from_url(redis_server.url, decode_responses=True)
    raw.set(checkpoints, "not ours")
    token = store.acquire("job", owner="w", ttl=5)
    with pytest.raises(CheckpointError, match="holds a Redis string"):
        store.commit_leased("job", [ItemRecord(1, "done")], token=token, ttl=60)
    assert raw.pttl(lease) <= 5_000, "a refused commit must not renew the lease either"
    with pytest.raises(CheckpointError, match="'job'"):
        store.load("job")
    store.release("job", token)
    with pytest.raises(CheckpointError, match="another namespace"):
        store.forget("job")
    assert raw.get(checkpoints) == "not ours"

    raw.hset(store.keys("bad")[0], "not json", "{}")
    with pytest.raises(CheckpointError, match="not a checkpoint record"):
        store.load("bad")
    raw.close()
    store.close()


def test_redis_store_survives_a_server_restart(redis_server: RedisServer) -> None:
    """The Redis store raises CheckpointError while the server is down and works once it is back."""
    store = _redis_store(redis_server.url)
    store.commit("job", [ItemRecord(1, "done")])
    redis_server.kill()
    with pytest.raises(CheckpointError, match=r"'job'.*Redis server"):
        store.commit("job", [ItemRecord(2, "done")])
    redis_server.start()  # empty: this test server keeps nothing on disk
    token = store.acquire("job", owner="w", ttl=5)  # the scripts are loaded again
    store.commit_leased("job", [ItemRecord(3, "done")], token=token, ttl=5)
    assert set(store.load("job")) == {3}
    store.close()


def test_redis_namespace_is_checked(redis_server: RedisServer) -> None:
    """A Redis namespace must be non-empty and free of braces."""
    with pytest.raises(ValueError, match="braces"):
        _redis_store(redis_server.url, namespace="a{b}")
    with pytest.raises(ValueError, match="namespace"):
        _redis_store(redis_server.url, namespace="")


# ------------------------------------------------------- PostgreSQL only


@pytest.mark.parametrize(
    "prefix", ["x; drop table", "Upper", "1abc", "a-b", "", "x" * 51, 'x"y', "s.t"]
)
def test_postgres_refuses_a_prefix_that_is_not_a_plain_identifier(
    pg_dsn: str, prefix: str
) -> None:
    """A table prefix that is not a plain lower-case identifier is refused."""
    with pytest.raises(ValueError, match="plain identifier"):
        _pg_store(pg_dsn, table_prefix=prefix)


def test_postgres_refuses_a_table_of_another_program(pg_dsn: str, pg_prefix: str) -> None:
    """The PostgreSQL store refuses a table of another program, and creates nothing."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    theirs = table(pg_prefix, "checkpoints")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int)").format(theirs))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (42)").format(theirs))
        with pytest.raises(CheckpointError, match="not a resilience checkpoints table"):
            _pg_store(pg_dsn, table_prefix=pg_prefix)
        assert conn.execute(sql.SQL("SELECT * FROM {}").format(theirs)).fetchall() == [(42,)]
        exists = conn.execute("SELECT to_regclass(%s)", (f"{pg_prefix}_leases",)).fetchone()
        assert exists == (None,), "nothing was created either"


def test_postgres_commit_leased_is_one_transaction(pg_dsn: str, pg_prefix: str) -> None:
    """A failed leased PostgreSQL commit rolls back whole, the lease's renewal too."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    store = _pg_store(pg_dsn, table_prefix=pg_prefix)
    token = store.acquire("job", owner="w", ttl=0.5)
    batch = [ItemRecord(i, "done") for i in range(100)]
    batch.append(ItemRecord("bad", "failed", error="PostgreSQL text cannot hold \x00"))
    with pytest.raises(CheckpointError, match=r"'job'.*rolled back"):
        store.commit_leased("job", batch, token=token, ttl=60)
    assert store.load("job") == {}, "part of a failed commit was written"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        left = conn.execute(
            sql.SQL("SELECT expires_at - clock_timestamp() FROM {} WHERE job = 'job'").format(
                table(pg_prefix, "leases")
            )
        ).fetchone()
    assert left is not None
    assert left[0].total_seconds() <= 0.5, "a failed commit must not renew the lease"
    store.close()


def test_postgres_tables_are_created_once_by_concurrent_stores(
    pg_dsn: str, pg_prefix: str
) -> None:
    """Four stores opened at once on new tables all open without an error."""
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_store() -> None:
        start.wait(timeout=10)
        try:
            _pg_store(pg_dsn, table_prefix=pg_prefix).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []


def test_postgres_takes_an_autocommit_connection_and_leaves_it_open(
    pg_dsn: str, pg_prefix: str
) -> None:
    """The PostgreSQL store takes an autocommit connection of yours and leaves it open on close."""
    import psycopg  # noqa: PLC0415
    from psycopg.rows import dict_row  # noqa: PLC0415

    with psycopg.connect(pg_dsn) as conn, pytest.raises(CheckpointError, match="autocommit"):
        _pg_store(conn, table_prefix=pg_prefix)
    with psycopg.connect(pg_dsn, autocommit=True, row_factory=dict_row) as conn:
        store = _pg_store(conn, table_prefix=pg_prefix)
        store.commit("job", [ItemRecord("k", "done")])
        assert store.load("job") == {"k": ItemRecord("k", "done")}
        store.close()
        assert not conn.closed
        with pytest.raises(CheckpointError, match="closed"):
            store.load("job")


def test_postgres_store_reconnects_after_its_connection_broke(
    pg_dsn: str, pg_prefix: str
) -> None:
    """A broken PostgreSQL connection fails one call, and the store reconnects for the next."""
    conninfo, name = _pg_named(pg_dsn)
    store = _pg_store(conninfo, table_prefix=pg_prefix)
    store.commit("job", [ItemRecord(1, "done")])
    _pg_terminate(pg_dsn, name)
    with pytest.raises(CheckpointError, match=r"'job'.*failed"):
        store.load("job")
    assert store.load("job") == {1: ItemRecord(1, "done")}
    store.close()



# ------------------------------------------ fencing when the server forgot


def test_a_lease_lost_to_a_redis_restart_that_kept_nothing_cannot_commit(
    redis_server: RedisServer,
) -> None:
    """After a restart that kept nothing, the next worker's lease is new; the old one is refused."""
    old, new = _redis_store(redis_server.url), _redis_store(redis_server.url)
    stale = old.acquire("job", owner="old", ttl=30)
    old.commit_leased("job", [ItemRecord("before", "done")], token=stale, ttl=30)
    redis_server.restart()  # the lease, the records and the fencing counter are gone
    token = new.acquire("job", owner="new", ttl=30)
    assert token > stale, "tokens keep growing across the restart"
    with pytest.raises(LeaseLostError, match=r"'new'.*nothing was committed"):
        old.commit_leased("job", [ItemRecord("stale", "done")], token=stale, ttl=30)
    with pytest.raises(LeaseLostError, match="nothing was renewed"):
        old.renew("job", stale, ttl=30)
    old.release("job", stale)  # not its lease: the new holder keeps it
    with pytest.raises(JobBusyError, match="'new'"):
        old.acquire("job", owner="third", ttl=30)
    new.commit_leased("job", [ItemRecord("after", "done")], token=token, ttl=30)
    assert set(new.load("job")) == {"after"}
    old.close()
    new.close()


def test_two_leases_drawn_from_a_forgotten_count_differ_by_their_holder_id(
    redis_server: RedisServer,
) -> None:
    """Even the same count drawn twice makes two tokens: each acquisition has its own holder id."""
    import redis  # noqa: PLC0415

    store = _redis_store(redis_server.url)
    raw = redis.Redis.from_url(redis_server.url)
    _, lease, fence = store.keys("job")
    counts: set[int] = set()
    tokens: set[int] = set()
    for _ in range(20):
        raw.delete(lease)
        raw.set(fence, 2 * 10**12)  # as if a server forgot, and its counter came back equal
        token = store.acquire("job", owner="w", ttl=30)
        counts.add(token // 1_000_000)
        tokens.add(token)
    assert counts == {2 * 10**12 + 1}
    assert len(tokens) > 1
    assert max(tokens) < 2**63, "a token fits a signed 64-bit integer"
    raw.close()
    store.close()


def test_a_postgres_lease_is_checked_by_its_holder_too(pg_dsn: str, pg_prefix: str) -> None:
    """A lease row lost (a table restored from an older backup) does not let a stale holder in."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    old, new = (_pg_store(pg_dsn, table_prefix=pg_prefix) for _ in range(2))
    stale = old.acquire("job", owner="old", ttl=30)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DELETE FROM {}").format(table(pg_prefix, "leases")))
    token = new.acquire("job", owner="new", ttl=30)  # the count starts over
    assert token // 1_000_000 == stale // 1_000_000
    assert token != stale
    with pytest.raises(LeaseLostError, match=r"'new'.*nothing was committed"):
        old.commit_leased("job", [ItemRecord("stale", "done")], token=stale, ttl=30)
    with pytest.raises(LeaseLostError, match="nothing was renewed"):
        old.renew("job", stale, ttl=30)
    new.commit_leased("job", [ItemRecord("after", "done")], token=token, ttl=30)
    assert set(new.load("job")) == {"after"}
    old.close()
    new.close()


def _disk_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.message for r in caplog.records if "keeps nothing on disk" in r.message]


def test_a_redis_store_on_a_server_that_keeps_nothing_on_disk_warns_once(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """One WARNING per store says that a restart loses every checkpoint and lease."""
    caplog.set_level(logging.WARNING, logger="resilience")
    store = _redis_store(redis_server.url)
    for _ in range(3):
        token = store.acquire("job", owner="w", ttl=30)
        store.load("job")
        store.release("job", token)
    [warning] = _disk_warnings(caplog)
    assert "restart of the server loses every checkpoint and lease" in warning
    assert "appendonly" in warning
    _redis_store(redis_server.url).load("job")  # another store warns for itself
    assert len(_disk_warnings(caplog)) == 2
    store.close()


@pytest.mark.parametrize(
    "options",
    [("--appendonly", "yes"), ("--save", "3600 1"), ("--rename-command", "CONFIG", "")],
    ids=["append-only-file", "snapshots", "config-disabled"],
)
def test_a_redis_store_on_a_server_that_persists_or_hides_its_config_does_not_warn(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, options: tuple[str, ...]
) -> None:
    """No warning when the server keeps its data, nor when CONFIG is disabled; nothing fails."""
    caplog.set_level(logging.DEBUG, logger="resilience")
    redis_server.kill()
    redis_server.start(*options)
    store = _redis_store(redis_server.url)
    token = store.acquire("job", owner="w", ttl=30)
    store.commit_leased("job", [ItemRecord(1, "done")], token=token, ttl=30)
    assert set(store.load("job")) == {1}
    assert _disk_warnings(caplog) == []
    store.close()


def test_a_redis_store_asks_about_persistence_once_the_server_answers(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A server down at first use is asked again at the next use, and warned about then."""
    caplog.set_level(logging.WARNING, logger="resilience")
    store = _redis_store(redis_server.url)
    redis_server.kill()
    with pytest.raises(CheckpointError):
        store.load("job")
    assert _disk_warnings(caplog) == []
    redis_server.start()
    store.load("job")
    assert len(_disk_warnings(caplog)) == 1
    store.close()


def test_a_postgres_batch_whose_connection_broke_midway_runs_again_without_losing_an_item(
    pg_dsn: str, pg_prefix: str
) -> None:
    """As after a server restart: the run that lost its connection raises, the next resumes."""
    conninfo, name = _pg_named(pg_dsn)
    store = _pg_store(conninfo, table_prefix=pg_prefix)
    seen: list[int] = []

    def handle(item: int) -> None:
        if item == 50 and 50 not in seen:
            _pg_terminate(pg_dsn, name)
        seen.append(item)

    processor = BatchProcessor("copy", handle, store=store, checkpoint_every=10, lease=5)
    with pytest.raises(CheckpointError, match="'copy'"):
        processor.run(range(100))
    # The backend ends a moment after it was told to: a checkpoint or two may still pass.
    kept = set(store.load("copy"))
    assert set(range(50)) <= kept, "the commits before it are kept"
    result = processor.run(range(100))  # the same store, connected again
    assert result.succeeded == 100 - len(kept)
    assert set(store.load("copy")) == set(range(100))
    assert set(seen) == set(range(100))
    store.close()


def test_a_lease_ttl_may_be_a_timedelta(backend: Backend) -> None:
    """acquire, renew and commit_leased take the lease's ttl as a timedelta too."""
    store, other = backend.open(), backend.open()
    ttl = timedelta(seconds=30)
    token = store.acquire("job", owner="worker-1", ttl=ttl)
    store.renew("job", token, ttl=ttl)
    store.commit_leased("job", [ItemRecord(1, "done")], token=token, ttl=ttl)
    with pytest.raises(JobBusyError):
        other.acquire("job", owner="worker-2", ttl=ttl)
    with pytest.raises(ValueError, match="more than 0 seconds"):
        store.renew("job", token, ttl=timedelta(0))
    assert set(store.load("job")) == {1}

"""The PostgreSQL incident store, on a real server: the lifecycle kept, shared, never lost."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from resilience.recovery import (
    IncidentState,
    IncidentTracker,
    RecoveryManager,
    Stage,
    UnknownIncidentError,
)
from resilience.stores import PostgresIncidentStore
from resilience.testing import FakeClock


@pytest.fixture
def prefix(pg_dsn: str) -> Iterator[str]:
    """A table prefix of the test's own; its table is dropped afterwards."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    name = f"ri_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(f"{name}_incidents")))


def refused() -> None:
    raise ConnectionRefusedError(111, "Connection refused")


async def test_incidents_and_their_lifecycle_survive_a_restart(
    pg_dsn: str, prefix: str, fake_clock: FakeClock
) -> None:
    """An incident acknowledged and noted reads back whole through a new store."""
    store = PostgresIncidentStore(pg_dsn, table_prefix=prefix)
    manager = RecoveryManager(clock=fake_clock, stages=[Stage()], store=store)
    manager.register("db", actions=[refused])
    incident = await manager.recover("db")
    manager.acknowledge(incident.id, by="alice")
    noted = manager.note(incident.id, by="alice", text="promoting the replica")
    store.close()

    again = PostgresIncidentStore(pg_dsn, table_prefix=prefix)
    try:
        assert again.get(incident.id) == noted
        assert again.incidents() == again.incidents("db") == [noted]
        assert again.open_incidents() == [noted]
        resolved = IncidentTracker(again, clock=fake_clock).resolve(incident.id, by="bob")
        assert resolved.state is IncidentState.RESOLVED
        assert again.open_incidents() == []
        assert again.open_incidents("db") == []
        with pytest.raises(UnknownIncidentError, match="no incident 'missing'"):
            again.get("missing")
    finally:
        again.close()


async def test_two_processes_updating_one_incident_lose_nothing(
    pg_dsn: str, prefix: str, fake_clock: FakeClock
) -> None:
    """Notes added at once through two stores (two connections) are all kept."""
    first = PostgresIncidentStore(pg_dsn, table_prefix=prefix)
    second = PostgresIncidentStore(pg_dsn, table_prefix=prefix)
    manager = RecoveryManager(clock=fake_clock, stages=[Stage()], store=first)
    manager.register("db", actions=[refused])
    incident = await manager.recover("db")
    trackers = [IncidentTracker(s, clock=FakeClock()) for s in (first, second)]
    each = 15

    def add_notes(n: int) -> None:
        for k in range(each):
            trackers[n].note(incident.id, by=f"writer-{n}", text=f"note {k}")

    threads = [threading.Thread(target=add_notes, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    kept = second.get(incident.id)
    assert sum(e.kind.value == "note" for e in kept.timeline) == 2 * each
    first.close()
    second.close()


def test_bad_prefixes_and_foreign_tables_are_refused(pg_dsn: str, prefix: str) -> None:
    """A prefix that is not an identifier, or a table of another shape, is a clear error."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    with pytest.raises(ValueError, match="table_prefix must be a plain identifier"):
        PostgresIncidentStore(pg_dsn, table_prefix="drop table;")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (id text)").format(sql.Identifier(f"{prefix}_incidents"))
        )
    with pytest.raises(ValueError, match="is not a resilience incidents table"):
        PostgresIncidentStore(pg_dsn, table_prefix=prefix)


def test_connection_errors_keep_their_types_and_words(pg_dsn: str, prefix: str) -> None:
    """A connection the store cannot use is a ValueError; a closed store or server an OSError."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(pg_dsn) as conn, pytest.raises(ValueError) as refused:
        PostgresIncidentStore(conn, table_prefix=prefix)
    assert str(refused.value).startswith("PostgresIncidentStore needs its connection (host=")
    assert str(refused.value).endswith(
        ") in autocommit mode, so that each change is its own transaction: connect with "
        "psycopg.connect(..., autocommit=True), or pass the connection string"
    )
    with pytest.raises(TypeError) as wrong:
        PostgresIncidentStore(42, table_prefix=prefix)  # type: ignore[arg-type]
    assert str(wrong.value) == (
        "PostgresIncidentStore needs a connection string or a psycopg 3 connection, got int"
    )
    store = PostgresIncidentStore(pg_dsn, table_prefix=prefix)
    shown = repr(store)
    assert shown.startswith("PostgresIncidentStore(")
    assert shown.endswith(f", table_prefix={prefix!r})")
    store.close()
    with pytest.raises(OSError) as closed:
        store.incidents()
    assert str(closed.value) == (
        f"incident store {shown} is closed: listing incidents needs an open store"
    )
    with pytest.raises(OSError) as unreachable:
        PostgresIncidentStore("host=127.0.0.1 port=1 dbname=x", table_prefix=prefix)
    assert str(unreachable.value).startswith(
        f"incident store PostgresIncidentStore('host=127.0.0.1 port=1 dbname=x', "
        f"table_prefix={prefix!r}) cannot connect to PostgreSQL ("
    )
    assert str(unreachable.value).endswith(
        "); check that the server is up and the connection string is right"
    )

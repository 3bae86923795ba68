"""The SQLite incident store: the lifecycle kept across restarts, and files of schema 1 upgraded."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from resilience import SQLiteCheckpointStore, SQLiteIncidentStore
from resilience.recovery import (
    IncidentState,
    IncidentTracker,
    RecoveryManager,
    Stage,
    UnknownIncidentError,
)
from resilience.testing import FakeClock

APPLICATION_ID = 0x52534C43
# The schema of version 1, as the store wrote it before incidents had a lifecycle.
SCHEMA_1 = """
CREATE TABLE resilience_incidents (
    id         TEXT PRIMARY KEY,
    component  TEXT NOT NULL,
    started_at REAL NOT NULL,
    incident   TEXT NOT NULL  -- Incident.to_dict() as JSON
)
"""
CHECKPOINTS_1 = """
CREATE TABLE resilience_checkpoints (
    job      TEXT NOT NULL,
    key               NOT NULL,
    status   TEXT NOT NULL,
    kind     TEXT,
    reason   TEXT,
    attempts INTEGER NOT NULL,
    error    TEXT,
    details  TEXT,
    updated  REAL NOT NULL,
    PRIMARY KEY (job, key)
) WITHOUT ROWID
"""


def old_row(incident_id: str, resolution: str, started_at: float) -> tuple[str, str, float, str]:
    data = {
        "id": incident_id,
        "component": "db",
        "reason": "health check: refused",
        "severity": "P1",
        "started_at": started_at,
        "ended_at": started_at + 60,
        "resolution": resolution,
        "detail": "every stage failed (1 stages, 1 action runs)",
        "actions": [
            {
                "action": "restart",
                "stage": 1,
                "attempt": 1,
                "at": started_at,
                "duration": 0.5,
                "ok": resolution == "recovered",
                "outcome": "verified" if resolution == "recovered" else "OSError: refused",
            }
        ],
        "notifications": [],
    }
    return incident_id, "db", started_at, json.dumps(data)


def write_schema_1(path: Path, *, incidents: bool = True) -> None:
    """A file as the store of schema 1 left it: our header, version 1, and rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if incidents:
            conn.execute(SCHEMA_1)
            conn.executemany(
                "INSERT INTO resilience_incidents VALUES (?, ?, ?, ?)",
                [old_row("old-1", "recovered", 100.0), old_row("old-2", "escalated", 200.0)],
            )
        else:
            conn.execute(CHECKPOINTS_1)
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute("PRAGMA user_version=1")
    finally:
        conn.close()


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_file_of_schema_1_is_upgraded_and_its_incidents_read(tmp_path: Path) -> None:
    """Rows written before the lifecycle get a state (recovered: resolved), and can change."""
    path = tmp_path / "app.db"
    write_schema_1(path)
    store = SQLiteIncidentStore(path)
    try:
        old = store.incidents()
        assert [(i.id, i.state) for i in old] == [
            ("old-1", IncidentState.RESOLVED),
            ("old-2", IncidentState.OPEN),
        ]
        assert [i.id for i in store.open_incidents()] == ["old-2"]
        assert old[0].resolved_by == "recovery"
        tracker = IncidentTracker(store, clock=FakeClock())
        acked = tracker.acknowledge("old-2", by="alice")
        assert store.get("old-2") == acked
    finally:
        store.close()
    assert user_version(path) == 2
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT id, state, updated_at FROM resilience_incidents ORDER BY id")
        assert [tuple(r) for r in rows] == [
            ("old-1", "resolved", 160.0),
            ("old-2", "acknowledged", acked.updated_at),
        ]
    finally:
        conn.close()
    again = SQLiteIncidentStore(path)  # opened again: nothing more to upgrade
    assert again.get("old-2").acknowledged_by == "alice"
    again.close()


def test_a_checkpoint_file_of_schema_1_is_upgraded_by_the_checkpoint_store(
    tmp_path: Path,
) -> None:
    """A file of checkpoints only moves to schema 2 too, and takes the incidents table after."""
    path = tmp_path / "checkpoints.db"
    write_schema_1(path, incidents=False)
    SQLiteCheckpointStore(path).close()
    assert user_version(path) == 2
    store = SQLiteIncidentStore(path)
    assert store.incidents() == []
    store.close()


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="needs file permissions")
def test_a_read_only_file_of_schema_1_is_refused_unchanged(tmp_path: Path) -> None:
    """A file that cannot be written cannot be upgraded: refused, naming it, not changed."""
    path = tmp_path / "app.db"
    write_schema_1(path)
    before = path.read_bytes()
    path.chmod(stat.S_IRUSR)
    try:
        with pytest.raises(OSError, match=r"app\.db.*is refused"):
            SQLiteIncidentStore(path)
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert path.read_bytes() == before
    assert user_version(path) == 1


async def test_the_lifecycle_survives_a_restart(tmp_path: Path, fake_clock: FakeClock) -> None:
    """Acknowledged, noted, then the process restarts: the new store reads it all back."""
    path = tmp_path / "incidents.db"
    store = SQLiteIncidentStore(path)
    manager = RecoveryManager(clock=fake_clock, stages=[Stage()], store=store)

    def restart() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    manager.register("db", actions=[restart])
    incident = await manager.recover("db")
    manager.acknowledge(incident.id, by="alice")
    noted = manager.note(incident.id, by="alice", text="replica promoted")
    store.close()

    store = SQLiteIncidentStore(path)
    try:
        assert store.get(incident.id) == noted
        assert store.open_incidents("db") == [noted]
        with pytest.raises(UnknownIncidentError, match="no incident 'missing'"):
            store.get("missing")
    finally:
        store.close()


def test_two_stores_on_one_file_never_lose_an_update(tmp_path: Path) -> None:
    """Notes added at once through two connections are all kept: each update is a transaction."""
    path = tmp_path / "app.db"
    write_schema_1(path)
    stores = [SQLiteIncidentStore(path), SQLiteIncidentStore(path)]
    trackers = [IncidentTracker(s, clock=FakeClock()) for s in stores]
    per_thread = 20

    def add_notes(n: int) -> None:
        for k in range(per_thread):
            trackers[n].note("old-2", by=f"writer-{n}", text=f"note {k}")

    threads = [threading.Thread(target=add_notes, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    kept = stores[0].get("old-2")
    notes = [e.text for e in kept.timeline if e.kind.value == "note"]
    assert len(notes) == 2 * per_thread
    for s in stores:
        s.close()


def test_an_update_that_raises_changes_nothing(tmp_path: Path) -> None:
    """A transition refused inside the update is rolled back: the row is as it was."""
    path = tmp_path / "app.db"
    write_schema_1(path)
    store = SQLiteIncidentStore(path)
    try:
        before = store.get("old-1")

        def refuse(_: object) -> object:
            raise RuntimeError("no")

        with pytest.raises(RuntimeError):
            store.update("old-1", refuse)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must return the incident changed"):
            store.update("old-1", lambda _: None)  # type: ignore[arg-type, return-value]
        assert store.get("old-1") == before
    finally:
        store.close()

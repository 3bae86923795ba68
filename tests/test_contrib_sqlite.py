"""resilience.contrib.sqlite on real files: damaged, repaired, backed up byte for byte."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from resilience import ComponentStatus, HealthRegistry, RecoveryManager, Resolution
from resilience.contrib.sqlite import sqlite_check, sqlite_repair
from resilience.testing import FakeClock

OK, ERROR = ComponentStatus.OK, ComponentStatus.ERROR


def init(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("CREATE TABLE tags (note INTEGER, tag TEXT)")
        conn.execute("PRAGMA user_version = 7")
    conn.close()


def filled(path: Path) -> Path:
    init(path)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO notes (body) VALUES (?)", [(f"note {i} " * 20,) for i in range(500)]
        )
        conn.execute("CREATE INDEX notes_body ON notes (body)")
    conn.close()
    return path


def corrupt(path: Path, offset: int, size: int) -> bytes:
    """Overwrite ``size`` bytes at ``offset``; the damaged file's bytes."""
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * size)
    return path.read_bytes()


def test_a_healthy_database_is_ok_with_its_details(tmp_path: Path) -> None:
    db = filled(tmp_path / "app.db")
    result = sqlite_check(db, schema_version=7, tables=["notes", "tags"])()
    assert (result.status, result.message) == (OK, "schema version 7, 2 tables")
    assert result.details == {"schema_version": 7, "tables": 2, "path": str(db)}


def test_a_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "gone.db"
    check = sqlite_check(db)
    result = check()
    assert result.status is ERROR
    assert "does not exist" in result.message
    assert not db.exists()
    assert check.__name__ == "check gone.db"


def test_overwritten_pages_are_found_by_quick_check(tmp_path: Path) -> None:
    db = filled(tmp_path / "app.db")
    corrupt(db, 4096 * 2, 4096 * 2)
    result = sqlite_check(db)()
    assert result.status is ERROR
    assert result.message.startswith("database damaged")


def test_an_overwritten_header_is_not_a_database(tmp_path: Path) -> None:
    db = filled(tmp_path / "app.db")
    before = corrupt(db, 0, 100)
    result = sqlite_check(db)()
    assert result.status is ERROR
    assert "not a database" in result.message
    assert db.read_bytes() == before  # the check changed nothing


def test_wrong_schema_version_and_missing_tables(tmp_path: Path) -> None:
    db = filled(tmp_path / "app.db")
    assert sqlite_check(db, schema_version=8)().message == "schema version 7, expected 8"
    missing = sqlite_check(db, tables=["notes", "cache", "keys"])()
    assert (missing.status, missing.message) == (
        ERROR,
        "schema version 7 but tables missing: cache, keys",
    )


def test_repair_backs_up_the_damaged_bytes_then_reinitialises(tmp_path: Path) -> None:
    db = filled(tmp_path / "app.db")
    damaged = corrupt(db, 4096 * 2, 4096 * 2)
    check = sqlite_check(db, schema_version=7, tables=["notes", "tags"])
    assert check().status is ERROR
    repair = sqlite_repair(db, init)
    assert repair.__name__ == "repair app.db"

    first = repair()

    assert first is not None
    assert first.read_bytes() == damaged
    assert first.name.startswith("app.db.")
    assert first.name.endswith(".bak")
    assert check().status is OK
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    conn.close()

    # Again at once (same second): a second backup, the first one untouched.
    healthy = db.read_bytes()
    second = repair()
    assert second is not None
    assert second != first
    assert first.read_bytes() == damaged
    assert second.read_bytes() == healthy


def test_repair_backs_up_and_removes_the_wal(tmp_path: Path) -> None:
    db = filled(tmp_path / "app.db")
    wal = Path(f"{db}-wal")
    wal.write_bytes(b"not really a WAL, but its bytes must survive")
    (tmp_path / "app.db-shm").write_bytes(b"shm")
    backup = sqlite_repair(db, init, backup_dir=tmp_path / "backups")()
    assert backup is not None
    assert backup.parent == tmp_path / "backups"
    assert Path(f"{backup}-wal").read_bytes() == b"not really a WAL, but its bytes must survive"
    assert not Path(f"{backup}-shm").exists()
    assert not (tmp_path / "app.db-shm").exists()
    assert sqlite_check(db, schema_version=7)().status is OK


def test_repair_without_a_file_only_initialises(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    assert sqlite_repair(db, init)() is None
    assert sqlite_check(db, tables=["notes"])().status is OK


def test_a_failing_init_propagates_and_keeps_the_backup(tmp_path: Path) -> None:
    db = filled(tmp_path / "app.db")
    original = db.read_bytes()

    def broken_init(path: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        sqlite_repair(db, broken_init)()
    (backup,) = tmp_path.glob("app.db.*.bak")
    assert backup.read_bytes() == original


def test_recovery_repairs_a_corrupted_database_through_its_health_check(
    tmp_path: Path,
) -> None:
    db = filled(tmp_path / "app.db")
    damaged = corrupt(db, 0, 100)
    clock = FakeClock()
    health = HealthRegistry(clock=clock)
    health.register("database", sqlite_check(db, schema_version=7, tables=["notes"]))
    manager = RecoveryManager(clock=clock)
    manager.register("database", actions=[sqlite_repair(db, init)])
    manager.attach(health)

    assert health.recheck("database").status is ERROR
    incident = asyncio.run(manager.recover("database", reason="malformed"))

    assert incident.resolution is Resolution.RECOVERED
    assert incident.actions[0].action == "repair app.db"
    assert health.recheck("database").status is OK
    (backup,) = tmp_path.glob("app.db.*.bak")
    assert backup.read_bytes() == damaged


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="schema_version"):
        sqlite_check(tmp_path / "a.db", schema_version=-1)
    with pytest.raises(ValueError, match="schema_version"):
        sqlite_check(tmp_path / "a.db", schema_version=True)
    with pytest.raises(TypeError, match="tables"):
        sqlite_check(tmp_path / "a.db", tables=[1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="init"):
        sqlite_repair(tmp_path / "a.db", "init")  # type: ignore[arg-type]

"""resilience.contrib.sqlite on real files: damaged, repaired, backed up byte for byte."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from resilience import ComponentStatus, HealthRegistry, RecoveryManager, Resolution
from resilience._core.clock import wall_time
from resilience.contrib.sqlite import sqlite_check, sqlite_repair
from resilience.testing import FakeClock

OK, WARNING, ERROR = ComponentStatus.OK, ComponentStatus.WARNING, ComponentStatus.ERROR
SIDECARS = ("-wal", "-shm", "-journal")


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


def files(db: Path) -> dict[str, bytes | None]:
    """The bytes of the database and of each sidecar (None when absent)."""
    return {
        suffix: p.read_bytes() if (p := Path(f"{db}{suffix}")).exists() else None
        for suffix in ("", *SIDECARS)
    }


def crashed_wal_writer(tmp_path: Path) -> Path:
    """A WAL database whose writer died before checkpointing: a table lives in the WAL."""
    live = filled(tmp_path / "live.db")
    writer = sqlite3.connect(live, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")  # keep the commits in the WAL
        writer.execute("CREATE TABLE late (x)")
        writer.executemany("INSERT INTO late VALUES (?)", [(i,) for i in range(300)])
        # Copying the files while the writer is open is what its crash leaves behind.
        for suffix in ("", "-wal", "-shm"):
            shutil.copyfile(f"{live}{suffix}", tmp_path / f"app.db{suffix}")
    finally:
        writer.close()
    return tmp_path / "app.db"


def crashed_mid_transaction(tmp_path: Path) -> Path:
    """A rollback-journal database whose writer died mid-transaction: a hot journal."""
    live = filled(tmp_path / "live.db")
    writer = sqlite3.connect(live, isolation_level=None)
    try:
        writer.execute("PRAGMA cache_size=1")  # spill the changes into the file itself
        writer.execute("BEGIN")
        writer.execute("UPDATE notes SET body = body || 'changed'")
        for suffix in ("", "-journal"):
            shutil.copyfile(f"{live}{suffix}", tmp_path / f"app.db{suffix}")
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    return tmp_path / "app.db"


def stamps_from_now(seconds: int) -> list[str]:
    """The backup timestamps of this second and the next ones."""
    now = int(wall_time())
    return [datetime.fromtimestamp(now + i, UTC).strftime("%Y%m%dT%H%M%SZ") for i in range(seconds)]


def test_a_healthy_database_is_ok_with_its_details(tmp_path: Path) -> None:
    """A healthy database is OK, with its schema version, table count and path as details."""
    db = filled(tmp_path / "app.db")
    result = sqlite_check(db, schema_version=7, tables=["notes", "tags"])()
    assert (result.status, result.message) == (OK, "schema version 7, 2 tables")
    assert result.details == {"schema_version": 7, "tables": 2, "path": str(db)}


def test_a_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    """A missing database file is an ERROR, and the check does not create it."""
    db = tmp_path / "gone.db"
    check = sqlite_check(db)
    result = check()
    assert result.status is ERROR
    assert "does not exist" in result.message
    assert not db.exists()
    assert check.__name__ == "check gone.db"


def test_overwritten_pages_are_found_by_quick_check(tmp_path: Path) -> None:
    """Overwritten pages are found by the quick check and reported as damage."""
    db = filled(tmp_path / "app.db")
    corrupt(db, 4096 * 2, 4096 * 2)
    result = sqlite_check(db)()
    assert result.status is ERROR
    assert result.message.startswith("database damaged")


def test_an_overwritten_header_is_not_a_database(tmp_path: Path) -> None:
    """An overwritten header is an ERROR saying it is not a database, and the file is unchanged."""
    db = filled(tmp_path / "app.db")
    before = corrupt(db, 0, 100)
    result = sqlite_check(db)()
    assert result.status is ERROR
    assert "not a database" in result.message
    assert db.read_bytes() == before  # the check changed nothing


def test_wrong_schema_version_and_missing_tables(tmp_path: Path) -> None:
    """A wrong schema version or missing tables are an ERROR naming what was expected."""
    db = filled(tmp_path / "app.db")
    assert sqlite_check(db, schema_version=8)().message == "schema version 7, expected 8"
    missing = sqlite_check(db, tables=["notes", "cache", "keys"])()
    assert (missing.status, missing.message) == (
        ERROR,
        "schema version 7 but tables missing: cache, keys",
    )


def test_repair_backs_up_the_damaged_bytes_then_reinitialises(tmp_path: Path) -> None:
    """A repair backs up the damaged bytes, then re-initialises; a second keeps the first backup."""
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
    """A repair backs up the WAL beside the database, and removes the WAL and the shm file."""
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
    """A repair with no file to back up only initialises it, and returns None."""
    db = tmp_path / "new.db"
    assert sqlite_repair(db, init)() is None
    assert sqlite_check(db, tables=["notes"])().status is OK


def test_a_failing_init_propagates_and_keeps_the_backup(tmp_path: Path) -> None:
    """A failing init propagates its error, and the backup is kept."""
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
    fake_clock: FakeClock,
) -> None:
    """A recovery manager attached to the health check repairs a corrupted database."""
    db = filled(tmp_path / "app.db")
    damaged = corrupt(db, 0, 100)
    health = HealthRegistry(clock=fake_clock)
    health.register("database", sqlite_check(db, schema_version=7, tables=["notes"]))
    manager = RecoveryManager(clock=fake_clock)
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
    """Bad schema versions, table names and init functions are refused at once."""
    with pytest.raises(ValueError, match="schema_version"):
        sqlite_check(tmp_path / "a.db", schema_version=-1)
    with pytest.raises(TypeError, match="schema_version"):
        sqlite_check(tmp_path / "a.db", schema_version=True)
    with pytest.raises(TypeError, match="schema_version"):
        sqlite_check(tmp_path / "a.db", schema_version="7")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tables"):
        sqlite_check(tmp_path / "a.db", tables=[1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="tables"):
        sqlite_check(tmp_path / "a.db", tables=["notes", ""])
    with pytest.raises(TypeError, match="init"):
        sqlite_repair(tmp_path / "a.db", "init")  # type: ignore[arg-type]


def test_one_table_name_as_a_str_is_one_table(tmp_path: Path) -> None:
    """A single table name given as a str is one table, not its letters."""
    db = filled(tmp_path / "app.db")
    assert sqlite_check(db, tables="notes")().status is OK
    assert sqlite_check(db, tables="cache")().message == (
        "schema version 7 but tables missing: cache"
    )


def test_the_check_reads_the_wal_and_never_checkpoints_it(tmp_path: Path) -> None:
    """The check reads the WAL a crashed writer left, and leaves it and the file as they were."""
    # Closed by the last connection, a read-write check would merge the WAL into the
    # file and delete it: the check must leave both as the crashed writer left them.
    db = crashed_wal_writer(tmp_path)
    before = files(db)
    result = sqlite_check(db, schema_version=7, tables=["notes", "tags", "late"])()
    assert (result.status, result.message) == (OK, "schema version 7, 3 tables")
    after = files(db)
    assert (after[""], after["-wal"]) == (before[""], before["-wal"])


def test_a_hot_journal_is_a_warning_and_is_not_rolled_back(tmp_path: Path) -> None:
    """A hot journal is a WARNING, and the check leaves it for the application to roll back."""
    db = crashed_mid_transaction(tmp_path)
    before = files(db)
    assert before["-journal"]
    result = sqlite_check(db, schema_version=7)()
    assert result.status is WARNING
    assert "hot journal" in result.message
    assert files(db) == before
    # The application's next connection rolls it back at its first read; then it is fine.
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (500,)
    finally:
        conn.close()
    assert not Path(f"{db}-journal").exists()
    assert sqlite_check(db, schema_version=7, tables=["notes"])().status is OK


def test_a_damaged_wal_database_is_backed_up_as_it_was_then_recreated(
    tmp_path: Path,
) -> None:
    """A damaged WAL database is backed up with its WAL, as it was, and then recreated."""
    db = crashed_wal_writer(tmp_path)
    # Pages 3-4 of the notes: the WAL holds newer copies of page 1, not of these.
    damaged = corrupt(db, 4096 * 2, 4096 * 2)
    wal = Path(f"{db}-wal").read_bytes()
    check = sqlite_check(db, schema_version=7, tables=["notes"])
    assert check().status is ERROR
    assert Path(f"{db}-wal").read_bytes() == wal  # the failed check merged nothing

    backup = sqlite_repair(db, init)()

    assert backup is not None
    assert backup.read_bytes() == damaged
    assert Path(f"{backup}-wal").read_bytes() == wal
    assert not Path(f"{backup}-shm").exists()
    assert all(not Path(f"{db}{suffix}").exists() for suffix in ("-wal", "-shm"))
    assert check().status is OK


def test_the_journal_is_backed_up_and_removed(tmp_path: Path) -> None:
    """A repair backs up the rollback journal beside the database, then removes it."""
    db = crashed_mid_transaction(tmp_path)
    journal = Path(f"{db}-journal").read_bytes()
    backup = sqlite_repair(db, init)()
    assert backup is not None
    assert Path(f"{backup}-journal").read_bytes() == journal
    assert not Path(f"{db}-journal").exists()


def test_an_existing_backup_name_is_never_overwritten(tmp_path: Path) -> None:
    """A repair never overwrites an existing backup: it takes the next free name."""
    db = filled(tmp_path / "app.db")
    original = db.read_bytes()
    # Earlier backups under every name the repair may pick in the next seconds.
    taken = {}
    for stamp in stamps_from_now(30):
        for name in (f"app.db.{stamp}.bak", f"app.db.{stamp}.bak-2"):
            (tmp_path / name).write_bytes(name.encode())
            taken[name] = name.encode()

    backup = sqlite_repair(db, init)()

    assert backup is not None
    assert backup.name.endswith(".bak-3")
    assert backup.read_bytes() == original
    assert all((tmp_path / name).read_bytes() == data for name, data in taken.items())


def test_a_stray_sidecar_backup_skips_its_name(tmp_path: Path) -> None:
    """A stray backup of a sidecar file makes the repair skip that backup name."""
    db = filled(tmp_path / "app.db")
    Path(f"{db}-wal").write_bytes(b"wal")
    strays = {
        tmp_path / f"app.db.{stamp}.bak-wal": f"stray {stamp}".encode()
        for stamp in stamps_from_now(30)
    }
    for stray, data in strays.items():
        stray.write_bytes(data)

    backup = sqlite_repair(db, init)()

    assert backup is not None
    assert backup.name.endswith(".bak-2")
    assert Path(f"{backup}-wal").read_bytes() == b"wal"
    assert all(stray.read_bytes() == data for stray, data in strays.items())

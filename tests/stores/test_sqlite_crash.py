"""Creating a SQLite store is crash-safe: real child processes SIGKILLed while they create one.

A zygote process imports the library once, then forks a child per database and kills
it after a random delay up to the time a creation takes, so that the kills land at every
moment of it. Every file left behind must be absent or a whole database of ours.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from resilience import CheckpointError, ItemRecord, SQLiteCheckpointStore, SQLiteIncidentStore
from resilience.stores.sqlite._connection import APPLICATION_ID, SCHEMA_VERSION

pytestmark = [
    pytest.mark.skipif(os.name != "posix", reason="fork and SIGKILL"),
    pytest.mark.slow,  # real processes, killed at every moment
    # One worker runs these one after another: creations wait on fsync, and side by side
    # (two zygotes at once) they slowed each other down two- to five-fold.
    pytest.mark.xdist_group("sqlite-crash"),
]

KILLS = 300
TABLES = {"checkpoints": "resilience_checkpoints", "incidents": "resilience_incidents"}

ZYGOTE = """
import json, os, random, signal, sys, time
from pathlib import Path
from resilience import SQLiteCheckpointStore, SQLiteIncidentStore

folder, kind, kills, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
make = {"checkpoints": SQLiteCheckpointStore, "incidents": SQLiteIncidentStore}[kind]
if sys.argv[5:] == ["no-links"]:  # a file system without hard links: created in place

    def no_link(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    os.link = no_link
rng = random.Random(seed)

def create(path):
    pid = os.fork()
    if pid == 0:
        try:
            make(path).close()
        finally:
            os._exit(0)
    return pid

spans = []
for i in range(7):  # how long a creation takes here, now
    start = time.perf_counter()
    os.waitpid(create(folder / f"calibrate-{i}.db"), 0)
    spans.append(time.perf_counter() - start)
span = sorted(spans)[3]
killed = tries = 0
while killed < kills and tries < 5 * kills:
    pid = create(folder / f"{tries}.db")
    time.sleep(rng.uniform(0, span))
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    killed += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    tries += 1
print(json.dumps({"killed": killed, "tries": tries, "span": span}))
"""

RACE = """
import os, sys
from pathlib import Path
from resilience import SQLiteCheckpointStore, ItemRecord

folder, rounds, racers = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
failed = 0
for r in range(rounds):
    read, write = os.pipe()
    pids = []
    for i in range(racers):
        pid = os.fork()
        if pid == 0:
            os.close(write)
            os.read(read, 1)  # every racer starts at once, when the pipe closes
            code = 1
            try:
                store = SQLiteCheckpointStore(folder / f"{r}.db")
                store.commit("job", [ItemRecord(i, "done")])
                store.close()
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(read)
    os.close(write)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        failed += status != 0
print(failed)
"""


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder of the test's own, outside pytest's tree (the zygote's children write it)."""
    with tempfile.TemporaryDirectory(prefix="resilience-crash-") as name:
        yield Path(name)


def assert_whole_or_absent(path: Path, table: str) -> None:
    """``path`` does not exist, or is a complete database of ours that a store opens."""
    if not path.exists():
        return
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID, path
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION, path
        assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)], path
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert table in tables, path
    finally:
        conn.close()


def run(script: str, *args: object, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("kind", TABLES)
def test_a_store_killed_at_any_moment_of_its_creation_leaves_no_file_or_a_whole_one(
    folder: Path, kind: str
) -> None:
    """300 SIGKILLs during the creation of each store kind: each file is absent or valid."""
    seed = list(TABLES).index(kind)
    report = json.loads(run(ZYGOTE, folder, kind, KILLS, seed))
    assert report["killed"] == KILLS, report  # each one mid-creation
    files = sorted(folder.glob("*.db"))
    assert len(files) >= 7  # the calibration's, at least: some were created whole
    for path in files:
        assert_whole_or_absent(path, TABLES[kind])
        assert not Path(f"{path}-journal").exists()
    for path in files:  # and each survivor opens as a store, and works
        if kind == "checkpoints":
            checkpoints = SQLiteCheckpointStore(path)
            checkpoints.commit("job", [ItemRecord(1, "done")])
            assert set(checkpoints.load("job")) == {1}
            checkpoints.close()
        else:
            incidents = SQLiteIncidentStore(path)
            assert incidents.incidents() == []
            incidents.close()


def test_without_hard_links_a_killed_creation_leaves_a_file_the_store_opens(
    folder: Path,
) -> None:
    """Created in place: every file a kill leaves is absent, whole, or taken as not made."""
    report = json.loads(run(ZYGOTE, folder, "checkpoints", KILLS, 7, "no-links"))
    assert report["killed"] == KILLS
    files = sorted(folder.glob("*.db"))
    assert len(files) >= 7
    for path in files:
        store = SQLiteCheckpointStore(path)  # none is refused
        store.commit("job", [ItemRecord(1, "done")])
        store.close()
        assert_whole_or_absent(path, TABLES["checkpoints"])


def test_processes_creating_one_store_at_once_all_open_the_same_database(folder: Path) -> None:
    """Racers that create the same file at once all succeed, and all commit to one file."""
    racers = 4
    assert run(RACE, folder, 15, racers).strip() == "0"
    for path in folder.glob("*.db"):
        assert_whole_or_absent(path, TABLES["checkpoints"])
        store = SQLiteCheckpointStore(path)
        assert set(store.load("job")) == set(range(racers))  # nobody's file was replaced
        store.close()


def crashed_first_transaction(path: Path) -> None:
    """Leave at ``path`` what a crash in a new file's first transaction leaves behind.

    The transaction's pages are spilled into the file, and the file is copied with its
    hot journal while the transaction is open: the state of a process killed then.
    """
    scratch = path.with_name("scratch.db")
    conn = sqlite3.connect(scratch, isolation_level=None)
    conn.execute("PRAGMA cache_size=1")  # spill to the file before the commit
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE t (body TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 50)
    shutil.copyfile(scratch, path)
    shutil.copyfile(f"{scratch}-journal", f"{path}-journal")
    conn.execute("ROLLBACK")
    conn.close()
    scratch.unlink()
    assert path.stat().st_size > 0


def test_a_database_whose_creation_a_crash_rolled_back_is_created_not_refused(
    tmp_path: Path,
) -> None:
    """A file left with a hot journal by a crashed creation is empty once rolled back: ours."""
    path = tmp_path / "checkpoints.db"
    crashed_first_transaction(path)
    store = SQLiteCheckpointStore(path)
    store.commit("job", [ItemRecord(1, "done")])
    store.close()
    assert_whole_or_absent(path, TABLES["checkpoints"])
    incidents = SQLiteIncidentStore(path)  # and a second store adds its table to it
    incidents.close()
    assert_whole_or_absent(path, TABLES["incidents"])


def test_an_empty_file_is_created_not_refused(tmp_path: Path) -> None:
    """A zero-length file (touched, or cut short by a crash) is a database not yet made."""
    path = tmp_path / "incidents.db"
    path.touch()
    SQLiteIncidentStore(path).close()
    assert_whole_or_absent(path, TABLES["incidents"])


def test_a_temporary_file_of_a_creation_that_crashed_long_ago_is_removed(tmp_path: Path) -> None:
    """What a crash left under a temporary name goes at the next creation beside it."""
    left = tmp_path / ".checkpoints.db.0123456789abcdef.new"
    recent = tmp_path / ".checkpoints.db.fedcba9876543210.new"
    left.write_bytes(b"")
    recent.write_bytes(b"")
    os.utime(left, (0, 0))  # 1970: long ago
    SQLiteCheckpointStore(tmp_path / "checkpoints.db").close()
    assert not left.exists()
    assert recent.exists()  # maybe another process's creation, under way now
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".checkpoints.db.fedcba9876543210.new",
        "checkpoints.db",
    ]


# ------------------------------------------------------------------ refused on open

READ_ONLY = """
import os, sys
from resilience import SQLiteCheckpointStore, CheckpointError
if os.geteuid() == 0:  # root writes anything: be nobody for the test
    os.setgid(65534)
    os.setuid(65534)
try:
    SQLiteCheckpointStore(sys.argv[1])
except CheckpointError as exc:
    print(exc)
else:
    print("opened")
"""


@pytest.mark.parametrize(("file_mode", "folder_mode"), [(0o444, 0o777), (0o666, 0o555)])
def test_a_store_that_cannot_be_written_is_refused_when_it_opens(
    folder: Path, file_mode: int, folder_mode: int
) -> None:
    """A write-protected file (or folder) is refused at open, not at the first checkpoint."""
    path = folder / "checkpoints.db"
    SQLiteCheckpointStore(path).close()
    path.chmod(file_mode)
    folder.chmod(folder_mode)
    try:
        shown = run(READ_ONLY, path)
    finally:
        folder.chmod(0o700)
    assert "is refused: it cannot be written" in shown
    assert "give this process write access to the file and to its folder" in shown


def test_our_file_with_another_schema_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    """Our application id on other tables: refused, and its header is not rewritten."""
    path = tmp_path / "checkpoints.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE resilience_checkpoints (job TEXT, payload BLOB)")
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"other columns \(job, payload\).*another schema"):
        SQLiteCheckpointStore(path)
    assert path.read_bytes() == before


def test_our_file_with_an_unknown_schema_version_is_refused_and_left_unchanged(
    tmp_path: Path,
) -> None:
    """Our application id with schema version 0: refused; the version is not set to ours."""
    path = tmp_path / "checkpoints.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="schema 0, which this version"):
        SQLiteCheckpointStore(path)
    assert path.read_bytes() == before


def test_a_store_that_cannot_be_created_is_refused_with_what_to_check(tmp_path: Path) -> None:
    """A missing folder is a CheckpointError that names it, not a bare OSError."""
    missing = tmp_path / "no-such-folder"
    with pytest.raises(CheckpointError, match="cannot be created") as raised:
        SQLiteCheckpointStore(missing / "checkpoints.db")
    assert str(missing) in str(raised.value)
    with pytest.raises(OSError, match="cannot be created"):
        SQLiteIncidentStore(missing / "incidents.db")

"""``python -m resilience incidents``: list, show, ack, resolve, note, reopen against a store."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from resilience import SQLiteIncidentStore
from resilience._cli.main import main
from resilience.recovery import Incident, IncidentState, IncidentTracker, RecoveryManager, Stage
from resilience.testing import FakeClock


def refused() -> None:
    raise ConnectionRefusedError(111, "Connection refused")


def seed(store: SQLiteIncidentStore | object, count: int = 2) -> list[Incident]:
    """``count`` open incidents of component db, made by a manager as an application would."""
    manager = RecoveryManager(clock=FakeClock(), stages=[Stage()], store=store)  # type: ignore[arg-type]
    manager.register("db", actions=[refused], severity="P0")
    return [asyncio.run(manager.recover("db", reason=f"refused {n}")) for n in range(count)]


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, list[Incident]]:
    """An SQLite store file with two open incidents."""
    path = tmp_path / "incidents.db"
    store = SQLiteIncidentStore(path)
    made = seed(store)
    store.close()
    return str(path), made


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["incidents", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_shows_the_open_incidents(
    db: tuple[str, list[Incident]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The table lists each open incident with its severity, state and component."""
    path, made = db
    code, out, _ = run(capsys, "list", "--sqlite", path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "SEV", "STATE", "COMPONENT"]
    assert [line.split()[:4] for line in lines[1:]] == [
        [i.id[:12], "P0", "open", "db"] for i in made
    ]
    code, out, _ = run(capsys, "list", "--sqlite", path, "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [i.id for i in made]


def test_ack_resolve_note_and_reopen_change_the_store(
    db: tuple[str, list[Incident]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each command is one change the application's store then holds; a prefix of an id works."""
    path, (first, _) = db
    assert run(capsys, "ack", first.id[:10], "--sqlite", path, "--by", "alice")[0] == 0
    assert run(capsys, "note", first.id, "--sqlite", path, "--by", "alice", "disk full")[0] == 0
    code, out, _ = run(
        capsys, "resolve", first.id, "--sqlite", path, "--by", "bob", "--note", "freed"
    )
    assert code == 0
    assert out.strip() == f"{first.id} db: resolved (resolve by bob)"
    store = SQLiteIncidentStore(path)
    kept = store.get(first.id)
    store.close()
    assert (kept.state, kept.acknowledged_by, kept.resolved_by) == (
        IncidentState.RESOLVED,
        "alice",
        "bob",
    )
    assert [e.text for e in kept.timeline[-3:]] == ["acknowledged by alice", "disk full", "freed"]
    code, out, _ = run(capsys, "list", "--sqlite", path)
    assert first.id[:12] not in out
    code, out, _ = run(capsys, "list", "--sqlite", path, "--all")
    assert first.id[:12] in out
    assert run(capsys, "reopen", first.id, "--sqlite", path, "--by", "carol")[0] == 0
    code, out, _ = run(capsys, "show", first.id, "--sqlite", path)
    assert code == 0
    assert "reopened" in out
    assert "acknowledged    alice: acknowledged by alice" in out


def test_exit_codes_say_what_went_wrong(
    db: tuple[str, list[Incident]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1 refused by the state, 3 no such incident (or an ambiguous prefix), 4 the store failed."""
    path, (first, _) = db
    run(capsys, "ack", first.id, "--sqlite", path, "--by", "alice")
    code, _, err = run(capsys, "ack", first.id, "--sqlite", path, "--by", "bob")
    assert code == 1
    assert "refused:" in err
    assert "alice took it" in err
    code, _, err = run(capsys, "resolve", "nope", "--sqlite", path)
    assert (code, "no incident 'nope'" in err) == (3, True)
    code, _, err = run(capsys, "show", "", "--sqlite", path)
    assert code == 3
    other = tmp_path / "theirs.db"
    other.write_bytes(b"not a database at all" * 100)
    code, _, err = run(capsys, "list", "--sqlite", str(other))
    assert code == 4
    assert "theirs.db" in err
    with pytest.raises(SystemExit) as usage:
        main(["incidents", "list"])  # no store named
    assert usage.value.code == 2


def test_a_refused_value_exits_1_and_a_failing_store_4(
    db: tuple[str, list[Incident]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A --by naming nobody is an error of 1; the store failing once opened, of 4."""
    path, (first, _) = db
    code, _, err = run(capsys, "ack", first.id, "--sqlite", path, "--by", "  ")
    assert code == 1
    assert err.startswith("error: by must name who does it")

    def broken(*args: object, **kwargs: object) -> list[Incident]:
        raise OSError("disk I/O error")

    monkeypatch.setattr(IncidentTracker, "incidents", broken)
    code, _, err = run(capsys, "list", "--sqlite", path)
    assert (code, err) == (4, "error: disk I/O error\n")


def test_an_ambiguous_prefix_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A prefix that several ids begin with names them and asks for more."""
    path = tmp_path / "incidents.db"
    store = SQLiteIncidentStore(path)
    made = seed(store, 20)  # 20 random hex ids: two share a first digit
    store.close()
    firsts = [i.id[0] for i in made]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    code, _, err = run(capsys, "ack", shared, "--sqlite", str(path))
    assert code == 3
    assert "give more of the id" in err


def test_against_postgresql_in_a_real_process(pg_dsn: str) -> None:
    """The command, as a process of its own, acknowledges an incident in PostgreSQL."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    from resilience.stores import PostgresIncidentStore  # noqa: PLC0415

    prefix = f"rc_{uuid.uuid4().hex[:12]}"
    store = PostgresIncidentStore(pg_dsn, table_prefix=prefix)
    try:
        (incident,) = seed(store, 1)
        argv = ["incidents", "ack", incident.id, "--postgres", pg_dsn, "--table-prefix", prefix]
        done = subprocess.run(
            [sys.executable, "-m", "resilience", *argv, "--by", "alice"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert store.get(incident.id).acknowledged_by == "alice"
        helped = subprocess.run(
            [sys.executable, "-m", "resilience", "incidents", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert helped.returncode == 0
        assert "3 no such incident" in helped.stdout
    finally:
        store.close()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(f"{prefix}_incidents"))
            )


def test_what_people_wrote_is_shown_escaped(
    db: tuple[str, list[Incident]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A note with a newline and a terminal escape prints on one line, escaped."""
    path, (first, _) = db
    forged = "fixed\n  resolved         admin: all clear\x1b[2J"
    assert run(capsys, "note", first.id, "--sqlite", path, "--by", "mallory", forged)[0] == 0
    code, out, _ = run(capsys, "show", first.id, "--sqlite", path)
    assert code == 0
    assert "\x1b" not in out
    assert not any(line.lstrip().startswith("resolved") for line in out.splitlines())
    assert "fixed\\n" in out

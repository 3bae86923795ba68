"""python -m resilience report: a report, a post-mortem and diagnostics, from a real store."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from resilience import Incident, Resolution, Severity
from resilience._cli.main import main
from resilience.recovery import IncidentState
from resilience.stores import SQLiteIncidentStore

UNTIL = "2023-11-15T00:00:00"
END = 1_700_006_400.0  # 2023-11-15T00:00:00Z


def kept(tmp_path: Path) -> Path:
    path = tmp_path / "incidents.db"
    store = SQLiteIncidentStore(path)
    for n, (component, ago, took) in enumerate(
        [("db", 3600.0, 600.0), ("db", 7200.0, 1200.0), ("cache", 1800.0, None)]
    ):
        at = END - ago
        store.add(
            Incident(
                id=f"inc-{n}",
                component=component,
                reason="health check: password=hunter2 refused",
                severity=Severity.P1,
                started_at=at,
                ended_at=at + 60,
                resolution=Resolution.ESCALATED,
                detail="every stage failed",
                state=IncidentState.OPEN if took is None else IncidentState.RESOLVED,
                resolved_at=None if took is None else at + took,
                resolved_by=None if took is None else "alice",
            )
        )
    store.close()
    return path


def test_report_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON report of the last day has the store's incidents and their figures."""
    path = kept(tmp_path)

    code = main(
        ["report", "--store", str(path), "--days", "1", "--until", UNTIL, "--format", "json"]
    )

    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["end"] == END
    assert report["overall"]["incidents"] == 3
    assert report["overall"]["open"] == 1
    db = next(c for c in report["components"] if c["component"] == "db")
    assert db["mttr"] == 900.0
    assert report["top_failing"] == ["db", "cache"]


def test_report_as_markdown_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--output writes the Markdown report to a file; --component keeps one component."""
    path = kept(tmp_path)
    output = tmp_path / "report.md"

    code = main(
        [
            "report",
            "--store",
            str(path),
            "--until",
            UNTIL,
            "--component",
            "db",
            "--output",
            str(output),
        ]
    )

    assert code == 0
    assert f"written to {output}" in capsys.readouterr().out
    text = output.read_text()
    assert "- Incidents: 2 (P0 0, P1 2, P2 0, P3 0)" in text
    assert "| cache |" not in text


def test_postmortem_of_one_incident(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--postmortem prints the skeleton of that incident, its secrets redacted."""
    path = kept(tmp_path)

    assert main(["report", "--store", str(path), "--postmortem", "inc-1"]) == 0

    text = capsys.readouterr().out
    assert text.startswith("# Post-mortem: db, P1, ")
    assert "password=***" in text
    assert "hunter2" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store", "missing.db"], "no incident store at 'missing.db'"),
        (["--postmortem", "inc-1"], "--store is needed"),
        (["--days", "0"], "--days must be more than 0"),
        (["--until", "yesterday"], "--until must be a date or time in ISO 8601"),
        (["--postmortem", "nope"], "no incident 'nope' in the store; the latest are: inc-"),
    ],
)
def test_bad_requests_say_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """A missing store, a bad period or an unknown incident exits 2 with the reason."""
    path = kept(tmp_path)
    if "--store" not in args and "--store is needed" not in message:
        args = ["--store", str(path), *args]

    assert main(["report", *args]) == 2
    assert message in capsys.readouterr().out


def test_diagnostics_bundle_from_the_command_line(tmp_path: Path) -> None:
    """--diagnostics writes one JSON file: versions, the config's health, incidents, redacted."""
    path = kept(tmp_path)
    config = tmp_path / "app.toml"
    config.write_text(
        '[remotes.db]\ncheck = { tcp = "127.0.0.1:1", timeout = 0.5 }\n'
        '[store]\nredis = "redis://:hunter2@127.0.0.1:1/0"\n'
    )
    output = tmp_path / "diagnostics.json"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "resilience",
            "report",
            "--diagnostics",
            "--store",
            str(path),
            "--config",
            str(config),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    text = output.read_text()
    assert "hunter2" not in text
    bundle = json.loads(text)
    assert bundle["library"]["name"] == "resilience"
    assert bundle["health"]["status"] == "fail"
    assert "db" in bundle["health"]["checks"]
    assert bundle["incidents"]["kept"] == 3
    assert bundle["settings"]["store"]["redis"] == "redis://:***@127.0.0.1:1/0"


def test_report_from_a_postgresql_store(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--store takes a PostgreSQL connection string and --table-prefix the store's tables."""
    import psycopg  # noqa: PLC0415 - only with PostgreSQL
    from psycopg import sql  # noqa: PLC0415

    from resilience.stores import PostgresIncidentStore  # noqa: PLC0415

    prefix = f"rr_{uuid.uuid4().hex[:12]}"
    store = PostgresIncidentStore(pg_dsn, table_prefix=prefix)
    try:
        store.add(
            Incident(
                id="pg-1",
                component="db",
                reason="health check: refused",
                severity=Severity.P0,
                started_at=END - 600,
                ended_at=END - 540,
                resolution=Resolution.ESCALATED,
                detail="",
            )
        )
        store.close()
        args = ["report", "--store", pg_dsn, "--table-prefix", prefix, "--until", UNTIL]
        assert main([*args, "--format", "json", "--days", "1"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["overall"]["incidents"] == 1
        assert report["overall"]["open"] == 1
        assert report["components"][0]["by_severity"]["P0"] == 1
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            table = sql.Identifier(f"{prefix}_incidents")
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))

"""``python -m resilience report``: incident reports, post-mortems and the diagnostics bundle.

Reads the incidents of an SQLite (a file path) or PostgreSQL (a ``postgresql://`` URL or
a ``key=value`` string, with ``--table-prefix``) incident store, and prints, or writes
to ``--output``:

- the report of a period (``--days``, ending now or at ``--until``) as Markdown or JSON;
- with ``--postmortem ID``, the post-mortem skeleton of one incident;
- with ``--diagnostics``, one JSON file for support: versions, platform, the health of
  the remotes a ``--config`` file describes, the incidents, everything redacted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from resilience._core.clock import wall_time
from resilience._core.redact import redact_conninfo
from resilience._core.text import safe_str
from resilience.recovery import Incident, IncidentStore
from resilience.recovery._diagnostics import bundle_json, diagnostics_bundle
from resilience.recovery._postmortem import postmortem
from resilience.recovery._report import incident_report

__all__ = ["run_report"]

DAY = 24 * 3600.0


class ReportError(Exception):
    """The command cannot run as asked: the message says why and what to do."""


def _is_postgres(where: str) -> bool:
    """A ``postgresql://`` URL, or a libpq ``key=value`` string (``host=db dbname=ops``)."""
    return where.startswith(("postgres://", "postgresql://")) or "=" in where


def _open_store(where: str, prefix: str) -> IncidentStore:
    if _is_postgres(where):
        from resilience import stores  # noqa: PLC0415 - only with PostgreSQL

        store_type = getattr(stores, "PostgresIncidentStore", None)
        if store_type is None:
            raise ReportError("this version has no PostgreSQL incident store; use an SQLite file")
        try:
            store: IncidentStore = store_type(where, table_prefix=prefix)
        except Exception as exc:
            shown = redact_conninfo(where)
            raise ReportError(f"cannot open the incident store {shown}: {safe_str(exc)}") from None
        return store
    path = Path(where)
    if not path.is_file():
        raise ReportError(
            f"no incident store at {where!r}: give the SQLite file your RecoveryManager "
            "keeps its incidents in (SQLiteIncidentStore), or a postgresql:// URL"
        )
    from resilience.stores import SQLiteIncidentStore  # noqa: PLC0415

    return SQLiteIncidentStore(path)


def _incidents(where: str | None, prefix: str, *, needed: bool = True) -> list[Incident]:
    if where is None:
        if needed:
            raise ReportError(
                "--store is needed: the SQLite file or PostgreSQL URL of the incidents"
            )
        return []
    store = _open_store(where, prefix)
    try:
        return store.incidents()
    finally:
        store.close()


def _until(text: str | None) -> float:
    if text is None:
        return wall_time()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(
            f"--until must be a date or time in ISO 8601 (2025-03-31 or 2025-03-31T18:00), "
            f"got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _diagnostics(store: str | None, prefix: str, config: Path | None) -> str:
    health = None
    settings = None
    if config is not None:
        from resilience.config import ConfigError, load  # noqa: PLC0415 - only with --config

        try:
            loaded = load(config)
        except ConfigError as exc:
            raise ReportError(f"configuration is not valid:\n{exc}") from None
        health = loaded.health()
        settings = loaded.settings.model_dump(mode="json")
    try:
        bundle = diagnostics_bundle(
            health=health.run() if health is not None and health.names() else None,
            incidents=_incidents(store, prefix, needed=False),
            settings=settings,
        )
    finally:
        if health is not None:
            health.close()
    return bundle_json(bundle) + "\n"


def run_report(
    *,
    store: str | None,
    days: float,
    until: str | None,
    output_format: str,
    component: str | None,
    postmortem_of: str | None,
    diagnostics: bool,
    config: Path | None,
    output: Path | None,
    table_prefix: str = "resilience",
    out: TextIO = sys.stdout,
) -> int:
    """Run the command; 0 done, 2 when it cannot run as asked (the reason printed)."""
    try:
        if diagnostics:
            text = _diagnostics(store, table_prefix, config)
        elif postmortem_of is not None:
            text = _postmortem(store, table_prefix, postmortem_of)
        else:
            text = _report(
                store, table_prefix, days=days, until=until, fmt=output_format, component=component
            )
    except ReportError as exc:
        print(f"report: {exc}", file=out)
        return 2
    if output is None:
        out.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"written to {output}", file=out)
    return 0


def _postmortem(store: str | None, prefix: str, incident_id: str) -> str:
    incidents = _incidents(store, prefix)
    for incident in incidents:
        if incident.id == incident_id:
            return postmortem(incident)
    recent = ", ".join(i.id for i in incidents[-5:]) or "none"
    raise ReportError(f"no incident {incident_id!r} in the store; the latest are: {recent}")


def _report(
    store: str | None,
    prefix: str,
    *,
    days: float,
    until: str | None,
    fmt: str,
    component: str | None,
) -> str:
    if not days > 0:
        raise ReportError(f"--days must be more than 0, got {days:g}")
    end = _until(until)
    incidents = _incidents(store, prefix)
    names: Sequence[str] = ()
    if component is not None:
        incidents = [i for i in incidents if i.component == component]
        names = (component,)
    report = incident_report(incidents, start=end - days * DAY, end=end, components=names)
    return report.to_json() + "\n" if fmt == "json" else report.to_markdown()

"""``python -m resilience incidents list|show|ack|resolve|note|reopen``: incidents by hand.

Works on the store an application keeps its incidents in (``--sqlite FILE`` or
``--postgres DSN``), from any process: each change is one transaction, so the
application and the command never lose each other's updates.

It changes the store only: the application's notifiers are objects in its process, so
PagerDuty (and the like) is not told of an ``ack`` or ``resolve`` made here; the
manager's own ``acknowledge``/``resolve`` do tell it.

Exit codes: 0 done; 1 the incident's state does not allow it (already acknowledged,
resolved...); 2 bad usage (argparse); 3 no such incident, or an id prefix that matches
several; 4 the store could not be opened or used.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Final, TextIO

from resilience._core.redact import redact_conninfo
from resilience._core.text import one_line
from resilience.recovery import (
    Incident,
    IncidentError,
    IncidentTracker,
    MutableIncidentStore,
    UnknownIncidentError,
)
from resilience.recovery._incidents import iso

__all__ = ["EXIT_REFUSED", "EXIT_STORE", "EXIT_UNKNOWN", "run_incidents"]

EXIT_REFUSED, EXIT_UNKNOWN, EXIT_STORE = 1, 3, 4
_FAILED: Final[tuple[tuple[type[Exception], str, int], ...]] = (
    (UnknownIncidentError, "error", EXIT_UNKNOWN),  # an IncidentError too: first
    (IncidentError, "refused", EXIT_REFUSED),
    (ValueError, "error", EXIT_REFUSED),  # a value given is refused (a --by naming nobody)
    (OSError, "error", EXIT_STORE),
)
"""What a subcommand's failure prints before its message, and exits with: the first that fits."""


def run_incidents(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    """Run one ``incidents`` subcommand; its exit code."""
    try:
        store = _open(args)
    except (OSError, ValueError, ImportError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_STORE
    try:
        return _act(IncidentTracker(store), args, out=out, err=err)
    except (IncidentError, ValueError, OSError) as exc:
        label, code = next((label, code) for kind, label, code in _FAILED if isinstance(exc, kind))
        print(f"{label}: {exc}", file=err)
        return code
    finally:
        store.close()


def _open(args: argparse.Namespace) -> MutableIncidentStore:
    if args.sqlite is not None:
        from resilience.stores import SQLiteIncidentStore  # noqa: PLC0415 - one of the two

        return SQLiteIncidentStore(args.sqlite)
    from resilience.stores import PostgresIncidentStore  # noqa: PLC0415

    try:
        return PostgresIncidentStore(args.postgres, table_prefix=args.table_prefix)
    except TypeError as exc:  # psycopg's complaint about the DSN: shown without secrets
        raise ValueError(f"{redact_conninfo(args.postgres)}: {exc}") from None


def _act(tracker: IncidentTracker, args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    action = args.action
    if action == "list":
        kept = tracker.incidents(args.component, only_open=not args.all)
        if args.json:
            for incident in kept:
                print(json.dumps(incident.to_dict()), file=out)
        else:
            _table(kept, out)
        return 0
    incident_id = _resolve_id(tracker, args.id)
    if action == "show":
        incident = tracker.get(incident_id)
        if args.json:
            print(json.dumps(incident.to_dict(), indent=2), file=out)
        else:
            _show(incident, out)
        return 0
    by = args.by or getpass.getuser()
    if action == "ack":
        incident = tracker.acknowledge(incident_id, by=by, text=args.note)
    elif action == "resolve":
        incident = tracker.resolve(incident_id, by=by, text=args.note)
    elif action == "reopen":
        incident = tracker.reopen(incident_id, by=by, text=args.note)
    else:
        incident = tracker.note(incident_id, by=by, text=args.text)
    print(
        f"{incident.id} {incident.component}: {incident.state.value} ({action} by {by})", file=out
    )
    del err
    return 0


def _resolve_id(tracker: IncidentTracker, given: str) -> str:
    """The full id of ``given``: the id itself, or the one id it begins."""
    try:
        return tracker.get(given).id
    except UnknownIncidentError:
        matches = [i.id for i in tracker.incidents() if given and i.id.startswith(given)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise UnknownIncidentError(
                f"{given!r} begins {len(matches)} incidents' ids ({', '.join(matches[:5])}); "
                "give more of the id"
            ) from None
        raise


def _table(incidents: list[Incident], out: TextIO) -> None:
    if not incidents:
        print("no incidents", file=out)
        return
    print(
        f"{'ID':<12}  {'SEV':<3}  {'STATE':<12}  {'COMPONENT':<16}  {'STARTED':<25}  DETAIL",
        file=out,
    )
    for i in incidents:
        flags = " [flapping]" if i.flapping else ""
        print(
            f"{i.id[:12]:<12}  {i.severity.value:<3}  {i.state.value:<12}  "
            + one_line(f"{i.component[:16]:<16}  {iso(i.started_at):<25}  {i.detail}{flags}"),
            file=out,
        )


def _show(incident: Incident, out: TextIO) -> None:
    # What people and failures wrote is shown escaped: a note cannot forge a line of the
    # output or recolour the terminal.
    for line in incident.summary().splitlines():
        print(one_line(line), file=out)
    print("  timeline:", file=out)
    for entry in incident.timeline:
        text = f"{entry.kind.value:<15} {entry.by}: {entry.text}"
        print(f"    {iso(entry.at)}  {one_line(text)}", file=out)
    for breach in incident.breaches:
        print(
            f"  breach: {breach.severity.value} {breach.target.value} target, due "
            f"{iso(breach.due_at)}",
            file=out,
        )

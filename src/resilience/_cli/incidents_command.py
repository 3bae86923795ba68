"""``resilience incidents list|show|ack|resolve|reopen|note``: incidents by hand.

Exit codes: 0 done; 1 the incident's state does not allow it; 2 bad usage; 3 no such
incident, or an id prefix that matches several; 4 the store could not be opened or used.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from resilience._cli.command import Command

__all__ = ["COMMAND"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    store = argparse.ArgumentParser(add_help=False)
    where = store.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite", metavar="FILE", help="the SQLiteIncidentStore file")
    where.add_argument("--postgres", metavar="DSN", help="a PostgreSQL connection string")
    store.add_argument(
        "--table-prefix", default="resilience", help="of the PostgreSQL table (default: resilience)"
    )
    person = argparse.ArgumentParser(add_help=False)
    person.add_argument("id", help="the incident's id, or a prefix of it that only it has")
    person.add_argument("--by", default=None, help="who (default: the login name)")
    sub = parser.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", parents=[store], help="the open incidents (or all)")
    listing.add_argument("--all", action="store_true", help="resolved ones too")
    listing.add_argument("--component", help="only this component's")
    listing.add_argument("--json", action="store_true", help="as JSON, one record each")
    show = sub.add_parser("show", parents=[store], help="one incident, with its timeline")
    show.add_argument("id", help="the incident's id, or a prefix of it that only it has")
    show.add_argument("--json", action="store_true", help="as JSON")
    for name, what in (
        ("ack", "acknowledge: you are on it; escalation stops (ack in PagerDuty too)"),
        ("resolve", "resolve: it is over (resolve it in PagerDuty too)"),
        ("reopen", "re-open a resolved incident: it is back"),
    ):
        act = sub.add_parser(name, parents=[store, person], help=what)
        act.add_argument("--note", default="", help="what to write on the timeline")
    note = sub.add_parser("note", parents=[store, person], help="add a note to the timeline")
    note.add_argument("text", help="the note")


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from resilience._cli.incidents import run_incidents  # noqa: PLC0415 - only what it needs

    return run_incidents(args, out=out, err=sys.stderr)


COMMAND = Command(
    name="incidents",
    help="list, acknowledge, resolve and annotate the incidents of a SQLite or PostgreSQL "
    "store (exit 0 done, 1 refused by the incident's state, 2 bad usage, 3 no such "
    "incident, 4 the store failed)",
    arguments=_arguments,
    run=_run,
)

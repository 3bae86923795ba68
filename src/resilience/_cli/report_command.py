"""``resilience report``: incidents over a period, a post-mortem, a diagnostics bundle."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from resilience._cli.command import Command

__all__ = ["COMMAND"]


def _arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument(
        "--store", help="the incident store: an SQLite file, or a PostgreSQL URL or DSN"
    )
    report.add_argument(
        "--table-prefix", default="resilience", help="of a PostgreSQL store (default: resilience)"
    )
    report.add_argument("--days", type=float, default=30.0, help="the period (default: 30)")
    report.add_argument("--until", help="its end, ISO 8601 in UTC (default: now)")
    report.add_argument("--format", choices=["markdown", "json"], default="markdown")
    report.add_argument("--component", help="one component only")
    report.add_argument("--postmortem", metavar="ID", help="the post-mortem of one incident")
    report.add_argument(
        "--diagnostics", action="store_true", help="one JSON file for support, redacted"
    )
    report.add_argument(
        "--config", type=Path, help="with --diagnostics: the remotes whose health to include"
    )
    report.add_argument("--output", type=Path, help="write to this file instead of printing")


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from resilience._cli.report import run_report  # noqa: PLC0415 - only what it needs

    return run_report(
        store=args.store,
        days=args.days,
        until=args.until,
        output_format=args.format,
        component=args.component,
        postmortem_of=args.postmortem,
        diagnostics=args.diagnostics,
        config=args.config,
        output=args.output,
        table_prefix=args.table_prefix,
        out=out,
    )


COMMAND = Command(
    name="report",
    help="incidents over a period (MTTR, MTBF, availability), a post-mortem, diagnostics",
    arguments=_arguments,
    run=_run,
)

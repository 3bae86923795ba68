"""The command line: ``python -m resilience demo``, ``status``, ``incidents`` and ``report``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from resilience._cli.incidents import add_parser as add_incidents_parser

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m resilience",
        description="Circuit breakers, retries, batches and health: see them work, or "
        "check a configuration.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="simulated remotes failing and recovering, in a few seconds"
    )
    demo.add_argument("--web", action="store_true", help="also serve the live status page")
    demo.add_argument("--port", type=int, default=0, help="its port (default: any free one)")
    demo.add_argument(
        "--linger", type=float, default=0.0, help="seconds to keep serving after the demo"
    )
    status = commands.add_parser(
        "status", help="validate a configuration, run its checks, show the breakers"
    )
    status.add_argument("--config", type=Path, required=True, help="a .toml or .json file")
    _add_report(commands)
    add_incidents_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "incidents":
        from resilience._cli.incidents import run_incidents  # noqa: PLC0415

        return run_incidents(args, out=sys.stdout, err=sys.stderr)
    if args.command == "demo":
        from resilience._cli.demo import run_demo  # noqa: PLC0415 - only what the command needs

        return run_demo(web=args.web, port=args.port, linger=args.linger, out=sys.stdout)
    if args.command == "report":
        from resilience._cli.report import run_report  # noqa: PLC0415

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
            out=sys.stdout,
        )
    from resilience._cli.status import run_status  # noqa: PLC0415

    return run_status(args.config, out=sys.stdout)


def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        help="incidents over a period (MTTR, MTBF, availability), a post-mortem, diagnostics",
    )
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

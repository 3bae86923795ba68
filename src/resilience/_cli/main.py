"""The command line: ``python -m resilience demo``, ``status`` and ``incidents``."""

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
    add_incidents_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "incidents":
        from resilience._cli.incidents import run_incidents  # noqa: PLC0415

        return run_incidents(args, out=sys.stdout, err=sys.stderr)
    if args.command == "demo":
        from resilience._cli.demo import run_demo  # noqa: PLC0415 - only what the command needs

        return run_demo(web=args.web, port=args.port, linger=args.linger, out=sys.stdout)
    from resilience._cli.status import run_status  # noqa: PLC0415

    return run_status(args.config, out=sys.stdout)

"""``resilience demo``: simulated remotes failing and recovering."""

from __future__ import annotations

import argparse
from typing import TextIO

from resilience._cli.command import Command

__all__ = ["COMMAND"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--web", action="store_true", help="also serve the live status page")
    parser.add_argument("--port", type=int, default=0, help="its port (default: any free one)")
    parser.add_argument(
        "--linger", type=float, default=0.0, help="seconds to keep serving after the demo"
    )


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from resilience._cli.demo import run_demo  # noqa: PLC0415 - only what the command needs

    return run_demo(web=args.web, port=args.port, linger=args.linger, out=out)


COMMAND = Command(
    name="demo",
    help="simulated remotes failing and recovering, in a few seconds (exit 0 when every "
    "part behaved as documented, 1 if not)",
    arguments=_arguments,
    run=_run,
)

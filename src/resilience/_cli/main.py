"""The command line: ``resilience`` (the same as ``python -m resilience``).

Each subcommand is a :class:`~resilience._cli.command.Command` in a module of its own;
adding one is one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from resilience._cli.command import EXIT_INTERRUPTED, Command
from resilience._version import DISTRIBUTION, __version__

__all__ = ["COMMANDS", "main", "parser"]

COMMANDS: tuple[str, ...] = (
    "resilience._cli.demo_command",
    "resilience._cli.status_command",
    "resilience._cli.incidents_command",
    "resilience._cli.report_command",
)
"""The modules of the subcommands, in the order ``--help`` lists them; each has ``COMMAND``."""


def _commands() -> list[Command]:
    loaded = []
    for module in COMMANDS:
        command = importlib.import_module(module).COMMAND
        if not isinstance(command, Command):
            raise TypeError(f"{module}.COMMAND must be a Command, got {command!r}")
        loaded.append(command)
    return loaded


def parser() -> argparse.ArgumentParser:
    """The whole command line: every subcommand, with its ``--help``."""
    top = argparse.ArgumentParser(
        prog="resilience",
        description="Circuit breakers, retries, batches and health: see them work, or "
        "check a configuration.",
        epilog="exit status: 0 success (healthy), 1 the command ran and found a problem "
        "(unhealthy, a demo part misbehaved), 2 bad usage or an invalid configuration, "
        "130 interrupted. See docs/cli.md.",
    )
    top.add_argument(
        "--version", action="version", version=f"{DISTRIBUTION} {__version__}"
    )
    subcommands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _commands():
        sub = subcommands.add_parser(command.name, help=command.help, description=command.help)
        command.arguments(sub)
        sub.set_defaults(run=command.run)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status (see docs/cli.md)."""
    args = parser().parse_args(argv)
    try:
        status: int = args.run(args, sys.stdout)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    return status



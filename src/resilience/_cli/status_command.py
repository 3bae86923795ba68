"""``resilience status --config FILE``: validate a configuration, run its checks."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from resilience._cli.command import Command

__all__ = ["COMMAND"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, required=True, help="a .toml or .json file (.yaml with the "
        "yaml extra), read by resilience.config.load"
    )


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from resilience._cli.status import run_status  # noqa: PLC0415 - only what the command needs

    return run_status(args.config, out=out)


COMMAND = Command(
    name="status",
    help="validate a configuration, run its checks, show the breakers (exit 0 healthy, "
    "1 not, 2 invalid configuration)",
    arguments=_arguments,
    run=_run,
)

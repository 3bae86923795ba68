"""What a subcommand of the command line is, and the exit statuses they share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "Command"]

EXIT_OK = 0
"""It worked: the demo behaved as documented, the configuration is valid and healthy."""
EXIT_FAILED = 1
"""The command ran and found a problem: a critical component down, a part misbehaving."""
EXIT_USAGE = 2
"""Bad usage (argparse's own status) or a configuration that cannot be used."""
EXIT_INTERRUPTED = 130
"""Interrupted (Ctrl-C), as shells report SIGINT."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One subcommand: its name, one line of help, its arguments and what it runs.

    ``run`` takes the parsed arguments and the stream to print to, and returns the exit
    status. Its module should import what only the command needs inside ``run``, so
    that ``resilience --help`` stays quick.
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], object]
    run: Callable[[argparse.Namespace, TextIO], int]

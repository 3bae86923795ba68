"""The ``resilience`` command: its version, help on every subcommand, its exit statuses."""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import TextIO

import pytest

from resilience import __version__
from resilience._cli import main as cli
from resilience._cli.command import EXIT_INTERRUPTED, Command
from resilience._version import DISTRIBUTION
from servers import unavailable


def run(*args: str, command: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m resilience ARGS`` (or the installed ``command``), in a subprocess."""
    argv = [command, *args] if command else [sys.executable, "-m", "resilience", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_the_version_is_the_distributions() -> None:
    """``--version`` names the distribution and its version, read from the package metadata."""
    try:
        installed = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        unavailable(f"{DISTRIBUTION} is not installed: pip install -e '.[test]'")
    assert __version__ == installed
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout == f"{DISTRIBUTION} {installed}\n"


def test_the_console_script_is_python_m_resilience() -> None:
    """The installed ``resilience`` command prints the same as ``python -m resilience``."""
    script = shutil.which("resilience", path=str(Path(sys.executable).parent))
    if script is None:
        unavailable("the resilience console script is not installed: pip install -e '.[test]'")
    for args in (("--version",), ("--help",), ("status", "--help")):
        assert run(*args, command=script).stdout == run(*args).stdout


@pytest.mark.parametrize("name", ["demo", "status"])
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``resilience NAME --help`` describes it and exits 0."""
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    assert f"usage: resilience {name}" in capsys.readouterr().out


def test_help_lists_every_subcommand_and_the_exit_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``resilience --help`` lists the subcommands of COMMANDS and what each status means."""
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for module in cli.COMMANDS:
        assert importlib.import_module(module).COMMAND.name in out
    assert "130 interrupted" in " ".join(out.split())


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """No subcommand, or an unknown one, is bad usage: status 2, and the usage on stderr."""
    for argv in ([], ["nope"], ["status"]):
        with pytest.raises(SystemExit) as done:
            cli.main(argv)
        assert done.value.code == 2
        assert "usage: resilience" in capsys.readouterr().err


def test_a_subcommand_is_one_entry_and_an_interrupt_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A module with a COMMAND, named in COMMANDS, is a subcommand; Ctrl-C in it exits 130."""

    def interrupted(args: argparse.Namespace, out: TextIO) -> int:
        out.write(f"running {args.what}\n")
        raise KeyboardInterrupt

    module = types.ModuleType("resilience_test_command")
    module.COMMAND = Command(  # type: ignore[attr-defined]
        name="wait",
        help="waits",
        arguments=lambda parser: parser.add_argument("--what", default="x"),
        run=interrupted,
    )
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, module.__name__))
    assert cli.main(["wait", "--what", "it"]) == EXIT_INTERRUPTED
    captured = capsys.readouterr()
    assert captured.out == "running it\n"
    assert captured.err == "interrupted\n"

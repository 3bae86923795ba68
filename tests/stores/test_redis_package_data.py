"""The Redis stores' Lua scripts are package data: the built wheel must carry them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "resilience/stores/redis"


def test_every_lua_script_is_in_the_built_wheel(tmp_path: Path) -> None:
    """A wheel built from the source tree holds each .lua file beside the Redis modules."""
    scripts = sorted(p.name for p in (ROOT / "src" / PACKAGE).glob("*.lua"))
    assert scripts, "no .lua file in the source tree"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if built.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{built.stdout}\n{built.stderr}")
    (wheel,) = tmp_path.glob("resilience_engine-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        in_wheel = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith(f"{PACKAGE}/"))
        assert set(scripts) <= set(in_wheel)
        for name in scripts:
            assert archive.read(f"{PACKAGE}/{name}").decode() == (
                ROOT / "src" / PACKAGE / name
            ).read_text(encoding="utf-8")


def test_the_scripts_are_read_from_the_installed_package() -> None:
    """importlib.resources finds the scripts where the package is installed."""
    from resilience.stores.redis import _scripts  # noqa: PLC0415

    here = files("resilience.stores.redis")
    assert _scripts.BREAKER_FLUSH.startswith(here.joinpath("breaker_prelude.lua").read_text())
    assert "redis.call('TIME')" in _scripts.BREAKER_READ

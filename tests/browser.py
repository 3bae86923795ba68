"""Headless Chromium for the browser tests: Debian's ``/usr/bin/chromium`` driven by playwright.

When Chromium is missing and this process may install it (root, with apt-get on PATH), it
is installed once per session with ``apt-get install chromium`` (after ``apt-get update``
if the package lists need it), under a bounded timeout. Otherwise the tests that need it
skip with the reason, or fail under ``CI=true`` (see ``servers.unavailable``).

``RESILIENCE_CHROMIUM`` names another Chromium binary; ``RESILIENCE_NO_INSTALL=1`` turns
the installation off.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from servers import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("RESILIENCE_CHROMIUM", "/usr/bin/chromium")
INSTALL_TIMEOUT = 600.0
"""Seconds the whole installation (update and install) may take."""


def _apt(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args],
        capture_output=True,
        text=True,
        timeout=max(1.0, timeout),
        env=env,
        check=False,
    )


@functools.cache
def chromium() -> tuple[str | None, str]:
    """The Chromium binary, installing it if missing and possible; else None and why."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM, "found"
    if os.environ.get("RESILIENCE_NO_INSTALL") == "1":
        return None, f"Chromium is not installed at {CHROMIUM} (RESILIENCE_NO_INSTALL=1)"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None, (
            f"Chromium is not installed at {CHROMIUM}, and this process cannot install it "
            "(it needs root and apt-get): run `apt-get install chromium`, or set "
            "RESILIENCE_CHROMIUM to a Chromium binary"
        )
    start = time.monotonic()
    deadline = start + INSTALL_TIMEOUT
    install = ("install", "-y", "--no-install-recommends", "chromium")
    try:
        done = _apt(*install, timeout=deadline - time.monotonic())
        if done.returncode != 0:  # usually stale or missing package lists
            _apt("update", timeout=deadline - time.monotonic())
            done = _apt(*install, timeout=deadline - time.monotonic())
    except subprocess.TimeoutExpired:
        return None, f"installing Chromium with apt-get took over {INSTALL_TIMEOUT:g} s"
    if done.returncode != 0 or not os.access(CHROMIUM, os.X_OK):
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return None, f"`apt-get install chromium` failed ({done.returncode}): {' | '.join(tail)}"
    return CHROMIUM, f"installed with apt-get in {time.monotonic() - start:.0f} s"


@pytest.fixture
def browser_page() -> Iterator[Page]:
    """A page of a fresh headless Chromium; skipped (failed under CI=true) without one."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[test]'")
    binary, reason = chromium()
    if binary is None:
        unavailable(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=binary, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            yield page
        finally:
            browser.close()

"""Headless Chromium for the browser tests: Debian's ``/usr/bin/chromium`` driven by playwright.

The tests never install anything: ``.ci/run`` installs Chromium before the test command
(``apt-get install chromium``, as root). Without it the tests that need it skip with the
reason, or fail under ``CI=true`` (see ``servers.unavailable``).

``RESILIENCE_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from servers import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("RESILIENCE_CHROMIUM", "/usr/bin/chromium")


@functools.cache
def chromium() -> tuple[str | None, str]:
    """The Chromium binary, or None and why it is missing."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM, "found"
    return None, (
        f"Chromium is not installed at {CHROMIUM}: run `apt-get install chromium` (as "
        ".ci/run does), or set RESILIENCE_CHROMIUM to a Chromium binary"
    )


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

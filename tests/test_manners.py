"""The test suite's manners: groups by marker, and nothing installed from inside a test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
MARKERS = ("redis", "postgres", "browser", "slow")


def test_the_group_markers_are_registered(pytestconfig: pytest.Config) -> None:
    """redis, postgres, browser and slow are registered (and --strict-markers is on)."""
    registered = {line.split(":", 1)[0] for line in pytestconfig.getini("markers")}
    assert set(MARKERS) <= registered
    assert "--strict-markers" in pytestconfig.getini("addopts")


def test_a_component_fixture_marks_its_tests(request: pytest.FixtureRequest) -> None:
    """The collection hook marks a test by its fixtures: browser_page -> browser, and so on."""
    from conftest import pytest_collection_modifyitems  # noqa: PLC0415

    class Item:  # what the hook reads of a collected test, and what it calls
        def __init__(self, *fixturenames: str) -> None:
            self.fixturenames = fixturenames
            self.markers: list[str] = []

        def add_marker(self, marker: str) -> None:
            self.markers.append(marker)

    items = [Item("tmp_path", "browser_page"), Item("redis_server", "pg_dsn"), Item("tmp_path")]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.markers for item in items] == [["browser"], ["redis", "postgres"], []]
    assert request.node.get_closest_marker("browser") is None


def test_no_test_installs_system_packages() -> None:
    """No test module or conftest runs a system package manager: .ci/run installs."""
    offenders = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if path != Path(__file__)
        and re.search(r"""["'](apt-get|apt|dnf|yum|apk|brew)["']""", path.read_text())
    ]
    assert offenders == []

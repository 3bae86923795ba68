"""The test suite's manners: groups by marker, and nothing installed from inside a test."""

from __future__ import annotations

import os
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
        def __init__(self, *fixturenames: str, alone: bool = False) -> None:
            self.fixturenames = fixturenames
            self.alone = alone
            self.markers: list[object] = []

        def add_marker(self, marker: object) -> None:
            self.markers.append(marker)

        def get_closest_marker(self, name: str) -> object:
            return pytest.mark.alone.mark if name == "alone" and self.alone else None

    items = [
        Item("tmp_path", "browser_page"),
        Item("redis_server", "pg_dsn"),
        Item("tmp_path"),
        Item("redis_server", alone=True),
    ]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.markers for item in items] == [
        ["browser"],
        ["redis", "postgres"],
        [],
        ["redis", pytest.mark.xdist_group("alone")],  # alone tests queue on one worker
    ]
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


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_an_alone_test_excludes_every_other_and_others_share(tmp_path: Path) -> None:
    """The run's lock: an ``alone`` holder shuts out a shared taker; shared holders coexist."""
    import fcntl  # noqa: PLC0415

    from conftest import running_alone  # noqa: PLC0415

    def can_take(operation: int) -> bool:
        with (tmp_path / "running").open("a") as other:  # another worker's open file
            try:
                fcntl.flock(other, operation | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

    with running_alone(tmp_path, alone=True):
        assert not can_take(fcntl.LOCK_SH)
    with running_alone(tmp_path, alone=False):
        assert can_take(fcntl.LOCK_SH)
        assert not can_take(fcntl.LOCK_EX)
    assert can_take(fcntl.LOCK_EX)  # released on leaving

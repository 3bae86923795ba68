"""Shared test configuration: Hypothesis profiles for local runs and for CI, and markers.

``CI=true`` selects the ``ci`` profile (more examples, no example database, so every CI
run explores afresh and prints a reproduction blob on failure); anything else selects
``dev``, which is quicker. ``HYPOTHESIS_PROFILE=<name>`` overrides the choice. Deadlines
are off in both: the stateful tests run many steps per example, and a slow CI machine
must not turn that into a flaky ``DeadlineExceeded``.

The ``redis``, ``postgres`` and ``browser`` markers are applied here to every test using
the fixture that provides the component (so ``-m "not redis"`` deselects them); a test
whose component is missing skips with the reason, or fails under ``CI=true``
(``servers.unavailable``). Nothing here installs anything.

The suite runs on parallel workers (pytest-xdist, ``-n auto --dist loadgroup`` in
pyproject.toml); ``-n 0`` runs it in one process. A test marked ``alone`` measures real
time (e.g. a trip reaching every process within 200 ms), so no other test may run
beside it: every test holds a shared lock while it runs, and an ``alone`` test an
exclusive one (``running_alone``). The ``alone`` tests are one ``xdist_group`` too, so
they queue on one worker instead of stalling both in turn.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)

_default_profile = "ci" if os.environ.get("CI", "").lower() == "true" else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default_profile))

# Real servers for the fleet tests (a private redis-server, PostgreSQL): tests/servers.py.
from scripted_http import serve, server  # noqa: E402, F401
from servers import pg_dsn, redis_server  # noqa: E402, F401

# The fixture each component's tests use -> the marker they get.
_COMPONENTS = {"redis_server": "redis", "pg_dsn": "postgres", "browser_page": "browser"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups, in each worker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the components its fixtures need; group the ``alone`` ones."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, marker in _COMPONENTS.items():
            if fixture in names:
                item.add_marker(marker)
        if item.get_closest_marker("alone") is not None:
            item.add_marker(pytest.mark.xdist_group("alone"))


# ------------------------------------------------------------ tests that run alone

_LOCKS = pytest.StashKey[Path]()
_LOCKS_INPUT = "resilience_locks"  # the key of the workers' ``workerinput``


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """On the controller: give every worker the folder of the run's lock files."""
    config: pytest.Config = node.config
    if _LOCKS not in config.stash:
        config.stash[_LOCKS] = Path(tempfile.mkdtemp(prefix="resilience-test-locks-"))
    node.workerinput[_LOCKS_INPUT] = str(config.stash[_LOCKS])


def pytest_unconfigure(config: pytest.Config) -> None:
    """On the controller: remove the lock files once every worker is done."""
    if _LOCKS in config.stash:
        shutil.rmtree(config.stash[_LOCKS], ignore_errors=True)


@contextlib.contextmanager
def running_alone(folder: Path, *, alone: bool) -> Iterator[None]:
    """Hold the run's lock: shared for any test, exclusive for an ``alone`` one.

    A gate taken first makes a waiting ``alone`` test go before tests that start after
    it asked; otherwise the other worker's stream of shared holders could starve it.
    """
    import fcntl  # noqa: PLC0415 - POSIX only; elsewhere tests run without the lock

    with (folder / "gate").open("a") as gate, (folder / "running").open("a") as running:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(running, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(gate, fcntl.LOCK_UN)
        yield  # closing the files releases what is still held


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Under xdist, run each test (setup to teardown) holding the run's lock."""
    workerinput: dict[str, Any] = getattr(item.config, "workerinput", {})
    folder = workerinput.get(_LOCKS_INPUT)
    if folder is None or os.name != "posix":  # one process: nothing runs beside a test
        return (yield)
    with running_alone(Path(folder), alone=item.get_closest_marker("alone") is not None):
        return (yield)

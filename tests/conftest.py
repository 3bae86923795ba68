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
"""

from __future__ import annotations

import os

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the components its fixtures need."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, marker in _COMPONENTS.items():
            if fixture in names:
                item.add_marker(marker)

"""The pytest plugin registered by ``resilience``: fixtures for tests of code that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resilience.testing import FakeClock, set_testing


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`~resilience.testing.FakeClock` starting at 0.0."""
    return FakeClock()


@pytest.fixture
def no_retry_waits() -> Iterator[None]:
    """Every retry policy waits zero seconds during the test (see ``set_testing``)."""
    with set_testing():
        yield

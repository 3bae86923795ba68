"""Fixtures of the integration tests: scripted loopback HTTP servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from scripted_http import ScriptedServer


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], ScriptedServer]]:
    """Start loopback servers; each is stopped on teardown."""
    for scheme in ("http", "https", "all"):  # loopback must never go through a proxy
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    servers: list[ScriptedServer] = []

    def start() -> ScriptedServer:
        server = ScriptedServer()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(serve: Callable[[], ScriptedServer]) -> ScriptedServer:
    return serve()

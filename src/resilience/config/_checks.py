"""The health checks a configuration describes: an HTTP GET, a TCP connect, an SQLite file."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable

from resilience.config._sections import CheckConfig
from resilience.contrib.sqlite import sqlite_check
from resilience.health import CheckResult, ComponentStatus

__all__ = ["check"]


def _http_only() -> urllib.request.OpenerDirector:
    """An opener without file:, ftp: or data: handlers: a redirect cannot reach them."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


_HTTP_ONLY = _http_only()


def check(config: CheckConfig) -> Callable[[], CheckResult]:
    """The check function ``config`` describes, for :meth:`HealthRegistry.register`."""
    timeout = config.timeout
    if config.http is not None:
        url = config.http

        def http() -> CheckResult:
            request = urllib.request.Request(url, method="GET")  # noqa: S310 - checked: http(s)
            try:
                with _HTTP_ONLY.open(request, timeout=timeout) as response:
                    return CheckResult(ComponentStatus.OK, f"HTTP {response.status}")
            except urllib.error.HTTPError as exc:
                return CheckResult(ComponentStatus.ERROR, f"HTTP {exc.code}")

        return http
    if config.tcp is not None:
        host, port = config.tcp.rsplit(":", 1)

        def tcp() -> CheckResult:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return CheckResult(ComponentStatus.OK, f"{host}:{port} accepts connections")

        return tcp
    assert config.sqlite is not None  # noqa: S101 - the model allows no other case
    return sqlite_check(config.sqlite)

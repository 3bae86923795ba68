"""The resilient requests adapter, against a real loopback HTTP server that fails on cue."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest
import requests

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitOpenError,
    CircuitState,
    RetryPolicy,
    RetryScheduled,
)
from resilience.contrib.requests import (
    IDEMPOTENT,
    CircuitOpenRequestError,
    ResilientAdapter,
    host_key,
)
from resilience.testing import FakeClock
from scripted_http import Reply, ScriptedServer

UNAVAILABLE = Reply(503, b"down")


def policy(clock: FakeClock, **kwargs: object) -> RetryPolicy:
    return RetryPolicy(attempts=3, clock=clock).replace(**kwargs)


@pytest.fixture
def breakers(fake_clock: FakeClock) -> BreakerRegistry:
    return BreakerRegistry(BreakerConfig(failure_threshold=5, open_for=30), clock=fake_clock)


def session_with(adapter: ResilientAdapter) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback must never go through a proxy
    session.mount("http://", adapter)
    return session


@pytest.fixture
def session(fake_clock: FakeClock, breakers: BreakerRegistry) -> Iterator[requests.Session]:
    with session_with(ResilientAdapter(retry=policy(fake_clock), breakers=breakers)) as session:
        yield session


def test_retries_503s_until_200(session: requests.Session, server: ScriptedServer) -> None:
    """Two 503s then a 200: the caller sees the 200, the server saw three requests."""
    server.script("/a", UNAVAILABLE, UNAVAILABLE, Reply(200, b"fine"))
    response = session.get(server.url("/a"), timeout=5)
    assert response.status_code == 200
    assert response.text == "fine"
    assert len(server.seen("/a")) == 3


def test_retry_after_is_honoured(server: ScriptedServer, fake_clock: FakeClock) -> None:
    """A 429 with Retry-After: 7 makes the retry wait 7 s (on the fake clock), then succeeds."""
    server.script("/a", Reply(429, b"slow down", (("Retry-After", "7"),)), Reply())
    waits: list[RetryScheduled] = []
    adapter = ResilientAdapter(retry=policy(fake_clock, on_retry=waits.append))
    with session_with(adapter) as session:
        assert session.get(server.url("/a"), timeout=5).status_code == 200
    assert [w.delay for w in waits] == [7.0]
    assert fake_clock.monotonic() == 7.0  # waited on the fake clock, not for real


def test_not_found_is_returned_at_once(session: requests.Session, server: ScriptedServer) -> None:
    """A 404 is permanent: returned as it came, after one request."""
    server.script("/a", Reply(404, b"no such thing"))
    response = session.get(server.url("/a"), timeout=5)
    assert (response.status_code, response.text) == (404, "no such thing")
    assert len(server.seen("/a")) == 1


def test_last_response_is_returned_when_retries_run_out(
    session: requests.Session, server: ScriptedServer
) -> None:
    """Three 503s: the third response is returned with its body, not an exception."""
    server.script("/a", UNAVAILABLE, UNAVAILABLE, Reply(503, b"still down"))
    response = session.get(server.url("/a"), timeout=5)
    assert (response.status_code, response.text) == (503, "still down")
    assert len(server.seen("/a")) == 3


def test_post_is_sent_once_unless_idempotency_key(
    session: requests.Session, server: ScriptedServer
) -> None:
    """A POST is not retried; with an Idempotency-Key it is, with the same body each time."""
    server.script("/a", UNAVAILABLE, Reply())
    assert session.post(server.url("/a"), data=b"order", timeout=5).status_code == 503
    assert len(server.seen("/a")) == 1
    server.script("/b", UNAVAILABLE, Reply())
    response = session.post(
        server.url("/b"), data=b"order", headers={"Idempotency-Key": "k1"}, timeout=5
    )
    assert response.status_code == 200
    assert [s.body for s in server.seen("/b")] == [b"order", b"order"]


def test_a_streamed_body_is_sent_once(session: requests.Session, server: ScriptedServer) -> None:
    """A PUT of a file object cannot be replayed: it is sent once, the 503 returned."""
    server.script("/a", UNAVAILABLE, Reply())
    response = session.put(server.url("/a"), data=io.BytesIO(b"blob"), timeout=5)
    assert response.status_code == 503
    assert len(server.seen("/a")) == 1


def test_open_circuit_rejects_without_sending(
    serve: Callable[[], ScriptedServer], fake_clock: FakeClock
) -> None:
    """Failures open one host's circuit; its requests are then refused, another host's go on."""
    down, up = serve(), serve()
    down.script("/", *[UNAVAILABLE] * 5)
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=60), clock=fake_clock)
    with session_with(ResilientAdapter(retry=policy(fake_clock), breakers=breakers)) as session:
        assert session.get(down.url(), timeout=5).status_code == 503
        assert len(down.seen()) == 2  # the second 503 opened it: no third attempt
        assert breakers.get(down.host).state is CircuitState.OPEN
        assert session.get(up.url(), timeout=5).status_code == 200
        with pytest.raises(requests.RequestException) as caught:
            session.get(down.url(), timeout=5)
    error = caught.value
    assert isinstance(error, CircuitOpenRequestError)
    assert isinstance(error, CircuitOpenError)
    assert error.name == down.host
    assert error.retry_after == 60.0
    assert error.request is not None
    assert len(down.seen()) == 2


def test_connection_refused_is_retried_then_raised(
    fake_clock: FakeClock, breakers: BreakerRegistry
) -> None:
    """A refused connection is retried, then raised as requests' ConnectionError, with a note."""
    import socket  # noqa: PLC0415

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    retries: list[RetryScheduled] = []
    adapter = ResilientAdapter(retry=policy(fake_clock, on_retry=retries.append), breakers=breakers)
    try:
        with session_with(adapter) as session, pytest.raises(requests.ConnectionError) as caught:
            session.get(f"http://127.0.0.1:{port}/", timeout=5)
    finally:
        sock.close()
    assert len(retries) == 2
    assert "gave up after 3 attempts" in caught.value.__notes__[0]
    assert breakers.get(f"127.0.0.1:{port}").snapshot().consecutive_failures == 3


def test_retried_connections_are_reused(session: requests.Session, server: ScriptedServer) -> None:
    """The small bodies of retried responses are read, so one connection serves every attempt."""
    server.script("/a", UNAVAILABLE, UNAVAILABLE, Reply())
    assert session.get(server.url("/a"), timeout=5).status_code == 200
    assert len({s.connection for s in server.seen("/a")}) == 1


def test_no_retry_and_custom_methods(server: ScriptedServer, fake_clock: FakeClock) -> None:
    """retry=None sends once; retry_methods adds POST to the methods retried."""
    server.script("/a", UNAVAILABLE, Reply())
    with session_with(ResilientAdapter(retry=None)) as session:
        assert session.get(server.url("/a"), timeout=5).status_code == 503
    server.script("/b", UNAVAILABLE, Reply())
    adapter = ResilientAdapter(retry=policy(fake_clock), retry_methods=IDEMPOTENT | {"post"})
    with session_with(adapter) as session:
        assert session.post(server.url("/b"), json={"a": 1}, timeout=5).status_code == 200
    assert "ResilientAdapter(" in repr(adapter)
    assert adapter.breakers.get(server.host).state is CircuitState.CLOSED


def test_host_key_matches_the_httpx_names() -> None:
    """The default key is the lower-case host, with the port unless it is the scheme's own."""

    def key(url: str) -> str:
        return host_key(requests.Request("GET", url).prepare())

    assert key("https://API.example.com:443/x") == "api.example.com"
    assert key("http://example.com:8080/") == "example.com:8080"
    assert key("http://user:pw@[::1]:99/") == "[::1]:99"


def test_arguments_are_checked() -> None:
    """Wrong retry_methods, breakers or retry are refused with TypeError naming them."""
    with pytest.raises(TypeError, match="retry_methods"):
        ResilientAdapter(retry_methods="POST")
    with pytest.raises(TypeError, match="BreakerRegistry"):
        ResilientAdapter(breakers={})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RetryPolicy"):
        ResilientAdapter(retry=3)  # type: ignore[arg-type]

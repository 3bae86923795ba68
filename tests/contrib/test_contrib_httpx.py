"""Resilient httpx transports, against a real loopback HTTP server that fails on cue."""

from __future__ import annotations

import gc
import socket
import warnings
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from resilience import (
    Backoff,
    BreakerConfig,
    BreakerRegistry,
    CircuitOpenError,
    CircuitState,
    RetryPolicy,
    RetryScheduled,
)
from resilience.contrib.httpx import (
    IDEMPOTENT,
    AsyncResilientTransport,
    CircuitOpenTransportError,
    ResilientTransport,
    host_key,
)
from resilience.testing import FakeClock
from scripted_http import Reply, ScriptedServer


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound by nobody listening: connecting to it is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@pytest.fixture
def breakers(fake_clock: FakeClock) -> BreakerRegistry:
    return BreakerRegistry(BreakerConfig(failure_threshold=5, open_for=60), clock=fake_clock)


def policy(clock: FakeClock, **kwargs: object) -> RetryPolicy:
    return RetryPolicy(attempts=3, clock=clock).replace(**kwargs)


@pytest.fixture
def client(fake_clock: FakeClock, breakers: BreakerRegistry) -> Iterator[httpx.Client]:
    transport = ResilientTransport(retry=policy(fake_clock), breakers=breakers)
    with httpx.Client(transport=transport, timeout=5) as client:
        yield client


@pytest.fixture
async def aclient(
    fake_clock: FakeClock, breakers: BreakerRegistry
) -> AsyncIterator[httpx.AsyncClient]:
    transport = AsyncResilientTransport(retry=policy(fake_clock), breakers=breakers)
    async with httpx.AsyncClient(transport=transport, timeout=5) as client:
        yield client


def failures(breakers: BreakerRegistry, server: ScriptedServer) -> int:
    return breakers.get(server.host).snapshot().consecutive_failures


UNAVAILABLE = Reply(503, b"down")


# ------------------------------------------------------------------ sync


def test_retries_503s_until_200(server: ScriptedServer, client: httpx.Client) -> None:
    """A GET answered 503 is retried until the server answers 200."""
    server.script("/a", UNAVAILABLE, UNAVAILABLE, Reply(200, b"fine"))

    response = client.get(server.url("/a"))

    assert response.status_code == 200
    assert response.text == "fine"
    assert len(server.seen("/a")) == 3


def test_retry_after_is_honoured(server: ScriptedServer, fake_clock: FakeClock) -> None:
    """A 429's Retry-After is waited out, on the policy's clock, before the retry."""
    server.script("/a", Reply(429, b"slow down", (("Retry-After", "1"),)), Reply())
    retry = policy(fake_clock, backoff=Backoff(initial=0.01))
    with httpx.Client(transport=ResilientTransport(retry=retry), timeout=5) as client:
        response = client.get(server.url("/a"))

    assert response.status_code == 200
    assert fake_clock.monotonic() >= 1.0  # waited as long as the server asked, on the fake clock
    assert len(server.seen("/a")) == 2


def test_gives_up_returning_the_final_response_untouched(
    server: ScriptedServer, client: httpx.Client, breakers: BreakerRegistry
) -> None:
    """After the last attempt the final response is returned unread, every attempt counted."""
    server.script(
        "/a", *(Reply(503, f"down {n}".encode(), (("X-Attempt", str(n)),)) for n in (1, 2, 3))
    )

    with client.stream("GET", server.url("/a")) as response:
        assert not response.is_stream_consumed  # the caller reads it, as if sent once
        assert response.read() == b"down 3"
    assert response.status_code == 503
    assert response.headers["x-attempt"] == "3"
    assert len(server.seen("/a")) == 3
    assert failures(breakers, server) == 3  # every attempt counted against the host


def test_permanent_response_is_returned_at_once_and_does_not_count(
    server: ScriptedServer, client: httpx.Client, breakers: BreakerRegistry
) -> None:
    """A 404 is returned at once and counts neither as a failure nor as a success."""
    server.script("/post", UNAVAILABLE)
    server.script("/missing", Reply(404, b"no such thing"))
    client.post(server.url("/post"))
    assert failures(breakers, server) == 1

    response = client.get(server.url("/missing"))

    assert response.status_code == 404
    assert response.text == "no such thing"
    assert len(server.seen("/missing")) == 1
    assert failures(breakers, server) == 1  # neither a failure nor a success


def test_permanent_response_counts_with_count_permanent(
    server: ScriptedServer, fake_clock: FakeClock
) -> None:
    """With count_permanent, a 404 counts as a failure, and still is not retried."""
    server.script("/missing", Reply(404))
    breakers = BreakerRegistry(BreakerConfig(count_permanent=True), clock=fake_clock)
    transport = ResilientTransport(retry=policy(fake_clock), breakers=breakers)
    with httpx.Client(transport=transport) as client:
        assert client.get(server.url("/missing")).status_code == 404
    assert len(server.seen("/missing")) == 1  # still not retried
    assert failures(breakers, server) == 1


def test_post_is_not_retried(
    server: ScriptedServer, client: httpx.Client, breakers: BreakerRegistry
) -> None:
    """A POST is sent once, not retried, but still goes through the breaker."""
    server.script("/orders", UNAVAILABLE, Reply(201))

    response = client.post(server.url("/orders"), json={"item": 1})

    assert response.status_code == 503
    assert len(server.seen("/orders")) == 1
    assert failures(breakers, server) == 1  # but it went through the breaker


def test_post_with_an_idempotency_key_is_retried(
    server: ScriptedServer, client: httpx.Client
) -> None:
    """A POST with an Idempotency-Key is retried with the same body."""
    server.script("/orders", UNAVAILABLE, Reply(201))

    response = client.post(
        server.url("/orders"), json={"item": 1}, headers={"Idempotency-Key": "order-1"}
    )

    assert response.status_code == 201
    first, second = server.seen("/orders")
    assert first.body == second.body == b'{"item":1}'  # the body was sent again


def test_post_in_retry_methods_is_retried(server: ScriptedServer, fake_clock: FakeClock) -> None:
    """A POST is retried when retry_methods names it."""
    server.script("/orders", UNAVAILABLE, Reply(201))
    transport = ResilientTransport(retry=policy(fake_clock), retry_methods=IDEMPOTENT | {"post"})
    with httpx.Client(transport=transport) as client:
        assert client.post(server.url("/orders"), content=b"x").status_code == 201
    assert len(server.seen("/orders")) == 2


def test_streaming_body_is_not_retried(server: ScriptedServer, client: httpx.Client) -> None:
    """A request whose body is a generator is sent once: it cannot be replayed."""
    server.script("/upload", UNAVAILABLE, Reply())

    response = client.put(server.url("/upload"), content=iter([b"part 1, ", b"part 2"]))

    assert response.status_code == 503  # a generator can be sent only once
    [seen] = server.seen("/upload")
    assert seen.body == b"part 1, part 2"


def test_breakers_are_per_host(serve: Callable[[], ScriptedServer], fake_clock: FakeClock) -> None:
    """Each host has its own breaker; an open one rejects without a request."""
    down, up = serve(), serve()
    down.script("/", *[UNAVAILABLE] * 5)
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=60), clock=fake_clock)
    transport = ResilientTransport(retry=policy(fake_clock), breakers=breakers)
    with httpx.Client(transport=transport) as client:
        # The second 503 opens the circuit: no third attempt, the last response returned.
        assert client.get(down.url()).status_code == 503
        assert len(down.seen()) == 2
        assert breakers.get(down.host).state is CircuitState.OPEN

        assert client.get(up.url()).status_code == 200
        assert breakers.get(up.host).state is CircuitState.CLOSED

        with pytest.raises(CircuitOpenError) as caught:
            client.get(down.url())
    assert caught.value.name == down.host
    assert len(down.seen()) == 2  # rejected without a request
    assert sorted(breakers.snapshot()) == sorted([down.host, up.host])


def test_connection_refused_is_retried_then_raised(
    refused_port: int, fake_clock: FakeClock, breakers: BreakerRegistry
) -> None:
    """A refused connection is retried, then raised with a note, each attempt a failure."""
    retries: list[RetryScheduled] = []
    transport = ResilientTransport(
        retry=policy(fake_clock, on_retry=retries.append), breakers=breakers
    )
    with httpx.Client(transport=transport) as client, pytest.raises(httpx.ConnectError) as caught:
        client.get(f"http://127.0.0.1:{refused_port}/")
    assert len(retries) == 2
    assert "gave up after 3 attempts" in caught.value.__notes__[0]
    snapshot = breakers.get(f"127.0.0.1:{refused_port}").snapshot()
    assert snapshot.consecutive_failures == 3


def test_retried_responses_are_closed_and_connections_reused(
    server: ScriptedServer, fake_clock: FakeClock
) -> None:
    """Retried responses are closed, and their small bodies read so the connection is reused."""
    server.script("/a", UNAVAILABLE, UNAVAILABLE, Reply())
    retried: list[httpx.Response] = []

    def keep(event: RetryScheduled) -> None:
        retried.append(getattr(event.error, "response"))  # noqa: B009 - any error shape

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        transport = ResilientTransport(retry=policy(fake_clock, on_retry=keep))
        with httpx.Client(transport=transport) as client:
            assert client.get(server.url("/a")).status_code == 200
        gc.collect()

    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert len(retried) == 2
    assert all(r.is_closed for r in retried)
    # Small error bodies were read before the retry: one connection served all three.
    assert len({s.connection for s in server.seen("/a")}) == 1
    server.wait_all_closed()


def test_large_error_bodies_are_closed_unread(
    server: ScriptedServer, fake_clock: FakeClock
) -> None:
    """A large error body is closed unread before the retry, dropping its connection."""
    server.script("/a", Reply(503, b"x" * 200_000), Reply())
    retried: list[httpx.Response] = []

    def keep(event: RetryScheduled) -> None:
        retried.append(getattr(event.error, "response"))  # noqa: B009 - any error shape

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        transport = ResilientTransport(retry=policy(fake_clock, on_retry=keep))
        with httpx.Client(transport=transport) as client:
            assert client.get(server.url("/a")).status_code == 200
            [first_response] = retried
            assert first_response.is_closed  # before the client closed its pool
            assert not first_response.is_stream_consumed
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    first, second = server.seen("/a")
    assert first.connection != second.connection  # dropped, not drained
    server.wait_all_closed()


def test_no_retry_policy_sends_once(server: ScriptedServer) -> None:
    """With retry=None the request is sent once."""
    server.script("/a", UNAVAILABLE, Reply())
    with httpx.Client(transport=ResilientTransport(retry=None)) as client:
        assert client.get(server.url("/a")).status_code == 503
    assert len(server.seen("/a")) == 1


def test_custom_key_groups_hosts(
    serve: Callable[[], ScriptedServer], fake_clock: FakeClock
) -> None:
    """A custom key puts requests to different hosts under one breaker."""
    one, two = serve(), serve()
    breakers = BreakerRegistry(clock=fake_clock)
    transport = ResilientTransport(retry=None, breakers=breakers, key=lambda _request: "backend")
    with httpx.Client(transport=transport) as client:
        client.get(one.url())
        client.get(two.url())
    assert list(breakers.snapshot()) == ["backend"]


def test_host_key() -> None:
    """The default key is the lower-case host, with the port unless it is the scheme's own."""
    assert host_key(httpx.Request("GET", "https://API.example.com:443/x")) == "api.example.com"
    assert host_key(httpx.Request("GET", "http://example.com:8080/")) == "example.com:8080"
    assert host_key(httpx.Request("GET", "http://[::1]:99/")) == "[::1]:99"


def test_default_breakers_are_reachable(server: ScriptedServer) -> None:
    """A transport built without breakers makes its own registry, reachable as breakers."""
    transport = ResilientTransport(retry=None)
    with httpx.Client(transport=transport) as client:
        client.get(server.url())
    assert transport.breakers.get(server.host).state is CircuitState.CLOSED
    assert "ResilientTransport(" in repr(transport)


def test_arguments_are_checked() -> None:
    """Wrong transports, retry_methods, breakers or retry are refused with TypeError."""
    with pytest.raises(TypeError, match="AsyncResilientTransport"):
        ResilientTransport(httpx.AsyncHTTPTransport())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ResilientTransport"):
        AsyncResilientTransport(httpx.HTTPTransport())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retry_methods"):
        ResilientTransport(retry_methods="POST")
    with pytest.raises(TypeError, match="BreakerRegistry"):
        ResilientTransport(breakers=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RetryPolicy"):
        ResilientTransport(retry=3)  # type: ignore[arg-type]


# ------------------------------------------------------------------ async


async def test_async_retries_503s_until_200(
    server: ScriptedServer, aclient: httpx.AsyncClient
) -> None:
    """The async transport retries a 503 until the server answers 200."""
    server.script("/a", UNAVAILABLE, UNAVAILABLE, Reply(200, b"fine"))

    response = await aclient.get(server.url("/a"))

    assert response.status_code == 200
    assert response.text == "fine"
    assert len(server.seen("/a")) == 3


async def test_async_retry_after_is_honoured(server: ScriptedServer, fake_clock: FakeClock) -> None:
    """The async transport waits out a 503's Retry-After on the policy's clock."""
    server.script("/a", Reply(503, b"", (("Retry-After", "2"),)), Reply())
    transport = AsyncResilientTransport(retry=policy(fake_clock))
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(server.url("/a"))).status_code == 200
    assert fake_clock.monotonic() >= 2.0


async def test_async_gives_up_returning_the_final_response_untouched(
    server: ScriptedServer, aclient: httpx.AsyncClient
) -> None:
    """The async transport returns the final response unread after the last attempt."""
    server.script("/a", *(Reply(503, f"down {n}".encode()) for n in (1, 2, 3)))

    async with aclient.stream("GET", server.url("/a")) as response:
        assert not response.is_stream_consumed
        assert await response.aread() == b"down 3"
    assert response.status_code == 503
    assert len(server.seen("/a")) == 3


async def test_async_post_is_retried_only_when_safe(
    server: ScriptedServer, aclient: httpx.AsyncClient, breakers: BreakerRegistry
) -> None:
    """The async transport retries a POST only when it has an Idempotency-Key."""
    server.script("/plain", UNAVAILABLE, Reply(201))
    server.script("/keyed", UNAVAILABLE, Reply(201))

    assert (await aclient.post(server.url("/plain"), json={})).status_code == 503
    keyed = await aclient.post(server.url("/keyed"), json={}, headers={"Idempotency-Key": "k"})

    assert keyed.status_code == 201
    assert len(server.seen("/plain")) == 1
    assert len(server.seen("/keyed")) == 2


async def test_async_retry_methods(server: ScriptedServer, fake_clock: FakeClock) -> None:
    """The async transport retries a POST when retry_methods names it."""
    server.script("/orders", UNAVAILABLE, Reply(201))
    transport = AsyncResilientTransport(retry=policy(fake_clock), retry_methods={"GET", "POST"})
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.post(server.url("/orders"), content=b"x")).status_code == 201
    assert len(server.seen("/orders")) == 2


async def test_async_streaming_body_is_not_retried(
    server: ScriptedServer, aclient: httpx.AsyncClient
) -> None:
    """The async transport sends a request with an async generator body once."""
    server.script("/upload", UNAVAILABLE, Reply())

    async def body() -> AsyncIterator[bytes]:
        yield b"part 1, "
        yield b"part 2"

    response = await aclient.put(server.url("/upload"), content=body())

    assert response.status_code == 503
    [seen] = server.seen("/upload")
    assert seen.body == b"part 1, part 2"


async def test_async_breakers_are_per_host(
    serve: Callable[[], ScriptedServer], fake_clock: FakeClock
) -> None:
    """The async transport keeps one breaker per host; an open one rejects without a request."""
    down, up = serve(), serve()
    down.script("/", *[UNAVAILABLE] * 5)
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=60), clock=fake_clock)
    transport = AsyncResilientTransport(retry=policy(fake_clock), breakers=breakers)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(down.url())).status_code == 503
        assert len(down.seen()) == 2
        assert (await client.get(up.url())).status_code == 200
        with pytest.raises(CircuitOpenError):
            await client.get(down.url())
    assert len(down.seen()) == 2
    assert breakers.get(up.host).state is CircuitState.CLOSED


async def test_async_connection_refused_is_retried_then_raised(
    refused_port: int, aclient: httpx.AsyncClient, breakers: BreakerRegistry
) -> None:
    """The async transport retries a refused connection, then raises it, each attempt counted."""
    with pytest.raises(httpx.ConnectError):
        await aclient.get(f"http://127.0.0.1:{refused_port}/")
    assert breakers.get(f"127.0.0.1:{refused_port}").snapshot().consecutive_failures == 3


async def test_async_retried_responses_are_closed(
    server: ScriptedServer, fake_clock: FakeClock
) -> None:
    """The async transport closes retried responses, dropping the connection of a large body."""
    server.script("/a", UNAVAILABLE, Reply(503, b"x" * 200_000), Reply())
    retried: list[httpx.Response] = []

    def keep(event: RetryScheduled) -> None:
        retried.append(getattr(event.error, "response"))  # noqa: B009 - any error shape

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        transport = AsyncResilientTransport(retry=policy(fake_clock, on_retry=keep))
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await client.get(server.url("/a"))).status_code == 200
            assert len(retried) == 2
            assert all(r.is_closed for r in retried)
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    first, second, third = server.seen("/a")
    assert first.connection == second.connection != third.connection
    server.wait_all_closed()


def test_a_rejection_by_an_open_circuit_is_an_httpx_transport_error(
    server: ScriptedServer, fake_clock: FakeClock
) -> None:
    """`except httpx.TransportError` catches an open circuit's rejection, a CircuitOpenError."""
    server.script("/", *[UNAVAILABLE] * 2)
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=60), clock=fake_clock)
    transport = ResilientTransport(retry=policy(fake_clock), breakers=breakers)
    with httpx.Client(transport=transport) as client:
        assert client.get(server.url()).status_code == 503
        with pytest.raises(httpx.TransportError) as caught:
            client.get(server.url())
    error = caught.value
    assert isinstance(error, CircuitOpenTransportError)
    assert isinstance(error, CircuitOpenError)
    assert error.name == server.host
    assert error.retry_after == 60.0
    assert error.request.url == server.url()
    assert len(server.seen()) == 2  # nothing was sent


async def test_an_async_rejection_by_an_open_circuit_is_an_httpx_transport_error(
    server: ScriptedServer, fake_clock: FakeClock
) -> None:
    """The async transport's rejection is an httpx.TransportError and a CircuitOpenError."""
    server.script("/", *[UNAVAILABLE] * 2)
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=1, open_for=60), clock=fake_clock)
    transport = AsyncResilientTransport(retry=None, breakers=breakers)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(server.url())).status_code == 503
        with pytest.raises(httpx.TransportError) as caught:
            await client.get(server.url())
    assert isinstance(caught.value, CircuitOpenTransportError)
    assert len(server.seen()) == 1

"""The resilient aiohttp client middleware, against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitOpenError,
    CircuitState,
    RetryPolicy,
    RetryScheduled,
)
from resilience.contrib.aiohttp import CircuitOpenClientError, ResilientMiddleware, host_key
from resilience.testing import FakeClock


class Scripted:
    """An aiohttp server answering each path from a queue of (status, body, headers)."""

    def __init__(self) -> None:
        self.replies: dict[str, deque[tuple[int, bytes, dict[str, str]]]] = {}
        self.seen: list[tuple[str, str, bytes]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    def script(self, path: str, *replies: tuple[int, bytes, dict[str, str]]) -> None:
        self.replies.setdefault(path, deque()).extend(replies)

    async def answer(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path, await request.read()))
        queue = self.replies.get(request.path)
        status, body, headers = queue.popleft() if queue else (200, b"ok", {})
        return web.Response(status=status, body=body, headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.answer)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}{path}"


DOWN: tuple[int, bytes, dict[str, str]] = (503, b"down", {})


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    scripted = Scripted()
    await scripted.start()
    yield scripted
    assert scripted.runner is not None
    await scripted.runner.cleanup()


def policy(clock: FakeClock, **kwargs: object) -> RetryPolicy:
    return RetryPolicy(attempts=3, clock=clock).replace(**kwargs)


def session_with(middleware: ResilientMiddleware) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(middlewares=(middleware,), timeout=aiohttp.ClientTimeout(total=5))


async def test_retries_503s_until_200(server: Scripted, fake_clock: FakeClock) -> None:
    """Two 503s then a 200: the caller reads the 200; one connection served all three."""
    server.script("/a", DOWN, DOWN, (200, b"fine", {}))
    async with (
        session_with(ResilientMiddleware(retry=policy(fake_clock))) as session,
        session.get(server.url("/a")) as response,
    ):
        assert (response.status, await response.text()) == (200, "fine")
    assert len(server.seen) == 3


async def test_retry_after_is_honoured(server: Scripted, fake_clock: FakeClock) -> None:
    """A 429 with Retry-After: 4 makes the retry wait 4 s on the fake clock."""
    server.script("/a", (429, b"slow", {"Retry-After": "4"}))
    waits: list[RetryScheduled] = []
    middleware = ResilientMiddleware(retry=policy(fake_clock, on_retry=waits.append))
    async with session_with(middleware) as session, session.get(server.url("/a")) as response:
        assert response.status == 200
    assert [w.delay for w in waits] == [4.0]
    assert fake_clock.monotonic() == 4.0


async def test_permanent_and_exhausted_responses_are_returned(
    server: Scripted, fake_clock: FakeClock
) -> None:
    """A 404 comes back after one request; three 503s return the last with its body."""
    server.script("/gone", (404, b"no", {}))
    server.script("/down", DOWN, DOWN, (503, b"still down", {}))
    async with session_with(ResilientMiddleware(retry=policy(fake_clock))) as session:
        async with session.get(server.url("/gone")) as response:
            assert response.status == 404
        async with session.get(server.url("/down")) as response:
            assert (response.status, await response.text()) == (503, "still down")
    assert [path for _, path, _ in server.seen] == ["/gone", "/down", "/down", "/down"]


async def test_post_only_with_idempotency_key(server: Scripted, fake_clock: FakeClock) -> None:
    """A POST is sent once; with an Idempotency-Key it is retried with the same JSON body."""
    server.script("/a", DOWN)
    server.script("/b", DOWN)
    async with session_with(ResilientMiddleware(retry=policy(fake_clock))) as session:
        async with session.post(server.url("/a"), json={"n": 1}) as response:
            assert response.status == 503
        headers = {"Idempotency-Key": "k"}
        async with session.post(server.url("/b"), json={"n": 2}, headers=headers) as response:
            assert response.status == 200
    assert [body for _, path, body in server.seen if path == "/b"] == [b'{"n": 2}'] * 2
    assert len([1 for _, path, _ in server.seen if path == "/a"]) == 1


async def test_open_circuit_rejects_without_sending(
    server: Scripted, fake_clock: FakeClock
) -> None:
    """Two 503s open the host's circuit; the next request is refused as an aiohttp ClientError."""
    server.script("/", DOWN, DOWN, DOWN)
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=60), clock=fake_clock)
    middleware = ResilientMiddleware(retry=policy(fake_clock), breakers=breakers)
    async with session_with(middleware) as session:
        async with session.get(server.url()) as response:
            assert response.status == 503
        assert breakers.get(server.host).state is CircuitState.OPEN
        with pytest.raises(aiohttp.ClientError) as caught:
            await session.get(server.url())
    assert isinstance(caught.value, CircuitOpenClientError)
    assert isinstance(caught.value, CircuitOpenError)
    assert caught.value.name == server.host
    assert len(server.seen) == 2


async def test_refused_connection_is_retried_then_raised(fake_clock: FakeClock) -> None:
    """A refused connection is retried, then raised as aiohttp's error with a note."""
    import socket  # noqa: PLC0415

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    middleware = ResilientMiddleware(retry=policy(fake_clock))
    try:
        async with session_with(middleware) as session:
            with pytest.raises(aiohttp.ClientConnectionError) as caught:
                await session.get(f"http://127.0.0.1:{port}/")
    finally:
        sock.close()
    assert "gave up after 3 attempts" in caught.value.__notes__[0]
    assert middleware.breakers.get(f"127.0.0.1:{port}").snapshot().consecutive_failures == 3
    assert "ResilientMiddleware(" in repr(middleware)


async def test_host_key() -> None:
    """The default key is the lower-case host, with the port unless the scheme's own."""
    from yarl import URL  # noqa: PLC0415

    def key(url: str) -> str:
        return host_key(aiohttp.ClientRequest("GET", URL(url), loop=asyncio.get_running_loop()))

    assert key("https://API.example.com:443/x") == "api.example.com"
    assert key("http://example.com:8080/") == "example.com:8080"
    assert key("http://[::1]:99/") == "[::1]:99"

"""gRPC client interceptors, sync and grpc.aio, against a real gRPC server on loopback."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from concurrent import futures

import grpc  # type: ignore[import-untyped]
import grpc.aio  # type: ignore[import-untyped]
import pytest

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CircuitOpenError,
    CircuitState,
    RetryPolicy,
    RetryScheduled,
)
from resilience.contrib.grpc import (
    AsyncResilientInterceptor,
    CircuitOpenRpcError,
    ResilientInterceptor,
    service_key,
)
from resilience.testing import FakeClock

SAY = "/test.Echo/Say"
CREATE = "/test.Echo/Create"


class EchoServer:
    """A gRPC server without generated code: bytes in, bytes out, failing on cue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[grpc.StatusCode] = deque()
        self.calls: list[str] = []
        handlers = {
            "Say": grpc.unary_unary_rpc_method_handler(self._answer),
            "Create": grpc.unary_unary_rpc_method_handler(self._answer),
        }
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("test.Echo", handlers),)
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fail(self, *codes: grpc.StatusCode) -> None:
        with self._lock:
            self._script.extend(codes)

    def _answer(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.calls.append(request.decode())
            code = self._script.popleft() if self._script else None
        if code is not None:
            context.abort(code, f"scripted {code.name}")
        return b"echo:" + request

    def stop(self) -> None:
        self._server.stop(grace=None).wait(5)


@pytest.fixture
def server() -> Iterator[EchoServer]:
    echo = EchoServer()
    yield echo
    echo.stop()


def policy(clock: FakeClock, **kwargs: object) -> RetryPolicy:
    return RetryPolicy(attempts=3, clock=clock).replace(**kwargs)


@pytest.fixture
def breakers(fake_clock: FakeClock) -> BreakerRegistry:
    return BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=30), clock=fake_clock)


def channel_with(target: str, interceptor: ResilientInterceptor) -> grpc.Channel:
    return grpc.intercept_channel(grpc.insecure_channel(target), interceptor)


def test_unavailable_is_retried_until_it_answers(server: EchoServer, fake_clock: FakeClock) -> None:
    """Two UNAVAILABLE then an answer: the caller gets the answer, the server saw three calls."""
    server.fail(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
    retries: list[RetryScheduled] = []
    breakers = BreakerRegistry(clock=fake_clock)
    interceptor = ResilientInterceptor(
        retry=policy(fake_clock, on_retry=retries.append), breakers=breakers
    )
    with channel_with(server.target, interceptor) as channel:
        assert channel.unary_unary(SAY)(b"hi", timeout=5) == b"echo:hi"
    assert server.calls == ["hi", "hi", "hi"]
    assert [r.classification.reason for r in retries] == [
        "gRPC UNAVAILABLE",
        "gRPC RESOURCE_EXHAUSTED",
    ]
    assert breakers.get("test.Echo").state is CircuitState.CLOSED


def test_permanent_status_is_raised_at_once_and_not_counted(
    server: EchoServer, fake_clock: FakeClock, breakers: BreakerRegistry
) -> None:
    """INVALID_ARGUMENT is raised after one call and does not count against the service."""
    server.fail(*[grpc.StatusCode.INVALID_ARGUMENT] * 3)
    interceptor = ResilientInterceptor(retry=policy(fake_clock), breakers=breakers)
    with channel_with(server.target, interceptor) as channel:
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as caught:
                channel.unary_unary(SAY)(b"bad", timeout=5)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert server.calls == ["bad"] * 3
    assert breakers.get("test.Echo").state is CircuitState.CLOSED


def test_failures_open_the_circuit_and_reject_without_calling(
    server: EchoServer, fake_clock: FakeClock, breakers: BreakerRegistry
) -> None:
    """Two UNAVAILABLE open the circuit: no third attempt, then calls are refused unsent."""
    server.fail(*[grpc.StatusCode.UNAVAILABLE] * 5)
    interceptor = ResilientInterceptor(retry=policy(fake_clock), breakers=breakers)
    with channel_with(server.target, interceptor) as channel:
        with pytest.raises(grpc.RpcError) as first:
            channel.unary_unary(SAY)(b"a", timeout=5)
        assert first.value.code() is grpc.StatusCode.UNAVAILABLE
        assert len(server.calls) == 2
        with pytest.raises(grpc.RpcError) as caught:
            channel.unary_unary(SAY)(b"b", timeout=5)
    error = caught.value
    assert isinstance(error, CircuitOpenRpcError)
    assert isinstance(error, CircuitOpenError)
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert (error.name, error.retry_after) == ("test.Echo", 30.0)
    assert "test.Echo" in error.details()
    assert len(server.calls) == 2


def test_only_listed_methods_are_retried(server: EchoServer, fake_clock: FakeClock) -> None:
    """With retry_methods, a method not listed is called once; a listed one is retried."""
    server.fail(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE)
    interceptor = ResilientInterceptor(retry=policy(fake_clock), retry_methods={SAY})
    with channel_with(server.target, interceptor) as channel:
        with pytest.raises(grpc.RpcError):
            channel.unary_unary(CREATE)(b"order", timeout=5)
        assert channel.unary_unary(SAY)(b"hi", timeout=5) == b"echo:hi"
    assert server.calls == ["order", "hi", "hi"]
    assert "retry_methods=['/test.Echo/Say']" in repr(interceptor)


def test_deadline_exceeded_against_a_refused_port_is_retried(fake_clock: FakeClock) -> None:
    """A channel to a port nobody serves fails UNAVAILABLE each attempt, then raises with a note."""
    import socket  # noqa: PLC0415

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    interceptor = ResilientInterceptor(retry=policy(fake_clock), key=lambda _method: "down")
    try:
        with (
            channel_with(f"127.0.0.1:{port}", interceptor) as channel,
            pytest.raises(grpc.RpcError) as caught,
        ):
            channel.unary_unary(SAY)(b"x", timeout=2)
    finally:
        sock.close()
    assert caught.value.code() in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
    assert "gave up after 3 attempts" in caught.value.__notes__[0]
    assert interceptor.breakers.get("down").snapshot().consecutive_failures == 3


async def test_aio_interceptor_retries_and_opens(
    server: EchoServer, fake_clock: FakeClock, breakers: BreakerRegistry
) -> None:
    """grpc.aio: UNAVAILABLE is retried to an answer; then failures open the circuit."""
    server.fail(grpc.StatusCode.UNAVAILABLE)
    interceptor = AsyncResilientInterceptor(retry=policy(fake_clock), breakers=breakers)
    async with grpc.aio.insecure_channel(server.target, interceptors=[interceptor]) as channel:
        say = channel.unary_unary(SAY)
        assert await say(b"hi", timeout=5) == b"echo:hi"
        assert server.calls == ["hi", "hi"]
        server.fail(*[grpc.StatusCode.UNAVAILABLE] * 3)
        with pytest.raises(grpc.RpcError):
            await say(b"x", timeout=5)
        with pytest.raises(CircuitOpenRpcError):
            await say(b"y", timeout=5)
    assert server.calls == ["hi", "hi", "x", "x"]
    assert breakers.get("test.Echo").state is CircuitState.OPEN


async def test_aio_permanent_status_is_not_retried(
    server: EchoServer, fake_clock: FakeClock
) -> None:
    """grpc.aio: NOT_FOUND is raised after one call."""
    server.fail(grpc.StatusCode.NOT_FOUND)
    interceptor = AsyncResilientInterceptor(retry=policy(fake_clock))
    async with grpc.aio.insecure_channel(server.target, interceptors=[interceptor]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channel.unary_unary(SAY)(b"gone", timeout=5)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert server.calls == ["gone"]


def test_service_key_and_arguments() -> None:
    """The default key is the service; wrong arguments are refused naming them."""
    assert service_key("/pkg.v1.Orders/Get") == "pkg.v1.Orders"
    with pytest.raises(TypeError, match="retry_methods"):
        ResilientInterceptor(retry_methods="/a/b")
    with pytest.raises(TypeError, match="BreakerRegistry"):
        AsyncResilientInterceptor(breakers={})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RetryPolicy"):
        ResilientInterceptor(retry=2)  # type: ignore[arg-type]

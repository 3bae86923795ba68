"""gRPC client interceptors, sync and grpc.aio, against a real gRPC server on loopback.

The server (no generated code: bytes in, bytes out) is UNAVAILABLE at first, then
answers; an INVALID_ARGUMENT is not retried; repeated UNAVAILABLE opens the service's
circuit, and calls are refused without being sent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent import futures

import grpc  # type: ignore[import-untyped]
import grpc.aio  # type: ignore[import-untyped]

from resilience import Backoff, BreakerConfig, BreakerRegistry, RetryPolicy
from resilience.contrib.grpc import (
    AsyncResilientInterceptor,
    CircuitOpenRpcError,
    ResilientInterceptor,
)

FAIL: deque[grpc.StatusCode] = deque([grpc.StatusCode.UNAVAILABLE])
SAY = "/demo.Greeter/Say"


def say(request: bytes, context: grpc.ServicerContext) -> bytes:
    if FAIL:
        code = FAIL.popleft()
        context.abort(code, f"scripted {code.name}")
    return b"hello " + request


def serve() -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        "demo.Greeter", {"Say": grpc.unary_unary_rpc_method_handler(say)}
    )
    server.add_generic_rpc_handlers([handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def sync_calls(target: str) -> None:
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=30))
    retry = RetryPolicy(attempts=3, backoff=Backoff(initial=0.05))
    interceptor = ResilientInterceptor(retry=retry, breakers=breakers)
    with grpc.intercept_channel(grpc.insecure_channel(target), interceptor) as channel:
        greet = channel.unary_unary(SAY)
        print(f"sync: UNAVAILABLE once, then: {greet(b'world', timeout=5)!r}")
        FAIL.append(grpc.StatusCode.INVALID_ARGUMENT)
        try:
            greet(b"?", timeout=5)
        except grpc.RpcError as exc:
            print(f"sync: {exc.code().name} is raised at once, not retried")
        FAIL.extend([grpc.StatusCode.UNAVAILABLE] * 2)
        try:
            greet(b"again", timeout=5)
        except grpc.RpcError as exc:
            print(f"sync: {exc.code().name} twice opened the circuit")
        try:
            greet(b"refused", timeout=5)
        except CircuitOpenRpcError as exc:
            print(f"sync: refused unsent: {exc.code().name}, {exc.name} is {exc.state.name}")


async def async_calls(target: str) -> None:
    interceptor = AsyncResilientInterceptor(
        retry=RetryPolicy(attempts=3, backoff=Backoff(initial=0.05))
    )
    FAIL.append(grpc.StatusCode.RESOURCE_EXHAUSTED)
    async with grpc.aio.insecure_channel(target, interceptors=[interceptor]) as channel:
        answer = await channel.unary_unary(SAY)(b"aio", timeout=5)
        print(f"aio: RESOURCE_EXHAUSTED once, then: {answer!r}")


def main() -> None:
    server, target = serve()
    try:
        sync_calls(target)
        asyncio.run(async_calls(target))
    finally:
        server.stop(grace=None).wait(5)


if __name__ == "__main__":
    main()

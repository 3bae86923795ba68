"""An httpx client that survives a flaky API: retries, Retry-After and per-host breakers.

The script starts its own API on a loopback port, scripted to fail on cue (503s, a 429
with Retry-After, a maintenance page), and a second "host" that refuses connections.
The client code is plain httpx: ``ResilientTransport`` does the rest.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from resilience import (
    Backoff,
    BreakerConfig,
    BreakerRegistry,
    CircuitOpenError,
    RetryPolicy,
    RetryScheduled,
)
from resilience.contrib.httpx import AsyncResilientTransport, ResilientTransport

# path -> the answers to give, in order: (status, body, headers); then 200.
SCRIPT: dict[str, deque[tuple[int, str, dict[str, str]]]] = {
    "/report": deque([(503, "busy", {}), (503, "busy", {})]),
    "/search": deque([(429, "slow down", {"Retry-After": "1"})]),
    "/orders": deque([(503, "busy", {}), (503, "busy", {})]),
    "/maintenance": deque([(503, "back at 14:00", {"X-Region": "eu"})] * 10),
    "/async": deque([(502, "bad gateway", {})]),
}
hits: dict[str, int] = {}
lock = threading.Lock()


class FlakyAPI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            hits[self.path] = hits.get(self.path, 0) + 1
            queue = SCRIPT.get(self.path)
            status, body, headers = queue.popleft() if queue else (200, "ok", {})
        payload = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer  # noqa: N815 - the stdlib's names

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def refused_port() -> tuple[socket.socket, int]:
    """A port bound but not listening: connections to it are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, int(sock.getsockname()[1])


def on_retry(event: RetryScheduled) -> None:
    print(f"    attempt {event.attempt} failed ({event.classification.reason}); "
          f"retrying in {event.delay:.2f} s")


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyAPI)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}"
    dead, dead_port = refused_port()

    breakers = BreakerRegistry(BreakerConfig(failure_threshold=4, open_for=30))
    retry = RetryPolicy(attempts=3, backoff=Backoff(initial=0.05), on_retry=on_retry)
    transport = ResilientTransport(retry=retry, breakers=breakers)
    # trust_env=False: a proxy from the environment must not carry loopback requests.
    with httpx.Client(transport=transport, timeout=5, trust_env=False) as client:
        print("GET /report: the API answers 503 twice, then 200")
        response = client.get(f"{api}/report")
        print(f"  -> {response.status_code} {response.text!r} after {hits['/report']} requests")

        print("\nGET /search: 429 with Retry-After: 1")
        response = client.get(f"{api}/search")
        print(f"  -> {response.status_code} after {hits['/search']} requests")

        print("\nPOST /orders without an Idempotency-Key: never retried")
        response = client.post(f"{api}/orders", json={"item": 1})
        print(f"  -> {response.status_code} after {hits['/orders']} request")
        print("POST /orders with an Idempotency-Key: safe to retry")
        response = client.post(
            f"{api}/orders", json={"item": 1}, headers={"Idempotency-Key": "order-42"}
        )
        print(f"  -> {response.status_code} after {hits['/orders']} requests in all")

        print("\nGET /maintenance: 503 on every attempt")
        response = client.get(f"{api}/maintenance")
        print(
            f"  -> the last response, untouched: {response.status_code} "
            f"{response.text!r}, X-Region={response.headers['x-region']}"
        )

        print(f"\nGET from 127.0.0.1:{dead_port}, which refuses connections")
        for _ in range(3):
            try:
                client.get(f"http://127.0.0.1:{dead_port}/")
            except httpx.ConnectError as exc:
                why = exc.__notes__[-1].splitlines()[0]  # what resilience did, in a note
                print(f"  -> httpx.ConnectError: {exc}\n     {why}")
            except CircuitOpenError as exc:
                print(f"  -> CircuitOpenError, nothing sent: {exc}")
        response = client.get(f"{api}/report")
        print(f"  the API has its own breaker and still answers: {response.status_code}")

    print("\nBreakers:")
    for name, snap in breakers.snapshot().items():
        print(f"  {name:16} {snap.state.name:7} consecutive failures={snap.consecutive_failures}")

    async def fetch() -> int:
        async_transport = AsyncResilientTransport(retry=retry, breakers=breakers)
        async with httpx.AsyncClient(transport=async_transport, trust_env=False) as client:
            return (await client.get(f"{api}/async")).status_code

    print("\nasync GET /async: 502, then 200")
    print(f"  -> {asyncio.run(fetch())}")

    dead.close()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()

"""A requests session that survives a flaky API: retries, Retry-After, a breaker per host.

The script starts its own API on a loopback port, scripted to answer 503, then 429 with
Retry-After, then 200; the client code is plain requests: ``ResilientAdapter`` does the
rest.
"""

from __future__ import annotations

import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from resilience import Backoff, BreakerConfig, BreakerRegistry, RetryPolicy, RetryScheduled
from resilience.contrib.requests import CircuitOpenRequestError, ResilientAdapter

SCRIPT: deque[tuple[int, dict[str, str]]] = deque(
    [(503, {}), (429, {"Retry-After": "1"}), (200, {}), (503, {}), (503, {}), (503, {})]
)


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"not as documented: {what}")


class FlakyAPI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status, headers = SCRIPT.popleft() if SCRIPT else (200, {})
        body = f"answer {status}".encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyAPI)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

    def on_retry(event: RetryScheduled) -> None:
        print(f"  retry: {event.describe()}")

    breakers = BreakerRegistry(BreakerConfig(failure_threshold=3, open_for=30))
    adapter = ResilientAdapter(
        retry=RetryPolicy(attempts=3, backoff=Backoff(initial=0.05), on_retry=on_retry),
        breakers=breakers,
    )
    with requests.Session() as session:
        session.trust_env = False  # the API is on loopback
        session.mount("http://", adapter)
        print("GET /report: 503, then 429 (Retry-After: 1), then 200")
        response = session.get(f"{base}/report", timeout=5)
        print(f"  -> {response.status_code} {response.text!r}")
        expect(response.status_code == 200, "response.status_code == 200")

        print("GET /report: three 503s open the host's circuit")
        response = session.get(f"{base}/report", timeout=5)
        print(f"  -> {response.status_code} (the last response, returned as it came)")
        try:
            session.get(f"{base}/report", timeout=5)
        except requests.ConnectionError as exc:  # what requests code already catches
            expect(
                isinstance(exc, CircuitOpenRequestError), "isinstance(exc, CircuitOpenRequestError)"
            )
            print(f"  -> refused without sending: {exc.name} is {exc.state.name}")
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()

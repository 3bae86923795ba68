"""A real loopback HTTP server that answers each path from a script, for the client tests."""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Seen:
    """One request the server got."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    connection: int  # the number of the TCP connection it came on


class ScriptedServer(ThreadingHTTPServer):
    """Answers each path from its queue of scripted replies (then 200 "ok"); logs requests."""

    daemon_threads = True  # a client that keeps a connection idle must not block teardown

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Lock()
        self._replies: dict[str, deque[Reply]] = {}
        self._seen: list[Seen] = []
        self._connections = 0
        self._open = 0
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._replies.setdefault(path, deque()).extend(replies)

    def seen(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self._seen if path is None or s.path == path]

    def answer(self, seen: Seen) -> Reply:
        with self._lock:
            self._seen.append(seen)
            queue = self._replies.get(seen.path)
            return queue.popleft() if queue else Reply()

    def opened(self) -> int:
        with self._lock:
            self._connections += 1
            self._open += 1
            return self._connections

    def closed(self) -> None:
        with self._lock:
            self._open -= 1

    def wait_all_closed(self) -> None:
        """Wait until the client has closed every connection it opened."""
        deadline = time.monotonic() + 5  # a real server thread: a bounded wait
        while time.monotonic() < deadline:
            with self._lock:
                if self._open == 0:
                    return
            time.sleep(0.01)
        pytest.fail(f"{self._open} connections still open")

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that closes a response unread resets the connection: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connection reuse is observable
    timeout = 10

    def setup(self) -> None:
        super().setup()
        self.connection_number = self._server().opened()

    def finish(self) -> None:
        super().finish()
        self._server().closed()

    def _server(self) -> ScriptedServer:
        server = self.server
        assert isinstance(server, ScriptedServer)
        return server

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _serve(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        seen = Seen(self.command, self.path, headers, self._body(), self.connection_number)
        reply = self._server().answer(seen)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


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

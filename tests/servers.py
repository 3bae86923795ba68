"""Real servers for the fleet tests: a private redis-server per test, and PostgreSQL.

Without a server (or the client library) the tests that need one skip with the reason;
with ``CI=true`` that is a failure instead, so that CI never passes by skipping them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

CI = os.environ.get("CI", "").lower() == "true"
LOCAL_PG = "host=127.0.0.1 port=5432 dbname=test"


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI=true."""
    if CI:
        pytest.fail(f"{reason}; under CI=true these tests must run, not skip")
    pytest.skip(reason)


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def uvicorn_serving(
    app: Any,
    *,
    before_stop: Callable[[], None] | None = None,
    graceful: int | None = None,
) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn on a free loopback port; its base URL.

    ``before_stop`` runs before the server is told to stop (e.g. to end open streams,
    which uvicorn waits for); ``graceful`` is uvicorn's ``timeout_graceful_shutdown``.
    """
    import uvicorn  # noqa: PLC0415 - only the tests that serve need it

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="critical", lifespan="on", timeout_graceful_shutdown=graceful
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)  # bounded wait for a real server to start
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        if before_stop is not None:
            before_stop()
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not stop"


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 10  # real processes: a bounded wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} on start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on port {port} within 10 s")


class RedisServer:
    """A private redis-server on a loopback port: started, killed and restarted at will.

    It keeps nothing on disk (``--save "" --appendonly no``) unless started with other
    ``options``; ``DEBUG`` is enabled, for :meth:`debug_sleep`.
    """

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.options: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *options: str) -> None:
        """Start it on its port; ``options`` (e.g. ``"--appendonly", "yes"``) are kept."""
        if options:
            self.options = options
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
                *("--enable-debug-command", "yes", *self.options),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self.process, "redis-server")

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-conversation, as in a crash."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        """SIGKILL, then start again on the same port, with what it kept on disk (if any)."""
        self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the server stops answering, but its sockets stay open (a stall)."""
        assert self.process is not None, "the server is not running"
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: a paused server answers again, from where it stopped."""
        assert self.process is not None, "the server is not running"
        self.process.send_signal(signal.SIGCONT)

    def debug_sleep(self, seconds: float) -> threading.Thread:
        """``DEBUG SLEEP``: one slow command blocks the server; the thread that sent it."""
        import redis  # noqa: PLC0415 - the fixture checked that it is installed

        client = redis.Redis.from_url(self.url)
        client.ping()  # connected before the sleep: the caller may time what follows

        def sleep() -> None:
            with contextlib.closing(client):
                client.execute_command("DEBUG", "SLEEP", seconds)  # type: ignore[no-untyped-call]

        thread = threading.Thread(target=sleep, name="redis-debug-sleep", daemon=True)
        thread.start()
        return thread


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server of the test's own."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not on PATH")
    try:
        import redis  # noqa: F401, PLC0415
    except ImportError:
        unavailable("the redis client is not installed: pip install -e '.[test]'")
    server = RedisServer(binary, tmp_path)
    server.start()
    yield server
    server.kill()  # a paused server too: SIGKILL needs no SIGCONT


def _reachable(dsn: str) -> bool:
    import psycopg  # noqa: PLC0415

    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """RESILIENCE_PG_DSN; else the server at 127.0.0.1:5432; else a private cluster."""
    try:
        import psycopg  # noqa: F401, PLC0415
    except ImportError:
        unavailable("psycopg is not installed: pip install -e '.[test]'")
    dsn = os.environ.get("RESILIENCE_PG_DSN")
    if dsn:
        yield dsn
        return
    if _reachable(LOCAL_PG):
        yield LOCAL_PG
        return
    yield from _private_cluster()


def _private_cluster() -> Iterator[str]:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        unavailable("no PostgreSQL at 127.0.0.1:5432 and no initdb/pg_ctl on PATH")
    if os.geteuid() == 0:
        unavailable("no PostgreSQL at 127.0.0.1:5432, and initdb refuses to run as root")
    with tempfile.TemporaryDirectory(prefix="resilience-pg-") as directory:
        data, port = Path(directory) / "data", free_port()
        subprocess.run(
            [initdb, "-D", str(data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *(pg_ctl, "-D", str(data), "-o", f"-p {port} -k {directory} -h 127.0.0.1"),
                *("-w", "start", "-l", str(Path(directory) / "log")),
            ],
            check=True,
            capture_output=True,
        )
        try:
            yield f"host=127.0.0.1 port={port} dbname=postgres user=postgres"
        finally:
            subprocess.run(
                [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False
            )

"""AlternateRemote: an unavailable remote's call made to its alternates, else a clear refusal."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from resilience import (
    AlternateRemote,
    BreakerConfig,
    BreakerRegistry,
    CachedFallback,
    CircuitOpenError,
    RemoteUnavailableError,
    RetryPolicy,
    resilient,
)
from resilience.testing import FakeClock


class MissingError(Exception):
    """A permanent failure: the path is not there."""

    status_code = 404


@dataclass
class Remotes:
    """File listings from several remotes; the ones in ``down`` refuse connections."""

    down: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)

    def ls(self, remote: str, path: str = "/") -> str:
        self.calls.append(remote)
        if remote in self.down:
            raise ConnectionRefusedError(f"{remote}: connection refused")
        if path == "/missing":
            raise MissingError(path)
        return f"{remote}:{path}"

    async def als(self, remote: str, path: str = "/") -> str:
        return self.ls(remote, path)


def registry(clock: FakeClock) -> BreakerRegistry:
    return BreakerRegistry(BreakerConfig(failure_threshold=2, open_for=60), clock=clock)


def test_a_failed_call_is_made_to_the_alternate(fake_clock: FakeClock) -> None:
    """gdrive refuses: the same call, with remote='mirror', answers."""
    remotes = Remotes(down={"gdrive"})
    alternate = AlternateRemote({"gdrive": "mirror"})
    assert alternate.call(remotes.ls, "gdrive", "/docs") == "mirror:/docs"
    assert alternate.call(remotes.ls, path="/a", remote="gdrive") == "mirror:/a"
    assert remotes.calls == ["gdrive", "mirror", "gdrive", "mirror"]


def test_alternates_are_tried_in_order(fake_clock: FakeClock) -> None:
    """The first alternate that answers wins; those down are recorded in the error otherwise."""
    remotes = Remotes(down={"gdrive", "mirror-1"})
    alternate = AlternateRemote(lambda remote: [f"{remote}-x", "mirror-1", "mirror-2"])
    remotes.down.add("gdrive-x")
    assert alternate.call(remotes.ls, "gdrive") == "mirror-2:/"
    assert remotes.calls == ["gdrive", "gdrive-x", "mirror-1", "mirror-2"]


def test_every_remote_down_is_one_clear_error(fake_clock: FakeClock) -> None:
    """Nothing answers: one error names each remote and why, caused by the first failure."""
    remotes = Remotes(down={"gdrive", "mirror"})
    with pytest.raises(RemoteUnavailableError) as caught:
        AlternateRemote({"gdrive": ["mirror"]}).call(remotes.ls, "gdrive")
    error = caught.value
    assert error.remote == "gdrive"
    assert [name for name, _ in error.tried] == ["gdrive", "mirror"]
    assert str(error) == (
        "remote 'gdrive' is unavailable (ConnectionRefusedError: gdrive: connection refused), "
        "and so is its alternate ('mirror': ConnectionRefusedError: mirror: connection "
        "refused); no remote says when it will answer again: check it, then retry"
    )
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert error.retry_after is None


def test_an_open_circuit_says_when_to_retry(fake_clock: FakeClock) -> None:
    """With a registry: gdrive's circuit is open for 60 s, the mirror is down too: retry in 60 s."""
    breakers = registry(fake_clock)
    remotes = Remotes(down={"gdrive", "mirror"})
    guarded = resilient(
        remote=lambda remote, _path="/": remote,
        breaker=breakers,
        fallback=AlternateRemote({"gdrive": "mirror"}, breakers=breakers),
    )
    for _ in range(2):  # the mirror's failures count on its own breaker
        with pytest.raises(RemoteUnavailableError):
            guarded.call(remotes.ls, "gdrive")
    fake_clock.advance(15)
    with pytest.raises(RemoteUnavailableError) as caught:
        guarded.call(remotes.ls, "gdrive")
    assert str(caught.value) == (
        "remote 'gdrive' is unavailable (circuit 'gdrive' is OPEN), and so is its alternate "
        "('mirror': circuit 'mirror' is OPEN); retry in 45 s"
    )
    assert caught.value.retry_after == pytest.approx(45.0)
    assert isinstance(caught.value.__cause__, CircuitOpenError)
    assert remotes.calls == ["gdrive", "mirror", "gdrive", "mirror"]  # nothing called once open


def test_the_alternate_goes_through_its_own_breaker(fake_clock: FakeClock) -> None:
    """Calls to the alternate are admitted and recorded by the alternate's breaker."""
    breakers = registry(fake_clock)
    remotes = Remotes(down={"gdrive"})
    guarded = resilient(
        remote=lambda remote, _path="/": remote,
        breaker=breakers,
        fallback=AlternateRemote({"gdrive": "mirror"}, breakers=breakers),
    )
    for _ in range(3):
        assert guarded.call(remotes.ls, "gdrive") == "mirror:/"
    assert breakers.get("gdrive").state.name == "OPEN"
    assert breakers.get("mirror").state.name == "CLOSED"
    assert remotes.calls == ["gdrive", "mirror", "gdrive", "mirror", "mirror"]


def test_a_permanent_failure_is_not_about_the_remote(fake_clock: FakeClock) -> None:
    """A 404 goes on as it is: the mirror is not asked for what is missing."""
    remotes = Remotes()
    with pytest.raises(MissingError):
        AlternateRemote({"gdrive": "mirror"}).call(remotes.ls, "gdrive", "/missing")
    assert remotes.calls == ["gdrive"]


def test_a_remote_without_alternates_gets_the_clear_error(fake_clock: FakeClock) -> None:
    """No alternate for s3: its unavailability is still said clearly."""
    remotes = Remotes(down={"s3"})
    with pytest.raises(RemoteUnavailableError, match=r"^remote 's3' is unavailable \(Connection"):
        AlternateRemote({"gdrive": "mirror"}).call(remotes.ls, "s3")


def test_behind_retry_and_cache(fake_clock: FakeClock) -> None:
    """fallback=[CachedFallback(), AlternateRemote(...)]: the mirror first, then the cache."""
    breakers = registry(fake_clock)
    remotes = Remotes()
    guarded = resilient(
        remote=lambda remote, _path="/": remote,
        retry=RetryPolicy(attempts=2, clock=fake_clock),
        breaker=breakers,
        fallback=[
            CachedFallback(clock=fake_clock),
            AlternateRemote({"gdrive": "mirror"}, breakers=breakers),
        ],
    )
    assert guarded.call(remotes.ls, "gdrive") == "gdrive:/"
    remotes.down.add("gdrive")
    assert guarded.call(remotes.ls, "gdrive") == "mirror:/"
    remotes.down.add("mirror")
    assert guarded.call(remotes.ls, "gdrive") == "mirror:/"  # the last good answer
    assert "fallback=[CachedFallback(" in repr(guarded)


def test_async_calls(fake_clock: FakeClock) -> None:
    """acall() and an async decorated function try the alternates with await."""
    breakers = registry(fake_clock)
    remotes = Remotes(down={"gdrive"})
    alternate = AlternateRemote({"gdrive": ["mirror-1", "mirror-2"]}, breakers=breakers)
    remotes.down.add("mirror-1")
    assert asyncio.run(alternate.acall(remotes.als, "gdrive", "/x")) == "mirror-2:/x"
    remotes.down.add("mirror-2")
    with pytest.raises(RemoteUnavailableError, match="and so is its alternates"):
        asyncio.run(alternate(remotes.als)("gdrive"))


def test_a_call_without_the_remote_argument_says_so() -> None:
    """remote= names the argument; a function without it fails with a TypeError that says so."""

    def fetch(url: str) -> str:
        raise ConnectionError(url)

    with pytest.raises(TypeError, match=r"has no argument 'remote' holding a remote's name"):
        AlternateRemote({"a": "b"}).call(fetch, "http://a/")


def test_bad_input_names_the_field() -> None:
    """Each bad argument is refused naming it."""
    with pytest.raises(TypeError, match=r"alternates=\.\.\.\) must map"):
        AlternateRemote(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"alternates=\.\.\.\) maps a remote's name"):
        AlternateRemote({"gdrive": 5})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"remote=\.\.\.\) is the name of the call's argument"):
        AlternateRemote({"a": "b"}, remote="not an identifier")
    with pytest.raises(TypeError, match=r"breakers=\.\.\.\) must be a BreakerRegistry"):
        AlternateRemote({"a": "b"}, breakers=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"the alternates of 'a' must be a name or a list"):
        AlternateRemote(lambda _: 5).alternates_of("a")  # type: ignore[arg-type, return-value]


class _Listing(http.server.BaseHTTPRequestHandler):
    """Answers 200 with the path as its body."""

    def do_GET(self) -> None:
        body = f"mirror{self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    """A live mirror, and a primary whose port nothing listens on."""
    live = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Listing)
    dead = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Listing)
    dead_port = dead.server_address[1]
    dead.server_close()  # the port is free again: connections to it are refused
    thread = threading.Thread(target=live.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "primary": f"http://127.0.0.1:{dead_port}",
            "mirror": f"http://127.0.0.1:{live.server_address[1]}",
        }
    finally:
        live.shutdown()
        live.server_close()


def test_real_http_remotes_on_loopback(servers: dict[str, str], fake_clock: FakeClock) -> None:
    """httpx to a refused port fails over to a live loopback server, through real breakers."""
    breakers = registry(fake_clock)
    with httpx.Client(timeout=2.0) as client:

        def listing(remote: str, path: str) -> str:
            response = client.get(servers[remote] + path)
            response.raise_for_status()
            return response.text

        guarded = resilient(
            remote=lambda remote, _: remote,
            breaker=breakers,
            fallback=AlternateRemote({"primary": "mirror"}, breakers=breakers),
        )
        assert guarded.call(listing, "primary", "/docs") == "mirror/docs"
        assert guarded.call(listing, "primary", "/more") == "mirror/more"
    assert breakers.get("primary").state.name == "OPEN"
    assert breakers.get("mirror").snapshot().failures == 0

"""The status page: its JSON and event stream served by uvicorn, its page in headless Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import resilience.web._render as web_render
import resilience.web._stream as web_stream
from browser import browser_page  # noqa: F401 - the fixture
from resilience import (
    BatchProcessor,
    BreakerConfig,
    BreakerRegistry,
    CheckResult,
    CircuitOpenError,
    CircuitState,
    ComponentStatus,
    HealthRegistry,
)
from resilience.web import StatusApp, status_app
from servers import uvicorn_serving

if TYPE_CHECKING:
    from playwright.sync_api import Page

OPEN_FOR = 30.0


def refuse() -> None:
    raise ConnectionRefusedError(111, "Connection refused")


def trip(registry: BreakerRegistry, remote: str) -> None:
    """Call a failing remote through its breaker until the circuit opens."""
    breaker = registry.get(remote)
    for _ in range(20):
        try:
            breaker.call(refuse)
        except ConnectionRefusedError:
            continue
        except CircuitOpenError:
            break
    assert breaker.state is CircuitState.OPEN


@pytest.fixture
def registry() -> BreakerRegistry:
    return BreakerRegistry(BreakerConfig(failure_threshold=3, open_for=OPEN_FOR))


@pytest.fixture
def health() -> Iterator[HealthRegistry]:
    registry = HealthRegistry(default_timeout=2)
    registry.register("database", lambda: True)
    registry.register(
        "cache", lambda: CheckResult(ComponentStatus.WARNING, "cache cold"), critical=False
    )
    registry.run()
    yield registry
    registry.close()


def handle(item: int) -> None:
    if item == 3:
        raise ValueError("item 3 is malformed")


@pytest.fixture
def batch() -> BatchProcessor:
    processor = BatchProcessor("import-users", handle)
    processor.run(list(range(5)))
    return processor


def served(
    app: StatusApp, *, close: bool = True, graceful: int | None = None
) -> contextlib.AbstractContextManager[str]:
    """Serve ``app`` on a free loopback port, closing its streams first unless told not to."""
    return uvicorn_serving(app, before_stop=app.close if close else None, graceful=graceful)


def next_status(lines: Iterator[str]) -> dict[str, Any]:
    """The next status a Server-Sent Events stream sends."""
    for line in lines:
        if line.startswith("data: "):
            status: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return status
    raise AssertionError("the event stream ended")


def eventually(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# --------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"registry": object()}, TypeError, "registry"),
        ({"health": "db"}, TypeError, "health"),
        ({"batches": 3}, TypeError, "batches"),
        ({"batches": [object()]}, TypeError, "batches"),
        ({"title": None}, TypeError, "title"),
        ({"history": 2.5}, TypeError, "history"),
        ({"history": True}, TypeError, "history"),
        ({"history": -1}, ValueError, "history"),
        ({"poll_interval": "1"}, TypeError, "poll_interval"),
        ({"poll_interval": 0}, ValueError, "poll_interval"),
        ({"poll_interval": float("inf")}, ValueError, "poll_interval"),
        ({"allowed_hosts": "status.internal"}, TypeError, "allowed_hosts"),
        ({"allowed_hosts": ["https://status.internal/"]}, ValueError, "allowed_hosts"),
        ({"allowed_hosts": ["status internal"]}, ValueError, "allowed_hosts"),
        ({"allowed_hosts": [""]}, ValueError, "allowed_hosts"),
    ],
)
def test_arguments_are_validated(kwargs: dict[str, Any], error: type[Exception], name: str) -> None:
    """Arguments are validated."""
    with pytest.raises(error, match=name):
        status_app(**kwargs)


def test_poll_interval_accepts_a_timedelta(registry: BreakerRegistry) -> None:
    """The poll interval may be a timedelta; the status reports it in seconds."""
    app = status_app(registry=registry, poll_interval=timedelta(milliseconds=250))
    assert app.status()["poll_interval"] == 0.25
    with pytest.raises(ValueError, match="poll_interval"):
        status_app(poll_interval=timedelta(0))


def test_a_single_processor_is_refused_with_a_hint(batch: BatchProcessor) -> None:
    """A single processor is refused with a hint."""
    with pytest.raises(TypeError, match=r"batches must be an iterable.*\[processor\]"):
        status_app(batches=batch)  # type: ignore[arg-type]


# ------------------------------------------------------------ HTTP, under uvicorn


def test_status_json_matches_the_sources(
    registry: BreakerRegistry, health: HealthRegistry, batch: BatchProcessor
) -> None:
    """Status json matches the sources."""
    app = status_app(registry=registry, health=health, batches=[batch], title="shop")
    registry.get("db").call(lambda: None)
    trip(registry, "api")
    registry.get("cdn").force_open()
    with served(app) as base:
        response = httpx.get(f"{base}/api/status", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    status = response.json()
    assert status["title"] == "shop"
    assert abs(status["generated_at"] - time.time()) < 5

    breakers = {b["remote"]: b for b in status["breakers"]}
    assert [b["remote"] for b in status["breakers"]] == ["api", "cdn", "db"]
    api = breakers["api"]
    assert api["state"] == "OPEN"
    assert api["consecutive_failures"] == 3
    assert api["rejected"] == 1
    assert 0 < api["retry_after"] <= OPEN_FOR
    assert "3 consecutive failures" in api["reason"]
    assert breakers["cdn"]["state"] == "FORCED_OPEN"
    assert breakers["cdn"]["retry_after"] is None
    assert breakers["db"] | {"retry_after": None} == {
        "remote": "db",
        "state": "CLOSED",
        "failure_rate": None,  # the consecutive rule keeps no window
        "calls": 0,
        "failures": 0,
        "consecutive_failures": 0,
        "rejected": 0,
        "retry_after": None,
        "reason": None,
    }

    assert status["health"]["status"] == "DEGRADED"
    components = {c["name"]: c for c in status["health"]["components"]}
    assert components["database"] | {"last_checked": 0} == {
        "name": "database",
        "status": "OK",
        "message": "",
        "critical": True,
        "last_checked": 0,
    }
    assert components["cache"]["status"] == "WARNING"
    assert components["cache"]["message"] == "cache cold"
    assert components["cache"]["critical"] is False

    assert status["batches"] == [
        {
            "job": "import-users",
            "started": True,
            "running": False,
            "processed": 5,
            "succeeded": 4,
            "failed": 1,
            "deferred": 0,
            "skipped": 0,
            "resumed": 0,
            "total": 5,
        }
    ]
    kinds = [(e["kind"], e["subject"]) for e in status["events"]]
    assert ("breaker", "api") in kinds
    assert ("breaker", "cdn") in kinds
    assert ("rejected", "api") in kinds


def test_unknown_paths_and_methods(registry: BreakerRegistry) -> None:
    """Unknown paths and methods."""
    with served(status_app(registry=registry)) as base, httpx.Client(timeout=5) as client:
        assert client.get(f"{base}/nope").status_code == 404
        assert client.get(f"{base}/static/../_app.py").status_code == 404
        assert client.get(f"{base}/static/status.html").status_code == 404
        response = client.post(f"{base}/api/status", json={})
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"
        assert client.delete(f"{base}/").status_code == 405
        assert client.post(f"{base}/nope").status_code == 404

        head = client.head(f"{base}/")
        assert head.status_code == 200
        assert head.content == b""
        page = client.get(f"{base}/")
        assert head.headers["content-length"] == str(len(page.content))
        events = client.head(f"{base}/api/events")
        assert events.headers["content-type"].startswith("text/event-stream")


def test_page_and_assets_are_served(registry: BreakerRegistry) -> None:
    """Page and assets are served."""
    app = status_app(registry=registry, title="<shop & co>")
    with served(app) as base, httpx.Client(timeout=5) as client:
        page = client.get(f"{base}/")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "<title>&lt;shop &amp; co&gt; · status</title>" in page.text
        assert "http://" not in page.text  # no external resource: works offline
        assert "https://" not in page.text
        for name, kind in (("status.js", "text/javascript"), ("status.css", "text/css")):
            asset = client.get(f"{base}/static/{name}")
            assert asset.status_code == 200
            assert asset.headers["content-type"].startswith(kind)
            assert "https://" not in asset.text


async def test_mounted_under_a_root_path(registry: BreakerRegistry) -> None:
    """Mounted at /ops (e.g. by Starlette), the routes are under it."""
    app = status_app(registry=registry)
    transport = httpx.ASGITransport(app=app, root_path="/ops")
    async with httpx.AsyncClient(transport=transport, base_url="http://status") as client:
        assert (await client.get("/ops/api/status")).json()["breakers"] == []
        assert (await client.get("/ops/static/status.css")).status_code == 200
        assert (await client.get("/ops/")).headers["content-type"].startswith("text/html")
        assert (await client.get("/api/status/")).status_code == 200  # not stripped
        assert (await client.get("/opsx/api/status")).status_code == 404


def test_event_stream_pushes_a_breaker_opening(registry: BreakerRegistry) -> None:
    """The initial status at once, then the transition, pushed (the poll is 30 s away)."""
    registry.get("api").call(lambda: None)
    app = status_app(registry=registry, poll_interval=30)
    with served(app) as base, httpx.Client(timeout=5) as client:
        with client.stream("GET", f"{base}/api/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert response.headers["cache-control"] == "no-store"
            lines = response.iter_lines()
            assert next(lines) == f"retry: {web_stream.RECONNECT_MS}"
            first = next_status(lines)
            assert [(b["remote"], b["state"]) for b in first["breakers"]] == [("api", "CLOSED")]
            started = time.monotonic()
            threading.Thread(target=trip, args=(registry, "api")).start()
            second = next_status(lines)
            assert time.monotonic() - started < 2
            assert [(b["remote"], b["state"]) for b in second["breakers"]] == [("api", "OPEN")]
            assert second["events"][-1]["kind"] in ("breaker", "rejected")
            assert app.streams == 1
        eventually(lambda: app.streams == 0)  # the client went away: the stream ended


def test_server_shutdown_cancels_an_open_stream(registry: BreakerRegistry) -> None:
    """Without close(), uvicorn's graceful-shutdown timeout cancels the stream cleanly."""
    app = status_app(registry=registry)
    client = httpx.Client(timeout=5)
    with served(app, close=False, graceful=1) as base:
        response = client.send(client.build_request("GET", f"{base}/api/events"), stream=True)
        lines = response.iter_lines()  # kept: dropping it would close the connection
        next_status(lines)
        assert app.streams == 1
    assert app.streams == 0
    response.close()
    client.close()


# ------------------------------------------------------------- ASGI, in process


class Connection:
    """One ASGI HTTP connection driven by the test."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        self.inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        await self.outbox.put(message)

    async def next(self, within: float = 2.0) -> MutableMapping[str, Any]:
        return await asyncio.wait_for(self.outbox.get(), within)


def parse(message: MutableMapping[str, Any]) -> dict[str, Any]:
    """The status in one message of a stream."""
    assert message["more_body"]
    data = message["body"].decode().split("data: ", 1)[1]
    assert data.endswith("\n\n")
    status: dict[str, Any] = json.loads(data)
    return status


async def open_stream(app: StatusApp) -> tuple[asyncio.Task[None], Connection, dict[str, Any]]:
    connection = Connection()
    scope = {"type": "http", "method": "GET", "path": "/api/events", "headers": []}
    task = asyncio.create_task(app(scope, connection.receive, connection.send))
    start = await connection.next()
    assert (start["type"], start["status"]) == ("http.response.start", 200)
    first = await connection.next()
    assert first["body"].startswith(b"retry: ")
    return task, connection, parse(first)


async def test_stream_ends_on_lifespan_shutdown(registry: BreakerRegistry) -> None:
    """Stream ends on lifespan shutdown."""
    app = status_app(registry=registry)
    lifespan = Connection()
    lifespan.inbox = asyncio.Queue()
    await lifespan.inbox.put({"type": "lifespan.startup"})
    running = asyncio.create_task(app({"type": "lifespan"}, lifespan.receive, lifespan.send))
    assert (await lifespan.next())["type"] == "lifespan.startup.complete"
    task, connection, _ = await open_stream(app)

    await lifespan.inbox.put({"type": "lifespan.shutdown"})
    last = await connection.next()
    assert last == {"type": "http.response.body", "body": b"", "more_body": False}
    await asyncio.wait_for(task, 2)
    assert (await lifespan.next())["type"] == "lifespan.shutdown.complete"
    await asyncio.wait_for(running, 2)
    assert app.streams == 0


async def test_stream_ends_on_disconnect_and_on_cancellation(registry: BreakerRegistry) -> None:
    """Stream ends on disconnect and on cancellation."""
    app = status_app(registry=registry)
    task, connection, _ = await open_stream(app)
    await connection.inbox.put({"type": "http.disconnect"})
    await asyncio.wait_for(task, 2)
    assert connection.outbox.empty()  # nothing is sent to a client that left

    task, connection, _ = await open_stream(app)
    assert app.streams == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert app.streams == 0


async def test_stream_sends_on_change_only_and_keeps_alive(
    registry: BreakerRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stream sends on change only and keeps alive."""
    monkeypatch.setattr(web_stream, "HEARTBEAT", 0.6)
    monkeypatch.setattr(web_stream, "MIN_GAP", 0.0)
    trip(registry, "api")  # a countdown runs: it changes retry_after, not the status
    processor = BatchProcessor("sync", lambda _item: None)
    app = status_app(registry=registry, batches=[processor], poll_interval=0.05)
    task, connection, first = await open_stream(app)
    assert first["batches"][0]["started"] is False

    with pytest.raises(TimeoutError):
        await connection.next(within=0.3)  # eight polls, nothing changed
    processor.run(range(3))  # the poll notices the batch
    update = await connection.next(within=1)
    assert parse(update)["batches"][0]["processed"] == 3
    assert (await connection.next(within=1))["body"] == b": keep-alive\n\n"

    await connection.inbox.put({"type": "http.disconnect"})
    await asyncio.wait_for(task, 2)


# ------------------------------------------------------------------ recent events


def test_rejections_are_counted_not_stored(registry: BreakerRegistry) -> None:
    """Rejections are counted not stored."""
    app = status_app(registry=registry)
    trip(registry, "api")  # three failures, then one rejection
    breaker = registry.get("api")
    for _ in range(49):
        with pytest.raises(CircuitOpenError):
            breaker.call(refuse)
    events = app.status()["events"]
    assert [e["kind"] for e in events] == ["breaker", "rejected"]
    assert events[0]["text"].startswith("api: CLOSED → OPEN")
    assert events[0]["level"] == "error"
    assert events[1]["count"] == 50
    assert events[1]["text"] == "api: 50 calls rejected while OPEN"

    breaker.reset()
    breaker.force_open()
    with pytest.raises(CircuitOpenError):
        breaker.call(refuse)
    events = app.status()["events"]
    assert [e["kind"] for e in events] == ["breaker", "rejected", "breaker", "breaker", "rejected"]
    assert events[-1]["text"] == "api: 1 call rejected while FORCED_OPEN"


def test_history_is_bounded(registry: BreakerRegistry) -> None:
    """History is bounded."""
    app = status_app(registry=registry, history=3)
    quiet = status_app(registry=registry, history=0)
    breaker = registry.get("api")
    for _ in range(5):
        breaker.force_open()
        breaker.reset()
    events = app.status()["events"]
    assert len(events) == 3
    assert events[-1]["text"] == "api: FORCED_OPEN → CLOSED (reset())"
    assert quiet.status()["events"] == []


def test_health_changes_are_listed() -> None:
    """Health changes are listed."""
    health = HealthRegistry(default_timeout=2)
    up = [True]
    health.register("database", lambda: up[0])
    app = status_app(health=health)
    assert app.status()["health"] == {"status": None, "components": []}
    health.run()
    up[0] = False
    health.run()
    health.close()
    events = app.status()["events"]
    assert [(e["kind"], e["level"]) for e in events] == [("health", "ok"), ("health", "error")]
    assert events[1]["text"] == "database: OK → ERROR (the check returned False)"
    assert app.status()["health"]["status"] == "CRITICAL"


def test_a_health_change_does_not_end_a_burst_of_a_remote_of_the_same_name(
    registry: BreakerRegistry,
) -> None:
    """A component named like a remote leaves that remote's burst of rejections counting."""
    health = HealthRegistry(default_timeout=2)
    health.register("api", lambda: True)
    app = status_app(registry=registry, health=health)
    trip(registry, "api")  # three failures, then one rejection
    health.run()
    health.close()
    with pytest.raises(CircuitOpenError):
        registry.get("api").call(refuse)
    events = app.status()["events"]
    assert [(e["kind"], e["count"]) for e in events] == [
        ("breaker", 1),
        ("rejected", 2),
        ("health", 1),
    ]


def test_events_the_page_does_not_show_are_passed_over(registry: BreakerRegistry) -> None:
    """Calls that succeed or fail add nothing to the recent events."""
    app = status_app(registry=registry)
    registry.get("api").call(lambda: None)
    with pytest.raises(ConnectionRefusedError):
        registry.get("api").call(refuse)
    assert app.status()["events"] == []


def test_sources_left_out_are_null() -> None:
    """Sources left out are null."""
    status = status_app().status()
    assert status["breakers"] is None
    assert status["health"] is None
    assert status["batches"] == []


# ------------------------------------------------------------------- exposure


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses NaN and Infinity, as a browser's JSON.parse does."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8300", "localhost.evil.example", "127.0.0.1.evil.example"],
)
def test_a_request_for_another_host_name_is_misdirected(
    registry: BreakerRegistry, host: str
) -> None:
    """A Host that is not ours (DNS rebinding) gets 421 on every route, and no status."""
    trip(registry, "api")
    with served(status_app(registry=registry)) as base, httpx.Client(timeout=5) as client:
        for path in ("/", "/api/status", "/api/events", "/static/status.js"):
            response = client.get(f"{base}{path}", headers={"Host": host})
            assert response.status_code == 421, path
            assert "api" not in response.json()["error"].replace("allowed_hosts", "")
            assert "status_app(allowed_hosts=" in response.json()["error"]


def test_loopback_names_the_listening_address_and_allowed_hosts_are_answered(
    registry: BreakerRegistry,
) -> None:
    """localhost, 127.x, [::1], the server's own address and configured names get 200."""
    app = status_app(registry=registry, allowed_hosts=["Status.Internal"])
    with served(app) as base, httpx.Client(timeout=5) as client:
        port = base.rsplit(":", 1)[1]
        for host in (
            f"localhost:{port}",
            f"LOCALHOST.:{port}",
            f"127.0.0.1:{port}",
            "127.0.0.2",
            f"[::1]:{port}",
            "status.internal",
            f"STATUS.internal:{port}",
        ):
            assert client.get(f"{base}/api/status", headers={"Host": host}).status_code == 200
    with served(status_app(allowed_hosts=["*"])) as base:
        response = httpx.get(f"{base}/api/status", headers={"Host": "any.example"}, timeout=5)
        assert response.status_code == 200


def test_a_circuit_open_for_ever_is_null_not_infinity_in_every_json_answer(
    registry: BreakerRegistry,
) -> None:
    """open_for=inf: retry_after is null in /api/status and in the event stream."""
    forever = BreakerRegistry(BreakerConfig(failure_threshold=1, open_for=float("inf")))
    trip(forever, "tape")
    with served(status_app(registry=forever)) as base, httpx.Client(timeout=5) as client:
        status = strict_json(client.get(f"{base}/api/status").text)
        with client.stream("GET", f"{base}/api/events") as stream:
            line = next(x for x in stream.iter_lines() if x.startswith("data: "))
    streamed = strict_json(line.removeprefix("data: "))
    for shown in (status, streamed):
        [tape] = shown["breakers"]
        assert tape["state"] == "OPEN"
        assert tape["retry_after"] is None


def test_json_answers_refuse_nan_and_render_foreign_objects_as_text() -> None:
    """Every answer is strict JSON: a NaN or an infinity is null, what JSON cannot hold its str."""

    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    strict = web_render.to_json({"rate": float("nan"), "rates": [float("-inf"), 0.5]})
    assert json.loads(strict) == {"rate": None, "rates": [None, 0.5]}
    shown = json.loads(
        web_render.to_json(
            {"when": datetime(2026, 1, 2, tzinfo=UTC), "odd": Hostile(), "x": "a\nb"}
        )
    )
    assert shown == {
        "when": "2026-01-02 00:00:00+00:00",
        "odd": "<Hostile object; its __str__ raised RuntimeError>",
        "x": "a\nb",
    }


def test_secrets_in_messages_are_masked_on_the_status_page() -> None:
    """A check's message or a breaker's reason quoting a URL or a password shows it masked."""
    health = HealthRegistry(default_timeout=2)
    health.register(
        "cache",
        lambda: CheckResult(
            ComponentStatus.ERROR, "redis://app:S3CRET@cache:6379/0 refused; password=S3CRET"
        ),
    )
    health.run()
    try:
        app = status_app(health=health)
        status = app.status()
    finally:
        health.close()
    text = json.dumps(status)
    assert "S3CRET" not in text
    assert "redis://app:***@cache:6379/0 refused; password=***" in text


# ------------------------------------------------------------------------ browser


def test_page_shows_a_breaker_opening(
    browser_page: Page,  # noqa: F811 - the fixture
    registry: BreakerRegistry,
    health: HealthRegistry,
    batch: BatchProcessor,
    tmp_path: Path,
) -> None:
    """Page shows a breaker opening."""
    from playwright.sync_api import expect  # noqa: PLC0415 - only with a browser

    registry.get("billing").call(lambda: None)
    app = status_app(registry=registry, health=health, batches=[batch], title="shop")
    with served(app) as base:
        browser_page.goto(f"{base}/")
        badge = browser_page.locator('[data-remote="billing"]')
        expect(badge).to_have_text("CLOSED", timeout=5000)
        expect(browser_page.locator("#connection")).to_have_attribute("data-connection", "live")
        expect(browser_page.locator('[data-component="cache"]')).to_have_text("WARNING")
        expect(browser_page.locator("#batches progress")).to_have_attribute("value", "5")

        threading.Thread(target=trip, args=(registry, "billing")).start()
        expect(badge).to_have_text("OPEN", timeout=2000)
        expect(badge).to_have_attribute("data-state", "OPEN")
        expect(browser_page.locator("#breakers-summary")).to_contain_text("billing (OPEN)")
        expect(browser_page.locator("#events")).to_contain_text("billing: CLOSED → OPEN")
        assert browser_page.title() == "shop · status"
        browser_page.screenshot(path=tmp_path / "status.png", full_page=True)
    assert (tmp_path / "status.png").stat().st_size > 1000


def test_page_shows_a_circuit_open_for_ever(
    browser_page: Page,  # noqa: F811 - the fixture
) -> None:
    """An infinite open period renders its row, "none scheduled", instead of no rows at all."""
    from playwright.sync_api import expect  # noqa: PLC0415 - only with a browser

    forever = BreakerRegistry(BreakerConfig(failure_threshold=1, open_for=float("inf")))
    trip(forever, "tape")
    with served(status_app(registry=forever)) as base:
        browser_page.goto(f"{base}/")
        expect(browser_page.locator('[data-remote="tape"]')).to_have_text("OPEN", timeout=5000)
        expect(browser_page.locator("#breakers")).to_contain_text("none scheduled")
        expect(browser_page.locator("#connection")).to_have_attribute("data-connection", "live")


def test_page_falls_back_to_polling(
    browser_page: Page,  # noqa: F811 - the fixture
    registry: BreakerRegistry,
) -> None:
    """Page falls back to polling."""
    from playwright.sync_api import expect  # noqa: PLC0415 - only with a browser

    registry.get("billing").call(lambda: None)
    app = status_app(registry=registry, poll_interval=0.2)
    browser_page.add_init_script("delete window.EventSource;")
    with served(app) as base:
        browser_page.goto(f"{base}/")
        badge = browser_page.locator('[data-remote="billing"]')
        expect(badge).to_have_text("CLOSED", timeout=5000)
        expect(browser_page.locator("#connection")).to_have_attribute("data-connection", "polling")
        trip(registry, "billing")
        expect(badge).to_have_text("OPEN", timeout=3000)
    assert app.streams == 0

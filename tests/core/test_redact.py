"""Secrets are redacted in every form: URLs, connection strings, headers, real stores' errors."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CheckpointError,
    LoggingNotifier,
    RecoveryManager,
    SQLiteIncidentStore,
    Stage,
)
from resilience._core.redact import (
    is_secret_name,
    redact_conninfo,
    redact_headers,
    redact_url,
    scrub,
    url_secrets,
)
from resilience.testing import FakeClock

SECRET = "Hunter2-s3cr3t"  # noqa: S105 - fake, sent to nothing that checks it
SECRET_NAMES = [
    "password",
    "PASSWORD",
    "passwd",
    "sslpassword",
    "token",
    "access_token",
    "Refresh_Token",
    "secret",
    "client_secret",
    "key",
    "api_key",
    "apikey",
    "x-api-key",
    "X-Api-Key",
    "routing_key",
    "auth",
    "Authorization",
    "sig",
    "signature",
    "X-Amz-Signature",
    "Cookie",
]
PLAIN_NAMES = ["db", "dbname", "host", "user", "timeout", "format", "X-Team"]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a real background thread's progress, bounded."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound by nobody listening: connecting to it is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


# ------------------------------------------------------------------ the helper


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_are_recognised_in_any_case_and_as_part_of_a_name(name: str) -> None:
    """Names holding a secret are matched case-insensitively, also inside longer names."""
    assert is_secret_name(name)


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_plain_names_are_not_secret(name: str) -> None:
    """Ordinary parameters stay visible, so that a redacted URL still says where it goes."""
    assert not is_secret_name(name)


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_a_secret_query_parameter_is_masked_and_the_rest_kept(name: str) -> None:
    """Only the secret's value is masked: the host, path and other parameters remain."""
    shown = redact_url(f"redis://cache.internal:6380/2?db=1&{name}={SECRET}&timeout=5")
    assert SECRET not in shown
    assert shown.startswith("redis://cache.internal:6380/2?db=1&")
    assert "timeout=5" in shown


@pytest.mark.parametrize(
    "url",
    [
        f"redis://user:{SECRET}@cache:6379/0",
        f"redis://:{SECRET}@cache:6379/0",
        f"redis://{SECRET}@cache:6379/0",  # a lone user-info may be the token
        f"rediss://cache:6379/0?password={SECRET}",
        f"postgresql://app:{SECRET}@db/prod?sslpassword={SECRET}",
        f"https://hooks.example.com/x#{SECRET}",
        f"https://hooks.example.com/x?access_token={SECRET.replace('-', '%2D')}",
    ],
)
def test_redact_url_hides_user_info_and_secret_parameters(url: str) -> None:
    """User-info, secret query values and the fragment never reach the redacted URL."""
    shown = redact_url(url)
    assert SECRET not in shown
    assert SECRET.replace("-", "%2D") not in shown
    assert "***" in shown


@pytest.mark.parametrize(
    "conninfo",
    [
        f"host=db port=5432 dbname=prod password={SECRET}",
        f"host=db password = {SECRET} dbname=prod",
        f"host=db password='{SECRET} with spaces' dbname=prod",
        f"host=db sslpassword={SECRET}",
        f"postgresql://app:{SECRET}@db:5432/prod",
        f"postgres://app@db/prod?password={SECRET}",
    ],
)
def test_redact_conninfo_hides_passwords_in_both_forms(conninfo: str) -> None:
    """key=value and URL connection strings lose every secret value, keep the rest."""
    shown = redact_conninfo(conninfo)
    assert SECRET not in shown
    assert "db" in shown
    assert "***" in shown


@pytest.mark.parametrize("conninfo", [f"host=db password='{SECRET}", f"host=db {SECRET}"])
def test_an_unparsable_conninfo_is_never_echoed(conninfo: str) -> None:
    """A connection string that cannot be parsed is shown as a placeholder, not as written."""
    assert redact_conninfo(conninfo) == "<unparsable connection string>"


def test_secret_headers_are_masked_by_name() -> None:
    """Authorization, Cookie, X-Api-Key and the like lose their values; others keep theirs."""
    shown = redact_headers(
        {"Authorization": f"Bearer {SECRET}", "cookie": SECRET, "X-Api-Key": SECRET, "X-Team": "a"}
    )
    assert shown == {"Authorization": "***", "cookie": "***", "X-Api-Key": "***", "X-Team": "a"}


def test_scrub_masks_each_secret_and_keeps_the_text_on_one_line() -> None:
    """Error text quoting a secret (raw or decoded) is masked and cannot forge a log line."""
    url = f"redis://u:{SECRET}@h/0?token=a%20b"
    text = scrub(f"failed for {SECRET}\nand token a b", url_secrets(url))
    assert text == "failed for ***\\nand token ***"


@given(
    name=st.sampled_from(SECRET_NAMES),
    secret=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8).map(
        lambda s: f"S3{s}"
    ),
)
def test_no_secret_survives_redaction_whatever_its_characters(name: str, secret: str) -> None:
    """A secret of any printable characters, percent-encoded in a query, never shows."""
    from urllib.parse import quote  # noqa: PLC0415

    encoded = quote(secret, safe="")
    shown = redact_url(f"redis://h:1/0?{name}={encoded}")
    assert encoded not in shown
    assert secret not in shown


# ------------------------------------------------------------------ real stores


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:{port}/0?password={secret}",
        "redis://{secret}@127.0.0.1:{port}/0",
        "redis://user:{secret}@127.0.0.1:{port}/0",
    ],
)
def test_a_redis_breaker_store_never_shows_its_password(
    url: str, refused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis unreachable, the secret is in no repr, event, error, health message or log."""
    from resilience.stores.redis._breaker import RedisBreakerStore  # noqa: PLC0415

    caplog.set_level(logging.DEBUG)
    events: list[object] = []
    store = RedisBreakerStore(
        url.format(port=refused_port, secret=SECRET),
        retry_interval=0.05,
        listeners=[events.append],
    )
    try:
        registry = BreakerRegistry(BreakerConfig(failure_threshold=2), store=store)
        registry.get("api").call(lambda: "ok")  # the store tries to reach Redis
        wait_for(lambda: bool(events))
        shown = [repr(store), repr(registry), store.check().message, caplog.text]
        shown += [repr(event) for event in events]
        shown += [str(getattr(event, "error", "")) for event in events]
    finally:
        store.close()
    assert f"127.0.0.1:{refused_port}" in repr(store)
    for text in shown:
        assert SECRET not in text, text


def test_a_redis_checkpoint_store_never_shows_its_password(refused_port: int) -> None:
    """The store's repr and the error of a load from an unreachable Redis hide the secret."""
    from resilience.stores.redis._checkpoint import RedisCheckpointStore  # noqa: PLC0415

    store = RedisCheckpointStore(f"redis://127.0.0.1:{refused_port}/0?password={SECRET}")
    try:
        with pytest.raises(CheckpointError) as failed:
            store.load("job")
    finally:
        store.close()
    assert SECRET not in repr(store)
    assert SECRET not in str(failed.value)


def test_a_redis_retry_budget_never_shows_its_password(refused_port: int) -> None:
    """A budget made from a URL with the password as a parameter shows it masked."""
    from resilience.stores.redis._budget import RedisRetryBudget  # noqa: PLC0415

    budget = RedisRetryBudget(f"rediss://127.0.0.1:{refused_port}/0?password={SECRET}", name="x")
    try:
        assert SECRET not in repr(budget)
        assert "password=***" in repr(budget)
    finally:
        budget.close()


@pytest.mark.parametrize(
    "conninfo",
    [
        "host=127.0.0.1 port={port} dbname=test password={secret} sslpassword={secret}",
        "postgresql://app:{secret}@127.0.0.1:{port}/test?sslpassword={secret}",
    ],
)
def test_a_postgres_store_that_cannot_connect_never_shows_its_password(
    conninfo: str, refused_port: int
) -> None:
    """The cannot-connect error names the server, not the password (nor the sslpassword)."""
    from resilience.stores.postgres._checkpoint import PostgresCheckpointStore  # noqa: PLC0415

    with pytest.raises(CheckpointError, match="cannot connect") as failed:
        PostgresCheckpointStore(conninfo.format(port=refused_port, secret=SECRET))
    assert SECRET not in str(failed.value)
    assert "127.0.0.1" in str(failed.value)


def test_a_connected_postgres_store_never_shows_its_password(pg_dsn: str) -> None:
    """A store connected with a password (trust auth ignores it) shows it masked."""
    from resilience.stores.postgres._checkpoint import PostgresCheckpointStore  # noqa: PLC0415

    store = PostgresCheckpointStore(f"{pg_dsn} sslpassword={SECRET}")
    try:
        assert SECRET not in repr(store)
        assert "sslpassword=***" in repr(store)
    finally:
        store.close()


# ------------------------------------------------------------------ incidents


async def test_secrets_in_an_incident_are_masked_wherever_it_goes(
    fake_clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An action's error and a trigger quoting secrets: masked in summary, dict, store, log."""

    def reconnect() -> None:
        raise ConnectionError(f"cannot reach redis://app:{SECRET}@cache:6379/0")

    caplog.set_level(logging.DEBUG)
    manager = RecoveryManager(
        clock=fake_clock, notifiers=[LoggingNotifier()], stages=[Stage(attempts=1)]
    )
    manager.register("cache", actions=[reconnect], severity="P1")
    incident = await manager.recover("cache", reason=f"check failed: password={SECRET}")
    store = SQLiteIncidentStore(tmp_path / "incidents.db")
    try:
        store.add(incident)
        [kept] = store.incidents()
    finally:
        store.close()
    assert incident.actions[0].outcome == (
        "ConnectionError: cannot reach redis://app:***@cache:6379/0"
    )
    [told] = [r for r in caplog.records if r.module == "_notifiers"]  # the LoggingNotifier's
    shown = [incident.summary(), json.dumps(incident.to_dict()), repr(incident)]
    shown += [told.getMessage(), json.dumps(told.incident)]  # type: ignore[attr-defined]
    for text in shown:
        assert SECRET not in text
    assert kept == incident


async def test_secrets_in_a_recovery_never_reach_its_log_lines(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The trigger's reason and an action's error are masked before they are logged."""

    def reconnect() -> None:
        raise ConnectionError(f"cannot reach redis://app:{SECRET}@cache:6379/0")

    caplog.set_level(logging.DEBUG)
    manager = RecoveryManager(clock=fake_clock, stages=[Stage(attempts=1)])
    manager.register("cache", actions=[reconnect], severity="P1")
    await manager.recover("cache", reason=f"check failed: password={SECRET}")
    assert caplog.records
    for record in caplog.records:
        assert SECRET not in record.getMessage()

"""python -m resilience: the demo runs to the end, and status checks a configuration."""

from __future__ import annotations

import itertools
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience import BreakerConfig, BreakerRegistry
from resilience._cli.main import main
from resilience.config._sections import ConfigFile as StatusConfig
from resilience.stores.redis._breaker import RedisBreakerStore
from servers import RedisServer, free_port


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resilience", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.mark.slow
def test_the_demo_shows_every_part_and_succeeds() -> None:
    """The demo shows every part and succeeds."""
    start = time.monotonic()
    done = run("demo", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for shown in (
        "gdrive   CLOSED -> OPEN",
        "calls rejected at once while OPEN",
        "HALF_OPEN -> CLOSED",
        "refused by the budget",
        "killed at item 170",
        "every item done, nothing lost",
        "overall HEALTHY -> DEGRADED -> HEALTHY",
        "done: every part behaved as documented",
    ):
        assert shown in out
    assert time.monotonic() - start < 30  # the bound for CI, not a benchmark
    assert done.stderr == ""  # no stray log output: the library logs nowhere by default


@pytest.mark.slow
def test_the_demo_counts_only_the_open_remotes_rejections() -> None:
    """The "rejected at once while OPEN" line counts gdrive's rejections, no other remote's."""
    done = run("demo", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    line = re.search(r"gdrive +(\d+) calls rejected at once while OPEN; the remote saw (\d+)",
                     done.stdout)
    row = re.search(r"^ +gdrive +\S+ +failure rate .* rejected (\d+)$", done.stdout, re.MULTILINE)
    assert line is not None, done.stdout
    assert row is not None, done.stdout
    rejected, seen = int(line[1]), int(line[2])
    assert rejected == int(row[1])  # what gdrive's own breaker counted
    assert rejected + seen == 20  # each of gdrive's 20 calls was rejected or reached it


@pytest.mark.slow
def test_the_demo_serves_the_status_page_with_web() -> None:
    """The demo serves the status page with web."""
    process = subprocess.Popen(
        [sys.executable, "-m", "resilience", "demo", "--web", "--linger", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "serving the status page" in line:
                break
        url = next(line.split(": ", 1)[1].strip() for line in lines if "status page: " in line)
        with urllib.request.urlopen(f"{url}api/status", timeout=5) as response:  # noqa: S310
            shown = json.load(response)
        assert shown["title"] == "resilience demo"
        assert {b["remote"] for b in shown["breakers"]} == {"s3-eu", "gdrive", "dropbox"}
        assert shown["batches"][0]["job"] == "copy-photos"
        assert any(e["text"].startswith("gdrive: CLOSED → OPEN") for e in shown["events"])
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, "".join(lines) + out + err
    assert "done: every part behaved as documented" in out


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    return path


def status(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["status", "--config", str(config)])
    return code, capsys.readouterr().out


def test_status_runs_every_check_and_reports_health(
    tmp_path: Path, http_url: str, database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Status runs every check and reports health."""
    config = tmp_path / "remotes.toml"
    config.write_text(f"""
[defaults.breaker]
failure_threshold = 5
open_for = 30

[remotes.api]
check = {{ http = "{http_url}/ok" }}

[remotes.db]
check = {{ sqlite = "{database}" }}

[remotes.search]
breaker = {{ failure_rate = 0.5, window = 50 }}
check = {{ http = "{http_url}/down", critical = false }}
""")
    code, out = status(config, capsys)
    assert code == 1  # search answers 503: degraded
    assert "configuration is valid: 3 remotes (api, db, search)" in out
    assert "health: DEGRADED" in out
    assert "api                  OK       HTTP 200" in out
    assert "search               ERROR    HTTP 503" in out
    assert "opens on failure rate 0.5" in out
    config.write_text(config.read_text().replace("/down", "/ok"))
    code, out = status(config, capsys)
    assert code == 0
    assert "health: HEALTHY" in out


def test_errors_name_the_field_and_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Errors name the field and its line."""
    config = tmp_path / "bad.toml"
    config.write_text("""[defaults.breaker]
failure_threshold = 5

[remotes.db]
check = { tcp = "db.internal:5432" }

[remotes.billing]
breaker = { failure_threshold = 0, open_fro = 3 }
check = { tcp = "nohost" }
""")
    code, out = status(config, capsys)
    assert code == 2
    assert f"{config}:8: remotes.billing.breaker.failure_threshold: Input should be " in out
    assert f"{config}:8: remotes.billing.breaker.open_fro: Extra inputs are not permitted" in out
    assert f"{config}:9: remotes.billing.check.tcp: Value error, expected host:port" in out


def test_json_is_read_too_and_its_errors_have_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Json is read too and its errors have lines."""
    config = tmp_path / "remotes.json"
    config.write_text(json.dumps(
        {"remotes": {"api": {"retry": {"attempts": 0}}, "db": {"check": {}}}}, indent=2
    ))
    code, out = status(config, capsys)
    assert code == 2
    assert f"{config}:5: remotes.api.retry.attempts: Input should be greater than" in out
    assert "remotes.db.check: Value error, a check needs exactly one of http, tcp or sqlite" in out


def test_an_unreadable_or_malformed_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable or malformed file is reported."""
    code, out = status(tmp_path / "missing.toml", capsys)
    assert code == 2
    assert "cannot read it" in out
    broken = tmp_path / "broken.toml"
    broken.write_text("[remotes\n")
    code, out = status(broken, capsys)
    assert code == 2
    assert "not valid TOML" in out


def test_status_shows_the_fleets_breakers_from_redis(
    tmp_path: Path, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Status shows the fleets breakers from redis."""
    store = RedisBreakerStore(redis_server.url, namespace="shop")
    breaker = BreakerRegistry(BreakerConfig(failure_threshold=2), store=store).get("billing")
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(_refused)
    deadline = time.monotonic() + 3  # the flusher sends the trip to the server
    while _fleet_state(redis_server.url) != "open":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    store.close()
    config = tmp_path / "fleet.toml"
    config.write_text(f"""
[remotes.billing]
[remotes.search]
[store]
redis = "{redis_server.url}"
namespace = "shop"
""")
    code, out = status(config, capsys)
    assert code == 0  # no checks: nothing unhealthy
    assert "billing              OPEN (fleet), trial in " in out
    assert "2 consecutive failures" in out
    assert "search               CLOSED (fleet)" in out


def test_an_unreachable_store_is_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreachable store is said so."""
    config = tmp_path / "fleet.toml"
    config.write_text(f"""
[remotes.billing]
[store]
redis = "redis://127.0.0.1:{free_port()}/0"
""")
    code, out = status(config, capsys)
    assert code == 0
    assert "billing              unknown: Redis unreachable" in out


def _refused() -> None:
    raise ConnectionRefusedError("refused")


def _fleet_state(url: str) -> str | None:
    import redis  # noqa: PLC0415

    value = redis.Redis.from_url(url, decode_responses=True).hget("shop:breaker:{billing}", "state")
    return None if value is None else str(value)


# ------------------------------------------------------------------ invalid files


def test_error_lines_come_from_the_parser_for_dotted_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dotted keys under a table are reported on their own lines, not the table's."""
    config = tmp_path / "remotes.toml"
    config.write_text("""[defaults]
retry = { attempts = 2 }
[remotes.api]
[remotes.db]
retry.attempts = 0
"check".tcp = "nohost"   # a quoted key part, and a comment
notes.text = '''
retry = "not a key: inside a string"
'''
""")
    code, out = status(config, capsys)
    assert code == 2
    assert f"{config}:5: remotes.db.retry.attempts: Input should be greater than" in out
    assert f"{config}:6: remotes.db.check.tcp: Value error, expected host:port" in out
    assert f"{config}:7: remotes.db.notes: Extra inputs are not permitted" in out


def test_a_missing_key_is_reported_at_its_table_or_without_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A required key is missing from a table: that table's line; from the file: no line."""
    config = tmp_path / "remotes.toml"
    config.write_text("[defaults.breaker]\nopen_for = 3\n\n[store]\nnamespace = 'x'\n")
    code, out = status(config, capsys)
    assert code == 2
    assert f"{config} (line unknown): remotes: Field required" in out
    assert f"{config}:4: store.redis: Field required" in out


@given(
    data=st.recursive(
        st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=3),
        lambda inner: st.dictionaries(
            st.text(min_size=1, max_size=5), inner | st.lists(inner, max_size=2), max_size=3
        ),
        max_leaves=12,
    ),
    indent=st.sampled_from([None, 0, 1, 2]),
    ascii_only=st.booleans(),
)
def test_every_json_key_is_found_on_its_own_line(
    data: dict[str, Any], indent: int | None, ascii_only: bool
) -> None:
    """The JSON pass finds each key path, on a line where that key is written."""
    from resilience.config._file import _JsonLines  # noqa: PLC0415

    text = json.dumps({"k": data}, indent=indent, ensure_ascii=ascii_only)
    lines = _JsonLines(text).lines
    rows = text.split("\n")

    def walk(value: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                written = json.dumps(key, ensure_ascii=ascii_only)
                assert written in rows[lines[(*path, key)] - 1]
                walk(inner, (*path, key))
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                assert (*path, index) in lines
                walk(inner, (*path, index))

    walk({"k": data}, ())


_CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x7f")
_KEYS = st.text(_CHARACTERS, min_size=1, max_size=5)  # TOML has no raw DEL in strings
_TREES = st.recursive(
    st.dictionaries(_KEYS, st.integers() | st.text(_CHARACTERS, max_size=5), max_size=3),
    lambda inner: st.dictionaries(_KEYS, inner | st.lists(inner, max_size=2), max_size=3),
    max_leaves=12,
)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        pairs = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return f"{{ {pairs} }}"
    if isinstance(value, list):
        return f"[{', '.join(_toml_value(v) for v in value)}]"
    return json.dumps(value, ensure_ascii=False)  # an int, or a str: JSON's escapes are TOML's


def _toml(table: dict[str, Any], prefix: tuple[str, ...], headers: Iterator[bool]) -> list[str]:
    """TOML for ``table``: each sub-table inline or under its own header, as drawn."""
    rows, later = [], []
    for key, value in table.items():
        if isinstance(value, dict) and next(headers):
            later.append((key, value))
        else:
            rows.append(f"{_toml_key(key)} = {_toml_value(value)}  # {key!r}")
    for key, value in later:
        rows.append(f"[{'.'.join(_toml_key(p) for p in (*prefix, key))}]")
        rows += _toml(value, (*prefix, key), headers)
    return rows


@given(data=_TREES, headers=st.lists(st.booleans(), min_size=1, max_size=20))
def test_every_toml_key_is_found_on_its_own_line(
    data: dict[str, Any], headers: list[bool]
) -> None:
    """The TOML pass finds each key path (inline, dotted or under a header) on its line."""
    from resilience.config._file import _TomlLines  # noqa: PLC0415

    text = "\n".join(_toml(data, (), itertools.cycle(headers)))
    assert tomllib.loads(text) == data
    lines = _TomlLines(text).lines
    rows = text.split("\n")

    def walk(value: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                assert _toml_key(key) in rows[lines[(*path, key)] - 1].split("  # ")[0]
                walk(inner, (*path, key))
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                assert (*path, index) in lines
                walk(inner, (*path, index))

    walk(data, ())


def _deep_json(levels: int) -> str:
    nested: dict[str, Any] = {}
    inner = nested
    for _ in range(levels):
        inner["n"] = {}
        inner = inner["n"]
    return json.dumps({"remotes": {"x": nested}})


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("deep.toml", "a = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("nested.json", _deep_json(30), "nested deeper than 16 levels"),
        ("latin1.toml", "[remotes.caf\xe9]\n".encode("latin-1"), ":1: not UTF-8 text"),
        ("store.toml", '[remotes.a]\n[store]\nredis = "nope://"\n', ":3: store.redis: Value"),
        ("http.toml", '[store]\nredis = "http://h/"\n[remotes.a]\n', "got scheme 'http'"),
        ("nohost.toml", '[store]\nredis = "redis://"\n[remotes.a]\n', "it has no host"),
        (
            "file.toml",
            '[remotes.a]\ncheck = { http = "file:///etc/passwd" }\n',
            ":2: remotes.a.check.http: Value error, expected an http:// or https:// URL",
        ),
        ("ftp.toml", '[remotes.a]\ncheck = { http = "ftp://h/x" }\n', "got scheme 'ftp'"),
        ("port.toml", '[remotes.a]\ncheck = { tcp = "db:99999" }\n', "expected host:port"),
        ("remotes.ini", "[remotes.a]\n", "expected a .toml, .json or .yaml file"),
        ("list.json", "[1, 2]", "expected a table of settings"),
    ],
)
def test_every_invalid_file_exits_2_with_a_clear_message(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | bytes,
    expected: str,
) -> None:
    """Whatever is wrong with the file, status says what and where, and exits 2."""
    config = tmp_path / name
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content)
    code, out = status(config, capsys)
    assert code == 2, out
    assert out.startswith("configuration is not valid:\n")
    assert expected in out
    assert len(out) < 2000


def test_remote_names_with_control_characters_are_printed_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ANSI escapes and newlines in remote names cannot recolour or forge output lines."""
    config = tmp_path / "remotes.toml"
    config.write_text('[remotes."evil\\u001b[31mred"]\n[remotes."two\\nlines"]\n')
    code, out = status(config, capsys)
    assert code == 0
    assert "\x1b" not in out
    assert "evil\\x1b[31mred" in out
    assert "two\\nlines" in out
    assert len(out.splitlines()) == 7  # valid, blank, health, blank, breakers, one per remote


def test_secrets_in_a_config_error_are_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The input quoted by an error shows neither a URL's password nor its token."""
    config = tmp_path / "remotes.toml"
    config.write_text(
        '[remotes.a]\ncheck = { http = "ftp://user:S3CRET@h/x?token=S3CRET" }\n'
        '[store]\nredis = "nope://:S3CRET@h/0"\n'
    )
    code, out = status(config, capsys)
    assert code == 2
    assert "S3CRET" not in out
    assert "ftp://user:***@h/x?token=***" in out


def test_the_files_durations_are_seconds_or_a_timedelta() -> None:
    """A status file's timeouts and retry durations are Seconds: a timedelta is taken too."""
    config = StatusConfig.model_validate(
        {
            "remotes": {
                "billing": {
                    "check": {"tcp": "db.internal:5432", "timeout": timedelta(seconds=3)},
                    "retry": {"deadline": timedelta(minutes=1), "max_retry_after": 30},
                }
            }
        }
    )
    remote = config.remotes["billing"]  # type: ignore[attr-defined]
    assert remote.check is not None
    assert remote.check.timeout == 3
    assert remote.retry is not None
    assert (remote.retry.deadline, remote.retry.max_retry_after) == (60, 30)


def test_status_reads_the_environment_overrides_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """status loads its file with resilience.config: RESILIENCE__... variables apply."""
    config = tmp_path / "remotes.toml"
    config.write_text("[remotes.billing]\nbreaker = { failure_threshold = 3 }\n")
    monkeypatch.setenv("RESILIENCE__REMOTES__BILLING__BREAKER__OPEN_FOR", "75")
    code, out = status(config, capsys)
    assert code == 0
    assert "opens on 3 consecutive failures, for 75 s" in out
    monkeypatch.setenv("RESILIENCE__REMOTES__BILLING__BREAKER__OPEN_FOR", "0")
    code, out = status(config, capsys)
    assert code == 2
    assert "RESILIENCE__REMOTES__BILLING__BREAKER__OPEN_FOR (environment)" in out

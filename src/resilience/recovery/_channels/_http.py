"""The HTTP path every web channel shares: the standard library, no redirects, secrets kept.

One client whatever is installed, so that a channel behaves the same everywhere. A
channel's URL is checked once, shown redacted (host and port only: Slack's and
Telegram's URLs carry their secret in the path), and whatever an error quotes is
scrubbed of the URL, its credentials and the secrets the channel names.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from resilience._core.errors import ResilienceError
from resilience._core.options import seconds
from resilience._core.redact import MASK, is_secret_name, redact_url, scrub, url_secrets
from resilience._core.text import safe_repr, safe_str
from resilience._core.timeout import Overran, within
from resilience.recovery._incidents import Severity

__all__ = [
    "Endpoint",
    "NotifyError",
    "Reply",
    "checked_headers",
    "checked_severity",
    "checked_timeout",
    "checked_url",
    "shown_url",
]

_MAX_BODY = 64 * 1024  # an answer's body is read for its error text only: a bounded read
_MAX_QUOTED = 300  # characters of an answer quoted in an error


class NotifyError(ResilienceError):
    """A notifier could not deliver its notification."""


def shown_url(url: str) -> str:
    """A URL as shown: scheme, host and port; secrets hide in the path too."""
    return redact_url(url, path=False)


def checked_severity(value: Severity | str, *, field: str = "min_severity") -> Severity:
    """A :class:`Severity` from itself or its name, or a ValueError naming ``field``."""
    try:
        return Severity(value)
    except ValueError:
        raise ValueError(f"{field} must be one of P0, P1, P2, P3, got {value!r}") from None


def checked_timeout(timeout: float | timedelta) -> float:
    """A positive number of seconds, or a ValueError naming ``timeout``."""
    number = seconds(timeout)
    if isinstance(number, bool) or not isinstance(number, int | float) or not number > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(number)


# RFC 9110 token characters: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def checked_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's headers, refused if one could split the request or hide in an error."""
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(
                f"headers must map str names to str values, got {safe_repr(name)}: "
                f"{type(value).__name__}"
            )
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(
                f"headers: {safe_repr(name)} is not a valid header name (letters, digits "
                "and !#$%&'*+-.^_`|~ only, no spaces)"
            )
        if value != value.strip() or not value.isprintable():
            shown = MASK if is_secret_name(name) else safe_repr(value)
            raise ValueError(
                f"headers: the value of {name!r} ({shown}) has a newline, a control "
                "character or surrounding whitespace; pass the value alone, stripped"
            )
        checked[name] = value
    return checked


def checked_url(url: object, *, field: str = "url") -> str:
    """An http(s) URL with a host, or an error that shows it redacted."""
    if not isinstance(url, str):
        raise TypeError(f"{field} must be a str, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError unless it is a number up to 65535
    except ValueError:
        raise ValueError(f"{field} has a malformed host or port, got {shown_url(url)!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field} must be an http:// or https:// URL, got {shown_url(url)!r}")
    if not url.isprintable() or any(c.isspace() for c in url):
        # urlsplit drops tabs and newlines silently: the URL posted to would not be
        # the one written, and the raw one could reach an error message.
        raise ValueError(
            f"{field} must not contain whitespace or control characters, got "
            f"{shown_url(url)!r}; percent-encode them (%20) or remove them"
        )
    return url


@dataclass(frozen=True, slots=True)
class Reply:
    """What a server answered: its status, a redirect's Location, the start of its body."""

    status: int
    location: str | None
    body: bytes

    def json(self) -> object:
        """The body as JSON, or None when it is not."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Endpoint:
    """One URL a channel posts JSON to, with its headers, its time limit and its secrets.

    Args:
        what: How errors name it ("Slack webhook", "Telegram").
        url: Where to post; user-info becomes Basic auth, as httpx does.
        timeout: Seconds for the whole exchange.
        headers: Extra headers.
        secrets: More strings that must never reach an error (a token sent in the body).
    """

    __slots__ = ("_headers", "_secrets", "_url", "shown", "timeout", "what")

    def __init__(
        self,
        *,
        what: str,
        url: str,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        parts = urlsplit(url)
        self.what = what
        self.timeout = timeout
        self._url, self._headers = _with_basic_auth(
            url, {"Content-Type": "application/json", **checked_headers(headers)}
        )
        self.shown = shown_url(self._url)
        self._secrets = [
            url,
            self._url,
            parts.path if len(parts.path) > 1 else "",  # not a lone "/", in every error
            parts.query,
            *url_secrets(url),
            *(v for n, v in self._headers.items() if is_secret_name(n)),
            *secrets,
        ]

    @property
    def headers(self) -> dict[str, str]:
        """The headers sent, secret ones as ``***``."""
        return {n: MASK if is_secret_name(n) else v for n, v in self._headers.items()}

    def scrubbed(self, text: str) -> str:
        """``text`` with every secret of this endpoint masked, on one line."""
        return scrub(text, self._secrets)

    async def post(self, payload: object) -> Reply:
        """POST ``payload`` as JSON; the reply, or :class:`NotifyError` if there was none.

        A redirect is an error too: following one would send the body and the
        credentials to a host nobody configured.
        """
        body = json.dumps(payload).encode()
        try:
            reply = await within(self.timeout, _post(self._url, body, self._headers, self.timeout))
        except (Overran, TimeoutError):
            raise NotifyError(
                f"{self.what} {self.shown} did not answer within {self.timeout:g} s"
            ) from None
        except Exception as exc:
            text = self.scrubbed(f"{type(exc).__name__}: {safe_str(exc)}")
            raise NotifyError(f"{self.what} {self.shown} failed: {text}") from None
        if 300 <= reply.status < 400:  # noqa: PLR2004
            to = f" to {shown_url(urljoin(self._url, reply.location))}" if reply.location else ""
            raise NotifyError(
                f"{self.what} {self.shown} answered HTTP {reply.status}, a redirect{to}; "
                "redirects are not followed, so that the incident and any credentials reach "
                "the configured host only: configure the URL it redirects to"
            )
        return reply

    def failed(self, reply: Reply, said: object = None) -> NotifyError:
        """The error for an answer that is not a success, quoting what the server said."""
        text = said if isinstance(said, str) and said else reply.body.decode("utf-8", "replace")
        text = self.scrubbed(text)[:_MAX_QUOTED]
        quoted = f": {text}" if text.strip() else ""
        return NotifyError(f"{self.what} {self.shown} answered HTTP {reply.status}{quoted}")


def _with_basic_auth(url: str, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The URL without its user-info, and the headers with it as Basic auth.

    urllib ignores credentials in the URL: it would look up "user:pass@host" as the
    host, and put the password in its error.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, dict(headers)
    userpass = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    token = base64.b64encode(userpass.encode()).decode()
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, {**headers, "Authorization": f"Basic {token}"}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hands every 3xx back as it is: following one would send the body elsewhere."""

    def redirect_request(self, *_: object, **__: object) -> None:
        return None


async def _post(url: str, body: bytes, headers: Mapping[str, str], time_limit: float) -> Reply:
    """POST with the standard library, on a worker thread."""

    def post() -> Reply:
        opener = urllib.request.build_opener(_NoRedirects)
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
        try:
            with opener.open(request, timeout=time_limit) as response:
                return Reply(int(response.status), None, response.read(_MAX_BODY))
        except urllib.error.HTTPError as exc:
            with exc:
                return Reply(exc.code, exc.headers.get("Location"), exc.read(_MAX_BODY))

    return await asyncio.to_thread(post)

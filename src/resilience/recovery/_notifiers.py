"""Notifiers: how an escalated incident reaches a person, routed by severity.

Each notifier has a ``min_severity``: it is told of incidents at least that urgent, so
P0 reaches every channel and P3 only those that take everything (SCENARIOS.md 3).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import ClassVar, Protocol, runtime_checkable
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from resilience._core.errors import ResilienceError
from resilience._core.options import seconds
from resilience._core.redact import MASK, is_secret_name, redact_url, scrub, url_secrets
from resilience._core.shells import is_async
from resilience._core.text import safe_repr, safe_str
from resilience._core.timeout import Overran, within
from resilience.recovery._incidents import Incident, Resolution, Severity

__all__ = [
    "CallbackNotifier",
    "LoggingNotifier",
    "Notifier",
    "NotifyError",
    "WebhookNotifier",
]


def _shown(url: str) -> str:
    """A webhook URL as shown: scheme, host and port; secrets hide in the path too."""
    return redact_url(url, path=False)


class NotifyError(ResilienceError):
    """A notifier could not deliver its notification."""


@runtime_checkable
class Notifier(Protocol):
    """Something that tells a person about an incident.

    ``notify`` raises when the notification was not delivered; the recovery manager
    records and logs that, and carries on.
    """

    min_severity: Severity
    """The least urgent severity this notifier is told of."""

    async def notify(self, incident: Incident) -> None:
        """Deliver ``incident``, or raise."""


def _as_severity(value: Severity | str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        raise ValueError(f"min_severity must be one of P0, P1, P2, P3, got {value!r}") from None


class LoggingNotifier:
    """Logs each incident to a stdlib logger: P0 and P1 as CRITICAL/ERROR, P2 WARNING, P3 INFO.

    Args:
        logger: The logger; ``logging.getLogger("resilience")`` by default.
        min_severity: The least urgent severity logged.
    """

    _LEVELS: ClassVar[dict[Severity, int]] = {
        Severity.P0: logging.CRITICAL,
        Severity.P1: logging.ERROR,
        Severity.P2: logging.WARNING,
        Severity.P3: logging.INFO,
    }

    def __init__(
        self, logger: logging.Logger | None = None, *, min_severity: Severity | str = Severity.P3
    ) -> None:
        self.logger = logger if logger is not None else logging.getLogger("resilience")
        self.min_severity = _as_severity(min_severity)

    async def notify(self, incident: Incident) -> None:
        """Log the incident's summary, with its fields in ``extra``."""
        level = self._LEVELS[incident.severity]
        if incident.resolution is Resolution.RECOVERED:
            level = logging.INFO
        self.logger.log(
            level,
            "incident %s\n%s",
            incident.id,
            incident.summary(),
            extra={"incident": incident.to_dict()},
        )

    def __repr__(self) -> str:
        return f"LoggingNotifier({self.logger.name!r}, min_severity={self.min_severity.value})"


class CallbackNotifier:
    """Calls ``fn(incident)``: sync functions on a worker thread, async ones awaited.

    Args:
        fn: Receives the :class:`Incident`; raising means the notification failed.
        min_severity: The least urgent severity passed on.
    """

    def __init__(
        self, fn: Callable[[Incident], object], *, min_severity: Severity | str = Severity.P3
    ) -> None:
        if not callable(fn):
            raise TypeError(f"CallbackNotifier takes a function, got {fn!r}")
        self.fn = fn
        self.min_severity = _as_severity(min_severity)

    async def notify(self, incident: Incident) -> None:
        """Call the function with the incident."""
        if is_async(self.fn):
            await self.fn(incident)  # type: ignore[misc]
        else:
            await asyncio.to_thread(self.fn, incident)

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"CallbackNotifier({name}, min_severity={self.min_severity.value})"


# RFC 9110 token characters: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _checked_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
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


class WebhookNotifier:
    """POSTs each incident as JSON to a URL (Slack-style webhooks, incident tools, your API).

    The body is :meth:`Incident.to_dict` plus ``"text"``, the incident's summary. Any
    status other than 2xx, a timeout or a connection error is a failed notification.
    Redirects are never followed: a 3xx is a failed notification too, so that the body
    and the credentials (an ``Authorization`` header, or Basic auth from the URL's
    user-info) reach the configured host only. The URL is shown redacted in its
    ``repr``, in logs and in errors, and secret headers never appear in either.

    Args:
        url: Where to post.
        min_severity: The least urgent severity posted.
        timeout: Seconds (or a timedelta) to wait for the whole exchange.
        headers: Extra headers (an ``Authorization``, say).
    """

    def __init__(
        self,
        url: str,
        *,
        min_severity: Severity | str = Severity.P3,
        timeout: float | timedelta = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError unless it is a number up to 65535
        except ValueError:
            raise ValueError(f"url has a malformed host or port, got {_shown(url)!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http:// or https:// URL, got {_shown(url)!r}")
        if not url.isprintable() or any(c.isspace() for c in url):
            # urlsplit drops tabs and newlines silently: the URL posted to would not be
            # the one written, and the raw one could reach an error message.
            raise ValueError(
                f"url must not contain whitespace or control characters, got "
                f"{_shown(url)!r}; percent-encode them (%20) or remove them"
            )
        number = seconds(timeout)
        if isinstance(number, bool) or not number > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.min_severity = _as_severity(min_severity)
        self.timeout = float(number)
        self.headers = {"Content-Type": "application/json", **_checked_headers(headers)}
        self._url, self._send_headers = _with_basic_auth(url, self.headers)
        # Whatever an error quotes, none of these get through (scrub).
        self._secrets = [
            url,
            self._url,
            parts.path if len(parts.path) > 1 else "",  # not a lone "/", in every error
            parts.query,
            *url_secrets(url),
            *(v for n, v in self._send_headers.items() if is_secret_name(n)),
        ]

    @property
    def url(self) -> str:
        """The URL, redacted."""
        return _shown(self._url)

    async def notify(self, incident: Incident) -> None:
        """POST the incident; raise :class:`NotifyError` unless the answer is 2xx."""
        body = json.dumps({**incident.to_dict(), "text": incident.summary()}).encode()
        try:
            status, location = await within(
                self.timeout, _post(self._url, body, self._send_headers, self.timeout)
            )
        except (Overran, TimeoutError):
            raise NotifyError(
                f"webhook {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except Exception as exc:
            text = scrub(f"{type(exc).__name__}: {safe_str(exc)}", self._secrets)
            raise NotifyError(f"webhook {self.url} failed: {text}") from None
        if 300 <= status < 400:  # noqa: PLR2004
            to = f" to {_shown(urljoin(self._url, location))}" if location else ""
            raise NotifyError(
                f"webhook {self.url} answered HTTP {status}, a redirect{to}; redirects are "
                "not followed, so that the incident and any credentials reach the "
                "configured host only: configure the URL it redirects to"
            )
        if not 200 <= status < 300:  # noqa: PLR2004
            raise NotifyError(f"webhook {self.url} answered HTTP {status}")

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.url!r}, min_severity={self.min_severity.value})"


def _with_basic_auth(url: str, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The URL without its user-info, and the headers with it as Basic auth (as httpx does).

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


async def _post(
    url: str, body: bytes, headers: Mapping[str, str], time_limit: float
) -> tuple[int, str | None]:
    """POST with the standard library; the status, and a redirect's Location if any.

    One client whatever is installed, so that a webhook behaves the same everywhere.
    """

    def post() -> tuple[int, str | None]:
        opener = urllib.request.build_opener(_NoRedirects)
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
        try:
            with opener.open(request, timeout=time_limit) as response:
                return int(response.status), None
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers.get("Location")

    return await asyncio.to_thread(post)

"""Secrets kept out of what we show: URLs, connection strings, headers and error text.

One place decides what a secret looks like, so that a store's ``repr``, a notifier's
error and the status page all hide the same things. A parameter or header is secret
when its name contains one of :data:`SECRET_WORDS`, in any case: ``password``,
``sslpassword``, ``access_token``, ``X-Api-Key``, ``Authorization``, ``Cookie``...
Over-redacting a harmless value costs nothing; showing a secret cannot be undone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from resilience._core.text import one_line

__all__ = [
    "MASK",
    "SECRET_WORDS",
    "conninfo_secrets",
    "is_secret_name",
    "redact_conninfo",
    "redact_headers",
    "redact_text",
    "redact_url",
    "scrub",
    "url_secrets",
]

MASK = "***"
SECRET_WORDS = (
    "pass",  # password, passwd, sslpassword, passphrase
    "pwd",
    "secret",
    "token",  # token, access_token, refresh_token
    "key",  # key, api_key, apikey, x-api-key, routing_key, sslkey
    "auth",  # auth, authorization, proxy-authorization, oauth
    "sig",  # sig, signature, x-amz-signature
    "cookie",  # cookie, set-cookie
    "session",
    "credential",
)
_UNPARSABLE_URL = "<unparsable URL>"
_UNPARSABLE_CONNINFO = "<unparsable connection string>"


def is_secret_name(name: str) -> bool:
    """Whether a parameter or header called ``name`` holds a secret."""
    folded = name.casefold()
    return any(word in folded for word in SECRET_WORDS)


def redact_url(url: str, *, path: bool = True) -> str:
    """``url`` safe to show: its user-info's password and secret query values as ``***``.

    A user-info with no password (``redis://s3cret@host``) may be a token: it is
    masked whole. The fragment, never sent to a server, is masked when present. With
    ``path=False`` the path and query go too (``https://host:8443/<redacted>``), for
    URLs that carry their secret in the path, as Slack's and Discord's webhooks do.
    The result is one line; a URL that cannot be parsed is shown as ``<unparsable URL>``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number
        return _UNPARSABLE_URL
    if ":" in host:
        host = f"[{host}]"
    if not path:
        return one_line(f"{parts.scheme}://{host or '?'}{port}/<redacted>")
    netloc = f"{host}{port}"
    if "@" in parts.netloc:
        user = parts.username or ""
        netloc = f"{user}:{MASK}@{netloc}" if parts.password is not None else f"{MASK}@{netloc}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(
            f"{quote(name, safe='')}={MASK if is_secret_name(name) else quote(value, safe='')}"
            for name, value in pairs
        )
    fragment = MASK if parts.fragment else ""
    return one_line(urlunsplit(parts._replace(netloc=netloc, query=query, fragment=fragment)))


def url_secrets(url: str) -> list[str]:
    """The secret strings in ``url``, raw and percent-decoded, to :func:`scrub` from text."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    # As redact_url masks them: a lone user name may be a token; beside a password it is not.
    userinfo = parts.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    found = [password, unquote(password)] if password else [user, unquote(user)]
    found += [parts.fragment]
    found += [value for name, value in parse_qsl(parts.query) if is_secret_name(name)]
    found += [value for name, value in _raw_query(parts.query) if is_secret_name(name)]
    return [s for s in found if s]


def _raw_query(query: str) -> list[tuple[str, str]]:
    """The query's pairs as written, before percent-decoding: errors may quote them so."""
    return [(unquote(n), v) for n, _, v in (p.partition("=") for p in query.split("&"))]


# libpq's key=value form: a value is a bare word or a single-quoted string with
# backslash escapes; spaces may surround the "=".
_PAIR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)")


def redact_conninfo(conninfo: str) -> str:
    """A PostgreSQL connection string safe to show, in its URL or key=value form.

    Secret values (``password``, ``sslpassword``...) become ``***``; a string that
    cannot be parsed is shown as ``<unparsable connection string>``, never echoed.
    """
    if conninfo.lstrip().startswith(("postgres://", "postgresql://")):
        shown = redact_url(conninfo.strip())
        return _UNPARSABLE_CONNINFO if shown == _UNPARSABLE_URL else shown
    pairs: list[str] = []
    position = 0
    text = conninfo.rstrip()
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None or match.end() == position:
            return _UNPARSABLE_CONNINFO
        name, value = match.groups()
        pairs.append(f"{name}={MASK if is_secret_name(name) else value}")
        position = match.end()
    return one_line(" ".join(pairs))


def conninfo_secrets(conninfo: str) -> list[str]:
    """The secret values in a connection string, to :func:`scrub` from text."""
    if conninfo.lstrip().startswith(("postgres://", "postgresql://")):
        return url_secrets(conninfo.strip())
    found = []
    for match in _PAIR.finditer(conninfo):
        name, value = match.groups()
        if is_secret_name(name) and value:
            found += [value, value.strip("'")]
    return found


# In free text (an error message, a health check's): a URL, or a name=value pair whose
# name says it is secret, as a query string or a libpq connection string writes it.
# Bounded name lengths keep a long run of letters from costing quadratic time.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s'\"<>]+")
_SECRET_PAIR = re.compile(
    r"\b([A-Za-z_][\w-]{0,100})(\s*=\s*)('(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\s&;,'\")]+)"
)


def redact_text(text: str) -> str:
    """Free text with the secrets of the URLs and ``name=value`` pairs in it masked.

    For messages we did not write (a health check's, an exception's) shown where many
    can read them: the status page. Cheap when there is nothing to look at.
    """
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group()), text)
    if "=" in text:
        text = _SECRET_PAIR.sub(
            lambda m: f"{m[1]}{m[2]}{MASK}" if is_secret_name(m[1]) else m[0], text
        )
    return text


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the values of secret ones (by name) as ``***``."""
    return {name: MASK if is_secret_name(name) else value for name, value in headers.items()}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``, on one line.

    For error messages of libraries that echo their input: whatever they quote, the
    secret strings we handed them do not get through. Longer secrets go first, so that
    a secret containing another is masked whole.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return one_line(text)

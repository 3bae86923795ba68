"""Telegram: a bot's ``sendMessage``, to a chat, a group or a channel."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from resilience.recovery._channels._http import (
    Endpoint,
    NotifyError,
    checked_severity,
    checked_timeout,
    checked_url,
)
from resilience.recovery._channels._message import Message, message_for
from resilience.recovery._incidents import Incident, Severity

__all__ = ["TelegramNotifier", "telegram_payload"]

_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")  # "<bot id>:<secret>", as BotFather gives
_TEXT_MAX = 3800  # of the 4096 characters a message may have, once the markup is read


def telegram_payload(message: Message, *, chat_id: int | str) -> dict[str, Any]:
    """The ``sendMessage`` body: the message as HTML, its title in bold, no link previews."""
    body = "\n".join(message.lines()[1:])
    if len(body) > _TEXT_MAX:
        body = body[: _TEXT_MAX - 1] + "…"
    return {
        "chat_id": chat_id,
        "text": f"<b>{html.escape(message.title)}</b>\n{html.escape(body)}",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }


class TelegramNotifier:
    """Sends each incident to a Telegram chat through a bot (the Bot API's ``sendMessage``).

    The bot token is a secret: it is in the URL's path, which is never shown; errors
    quote what Telegram said (``Bad Request: chat not found``) with the token masked.

    Args:
        token: The bot's token, ``123456:ABC-...``.
        chat_id: The chat's id (``-100...`` for a channel) or ``"@channelname"``.
        min_severity: The least urgent severity sent.
        timeout: Seconds (or a timedelta) for the whole exchange.
        api_url: The Bot API's address; another only for a local Bot API server or a test.
    """

    kind = "telegram"

    def __init__(
        self,
        token: str,
        *,
        chat_id: int | str,
        min_severity: Severity | str = Severity.P3,
        timeout: float | timedelta = 10.0,
        api_url: str = "https://api.telegram.org",
    ) -> None:
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise ValueError(
                "token must be a bot token as BotFather gives it, '<digits>:<letters, digits, "
                "_ or ->' (the value is not shown: it is a secret)"
            )
        if isinstance(chat_id, bool) or not isinstance(chat_id, int | str) or chat_id == "":
            raise ValueError(
                f"chat_id must be a chat's number or an '@channelname', got {chat_id!r}"
            )
        base = checked_url(api_url, field="api_url").rstrip("/")
        self.chat_id = chat_id
        self.min_severity = checked_severity(min_severity)
        self._endpoint = Endpoint(
            what="Telegram",
            url=f"{base}/bot{token}/sendMessage",
            timeout=checked_timeout(timeout),
            secrets=[token, token.partition(":")[2]],
        )
        self.timeout = self._endpoint.timeout

    async def notify(self, incident: Incident) -> None:
        """Send the incident's message; raise :class:`NotifyError` unless Telegram sent it."""
        payload = telegram_payload(message_for(incident), chat_id=self.chat_id)
        reply = await self._endpoint.post(payload)
        answer = reply.json()
        said = answer.get("description") if isinstance(answer, dict) else None
        if not 200 <= reply.status < 300:  # noqa: PLR2004
            raise self._endpoint.failed(reply, said)
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            # A 200 that is not the Bot API's {"ok": true, ...}: a proxy or a wrong URL.
            raise NotifyError(
                f"Telegram {self._endpoint.shown} answered HTTP {reply.status} without "
                '{"ok": true}: check api_url points at the Bot API'
            )

    def __repr__(self) -> str:
        return (
            f"TelegramNotifier({self._endpoint.shown!r}, chat_id={self.chat_id!r}, "
            f"min_severity={self.min_severity.value})"
        )

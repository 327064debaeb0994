"""Point discord.py at another Discord API (a local stand-in in tests): ``DISCORD_API_BASE``.

    DISCORD_API_BASE=http://127.0.0.1:8080/api/v10 tipbot serve

discord.py keeps both addresses in class attributes: REST (and interaction follow-ups) use
``discord.http.Route.BASE``; the gateway is ``DiscordWebSocket.DEFAULT_GATEWAY``, a constant it
never looks up, so with a custom base it is taken from ``GET {base}/gateway/bot`` after login.
"""

from __future__ import annotations

import logging
import os

import discord
import yarl
from discord.gateway import DiscordWebSocket

log = logging.getLogger(__name__)

ENV = "DISCORD_API_BASE"


def api_base() -> str | None:
    value = os.environ.get(ENV, "").strip().rstrip("/")
    return value or None


def apply_api_base(base: str) -> None:
    """Send REST calls to ``base`` (before login, which is the first call)."""
    discord.http.Route.BASE = base


async def apply_gateway(http: discord.http.HTTPClient) -> str:
    """Ask the API where its gateway is and connect there (call after login)."""
    _shards, url, _limits = await http.get_bot_gateway()
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    log.info("using gateway %s", url)
    return url

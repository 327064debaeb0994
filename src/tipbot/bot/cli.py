"""`tipbot serve`: run the Discord bot until interrupted.

The token comes only from the DISCORD_TOKEN environment variable, never from config.toml, so
it cannot be committed by accident. Known failures (no token, a rejected token, Discord out of
reach) end with one line on stderr and exit code 1; tracebacks go to the log only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from tipbot.errors import ConfigError, TipbotError

if TYPE_CHECKING:
    from tipbot.archive import Archive
    from tipbot.config import BotConfig, ConversationConfig

log = logging.getLogger(__name__)

NO_TOKEN = (
    "DISCORD_TOKEN is not set: copy the bot token from the Discord Developer Portal "
    "(Applications → your app → Bot → Reset Token) and run DISCORD_TOKEN=… tipbot serve"
)
BAD_TOKEN = (
    "Discord rejected DISCORD_TOKEN (401 Unauthorized): reset the token in the Developer "
    "Portal (Bot → Reset Token) and export the new one"
)


async def run_bot(
    token: str,
    load_archive: Callable[[], Archive],
    settings: BotConfig | None = None,
    conversation: ConversationConfig | None = None,
) -> None:
    """Log in first (a bad token fails in a second, not after loading the model), then load the
    archive in a thread, then connect to the gateway and serve until closed. ``settings`` and
    ``conversation``: the config's [bot] and [conversation] (the archive is not there yet)."""
    import aiohttp
    import discord

    from tipbot.bot.client import TipClient
    from tipbot.bot.service import BotService

    client = TipClient(BotService(None, settings, conversation))
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals on Windows/threads
        # A service manager's stop (SIGTERM) closes the connection cleanly and exits 0.
        loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(client.close()))
    try:
        async with client:
            await client.login(token)
            client.archive = await asyncio.to_thread(load_archive)
            await client.connect()
    except discord.LoginFailure:
        raise ConfigError(BAD_TOKEN) from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError(
            "Discord refused an intent this bot asked for: check Privileged Gateway Intents "
            "in the Developer Portal"
        ) from None
    except discord.ConnectionClosed as e:
        # 4004: token revoked meanwhile; 4013/4014: bad intents; others cannot be resumed.
        raise TipbotError(
            f"Discord closed the gateway connection (code {e.code}): {e.reason or 'no reason'}"
        ) from None
    except (aiohttp.ClientError, discord.GatewayNotFound, OSError) as e:
        log.debug("connection failed", exc_info=True)
        raise TipbotError(f"cannot reach Discord: {e}") from None
    except discord.HTTPException as e:
        log.debug("Discord API error", exc_info=True)
        raise TipbotError(f"Discord answered {e.status}: {e.text or 'no details'}") from None


@click.command()
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="How much to log (to stderr).",
)
@click.pass_context
def serve(ctx: click.Context, log_level: str) -> None:
    """Run the Discord bot: /ask, /about, mentions and DMs, answered with quotes.

    \b
    DISCORD_TOKEN=… tipbot serve
    DISCORD_TOKEN=… tipbot --config prod.toml serve --log-level WARNING

    Settings are in the [bot] section of the config (allowed_guilds, allowed_channels,
    dev_guild, cooldown_seconds, cooldown_questions, max_concurrency, feedback_file,
    reload_check_seconds); follow-ups are remembered as [conversation] says (turns, idle,
    max_conversations). DISCORD_API_BASE points the bot at another API (tests).
    """
    from tipbot.cli_common import get_config, open_archive

    token = os.environ.get("DISCORD_TOKEN", "").strip()
    try:
        if not token:
            raise ConfigError(NO_TOKEN)
        cfg = get_config(ctx)
        # A server's log wants times; tipbot's one-shot commands keep the shorter format.
        # Other libraries (faiss, sentence-transformers) stay at WARNING unless DEBUG is asked.
        level = log_level.upper()
        logging.basicConfig(
            level="DEBUG" if level == "DEBUG" else "WARNING",
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            force=True,
        )
        for name in ("tipbot", "discord"):
            logging.getLogger(name).setLevel(level)
        asyncio.run(run_bot(token, lambda: open_archive(ctx), cfg.bot, cfg.conversation))
    except TipbotError as e:
        # click.echo, not the shared rich console: rich wraps at 80 columns, and this must
        # stay one line for whoever reads a service log.
        click.echo(f"error: {e}", err=True)
        ctx.exit(1)

"""The Discord client: slash commands, mentions, replies and DMs, answered from one shared Archive.

    client = TipClient(BotService(archive))   # settings default to archive.cfg.bot
    async with client:
        await client.start(os.environ["DISCORD_TOKEN"])

Questions are answered by the client's BotService (tipbot.bot.service), in a worker thread: the
event loop never waits on a search. A background task picks up a rebuilt index without a restart;
another pulls the [sync] sources on schedule (tipbot.bot.sync). Follow-ups are read with the
earlier turns of their conversation (tipbot.bot.conversations says which one).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord

from tipbot.bot import api_base, policy, sync
from tipbot.bot.commands import FreshButton, TipTree, add_commands, message_parts
from tipbot.bot.conversations import Asked, Place
from tipbot.bot.feedback import VoteButton
from tipbot.bot.service import BotService, Result
from tipbot.config import BotConfig

if TYPE_CHECKING:
    from tipbot.archive import Archive

log = logging.getLogger(__name__)
NO_MENTIONS = discord.AllowedMentions.none()


def intents() -> discord.Intents:
    """Servers, and messages in servers and DMs; no privileged intent. Discord sends the text
    of messages that mention the bot, and of DMs, even without Message Content."""
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True)


def replied_to(message: discord.Message) -> int | None:
    """The id of the message ``message`` replies to; None when it is no reply (forwards and a
    thread's first message carry a reference too)."""
    if message.type is not discord.MessageType.reply or message.reference is None:
        return None
    return message.reference.message_id


class TipClient(discord.Client):
    """The Discord side of the bot; ``service`` (a BotService) holds its archive and state and
    answers its questions."""

    def __init__(self, service: BotService, **options: Any) -> None:
        """``service``: what the bot keeps and how it answers (its archive may still be None
        until ``serve`` has loaded it). ``options`` go to discord.Client (tests shorten
        ``guild_ready_timeout``)."""
        options.setdefault("allowed_mentions", NO_MENTIONS)
        # The bot never joins voice: skip discord.py's warnings about missing voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(intents=intents(), **options)
        self.service = service
        self.tree = TipTree(self)
        add_commands(self.tree)
        self._reload_task: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._last_reload_error = ""

    @property
    def archive(self) -> Archive | None:
        """The service's archive; ``serve`` sets it once loaded."""
        return self.service.archive

    @archive.setter
    def archive(self, archive: Archive | None) -> None:
        self.service.archive = archive

    @property
    def settings(self) -> BotConfig:
        """The service's [bot] settings."""
        return self.service.settings

    # ---- startup and shutdown --------------------------------------------------------------

    async def setup_hook(self) -> None:
        """After login, before the gateway: find the gateway, register buttons, sync commands."""
        if api_base.api_base():
            await api_base.apply_gateway(self.http)
        self.add_dynamic_items(VoteButton, FreshButton)
        if self.settings.dev_guild:
            # A guild's commands update at once; global ones can take up to an hour.
            guild = discord.Object(self.settings.dev_guild)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d commands", len(synced))
        self._reload_task = asyncio.create_task(self._reload_loop(), name="tipbot-reload")
        if self.archive is None or self.archive.cfg.sync.sources:
            # Waits for the archive; with no [sync] sources it then ends (see sync_loop).
            self._sync_task = asyncio.create_task(sync.sync_loop(self.service), name="tipbot-sync")

    async def login(self, token: str) -> None:
        base = api_base.api_base()
        if base:
            api_base.apply_api_base(base)
        await super().login(token)

    async def close(self) -> None:
        if self._reload_task is not None:
            self._reload_task.cancel()
        if self._sync_task is not None:
            self._sync_task.cancel()
        await super().close()

    async def on_ready(self) -> None:
        user_id = self.user.id if self.user is not None else None
        log.info("connected as %s (%s) in %d servers", self.user, user_id, len(self.guilds))

    # ---- answering -------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        """Answer a DM, a message that mentions the bot, or a reply to the bot, in a reply."""
        question = self._question_in(message)
        if question is None:
            return
        service = self.service
        try:
            if not question:
                await message.reply(policy.EMPTY_QUESTION, allowed_mentions=NO_MENTIONS)
                return
            if wait := service.cooldown.hit(message.author.id):
                await message.reply(policy.retry_message(wait), allowed_mentions=NO_MENTIONS)
                return
            place = service.conversations.place(
                message.channel.id,
                message.author.id,
                dm=message.guild is None,
                replied_to=replied_to(message),
            )
            async with message.channel.typing():
                result = await service.answer(Asked(question), place.context)
            await self._reply(message, place, result)
        except discord.HTTPException:
            log.exception("could not reply to message %s", message.id)

    def _question_in(self, message: discord.Message) -> str | None:
        """The question in a DM, a message that mentions the bot or a reply to it, where the bot
        may answer ("" when empty); None when the message is not for the bot."""
        if message.author.bot or self.user is None:
            return None
        question = policy.mention_question(message.content, self.user.id)
        if question is None and (message.guild is None or self._pinged_by_reply(message)):
            question = policy.strip_mentions(message.content)
        if question is None:
            return None
        channel_ids = (message.channel.id, getattr(message.channel, "parent_id", None))
        guild_id = message.guild.id if message.guild else None
        if not policy.place_allowed(self.settings, guild_id, tuple(i for i in channel_ids if i)):
            return None  # elsewhere the bot stays silent rather than reply where it is not wanted
        return question

    def _pinged_by_reply(self, message: discord.Message) -> bool:
        """A reply to the bot's message that pings it (Discord's default): the bot is among the
        mentions though the text has no ``<@id>``. A reply that does not ping comes without its
        text (no Message Content intent), so it is left alone."""
        assert self.user is not None
        return replied_to(message) is not None and any(
            u.id == self.user.id for u in message.mentions
        )

    async def _reply(self, message: discord.Message, place: Place, result: Result) -> None:
        """Send ``result`` as a reply to ``message`` and remember it in ``place``."""
        sent = await message.reply(result.payload.content or None, **message_parts(result))
        self.service.remember(place, sent.id, message.author.id, result)

    # ---- hot reload ------------------------------------------------------------------------

    async def _reload_loop(self) -> None:
        """Every ``reload_check_seconds``, swap in a newer index if one was published. A bad
        build is logged (once per distinct error) and the current index keeps answering."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.reload_check_seconds)
            archive = self.archive
            if archive is None:
                continue
            try:
                if await loop.run_in_executor(None, archive.reload_if_changed):
                    data = archive.data
                    log.info("loaded index build %s (%d posts)", data.build_id, len(data.posts))
                self._last_reload_error = ""
            except Exception as e:
                if str(e) != self._last_reload_error:
                    log.exception("could not load the new index; the current one keeps answering")
                self._last_reload_error = str(e)

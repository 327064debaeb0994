"""The Discord client: slash commands, mentions and DMs, answered from one shared Archive.

    client = TipClient(archive)              # settings default to archive.cfg.bot
    async with client:
        await client.start(os.environ["DISCORD_TOKEN"])

The event loop never waits on a search: ``archive.ask`` runs in a worker thread, at most
``max_concurrency`` at a time. A background task picks up a rebuilt index without a restart;
another pulls the [sync] sources on schedule (tipbot.bot.sync).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from typing import Any

import discord

from tipbot.bot import api_base, policy, sync
from tipbot.bot.commands import TipTree, add_commands
from tipbot.bot.feedback import AnswerMemo, FeedbackLog, Shown, VoteButton, feedback_view
from tipbot.config import BotConfig
from tipbot.errors import QuestionError, TipbotError
from tipbot.render.discord import Payload, answer_payload, notice_payload

log = logging.getLogger(__name__)
NO_MENTIONS = discord.AllowedMentions.none()


def intents() -> discord.Intents:
    """Servers, and messages in servers and DMs; no privileged intent. Discord sends the text
    of messages that mention the bot, and of DMs, even without Message Content."""
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True)


class TipClient(discord.Client):
    def __init__(
        self,
        archive: Any = None,
        settings: BotConfig | None = None,
        **options: Any,
    ) -> None:
        """``archive``: an Archive (or None until ``serve`` has loaded it). ``options`` go to
        discord.Client (tests shorten ``guild_ready_timeout``)."""
        options.setdefault("allowed_mentions", NO_MENTIONS)
        # The bot never joins voice: skip discord.py's warnings about missing voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(intents=intents(), **options)
        self.archive = archive
        self.settings = settings or (archive.cfg.bot if archive is not None else BotConfig())
        self.tree = TipTree(self)
        add_commands(self.tree)
        self.cooldown = policy.Cooldown(
            self.settings.cooldown_questions, self.settings.cooldown_seconds
        )
        self.memo = AnswerMemo()
        self.feedback = FeedbackLog(self.settings.feedback_file)
        self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        self._reload_task: asyncio.Task | None = None
        self._sync_task: asyncio.Task | None = None
        self._last_reload_error = ""
        self._labels: tuple[str, tuple[str, ...]] = ("", ())

    # ---- startup and shutdown --------------------------------------------------------------

    async def setup_hook(self) -> None:
        """After login, before the gateway: find the gateway, register buttons, sync commands."""
        if api_base.api_base():
            await api_base.apply_gateway(self.http)
        self.add_dynamic_items(VoteButton)
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
            self._sync_task = asyncio.create_task(sync.sync_loop(self), name="tipbot-sync")

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
        log.info("connected as %s (%s) in %d servers", self.user, self.user.id, len(self.guilds))

    # ---- answering -------------------------------------------------------------------------

    async def reply_for(
        self,
        question: str,
        k: int | None = None,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        label: str | None = None,
        show_question: bool = False,
    ) -> tuple[Payload, discord.ui.View | None]:
        """The message to send for ``question``: payload and feedback buttons (None on error).
        Failures become a short notice; their traceback goes to the log."""
        if self.archive is None:
            return notice_payload("I'm still loading the archive. Please try again shortly."), None
        ask = functools.partial(
            self.archive.ask, question, k, since=since, until=until, label=label
        )
        try:
            async with self._slots:
                answer = await asyncio.get_running_loop().run_in_executor(None, ask)
        except QuestionError:
            return notice_payload(policy.UNSEARCHABLE), None
        except TipbotError:
            log.exception("could not answer %r", question[:200])
            return notice_payload(policy.FAILED), None
        except Exception:
            log.exception("answering %r failed", question[:200])
            return notice_payload(policy.FAILED), None
        payload = answer_payload(answer, show_question)
        key = self.memo.add(Shown(answer.question, payload.post_ids, answer.answered))
        return payload, feedback_view(key)

    def labels(self) -> tuple[str, ...]:
        """The archive's labels, sorted; recomputed only when a new build is loaded."""
        if self.archive is None:
            return ()
        data = self.archive.data
        if self._labels[0] != data.build_id:
            found = {lb for p in data.posts for lb in p.labels}
            self._labels = (data.build_id, tuple(sorted(found, key=str.casefold)))
        return self._labels[1]

    async def on_message(self, message: discord.Message) -> None:
        """Answer a DM, or a message that mentions the bot, in a reply."""
        if message.author.bot or self.user is None:
            return
        if message.guild is None:
            question = policy.mention_question(message.content, self.user.id)
            question = policy.strip_mentions(message.content) if question is None else question
        else:
            question = policy.mention_question(message.content, self.user.id)
            if question is None:
                return
        channel_ids = (message.channel.id, getattr(message.channel, "parent_id", None))
        guild_id = message.guild.id if message.guild else None
        if not policy.place_allowed(self.settings, guild_id, tuple(i for i in channel_ids if i)):
            return  # elsewhere the bot stays silent rather than reply where it is not wanted
        try:
            await self._answer_message(message, question)
        except discord.HTTPException:
            log.exception("could not reply to message %s", message.id)

    async def _answer_message(self, message: discord.Message, question: str) -> None:
        if not question:
            await message.reply(policy.EMPTY_QUESTION, allowed_mentions=NO_MENTIONS)
            return
        wait = self.cooldown.hit(message.author.id)
        if wait:
            await message.reply(policy.retry_message(wait), allowed_mentions=NO_MENTIONS)
            return
        async with message.channel.typing():
            payload, view = await self.reply_for(question)
        kwargs = {"view": view} if view is not None else {}
        await message.reply(
            payload.content or None,
            embeds=[discord.Embed.from_dict(e) for e in payload.embeds],
            allowed_mentions=NO_MENTIONS,
            **kwargs,
        )

    # ---- hot reload ------------------------------------------------------------------------

    async def _reload_loop(self) -> None:
        """Every ``reload_check_seconds``, swap in a newer index if one was published. A bad
        build is logged (once per distinct error) and the current index keeps answering."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.reload_check_seconds)
            if self.archive is None:
                continue
            try:
                if await loop.run_in_executor(None, self.archive.reload_if_changed):
                    data = self.archive.data
                    log.info("loaded index build %s (%d posts)", data.build_id, len(data.posts))
                self._last_reload_error = ""
            except Exception as e:
                if str(e) != self._last_reload_error:
                    log.exception("could not load the new index; the current one keeps answering")
                self._last_reload_error = str(e)

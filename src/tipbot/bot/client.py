"""The Discord client: slash commands, mentions, replies and DMs, answered from one shared Archive.

    client = TipClient(archive)              # settings default to archive.cfg.bot
    async with client:
        await client.start(os.environ["DISCORD_TOKEN"])

The event loop never waits on a search: ``archive.ask`` runs in a worker thread, at most
``max_concurrency`` at a time. A background task picks up a rebuilt index without a restart;
another pulls the [sync] sources on schedule (tipbot.bot.sync). Follow-ups are read with the
earlier turns of their conversation (tipbot.bot.conversations says which one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord

from tipbot.bot import api_base, policy, sync
from tipbot.bot.commands import FreshButton, TipTree, add_commands
from tipbot.bot.conversations import Asked, Conversations, Place
from tipbot.bot.feedback import AnswerMemo, FeedbackLog, Shown, VoteButton, feedback_view
from tipbot.config import BotConfig, ConversationConfig
from tipbot.conversation import Turn
from tipbot.errors import QuestionError, TipbotError
from tipbot.render.discord import Payload, answer_payload, notice_payload

log = logging.getLogger(__name__)
NO_MENTIONS = discord.AllowedMentions.none()


def intents() -> discord.Intents:
    """Servers, and messages in servers and DMs; no privileged intent. Discord sends the text
    of messages that mention the bot, and of DMs, even without Message Content."""
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True)


@dataclass(frozen=True)
class Reply:
    """What to send for a question: the payload, its buttons (None on error), and the turn to
    remember (None when no answer came, only a notice)."""

    payload: Payload
    view: discord.ui.View | None = None
    turn: Turn | None = None

    def embeds(self) -> list[discord.Embed]:
        return [discord.Embed.from_dict(e) for e in self.payload.embeds]

    def extras(self) -> dict[str, Any]:
        return {"view": self.view} if self.view is not None else {}


def replied_to(message: discord.Message) -> int | None:
    """The id of the message ``message`` replies to; None when it is no reply (forwards and a
    thread's first message carry a reference too)."""
    if message.type is not discord.MessageType.reply or message.reference is None:
        return None
    return message.reference.message_id


class TipClient(discord.Client):
    def __init__(
        self,
        archive: Any = None,
        settings: BotConfig | None = None,
        conversation: ConversationConfig | None = None,
        **options: Any,
    ) -> None:
        """``archive``: an Archive (or None until ``serve`` has loaded it). ``settings`` and
        ``conversation`` default to the archive's config. ``options`` go to discord.Client
        (tests shorten ``guild_ready_timeout``)."""
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
        if conversation is None:
            conversation = archive.cfg.conversation if archive is not None else None
        self.conversations = Conversations(conversation or ConversationConfig())
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
        context: Sequence[Turn] = (),
    ) -> Reply:
        """The message to send for ``question``, read with the earlier turns ``context`` where
        that helps. Failures become a short notice; their traceback goes to the log."""
        if self.archive is None:
            return Reply(notice_payload("I'm still loading the archive. Please try again shortly."))
        ask = functools.partial(
            self.archive.ask, question, k, since=since, until=until, label=label,
            context=tuple(context),
        )  # fmt: skip
        try:
            async with self._slots:
                answer = await asyncio.get_running_loop().run_in_executor(None, ask)
        except QuestionError:
            return Reply(notice_payload(policy.UNSEARCHABLE))
        except TipbotError:
            log.exception("could not answer %r", question[:200])
            return Reply(notice_payload(policy.FAILED))
        except Exception:
            log.exception("answering %r failed", question[:200])
            return Reply(notice_payload(policy.FAILED))
        payload = answer_payload(answer, show_question)
        key = self.memo.add(Shown(answer.question, payload.post_ids, answer.answered))
        view = feedback_view(key)
        if answer.context:
            # Read with the conversation: offer the question on its own, under the same key.
            self.conversations.keep_asked(key, Asked(question, k, since, until, label))
            view.add_item(FreshButton(key))
        return Reply(payload, view, Turn.of(answer))

    def place_of(self, interaction: discord.Interaction) -> Place:
        """The conversation a slash command or button continues: its thread's or DM's."""
        # Outside servers /ask runs in the bot's DM, unless a user installed the app and runs
        # it in someone else's DM: that must not carry on the user's own DM turns.
        dm = interaction.guild_id is None and not interaction.is_user_integration()
        user = interaction.user.id
        return self.conversations.place(interaction.channel_id or 0, user, dm=dm, replied_to=None)

    def remember(
        self, place: Place, sent: discord.Message | None, user_id: int, reply: Reply
    ) -> None:
        """Record the answer ``sent`` as the newest turn of its conversation."""
        if sent is not None and reply.turn is not None:
            self.conversations.record(place, sent.id, user_id, reply.turn)

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
        """Answer a DM, a message that mentions the bot, or a reply to the bot, in a reply."""
        if message.author.bot or self.user is None:
            return
        question = policy.mention_question(message.content, self.user.id)
        if question is None and (message.guild is None or self._pinged_by_reply(message)):
            question = policy.strip_mentions(message.content)
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

    def _pinged_by_reply(self, message: discord.Message) -> bool:
        """A reply to the bot's message that pings it (Discord's default): the bot is among the
        mentions though the text has no ``<@id>``. A reply that does not ping comes without its
        text (no Message Content intent), so it is left alone."""
        assert self.user is not None
        return replied_to(message) is not None and any(
            u.id == self.user.id for u in message.mentions
        )

    async def _answer_message(self, message: discord.Message, question: str) -> None:
        if not question:
            await message.reply(policy.EMPTY_QUESTION, allowed_mentions=NO_MENTIONS)
            return
        wait = self.cooldown.hit(message.author.id)
        if wait:
            await message.reply(policy.retry_message(wait), allowed_mentions=NO_MENTIONS)
            return
        place = self.conversations.place(
            message.channel.id, message.author.id, dm=message.guild is None,
            replied_to=replied_to(message),
        )  # fmt: skip
        async with message.channel.typing():
            reply = await self.reply_for(question, context=place.context)
        sent = await message.reply(
            reply.payload.content or None,
            embeds=reply.embeds(),
            allowed_mentions=NO_MENTIONS,
            **reply.extras(),
        )
        self.remember(place, sent, message.author.id, reply)

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

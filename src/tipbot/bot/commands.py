"""The slash commands: /ask and /about, on a CommandTree that enforces where the bot answers;
and the "Ask without context" button under answers read with their conversation. They reach
the bot's state through ``service_of(interaction.client)`` (tipbot.bot.service).

/ask question: Who funds help for trafficking victims?
/ask question: ILO forced labour since: 2009-01-01 until: 2012-12-31 results: 5
/ask question: How many officers took part? fresh: True      (ignores the conversation)
/about
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from tipbot.bot import policy
from tipbot.bot.conversations import Asked, Place
from tipbot.bot.feedback import FromTemplate, feedback_view
from tipbot.bot.service import BotService, Result, service_of
from tipbot.render.discord import Payload, about_payload, notice_payload

if TYPE_CHECKING:
    from tipbot.archive import Archive

log = logging.getLogger(__name__)
NO_MENTIONS = discord.AllowedMentions.none()
FRESH_TEMPLATE = r"tipbot:fresh:(?P<key>[0-9a-f]{16})"


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """A short private note to the person who asked, whether or not we already responded."""
    content = notice_payload(text).content
    if interaction.response.is_done():
        await interaction.followup.send(content, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(
            content, ephemeral=True, allowed_mentions=NO_MENTIONS
        )


def _channel_ids(interaction: discord.Interaction) -> tuple[int, ...]:
    channel = interaction.channel
    parent = getattr(channel, "parent_id", None)
    ids = (interaction.channel_id, parent)
    return tuple(i for i in ids if i is not None)


def embeds_of(payload: Payload) -> list[discord.Embed]:
    return [discord.Embed.from_dict(e) for e in payload.embeds]


def view_of(result: Result) -> discord.ui.View | None:
    """The buttons under an answer: the votes, and "Ask without context" when it was read with
    its conversation; None under a notice."""
    if result.key is None:
        return None
    view = feedback_view(result.key)
    if result.with_context:
        view.add_item(FreshButton(result.key))
    return view


def place_of(service: BotService, interaction: discord.Interaction) -> Place:
    """The conversation a slash command or button continues: its thread's or DM's."""
    # Outside servers /ask runs in the bot's DM, unless a user installed the app and runs it in
    # someone else's DM: that must not carry on the user's own DM turns.
    dm = interaction.guild_id is None and not interaction.is_user_integration()
    user = interaction.user.id
    return service.conversations.place(interaction.channel_id or 0, user, dm=dm, replied_to=None)


def message_parts(result: Result) -> dict[str, Any]:
    """What a message for ``result`` sends beside its text, as a reply or as a follow-up: its
    embeds, its buttons (none under a notice), and no pings."""
    parts: dict[str, Any] = {"embeds": embeds_of(result.payload), "allowed_mentions": NO_MENTIONS}
    view = view_of(result)
    if view is not None:
        parts["view"] = view
    return parts


async def send_followup(
    interaction: discord.Interaction, service: BotService, place: Place, result: Result
) -> None:
    """Send ``result`` under the (deferred) question and remember it in ``place``."""
    sent = await interaction.followup.send(
        result.payload.content or discord.utils.MISSING, wait=True, **message_parts(result)
    )
    service.remember(place, sent.id, interaction.user.id, result)


class DateOption(app_commands.Transformer[discord.Client]):
    """A date option written YYYY-MM-DD (``policy.parse_date``); blank is None. A bad one is a
    ValueError, told to the user in private by ``TipTree.on_error``."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def min_value(self) -> int:
        return 1  # for a string option: its length

    @property
    def max_value(self) -> int:
        return 32

    async def transform(self, interaction: discord.Interaction, value: object, /) -> dt.date | None:
        return policy.parse_date(str(value), self.name)


SINCE = DateOption("since")
UNTIL = DateOption("until")


class TipTree(app_commands.CommandTree):
    """Refuses interactions outside the allowed guilds/channels; logs tracebacks, tells users
    only that something went wrong."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        settings = service_of(self.client).settings
        if policy.place_allowed(settings, interaction.guild_id, _channel_ids(interaction)):
            return True
        if interaction.type is discord.InteractionType.application_command:
            await reply_ephemeral(interaction, policy.DENIED_PLACE)
        return False  # autocomplete elsewhere: no suggestions

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        if isinstance(error, app_commands.CheckFailure):
            return  # already answered by interaction_check
        if isinstance(error, app_commands.TransformerError) and isinstance(
            error.__cause__, ValueError
        ):
            try:  # a bad date (DateOption)
                await reply_ephemeral(interaction, str(error.__cause__))
            except discord.HTTPException:
                log.warning("could not tell the user that a date was not understood")
            return
        command = interaction.command.name if interaction.command else "?"
        log.error("/%s failed", command, exc_info=error)
        try:
            await reply_ephemeral(interaction, policy.FAILED)
        except discord.HTTPException:
            log.warning("could not tell the user that /%s failed", command)


@app_commands.command(name="ask", description="Ask the archive; get verbatim, linked quotes.")
@app_commands.describe(
    question="What you want to know, e.g. Who funds help for trafficking victims?",
    since="Only posts on or after this date (YYYY-MM-DD)",
    until="Only posts on or before this date (YYYY-MM-DD)",
    label="Only posts with this label",
    results="At most this many posts (1-5); posts that do not answer are left out",
    fresh="Ask on its own, ignoring the earlier questions of this conversation",
)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
async def ask(
    interaction: discord.Interaction,
    question: app_commands.Range[str, 1, 1000],
    since: app_commands.Transform[dt.date | None, SINCE] | None = None,
    until: app_commands.Transform[dt.date | None, UNTIL] | None = None,
    label: app_commands.Range[str, 1, 100] | None = None,
    results: app_commands.Range[int, 1, 5] | None = None,
    fresh: bool = False,
) -> None:
    """Answer ``question`` with quotes from the archive.

        /ask question: Who funds help for trafficking victims?
        /ask question: forced labour since: 2009-01-01 label: Reports results: 5

    Bad dates and cooldowns get a private note; otherwise the bot defers (the search may take
    a moment) and sends the answer, under the question, as a follow-up. In a thread started
    from an answer, or in a DM, the question continues that conversation unless ``fresh``.
    """
    service = service_of(interaction.client)
    try:
        policy.check_range(since, until)
    except ValueError as e:
        await reply_ephemeral(interaction, str(e))
        return
    if wait := service.cooldown.hit(interaction.user.id):
        await reply_ephemeral(interaction, policy.retry_message(wait))
        return
    # Discord enforces 1-5 and 1000 characters; stay safe if a client does not.
    k = max(1, min(results, 5)) if results is not None else None
    asked = Asked(question[:1000], k, since, until, label)
    await interaction.response.defer(thinking=True)  # the search may take a moment
    place = place_of(service, interaction)
    context = () if fresh else place.context
    result = await service.answer(asked, context, show_question=True)
    await send_followup(interaction, service, place, result)


class FreshButton(
    FromTemplate,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=FRESH_TEMPLATE,
):
    """ "Ask without context" under an answer read with its conversation: anyone may click it to
    get the same question answered on its own, as a new message. The key is the answer's vote
    key; the question behind it is kept in a bounded memo (``Conversations.keep_asked``)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label="Ask without context",
                custom_id=f"tipbot:fresh:{key}",
            )
        )
        self.key = key

    async def callback(self, interaction: discord.Interaction) -> None:
        service = service_of(interaction.client)
        asked = service.conversations.asked(self.key)
        here = _channel_ids(interaction)
        if not policy.place_allowed(service.settings, interaction.guild_id, here):
            await reply_ephemeral(interaction, policy.DENIED_PLACE)
        elif asked is None:  # forgotten: the bot restarted, or many answers came since
            await reply_ephemeral(interaction, policy.FRESH_GONE)
        elif wait := service.cooldown.hit(interaction.user.id):
            await reply_ephemeral(interaction, policy.retry_message(wait))
        else:
            await interaction.response.defer(thinking=True)
            place = place_of(service, interaction)
            result = await service.answer(asked, show_question=True)  # on its own
            await send_followup(interaction, service, place, result)


@ask.autocomplete("label")
async def label_choices(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The archive's labels that contain what was typed (labels must match exactly)."""
    typed = current.casefold()
    found = [lb for lb in service_of(interaction.client).labels() if typed in lb.casefold()]
    return [app_commands.Choice(name=lb[:100], value=lb[:100]) for lb in found[:25]]


@app_commands.command(name="about", description="What this archive is and how to read answers.")
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
async def about(interaction: discord.Interaction) -> None:
    """Size and dates of the archive, how to ask, how to read an answer (only you see it)."""
    archive = service_of(interaction.client).archive
    posts = archive.data.posts if archive else ()
    dates = sorted(p.date for p in posts if p.date)
    built = archive.data.manifest.get("built_at", "") if archive else ""
    first, last = (dates[0], dates[-1]) if dates else (None, None)
    payload = about_payload(len(posts), first, last, built, synced_at=_last_synced(archive))
    await interaction.response.send_message(
        embeds=embeds_of(payload),
        ephemeral=True,
        allowed_mentions=NO_MENTIONS,
    )


def _last_synced(archive: Archive | None) -> str:
    """When the archive was last pulled from its blog (`tipbot corpus pull` or [sync])."""
    from tipbot.sources.pull import last_synced

    when = last_synced(archive.cfg) if archive is not None else None
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else ""


def add_commands(tree: app_commands.CommandTree) -> None:
    tree.add_command(ask)
    tree.add_command(about)

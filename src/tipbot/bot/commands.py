"""The slash commands: /ask and /about, on a CommandTree that enforces where the bot answers;
and the "Ask without context" button under answers read with their conversation.

/ask question: Who funds help for trafficking victims?
/ask question: ILO forced labour since: 2009-01-01 until: 2012-12-31 results: 5
/ask question: How many officers took part? fresh: True      (ignores the conversation)
/about
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from tipbot.bot import policy
from tipbot.bot.conversations import Asked
from tipbot.render.discord import about_payload, notice_payload

if TYPE_CHECKING:
    from tipbot.bot.client import TipClient

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


class TipTree(app_commands.CommandTree):
    """Refuses interactions outside the allowed guilds/channels; logs tracebacks, tells users
    only that something went wrong."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        client: TipClient = self.client  # type: ignore[assignment]
        if policy.place_allowed(client.settings, interaction.guild_id, _channel_ids(interaction)):
            return True
        if interaction.type is discord.InteractionType.application_command:
            await reply_ephemeral(interaction, policy.DENIED_PLACE)
        return False  # autocomplete elsewhere: no suggestions

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        if isinstance(error, app_commands.CheckFailure):
            return  # already answered by interaction_check
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
    since: app_commands.Range[str, 1, 32] | None = None,
    until: app_commands.Range[str, 1, 32] | None = None,
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
    client: TipClient = interaction.client  # type: ignore[assignment]
    try:
        since_d = policy.parse_date(since, "since")
        until_d = policy.parse_date(until, "until")
        policy.check_range(since_d, until_d)
    except ValueError as e:
        await reply_ephemeral(interaction, str(e))
        return
    wait = client.cooldown.hit(interaction.user.id)
    if wait:
        await reply_ephemeral(interaction, policy.retry_message(wait))
        return
    # Discord enforces 1-5 and 1000 characters; stay safe if a client does not.
    k = max(1, min(results, 5)) if results is not None else None
    await answer_interaction(interaction, Asked(question[:1000], k, since_d, until_d, label), fresh)


async def answer_interaction(interaction: discord.Interaction, asked: Asked, fresh: bool) -> None:
    """Defer (the search may take a moment), answer in the conversation of the place (on its
    own when ``fresh``), and send the answer, under the question, as a follow-up."""
    client: TipClient = interaction.client  # type: ignore[assignment]
    await interaction.response.defer(thinking=True)
    place = client.place_of(interaction)
    reply = await client.reply_for(
        asked.question, asked.k, since=asked.since, until=asked.until, label=asked.label,
        show_question=True, context=() if fresh else place.context,
    )  # fmt: skip
    sent = await interaction.followup.send(
        reply.payload.content or discord.utils.MISSING,
        embeds=reply.embeds(),
        allowed_mentions=NO_MENTIONS,
        wait=True,
        **reply.extras(),
    )
    client.remember(place, sent, interaction.user.id, reply)


class FreshButton(discord.ui.DynamicItem[discord.ui.Button], template=FRESH_TEMPLATE):
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

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> FreshButton:
        return cls(match["key"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client: TipClient = interaction.client  # type: ignore[assignment]
        asked = client.conversations.asked(self.key)
        here = _channel_ids(interaction)
        if not policy.place_allowed(client.settings, interaction.guild_id, here):
            await reply_ephemeral(interaction, policy.DENIED_PLACE)
        elif asked is None:  # forgotten: the bot restarted, or many answers came since
            await reply_ephemeral(interaction, policy.FRESH_GONE)
        elif wait := client.cooldown.hit(interaction.user.id):
            await reply_ephemeral(interaction, policy.retry_message(wait))
        else:
            await answer_interaction(interaction, asked, fresh=True)


@ask.autocomplete("label")
async def label_choices(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The archive's labels that contain what was typed (labels must match exactly)."""
    client: TipClient = interaction.client  # type: ignore[assignment]
    typed = current.casefold()
    found = [lb for lb in client.labels() if typed in lb.casefold()]
    return [app_commands.Choice(name=lb[:100], value=lb[:100]) for lb in found[:25]]


@app_commands.command(name="about", description="What this archive is and how to read answers.")
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
async def about(interaction: discord.Interaction) -> None:
    """Size and dates of the archive, how to ask, how to read an answer (only you see it)."""
    client: TipClient = interaction.client  # type: ignore[assignment]
    archive = client.archive
    posts = archive.data.posts if archive else ()
    dates = sorted(p.date for p in posts if p.date)
    built = archive.data.manifest.get("built_at", "") if archive else ""
    first, last = (dates[0], dates[-1]) if dates else (None, None)
    payload = about_payload(len(posts), first, last, built, synced_at=_last_synced(archive))
    await interaction.response.send_message(
        embeds=[discord.Embed.from_dict(e) for e in payload.embeds],
        ephemeral=True,
        allowed_mentions=NO_MENTIONS,
    )


def _last_synced(archive: object) -> str:
    """When the archive was last pulled from its blog (`tipbot corpus pull` or [sync])."""
    from tipbot.sources.pull import last_synced

    cfg = getattr(archive, "cfg", None)
    when = last_synced(cfg) if cfg is not None else None
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else ""


def add_commands(tree: app_commands.CommandTree) -> None:
    tree.add_command(ask)
    tree.add_command(about)

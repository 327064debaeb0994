"""👍 / 👎 under an answer → one JSON line per vote in ``[bot] feedback_file``.

    {"time": "2025-01-02T03:04:05+00:00", "vote": "up", "question": "…", "post_ids": ["…"],
     "answered": true, "user": "sha256:…", "answer": "<key>", "message_id": 123}

The buttons carry ``tipbot:vote:<up|down>:<key>`` as custom_id and are matched by a template
(DynamicItem), so they keep working for as long as the bot runs, whatever view sent them. The
key maps to the question and posts in a bounded in-memory memo (``BotService.memo``); after a
restart a vote on an older answer is still recorded, with question null and post_ids empty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any, Self

import discord

from tipbot.bot.policy import THANKS
from tipbot.bot.service import Shown, service_of

VOTE_TEMPLATE = r"tipbot:vote:(?P<vote>up|down):(?P<key>[0-9a-f]{16})"


def user_hash(user_id: int) -> str:
    """A pseudonym for the user: votes by one person can be grouped, not read as an id."""
    return "sha256:" + hashlib.sha256(f"tipbot-feedback:{user_id}".encode()).hexdigest()[:16]


def vote_record(
    vote: str, key: str, shown: Shown | None, user_id: int, message_id: int | None
) -> dict[str, Any]:
    return {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "vote": vote,
        "question": shown.question if shown else None,
        "post_ids": list(shown.post_ids) if shown else [],
        "answered": shown.answered if shown else None,
        "user": user_hash(user_id),
        "answer": key,
        "message_id": message_id,
    }


class FromTemplate:
    """For a DynamicItem button (put first among its bases) whose ``__init__`` takes its
    template's named groups: the button, made again from a clicked custom_id."""

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(**match.groupdict())


class VoteButton(
    FromTemplate,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=VOTE_TEMPLATE,
):
    """One of the two feedback buttons; any click on one, even on an old message, lands here."""

    def __init__(self, vote: str, key: str) -> None:
        up = vote == "up"
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji="👍" if up else "👎",
                label="Helpful" if up else "Not helpful",
                custom_id=f"tipbot:vote:{vote}:{key}",
            )
        )
        self.vote = vote
        self.key = key

    async def callback(self, interaction: discord.Interaction) -> None:
        service = service_of(interaction.client)
        shown = service.memo.get(self.key)
        message_id = interaction.message.id if interaction.message else None
        record = vote_record(self.vote, self.key, shown, interaction.user.id, message_id)
        await service.save_vote(record)
        await interaction.response.send_message(
            THANKS, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


def feedback_view(key: str) -> discord.ui.View:
    """The two buttons for the answer stored under ``key`` (no timeout: they stay clickable)."""
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton("up", key))
    view.add_item(VoteButton("down", key))
    return view

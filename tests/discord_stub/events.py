"""The events a test makes Discord send to the bot: messages (and replies), threads, slash
commands, autocomplete and button presses, shaped as the gateway delivers them (mixed into
DiscordStub)."""

from __future__ import annotations

from typing import Any

from . import payloads as P


class EventSender:
    """Needs from the stub: ids (bot, guild, channels, user), ``commands`` and ``dispatch``."""

    app_id: int
    bot_id: int
    bot: dict
    user: dict
    guild_id: int
    channel_id: int
    dm_channel_id: int
    commands: dict[str, dict]
    threads: dict[int, dict]  # thread id → the thread channel
    interaction_channels: dict[str, int]  # interaction token → where its messages go

    async def dispatch(self, t: str, d: dict) -> int:  # provided by DiscordStub
        raise NotImplementedError

    async def send_message(
        self,
        content: str,
        *,
        dm: bool = False,
        channel_id: int | None = None,
        mention_bot: bool = False,
        author: dict | None = None,
        reply_to: dict | None = None,
        ping: bool = True,
    ) -> dict:
        """A message from ``author``; with ``reply_to``, a reply to that message which, as
        Discord's default, pings its author (``ping``): they are among the mentions."""
        author = author or self.user
        pinged = [self.bot] if mention_bot else []
        pinged += [reply_to["author"]] if reply_to is not None and ping else []
        mentions = list({u["id"]: u for u in pinged}.values())
        data = {
            "id": str(P.snowflake()),
            "channel_id": str(self.dm_channel_id if dm else channel_id or self.channel_id),
            "author": author,
            "content": content,
            "timestamp": P.now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": "@everyone" in content,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if reply_to is not None:
            data["type"] = 19
            data["message_reference"] = {
                "type": 0,
                "message_id": reply_to["id"],
                "channel_id": reply_to["channel_id"],
                **({"guild_id": str(self.guild_id)} if not dm else {}),
            }
            data["referenced_message"] = reply_to
        if not dm:
            data["guild_id"] = str(self.guild_id)
            data["member"] = {k: v for k, v in P.member(author).items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", data)
        return data

    async def mention(self, text: str, **kw: Any) -> dict:
        return await self.send_message(f"<@{self.bot_id}> {text}", mention_bot=True, **kw)

    async def reply(self, message: dict, text: str, **kw: Any) -> dict:
        """A reply to ``message`` (one the bot sent, as stored), in its channel, without
        ``<@id>`` in the text: a reply that pings is how people answer the bot back."""
        channel_id = int(message["channel_id"])
        dm = channel_id == self.dm_channel_id
        return await self.send_message(
            text, reply_to=message, dm=dm, channel_id=None if dm else channel_id, **kw
        )

    async def start_thread(
        self, message: dict, name: str = "follow-up", author: dict | None = None
    ) -> int:
        """A public thread started from ``message``: like Discord, it takes the message's id."""
        tid = int(message["id"])
        owner = int((author or self.user)["id"])
        thread = P.thread_channel(tid, self.guild_id, int(message["channel_id"]), name, owner)
        self.threads[tid] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return tid

    def _interaction(
        self,
        kind: int,
        data: dict,
        *,
        channel_id: int | None = None,
        user: dict | None = None,
        message: dict | None = None,
    ) -> dict:
        iid = P.snowflake()
        cid = channel_id or self.channel_id
        channel = self.threads.get(cid) or P.text_channel(cid, self.guild_id, "general")
        self.interaction_channels[f"itoken-{iid}"] = cid
        out = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": kind,
            "data": data,
            "guild_id": str(self.guild_id),
            "channel_id": str(cid),
            "channel": channel,
            "member": {**P.member(user or self.user), "permissions": "2147483647"},
            "token": f"itoken-{iid}",
            "version": 1,
            "app_permissions": "2147483647",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 10_485_760,
        }
        if message is not None:
            out["message"] = message
        return out

    async def command(
        self, name: str, channel_id: int | None = None, user: dict | None = None, **options: Any
    ) -> dict:
        """A slash command as Discord delivers it; returns the interaction (id, token)."""
        cmd = self.commands[name]
        kinds = {bool: 5, int: 4, str: 3}  # BOOLEAN, INTEGER, STRING
        opts = [
            {"name": k, "type": kinds[type(v)], "value": v}
            for k, v in options.items()
            if v is not None
        ]
        data = {"id": cmd["id"], "name": name, "type": 1, "options": opts}
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        interaction = self._interaction(2, data, channel_id=channel_id, user=user)
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

    async def autocomplete(self, name: str, focused: str, typed: str, **options: Any) -> dict:
        """Someone typing ``typed`` into option ``focused`` of command ``name``."""
        cmd = self.commands[name]
        opts = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
        opts.append({"name": focused, "type": 3, "value": typed, "focused": True})
        data = {"id": cmd["id"], "name": name, "type": 1, "options": opts}
        interaction = self._interaction(4, data)
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

    async def click(self, message: dict, custom_id: str, user: dict | None = None) -> dict:
        """A button press on ``message`` (a message the bot sent, as the stub stored it)."""
        data = {"custom_id": custom_id, "component_type": 2}
        interaction = self._interaction(
            3, data, channel_id=int(message["channel_id"]), user=user, message=message
        )
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

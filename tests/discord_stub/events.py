"""The events a test makes Discord send to the bot: messages, slash commands, autocomplete and
button presses, shaped as the gateway delivers them (mixed into DiscordStub)."""

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

    async def dispatch(self, t: str, d: dict) -> int:  # provided by DiscordStub
        raise NotImplementedError

    async def send_message(self, content: str, *, dm: bool = False, channel_id: int | None = None,
                           mention_bot: bool = False, author: dict | None = None) -> dict:  # fmt: skip
        author = author or self.user
        data = {
            "id": str(P.snowflake()),
            "channel_id": str(self.dm_channel_id if dm else channel_id or self.channel_id),
            "author": author,
            "content": content,
            "timestamp": P.now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": "@everyone" in content,
            "mentions": [self.bot] if mention_bot else [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if not dm:
            data["guild_id"] = str(self.guild_id)
            data["member"] = {k: v for k, v in P.member(author).items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", data)
        return data

    async def mention(self, text: str, **kw: Any) -> dict:
        return await self.send_message(f"<@{self.bot_id}> {text}", mention_bot=True, **kw)

    def _interaction(self, kind: int, data: dict, *, channel_id: int | None = None,
                     user: dict | None = None, message: dict | None = None) -> dict:  # fmt: skip
        iid = P.snowflake()
        cid = channel_id or self.channel_id
        out = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": kind,
            "data": data,
            "guild_id": str(self.guild_id),
            "channel_id": str(cid),
            "channel": P.text_channel(cid, self.guild_id, "general"),
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

    async def command(self, name: str, channel_id: int | None = None, user: dict | None = None,
                      **options: Any) -> dict:  # fmt: skip
        """A slash command as Discord delivers it; returns the interaction (id, token)."""
        cmd = self.commands[name]
        opts = [{"name": k, "type": 4 if isinstance(v, int) else 3, "value": v}
                for k, v in options.items() if v is not None]  # fmt: skip
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
        interaction = self._interaction(3, data, user=user, message=message)
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

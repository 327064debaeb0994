"""Discord API objects as the real API sends them (the fields discord.py reads), for the stub."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

# Snowflakes from 2023 onwards, increasing, so discord.py's created_at stays sensible.
_ids = itertools.count(1_100_000_000_000_000_000)


def snowflake() -> int:
    return next(_ids)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def user(uid: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(uid),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def member(u: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": u,
        "roles": [],
        "joined_at": now_iso(),
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def text_channel(cid: int, guild_id: int, name: str) -> dict[str, Any]:
    return {
        "id": str(cid),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "rate_limit_per_user": 0,
    }


def thread_channel(
    tid: int, guild_id: int, parent_id: int, name: str, owner_id: int
) -> dict[str, Any]:
    """A public thread (type 11) in ``parent_id``."""
    return {
        "id": str(tid),
        "type": 11,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": now_iso(),
            "locked": False,
        },
    }


def guild(gid: int, name: str, bot: dict[str, Any], channels: list[dict]) -> dict[str, Any]:
    return {
        "id": str(gid),
        "name": name,
        "icon": None,
        "owner_id": bot["id"],
        "roles": [
            {
                "id": str(gid),
                "name": "@everyone",
                "permissions": "3072",
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [],
        "stickers": [],
        "features": [],
        "channels": channels,
        "threads": [],
        "members": [member(bot)],
        "member_count": 2,
        "large": False,
        "unavailable": False,
        "joined_at": now_iso(),
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "premium_tier": 0,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "preferred_locale": "en-US",
        "system_channel_flags": 0,
    }


def application(app_id: int, owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(app_id),
        "name": "tipbot-stub",
        "description": "",
        "icon": None,
        "rpc_origins": [],
        "bot_public": False,
        "bot_require_code_grant": False,
        "owner": owner,
        "verify_key": "0" * 64,
        "team": None,
        "flags": 0,
        "summary": "",
        "interactions_endpoint_url": None,
    }


def message(
    mid: int,
    channel_id: int,
    author: dict[str, Any],
    body: dict[str, Any],
    *,
    guild_id: int | None = None,
    app_id: int | None = None,
) -> dict[str, Any]:
    """A message as the API returns it after the bot sent ``body``."""
    out = {
        "id": str(mid),
        "channel_id": str(channel_id),
        "author": author,
        "content": body.get("content") or "",
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": body.get("embeds") or [],
        "components": body.get("components") or [],
        "pinned": False,
        "type": 0,
        "flags": body.get("flags") or 0,
    }
    if guild_id is not None:
        out["guild_id"] = str(guild_id)
    if app_id is not None:
        out["webhook_id"] = str(app_id)
        out["application_id"] = str(app_id)
    if body.get("message_reference"):
        out["type"] = 19  # a reply
        out["message_reference"] = body["message_reference"]
    return out

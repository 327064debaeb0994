"""A local stand-in for Discord (REST + gateway) that the real discord.py client talks to."""

from .server import DiscordStub, Request, is_message_request, limit_problems

__all__ = ["DiscordStub", "Request", "is_message_request", "limit_problems"]

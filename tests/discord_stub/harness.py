"""Run the real TipClient against the stub inside a test's event loop, with timeouts everywhere.

    async with bot_session(archive, settings) as s:
        await s.stub.command("ask", question="…")
        req = await s.stub.wait_request(lambda r: r.path.startswith("/webhooks/"))

The client's task is watched: if discord.py dies on something the stub sent, the waits fail at
once with its exception instead of timing out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import discord
import pytest
from discord.gateway import DiscordWebSocket

from tipbot.bot.api_base import ENV
from tipbot.bot.client import TipClient
from tipbot.bot.service import BotService
from tipbot.config import BotConfig

from .server import DiscordStub


@dataclass
class Session:
    stub: DiscordStub
    client: TipClient
    task: asyncio.Task

    async def until(self, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Poll ``check`` until truthy; raise the client's own error if it died meanwhile."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not (result := check()):
            if self.task.done():
                self.task.result()
                raise AssertionError("the client stopped")
            if loop.time() > end:
                raise TimeoutError(f"timed out waiting for {check}")
            await asyncio.sleep(0.02)
        return result


@pytest.fixture(autouse=True)
def api_env(monkeypatch):
    """The bot sets discord.py's class-level API addresses; put them back after each test.
    A test module that runs the client imports this fixture (autouse there)."""
    monkeypatch.setenv(ENV, "unset")
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)


@contextlib.asynccontextmanager
async def bot_session(archive: Any, settings: BotConfig) -> AsyncIterator[Session]:
    stub = DiscordStub()
    os.environ[ENV] = await stub.start()
    client = TipClient(BotService(archive, settings), guild_ready_timeout=0.05)
    task = asyncio.create_task(client.start(stub.token), name="tipbot-client")
    session = Session(stub, client, task)
    try:
        await session.until(client.is_ready, timeout=15)
        yield session
    finally:
        await client.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        await stub.stop()


def run(coro, timeout: float = 60.0) -> Any:
    """Run a test scenario on a fresh loop; nothing can hang past ``timeout``."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Gated:
    """An archive whose ask waits for ``release`` (to act while an answer is in flight)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cfg = inner.cfg
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    @property
    def data(self) -> Any:
        return self.inner.data

    def ask(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.set()
        if not self.release.wait(20):
            raise TimeoutError("the test never released the gate")
        return self.inner.ask(*args, **kwargs)

    def reload_if_changed(self) -> bool:
        return False


class Scripted:
    """An archive that answers what the test says (a fixed Answer, or raises)."""

    def __init__(self, inner: Any, answer: Any = None, error: Exception | None = None) -> None:
        self.inner = inner
        self.cfg = inner.cfg
        self.answer = answer
        self.error = error
        self.reload_error: Exception | None = None
        self.reloads = 0

    @property
    def data(self) -> Any:
        return self.inner.data

    def ask(self, question: str, *args: Any, **kwargs: Any) -> Any:
        if self.error is not None:
            raise self.error
        return self.answer if self.answer is not None else self.inner.ask(question, *args, **kwargs)

    def reload_if_changed(self) -> bool:
        self.reloads += 1
        if self.reload_error is not None:
            raise self.reload_error
        return False

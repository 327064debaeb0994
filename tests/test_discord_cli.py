"""`tipbot serve`: the token only from the environment; known failures are one line on stderr
and exit 1, never a traceback; a rejected token fails before the slow archive load."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from discord_stub import DiscordStub
from discord_stub.harness import api_env, run  # noqa: F401 - api_env: autouse fixture

from tipbot.bot.api_base import ENV
from tipbot.bot.cli import run_bot
from tipbot.config import BotConfig
from tipbot.errors import TipbotError

SERVE = [sys.executable, "-c", "from tipbot.cli import main; main()", "serve"]


def write_config(tmp_path) -> str:
    """A config whose corpus does not exist: loading the archive would fail loudly."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'[corpus]\npaths = ["{tmp_path / "missing"}"]\n[index]\ndir = "{tmp_path / "index"}"\n',
        encoding="utf-8",
    )
    return str(path)


async def serve(env: dict[str, str], timeout: float = 30.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *SERVE,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, err.decode()


def test_discord_serve_needs_token(tmp_path):
    code, err = run(serve({"DISCORD_TOKEN": "", "TIPBOT_CONFIG": write_config(tmp_path)}))
    assert code == 1
    assert err.strip().splitlines() == [err.strip()]  # one line
    assert err.startswith("error: DISCORD_TOKEN is not set") and "Traceback" not in err


def test_discord_serve_rejected_token(tmp_path):
    async def scenario():
        stub = DiscordStub()
        base = await stub.start()
        try:
            env = {"DISCORD_TOKEN": "wrong", ENV: base, "TIPBOT_CONFIG": write_config(tmp_path)}
            code, err = await serve(env)
        finally:
            await stub.stop()
        return code, err, stub

    code, err, stub = run(scenario())
    assert code == 1
    # Logs go to stderr too; the failure itself is one line, the last.
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0]
    assert "rejected DISCORD_TOKEN" in errors[0] and "Traceback" not in err
    # It asked our stand-in, with the token from the environment, and stopped there.
    (login,) = [r for r in stub.requests if r.path == "/users/@me"]
    assert login.headers["Authorization"] == "Bot wrong"
    assert not any(r.path == "/gateway/bot" for r in stub.requests)


def test_discord_run_bot_logs_in_then_loads_then_connects(tmp_path):
    """run_bot's order: login (token checked), archive load, gateway; a gateway refusal ends it
    with a one-line TipbotError."""
    order: list[str] = []

    async def scenario():
        stub = DiscordStub()
        stub.reject_identify = True
        os.environ[ENV] = await stub.start()

        def load():
            order.append("load" if any(r.path == "/users/@me" for r in stub.requests) else "early")
            return None

        try:
            settings = BotConfig(feedback_file=tmp_path / "f.jsonl", reload_check_seconds=60)
            with pytest.raises(TipbotError, match="code 4004"):
                await run_bot(stub.token, load, settings)
        finally:
            await stub.stop()
        assert [f["op"] for f in stub.frames if f["op"] == 2] == [2]

    run(scenario())
    assert order == ["load"]

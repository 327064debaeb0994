"""How the bot's modules depend on each other, and how deep a question goes: from a Discord
handler (a mention, /ask, the "Ask without context" button) to the FAISS index in at most six
calls, measured on the real client against the local Discord stand-in."""

from __future__ import annotations

import ast
import asyncio
import functools
import inspect
import threading
from dataclasses import dataclass
from pathlib import Path

from discord_stub.harness import api_env, bot_session, run  # noqa: F401 - api_env: autouse fixture

from tipbot.config import BotConfig

SRC = Path(__file__).resolve().parents[1] / "src" / "tipbot"
BOT = SRC / "bot"
MAX_CALLS = 6
FIRST = "Who paid for the police training in Ukraine?"
FOLLOW = "How many officers took part?"  # read with FIRST (test_discord_conversation)
HANDLERS = {"on_message", "ask", "callback"}  # TipClient.on_message, /ask, FreshButton.callback


# ---- imports ----------------------------------------------------------------------------------


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (TYPE_CHECKING blocks, functions)."""
    package = "tipbot.bot"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # from tipbot.bot import policy
    return found


def bot_graph() -> dict[str, set[str]]:
    modules = {f"tipbot.bot.{p.stem}": p for p in BOT.glob("*.py") if p.stem != "__init__"}
    return {name: imported_modules(path) & modules.keys() for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return found


def test_bot_modules_import_no_circle():
    graph = bot_graph()
    assert cycles(graph) == []
    for name in ("tipbot.bot.commands", "tipbot.bot.feedback", "tipbot.bot.service"):
        assert "tipbot.bot.client" not in graph[name], name
    # The service is Discord-free: no discord import, and none through the bot's own modules.
    service = imported_modules(BOT / "service.py")
    assert not any(m == "discord" or m.startswith("discord.") for m in service)
    assert graph["tipbot.bot.service"] <= {"tipbot.bot.policy", "tipbot.bot.conversations"}


# ---- call depth -------------------------------------------------------------------------------


@dataclass
class Frame:
    file: str
    line: int
    function: str

    @property
    def ours(self) -> bool:
        return self.file.startswith(str(SRC))

    def __str__(self) -> str:
        return f"{Path(self.file).relative_to(SRC.parent)}:{self.line} {self.function}"


def frames(stack: list[inspect.FrameInfo]) -> list[Frame]:
    return [Frame(str(Path(f.filename).resolve()), f.lineno, f.function) for f in stack]


class Probe:
    """Catches each question where the event loop hands it to a worker thread, and where that
    thread first reaches the FAISS index; both stacks, innermost first."""

    def __init__(self) -> None:
        self.handed: list[list[Frame]] = []
        self.reached: dict[int, list[Frame]] = {}
        self.asking = threading.local()  # which question a worker thread is answering

    def run_in_executor(self, original):
        probe = self

        def patched(loop, executor, func, *args):
            if getattr(getattr(func, "func", None), "__name__", "") != "ask":
                return original(loop, executor, func, *args)  # a reload, a vote
            n = len(probe.handed)
            probe.handed.append(frames(inspect.stack(0))[1:])  # leave out this frame

            def tagged():
                probe.asking.n = n
                try:
                    return func(*args)
                finally:
                    probe.asking.n = None

            return original(loop, executor, tagged)

        return patched

    def faiss_search(self, original):
        probe = self

        @functools.wraps(original)
        def patched(index, *args, **kwargs):
            n = getattr(probe.asking, "n", None)
            if n is not None and n not in probe.reached:
                probe.reached[n] = frames(inspect.stack(0))[1:]
            return original(index, *args, **kwargs)

        return patched

    def chain(self, n: int) -> list[str]:
        """Question ``n``'s calls from its handler to FAISS, outermost first."""
        loop_side = self.handed[n]
        at = next(i for i, f in enumerate(loop_side) if f.ours and f.function in HANDLERS)
        handler, before = loop_side[at], [f for f in loop_side[:at] if f.ours]
        worker = [f for f in self.reached[n] if f.ours]
        calls = [str(f) for f in reversed(worker + before)] + ["<FAISS index>.search"]
        return [f"{handler} (handler)", *calls]


def answer_of(stub, msg: dict) -> dict | None:
    """The bot's reply to ``msg`` as the stand-in stored it, once sent."""
    for m in stub.messages.values():
        if str((m.get("message_reference") or {}).get("message_id")) == msg["id"]:
            return m
    return None


def test_discord_question_reaches_faiss_in_six_calls(archive, tmp_path, monkeypatch):
    """A mention, /ask, and the "Ask without context" button: handler → service.answer →
    Archive.ask (worker thread) → … → the FAISS index's search, at most six calls."""
    probe = Probe()
    loop_cls = asyncio.BaseEventLoop
    monkeypatch.setattr(
        loop_cls, "run_in_executor", probe.run_in_executor(loop_cls.run_in_executor)
    )
    index_cls = type(archive.data.dense)
    monkeypatch.setattr(index_cls, "search", probe.faiss_search(index_cls.search))
    settings = BotConfig(
        cooldown_questions=100, reload_check_seconds=60.0, feedback_file=tmp_path / "feedback.jsonl"
    )

    async def one(send, answered) -> list[str]:
        """Ask one question and wait for its answer; its chain of calls."""
        n = len(probe.handed)
        asked = await send()
        sent = await answered(asked)
        assert n in probe.reached, "no FAISS search seen"
        return probe.chain(n), sent

    async def scenario():
        async with bot_session(archive, settings) as s:
            stub = s.stub

            async def reply(msg: dict) -> dict:
                await stub.wait_until(lambda: answer_of(stub, msg))
                return answer_of(stub, msg)

            async def followup(interaction: dict) -> dict:
                token = interaction["token"]
                await stub.wait_request(
                    lambda r: (
                        r.method == "POST" and r.path.startswith("/webhooks/") and token in r.path
                    )
                )
                return [m for m in stub.messages.values() if not m["flags"] & 128][-1]

            probe.handed.clear()
            probe.reached.clear()
            chains = {}
            chains["mention"], first = await one(lambda: stub.mention(FIRST), reply)
            chains["/ask"], _ = await one(lambda: stub.command("ask", question=FIRST), followup)
            # A follow-up read with its conversation gets "Ask without context": click it.
            follow = await reply(await stub.reply(first, FOLLOW))
            ids = [b["custom_id"] for row in follow["components"] for b in row["components"]]
            (fresh,) = [c for c in ids if c.startswith("tipbot:fresh:")]
            chains["button"], _ = await one(lambda: stub.click(follow, fresh), followup)
            return chains

    chains = run(scenario())
    shown = "\n".join(
        f"{how}: {len(c) - 1} calls\n  " + "\n  ".join(c) for how, c in chains.items()
    )
    print(f"\n{shown}")
    assert all(len(c) - 1 <= MAX_CALLS for c in chains.values()), shown

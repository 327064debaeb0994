"""A flood through the real discord.py client and the local Discord stand-in: 200 questions from
20 people at once, half as mentions, half as /ask. Every question gets exactly one reply (an
answer, or the per-user cooldown note), the bot's event loop stays responsive while the archive
answers in worker threads, and memory does not grow.

The stand-in shares the bot's event loop (as in the other end-to-end tests), so the lag measured
there includes its work too: it is an upper bound on the bot's own.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import statistics
import time
from dataclasses import dataclass, field

from discord_stub import is_message_request
from discord_stub import payloads as P
from discord_stub.harness import api_env, bot_session, run  # noqa: F401 - api_env: autouse fixture

from tipbot.config import BotConfig

USERS = 20
PER_USER = 10
ALLOWED = 3  # questions per user in the cooldown window; the other 7 get the cooldown note
QUESTIONS = [
    "Who funds victims of trafficking?",
    "How much did the new UN fund award to help victims?",
    "Who paid for the anti-trafficking billboards in Ukraine?",
    "What did the ILO say about the profits of forced labour?",
    "Which film is about peacekeepers and trafficking in Bosnia?",
    "What does ALDE stand for?",
    "what is the recipe for chocolate cake?",
    "What is AU.COMMIT?",
    "How many people are in forced labour?",
    "What did the OSCE do about trafficking?",
]
RETRY = re.compile(r"try again in \d+ seconds?")
FLOOD_SECONDS = 50.0  # everything answered well within this, or the test fails
# How late a 10 ms sleep on the bot's event loop may wake. The 99th percentile is the bound;
# the single worst wake-up is noisier on two cores shared with the model (discord.py reads a
# burst of buffered gateway events in one go, about half a millisecond each), so its bound is
# looser. Either would be seconds if a search ever ran on the loop.
MAX_LAG_P99 = 0.100
MAX_LAG = 0.300
MAX_RSS_GROWTH = 200 * 2**20


def rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class LagProbe:
    """Sleeps 10 ms in a loop and records how late each wake-up is."""

    period: float = 0.010
    lags: list[float] = field(default_factory=list)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.period)
            self.lags.append(max(0.0, loop.time() - start - self.period))

    def summary(self) -> dict[str, float]:
        lags = sorted(self.lags)
        return {
            "samples": len(lags),
            "p50_ms": 1000 * statistics.median(lags),
            "p99_ms": 1000 * lags[min(len(lags) - 1, int(0.99 * len(lags)))],
            "max_ms": 1000 * lags[-1],
        }


@dataclass
class Asked:
    user: str
    kind: str  # "mention" or "slash"
    key: str  # the message id, or the interaction token


class Tally:
    """Replies to each question, read from the stub's request log as it grows."""

    def __init__(self, stub) -> None:
        self.stub = stub
        self.seen = 0
        self.replies: dict[str, list] = {}  # message id → reply requests
        self.callbacks: dict[str, list] = {}  # interaction token → callback requests
        self.followups: dict[str, list] = {}  # interaction token → follow-up requests

    def update(self) -> None:
        for r in self.stub.requests[self.seen :]:
            if r.path.startswith("/interactions/"):
                token = r.path.split("/")[3]
                self.callbacks.setdefault(token, []).append(r)
            elif r.method == "POST" and r.path.startswith("/webhooks/"):
                token = r.path.split("/")[3]
                self.followups.setdefault(token, []).append(r)
            elif is_message_request(r):
                ref = (r.body or {}).get("message_reference") or {}
                self.replies.setdefault(str(ref.get("message_id")), []).append(r)
        self.seen = len(self.stub.requests)

    def done(self, q: Asked) -> bool:
        if q.kind == "mention":
            return q.key in self.replies
        cbs = self.callbacks.get(q.key, [])
        if not cbs:
            return False
        return cbs[0].body["type"] == 4 or q.key in self.followups

    def outcome(self, q: Asked) -> str:
        """'answered' or 'limited'; fails on a lost, duplicated or failed reply."""
        if q.kind == "mention":
            (reply,) = self.replies.get(q.key, [])  # exactly one
            body = reply.body
            if RETRY.search(body.get("content") or ""):
                return "limited"
        else:
            (cb,) = self.callbacks.get(q.key, [])
            follow = self.followups.get(q.key, [])
            if cb.body["type"] == 4:
                assert cb.body["data"]["flags"] == 64 and not follow
                assert RETRY.search(cb.body["data"]["content"])
                return "limited"
            assert cb.body["type"] == 5
            (reply,) = follow
            body = reply.body
        assert body.get("embeds"), body  # an answer (or a kind "nothing found"), not an error
        assert not (body.get("content") or "").startswith("Sorry"), body
        return "answered"


def test_discord_flood_of_questions_is_answered_or_rate_limited(archive, tmp_path):
    settings = BotConfig(
        cooldown_questions=ALLOWED,
        cooldown_seconds=600.0,  # no window expires during the flood
        max_concurrency=4,
        reload_check_seconds=0.5,
        feedback_file=tmp_path / "feedback.jsonl",
    )
    users = [P.user(P.snowflake(), f"user{n}") for n in range(USERS)]
    probe = LagProbe()
    figures: dict[str, float] = {}

    async def scenario():
        async with bot_session(archive, settings) as s:
            stub = s.stub
            tally = Tally(stub)

            def replied(asked: list[Asked]):
                def check() -> bool:
                    tally.update()
                    return all(tally.done(q) for q in asked)

                return check

            # Warm up outside the flood: the first answer allocates what later ones reuse.
            warm = await stub.mention(QUESTIONS[0], author=P.user(P.snowflake(), "warm-up"))
            await stub.wait_until(replied([Asked("", "mention", str(warm["id"]))]), 30)
            gc.collect()
            before = rss()
            lag_task = asyncio.create_task(probe.run())
            t0 = time.monotonic()

            async def ask(u: dict, n: int) -> Asked:
                question = QUESTIONS[(n + int(u["id"])) % len(QUESTIONS)]
                if n % 2:
                    i = await stub.command("ask", question=question, user=u)
                    return Asked(u["id"], "slash", i["token"])
                m = await stub.mention(question, author=u)
                return Asked(u["id"], "mention", str(m["id"]))

            # All 200 at once, interleaved across people as a busy server sends them.
            asked = await asyncio.gather(*(ask(u, n) for n in range(PER_USER) for u in users))
            await stub.wait_until(replied(asked), FLOOD_SECONDS)
            figures["seconds"] = time.monotonic() - t0
            lag_task.cancel()
            await asyncio.sleep(0.5)  # time for any duplicate reply to show up
            tally.update()
            gc.collect()
            figures["rss_growth_mb"] = (rss() - before) / 2**20
            return asked, tally

    asked, tally = run(scenario(), timeout=FLOOD_SECONDS + 40)
    outcomes: dict[str, list[str]] = {}
    for q in asked:
        outcomes.setdefault(q.user, []).append(tally.outcome(q))
    assert len(asked) == USERS * PER_USER == 200
    for user, got in outcomes.items():
        assert sorted(got) == ["answered"] * ALLOWED + ["limited"] * (PER_USER - ALLOWED), user
    lag = probe.summary()
    print(
        f"\nflood: 200 questions in {figures['seconds']:.1f} s; event-loop lag "
        f"p50 {lag['p50_ms']:.1f} ms, p99 {lag['p99_ms']:.1f} ms, max {lag['max_ms']:.1f} ms "
        f"({lag['samples']} samples); RSS growth {figures['rss_growth_mb']:.1f} MB"
    )
    assert lag["samples"] > 20
    assert lag["p99_ms"] < 1000 * MAX_LAG_P99, lag
    assert lag["max_ms"] < 1000 * MAX_LAG, lag
    assert figures["rss_growth_mb"] * 2**20 < MAX_RSS_GROWTH, figures

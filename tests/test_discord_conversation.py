"""Follow-ups on Discord, end to end: the real discord.py client against the local stand-in
(tests/discord_stub), answering from the real seed archive. Which messages continue which
conversation (replies, threads, DMs), that context never passes between users, the memory's
bounds, and asking again without context; then the bookkeeping and the footer on their own.

The follow-ups are real: on the seed archive "How many officers took part?" finds nothing by
itself, and is answered from the OSCE police-training post when read with "Who paid for the
police training in Ukraine?" (the learned choice keeps the reading with context).
So an answer whose footer lacks "read with: …" really was read without the earlier question.
"""

from __future__ import annotations

import asyncio

from discord_stub import is_message_request, limit_problems
from discord_stub import payloads as P
from discord_stub.harness import api_env, bot_session, run  # noqa: F401 - api_env: autouse fixture

from tipbot.bot.conversations import Conversations, Place
from tipbot.config import BotConfig, ConversationConfig
from tipbot.conversation import Turn
from tipbot.render.discord import FOOTER, READ_WITH, answer_payload, check_limits
from tipbot.types import Answer

FIRST = "Who paid for the police training in Ukraine?"
FOLLOW = "How many officers took part?"
THEN = "When did the first session start?"  # after FOLLOW, in the same conversation
OTHER = "What does ALDE stand for?"


def bot_settings(tmp_path) -> BotConfig:
    return BotConfig(
        cooldown_questions=100,
        cooldown_seconds=60.0,
        reload_check_seconds=0.1,
        feedback_file=tmp_path / "feedback.jsonl",
    )


def someone(name: str) -> dict:
    return P.user(P.snowflake(), name)


async def answer_to(stub, msg: dict) -> dict:
    """The bot's reply to ``msg``, as the stand-in stored it (to reply to, or click on)."""

    def check():
        for r in stub.requests:
            ref = r.body.get("message_reference") if isinstance(r.body, dict) else None
            if is_message_request(r) and str((ref or {}).get("message_id")) == msg["id"]:
                return r
        return None

    req = await stub.wait_until(check)
    assert limit_problems(req.body) == []
    (sent,) = [
        m
        for m in stub.messages.values()
        if str((m.get("message_reference") or {}).get("message_id")) == msg["id"]
    ]
    return sent


async def followup_of(stub, interaction: dict) -> dict:
    """What a slash command or button press got, as stored (after its deferral)."""
    token = interaction["token"]
    req = await stub.wait_request(
        lambda r: r.method == "POST" and r.path.startswith("/webhooks/") and token in r.path
    )
    assert limit_problems(req.body) == []
    return [m for m in stub.messages.values() if not m["flags"] & 128][-1]


def footer(message: dict) -> str:
    return ((message["embeds"] or [{}])[-1].get("footer") or {}).get("text", "")


def custom_ids(message: dict) -> list[str]:
    return [b["custom_id"] for row in message["components"] for b in row["components"]]


# ---- end to end -------------------------------------------------------------------------------


def test_discord_reply_continues_the_conversation(archive, tmp_path):
    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            stub = s.stub
            asked = await stub.mention(FIRST)
            first = await answer_to(stub, asked)
            assert footer(first) == FOOTER
            assert not any(c.startswith("tipbot:fresh:") for c in custom_ids(first))
            # A reply pings the bot without "<@id>" in its text.
            follow = await answer_to(stub, await stub.reply(first, FOLLOW))
            assert footer(follow) == f"{FOOTER}\n{READ_WITH}{FIRST}"
            assert "/2008/07/osce-project-co-ordinator-in-ukraine" in follow["embeds"][0]["url"]
            # And on down the chain: the next reply is read with the follow-up.
            then = await answer_to(stub, await stub.reply(follow, THEN))
            assert footer(then).endswith(f"{READ_WITH}{FOLLOW}")
            # A reply that does not ping comes without its text: the bot stays silent.
            await stub.reply(then, FOLLOW, ping=False)
            await stub.mention(OTHER)  # answered after it, so the silence is not a race
            await s.until(lambda: len(s.client.service.conversations.memory) == 2)
            await asyncio.sleep(0.3)  # time for a wrong answer to the silent one to show up
            assert len(stub.sent_messages()) == 4

    run(scenario())


def test_discord_message_that_is_no_reply_stands_alone(archive, tmp_path):
    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            stub = s.stub
            await answer_to(stub, await stub.mention(FIRST))
            alone = await answer_to(stub, await stub.mention(FOLLOW))
            assert READ_WITH not in footer(alone)
            # A DM carries on the DM's recent turns, though.
            await answer_to(stub, await stub.send_message(FIRST, dm=True))
            in_dm = await answer_to(stub, await stub.send_message(FOLLOW, dm=True))
            assert in_dm["channel_id"] == str(stub.dm_channel_id)
            assert footer(in_dm).endswith(f"{READ_WITH}{FIRST}")

    run(scenario())


def test_discord_users_do_not_share_context(archive, tmp_path):
    alice, bob = someone("alice"), someone("bob")

    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            stub = s.stub
            first = await answer_to(stub, await stub.mention(FIRST, author=alice))
            # Bob's reply to Alice's answer is his own new question, read alone.
            bobs = await answer_to(stub, await stub.reply(first, FOLLOW, author=bob))
            assert READ_WITH not in footer(bobs)
            # The same words from Alice are read with her question.
            alices = await answer_to(stub, await stub.reply(first, FOLLOW, author=alice))
            assert footer(alices).endswith(f"{READ_WITH}{FIRST}")
            # Alice replying to Bob's answer starts her own too: Bob's turn is not hers.
            again = await answer_to(stub, await stub.reply(bobs, THEN, author=alice))
            assert READ_WITH not in footer(again)

    run(scenario())


def test_discord_thread_from_an_answer_shares_its_conversation(archive, tmp_path):
    alice, bob = someone("alice"), someone("bob")

    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            stub = s.stub
            first = await answer_to(stub, await stub.mention(FIRST, author=alice))
            thread = await stub.start_thread(first, author=bob)
            await s.until(lambda: s.client.get_channel(thread) is not None)
            # Anyone in the thread continues the answer's conversation (a mention is still
            # needed: without Message Content the bot reads only what is addressed to it).
            asked = await stub.mention(FOLLOW, channel_id=thread, author=bob)
            bobs = await answer_to(stub, asked)
            assert bobs["channel_id"] == str(thread)
            assert footer(bobs).endswith(f"{READ_WITH}{FIRST}")
            # /ask in the thread carries on from Bob's turn, for Alice too.
            i = await stub.command("ask", channel_id=thread, user=alice, question=THEN)
            then = await followup_of(stub, i)
            assert then["channel_id"] == str(thread)
            assert footer(then).endswith(f"{READ_WITH}{FOLLOW}")
            # fresh: the same question on its own.
            i = await stub.command("ask", channel_id=thread, user=alice, question=THEN, fresh=True)
            fresh = await followup_of(stub, i)
            assert fresh["content"] == f"**Asked:** {THEN}"
            assert READ_WITH not in footer(fresh)

    run(scenario())


def test_discord_memory_limits_evict_the_oldest(archive, tmp_path):
    from tipbot.archive import Archive

    small = archive.cfg.with_changes(conversation={"max_conversations": 2})
    bounded = Archive(small, archive.embedder, archive.data)

    async def scenario():
        async with bot_session(bounded, bot_settings(tmp_path)) as s:
            stub = s.stub
            oldest = await answer_to(stub, await stub.mention(FIRST))
            await answer_to(stub, await stub.mention(OTHER))
            newest = await answer_to(stub, await stub.mention(FIRST))  # a third conversation
            assert len(s.client.service.conversations.memory) == 2
            kept = await answer_to(stub, await stub.reply(newest, FOLLOW))
            assert footer(kept).endswith(f"{READ_WITH}{FIRST}")
            dropped = await answer_to(stub, await stub.reply(oldest, FOLLOW))
            assert READ_WITH not in footer(dropped)

    run(scenario())


def test_discord_ask_without_context_button(archive, tmp_path):
    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            stub = s.stub
            first = await answer_to(stub, await stub.mention(FIRST))
            follow = await answer_to(stub, await stub.reply(first, FOLLOW))
            (fresh_id,) = [c for c in custom_ids(follow) if c.startswith("tipbot:fresh:")]
            assert [c.split(":")[2] for c in custom_ids(follow)[:2]] == ["up", "down"]
            # Anyone may ask it again alone; the answer comes as a follow-up under it.
            click = await stub.click(follow, fresh_id, user=someone("carol"))
            alone = await followup_of(stub, click)
            assert alone["content"] == f"**Asked:** {FOLLOW}"
            assert READ_WITH not in footer(alone)
            assert not any(c.startswith("tipbot:fresh:") for c in custom_ids(alone))
            # After a restart the bot no longer has the question: a private note, no answer.
            s.client.service.conversations = Conversations(ConversationConfig())
            click = await stub.click(follow, fresh_id)
            cb = await stub.wait_request(
                lambda r: r.path.startswith("/interactions/") and click["token"] in r.path
            )
            assert cb.body["data"]["flags"] == 64 and "/ask" in cb.body["data"]["content"]

    run(scenario())


# ---- the bookkeeping and the footer on their own -----------------------------------------------


def turn(question: str) -> Turn:
    return Turn(question, ("post",))


def test_conversations_places():
    c = Conversations(ConversationConfig())
    assert c.place(1, 7, dm=False, replied_to=None) == Place(None)
    key = c.record(Place(None), 100, 7, turn("a"))
    assert key == ("answer", 100)
    c.record(Place(key, (turn("a"),)), 101, 7, turn("b"))
    # The owner's reply continues, as the conversation stood at the answer replied to.
    assert c.place(1, 7, dm=False, replied_to=101) == Place(key, (turn("a"), turn("b")))
    assert c.place(1, 7, dm=False, replied_to=100) == Place(key, (turn("a"),))
    # Someone else's reply, or a message that replies to nothing the bot sent, starts anew.
    assert c.place(1, 8, dm=False, replied_to=101) == Place(None)
    assert c.place(1, 7, dm=False, replied_to=55) == Place(None)
    # A thread made from answer 100 has id 100: shared, from that answer on.
    assert c.place(100, 8, dm=False, replied_to=None) == Place(("thread", 100), (turn("a"),))
    # DMs: the user's own recent turns.
    assert c.place(5, 7, dm=True, replied_to=None) == Place(("dm", 7))
    c.record(Place(("dm", 7)), 102, 7, turn("c"))
    assert c.place(5, 7, dm=True, replied_to=None).context == (turn("c"),)
    assert c.place(5, 8, dm=True, replied_to=None).context == ()


def test_conversations_forget_idle_ones():
    now = [0.0]
    c = Conversations(ConversationConfig(idle="1m"), clock=lambda: now[0])
    key = c.record(Place(None), 100, 7, turn("a"))
    assert c.place(1, 7, dm=False, replied_to=100) == Place(key, (turn("a"),))
    now[0] = 61.0
    assert c.place(1, 7, dm=False, replied_to=100) == Place(None)


def test_footer_names_the_earlier_question_within_limits(archive):
    answer = archive.ask(FOLLOW, context=(Turn.of(archive.ask(FIRST)),))
    assert answer.context == (FIRST,)  # the seed case the end-to-end tests rely on
    payload = answer_payload(answer)
    assert payload.embeds[-1]["footer"]["text"] == f"{FOOTER}\n{READ_WITH}{FIRST}"
    long = Answer("q", answer.answered, answer.results, context=("why " * 600 + "?", FIRST))
    payload = answer_payload(long)
    text = payload.embeds[-1]["footer"]["text"]
    assert text.startswith(f"{FOOTER}\n{READ_WITH}why why") and text.endswith("…")
    assert len(text) < len(FOOTER) + 250 and check_limits(payload.to_dict()) == []
    declined = answer_payload(Answer("q", False, (), context=(FIRST,)))
    assert declined.embeds[0]["footer"]["text"] == f"{READ_WITH}{FIRST}"
    assert "footer" not in answer_payload(Answer("q", False, ())).embeds[0]

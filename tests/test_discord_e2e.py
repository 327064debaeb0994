"""The real discord.py client, end to end, against the local Discord stand-in (tests/discord_stub):
slash commands, mentions, DMs, buttons, cooldowns, hot reload and a gateway RESUME."""

from __future__ import annotations

import asyncio
import json
import logging
import re

from conftest import make_config
from discord_stub import is_message_request, limit_problems
from discord_stub.harness import Gated, Scripted, api_env, bot_session, run  # noqa: F401 - api_env: autouse fixture

from tipbot.config import BotConfig
from tipbot.render.discord import DECLINED_TITLE, FOOTER, text_len, unquote_block
from tipbot.types import Answer, Quote

QUESTION = "Who funds victims of trafficking?"
NONSENSE = "what is the recipe for chocolate cake?"


def bot_settings(tmp_path, **changes) -> BotConfig:
    base = dict(
        cooldown_questions=100,
        cooldown_seconds=60.0,
        reload_check_seconds=0.1,
        feedback_file=tmp_path / "votes" / "feedback.jsonl",
    )
    return BotConfig(**{**base, **changes})


def embeds_of(req) -> list[dict]:
    body = req.body.get("data", req.body) if "/interactions/" in req.path else req.body
    return body.get("embeds") or []


def assert_safe_and_small(req) -> None:
    body = req.body.get("data", req.body) if "/interactions/" in req.path else req.body
    assert limit_problems(body) == []
    if body.get("content") is not None or body.get("embeds"):
        assert body["allowed_mentions"] == {"parse": []}


def assert_verbatim(archive, embeds: list[dict]) -> list[str]:
    """Every quote is made of verbatim pieces of the post its title links to; returns ids."""
    by_url = {p.url: p for p in archive.data.posts}
    ids = []
    for e in embeds:
        post = by_url[e["url"].split("#", 1)[0]]
        ids.append(post.id)
        # Between ellipses (parts joined, a part cut at either end) the text is the post's own.
        pieces = [p for p in re.split(r"\s*…\s*", unquote_block(e["description"])) if p]
        assert pieces
        for piece in pieces:
            assert piece in post.text
        assert e["url"].startswith("https://")
    return ids


def is_followup(token: str):
    return lambda r: r.method == "POST" and r.path.startswith("/webhooks/") and token in r.path


def reply_to(msg: dict):
    def check(r) -> bool:
        ref = r.body.get("message_reference") if isinstance(r.body, dict) else None
        return is_message_request(r) and (ref or {}).get("message_id") == int(msg["id"])

    return check


def is_callback(token: str):
    return lambda r: r.path.startswith("/interactions/") and token in r.path


# ---- slash commands ---------------------------------------------------------------------------


def test_discord_ask_defers_then_follows_up(archive, tmp_path):
    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            stub = s.stub
            assert stub.commands["ask"]["options"][0]["max_length"] == 1000
            i = await stub.command("ask", question=QUESTION, results=2)
            follow = await stub.wait_request(is_followup(i["token"]))
            callback = await stub.wait_request(is_callback(i["token"]))
            assert callback.n < follow.n  # defer first, then the answer
            assert callback.body["type"] == 5 and callback.query["with_response"] == "1"
            assert follow.query["wait"] == "1"
            assert follow.body["content"] == f"**Asked:** {QUESTION}"
            assert_safe_and_small(follow)
            embeds = embeds_of(follow)
            assert len(embeds) == 2
            assert_verbatim(archive, embeds)
            assert embeds[-1]["footer"]["text"] == FOOTER
            assert all(
                re.fullmatch(r"Posted \d{4}-\d{2}-\d{2}", e["author"]["name"]) for e in embeds
            )
            buttons = follow.body["components"][0]["components"]
            assert [b["custom_id"].split(":")[2] for b in buttons] == ["up", "down"]

    run(scenario())


def test_discord_dev_guild_sync(archive, tmp_path):
    async def scenario():
        settings = bot_settings(tmp_path)
        async with bot_session(archive, settings) as s:
            pass
        global_sync = [r for r in s.stub.requests if r.method == "PUT"]
        assert [r.path for r in global_sync] == [f"/applications/{s.stub.app_id}/commands"]
        names = {c["name"] for c in global_sync[0].body}
        assert names == {"ask", "about"}

        settings = bot_settings(tmp_path, dev_guild=424242)
        async with bot_session(archive, settings) as s:
            (sync,) = [r for r in s.stub.requests if r.method == "PUT"]
            assert sync.path == f"/applications/{s.stub.app_id}/guilds/424242/commands"
            i = await s.stub.command("ask", question=QUESTION)
            assert i["data"]["guild_id"] == "424242"
            assert embeds_of(await s.stub.wait_request(is_followup(i["token"])))

    run(scenario())


def test_discord_declined_question_is_kind(archive, tmp_path):
    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            i = await s.stub.command("ask", question=NONSENSE)
            follow = await s.stub.wait_request(is_followup(i["token"]))
            (embed,) = embeds_of(follow)
            assert embed["title"] == DECLINED_TITLE
            titles = {p.title for p in archive.data.posts}
            named = re.findall(r"• \[(.+?)\]\(", embed["description"])
            assert named and all(t.replace("\\", "") in titles for t in named)
            assert_safe_and_small(follow)

    run(scenario())


def test_discord_bad_options_get_private_errors(archive, tmp_path):
    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            bad = await s.stub.command("ask", question=QUESTION, since="2011-13-45")
            swapped = await s.stub.command(
                "ask", question=QUESTION, since="2012-01-01", until="2011-01-01"
            )
            words = await s.stub.command("ask", question="?!?")
            for i, expect in ((bad, "YYYY-MM-DD"), (swapped, "after")):
                cb = await s.stub.wait_request(is_callback(i["token"]))
                assert cb.body["type"] == 4 and cb.body["data"]["flags"] == 64
                assert expect in cb.body["data"]["content"]
            follow = await s.stub.wait_request(is_followup(words["token"]))
            assert "ask with words" in follow.body["content"]
            assert not any(is_followup(bad["token"])(r) for r in s.stub.requests)

    run(scenario())


def test_discord_cooldown_reply(archive, tmp_path):
    async def scenario():
        settings = bot_settings(tmp_path, cooldown_questions=2, cooldown_seconds=30.0)
        async with bot_session(archive, settings) as s:
            first = [await s.stub.command("ask", question=QUESTION) for _ in range(2)]
            for i in first:
                await s.stub.wait_request(is_followup(i["token"]))
            third = await s.stub.command("ask", question=QUESTION)
            cb = await s.stub.wait_request(is_callback(third["token"]))
            assert cb.body["type"] == 4 and cb.body["data"]["flags"] == 64
            assert re.search(r"try again in \d+ seconds", cb.body["data"]["content"])
            # Another person is not held back.
            other = {**s.stub.user, "id": "4242", "username": "other"}
            fourth = await s.stub.command("ask", question=QUESTION, user=other)
            await s.stub.wait_request(is_followup(fourth["token"]))

    run(scenario())


def test_discord_label_autocomplete(archive, tmp_path):
    labels = {lb for p in archive.data.posts for lb in p.labels}

    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            i = await s.stub.autocomplete("ask", "label", "ORGANIZ", question="q")
            cb = await s.stub.wait_request(is_callback(i["token"]))
            assert cb.body["type"] == 8
            choices = cb.body["data"]["choices"]
            assert choices and all(c["value"] in labels for c in choices)
            assert all("organiz" in c["value"].casefold() for c in choices)

    run(scenario())


def test_discord_about(archive, tmp_path):
    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            i = await s.stub.command("about")
            cb = await s.stub.wait_request(is_callback(i["token"]))
            assert cb.body["type"] == 4 and cb.body["data"]["flags"] == 64
            (embed,) = cb.body["data"]["embeds"]
            assert f"{len(archive.data.posts)} posts" in embed["description"]
            assert_safe_and_small(cb)

    run(scenario())


# ---- mentions and DMs -------------------------------------------------------------------------


def test_discord_mentions_and_dms(archive, tmp_path):
    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            stub = s.stub
            await stub.send_message("just chatting, no mention")
            asked = await stub.mention(f"@everyone {QUESTION} <@&1234>")
            dm = await stub.send_message(QUESTION, dm=True)

            in_channel = await stub.wait_request(reply_to(asked))
            in_dm = await stub.wait_request(reply_to(dm))
            assert in_channel.path == f"/channels/{stub.channel_id}/messages"
            assert in_dm.path == f"/channels/{stub.dm_channel_id}/messages"
            for req in (in_channel, in_dm):
                assert_safe_and_small(req)
                assert not req.body["allowed_mentions"].get("replied_user")  # default: no ping
                assert_verbatim(archive, req.body["embeds"])
            # Only those two got replies (the plain chat message none).
            assert len([r for r in stub.requests if r.path.endswith("/messages")]) == 2
            await stub.mention("")
            empty = await stub.wait_request(lambda r: r.path.endswith("/messages"), count=3)
            assert "Ask me a question" in empty.body["content"]

    run(scenario())


def test_discord_allowed_channels_only(archive, tmp_path):
    async def scenario():
        async with bot_session(archive, bot_settings(tmp_path)) as s:
            s.client.service.settings = bot_settings(
                tmp_path, allowed_channels=(s.stub.channel_id,)
            )
            elsewhere = await s.stub.command(
                "ask", question=QUESTION, channel_id=s.stub.other_channel_id
            )
            cb = await s.stub.wait_request(is_callback(elsewhere["token"]))
            assert cb.body["data"]["flags"] == 64 and "only answer" in cb.body["data"]["content"]
            await s.stub.mention(QUESTION, channel_id=s.stub.other_channel_id)
            await s.stub.send_message(QUESTION, dm=True)
            here = await s.stub.command("ask", question=QUESTION)
            await s.stub.wait_request(is_followup(here["token"]))
            await asyncio.sleep(0.3)
            assert not [r for r in s.stub.requests if r.path.endswith("/messages")]

    run(scenario())


# ---- feedback ---------------------------------------------------------------------------------


def test_discord_feedback_button_writes_a_line(archive, tmp_path):
    async def scenario():
        settings = bot_settings(tmp_path)
        async with bot_session(archive, settings) as s:
            i = await s.stub.command("ask", question=QUESTION)
            follow = await s.stub.wait_request(is_followup(i["token"]))
            shown = assert_verbatim(archive, embeds_of(follow))
            message = s.stub.messages[max(s.stub.messages)]
            down = message["components"][0]["components"][1]["custom_id"]
            click = await s.stub.click(message, down)
            cb = await s.stub.wait_request(is_callback(click["token"]))
            assert cb.body["type"] == 4 and cb.body["data"]["flags"] == 64
            assert "Thanks" in cb.body["data"]["content"]
        lines = settings.feedback_file.read_text(encoding="utf-8").splitlines()
        (record,) = [json.loads(line) for line in lines]
        assert record["question"] == QUESTION and record["vote"] == "down"
        assert record["post_ids"] == shown and record["answered"] is True
        assert record["user"].startswith("sha256:") and s.stub.user["id"] not in record["user"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00", record["time"])

    run(scenario())


# ---- robustness -------------------------------------------------------------------------------


def test_discord_long_answers_keep_limits(archive, tmp_path):
    post = archive.data.posts[0]
    long = Quote(
        post.id,
        "T*" * 400,
        post.date,
        post.url,
        post.url + "#:~:text=x",
        " … ".join([post.text] * 8),
        ((0, 1),),
        1.0,
    )
    scripted = Scripted(archive, Answer("q", True, (long,) * 5, note="n" * 3000))

    async def scenario():
        async with bot_session(scripted, bot_settings(tmp_path)) as s:
            i = await s.stub.command("ask", question=QUESTION)
            follow = await s.stub.wait_request(is_followup(i["token"]))
            assert_safe_and_small(follow)
            total = sum(text_len(e["description"]) for e in embeds_of(follow))
            assert total > 3000  # trimmed to the limit, not to nothing
            assert_verbatim(archive, embeds_of(follow))
            await s.stub.mention("long one please")
            reply = await s.stub.wait_request(lambda r: r.path.endswith("/messages"))
            assert_safe_and_small(reply)

    run(scenario())


def test_discord_failures_logged_users_get_short_note(archive, tmp_path, caplog):
    scripted = Scripted(archive, error=RuntimeError("index exploded"))

    async def scenario():
        async with bot_session(scripted, bot_settings(tmp_path)) as s:
            i = await s.stub.command("ask", question=QUESTION)
            follow = await s.stub.wait_request(is_followup(i["token"]))
            assert follow.body["content"].startswith("Sorry")
            assert "exploded" not in follow.body["content"]
            assert "components" not in follow.body or not follow.body["components"]

    with caplog.at_level(logging.ERROR, logger="tipbot"):
        run(scenario())
    assert any(r.exc_info and "exploded" in str(r.exc_info[1]) for r in caplog.records)


def test_discord_reload_failure_keeps_old_index(archive, tmp_path, caplog):
    scripted = Scripted(archive)
    scripted.reload_error = OSError("half-written build")

    async def scenario():
        async with bot_session(scripted, bot_settings(tmp_path)) as s:
            await s.until(lambda: scripted.reloads >= 3)
            i = await s.stub.command("ask", question=QUESTION)
            follow = await s.stub.wait_request(is_followup(i["token"]))
            assert_verbatim(archive, embeds_of(follow))

    with caplog.at_level(logging.ERROR, logger="tipbot"):
        run(scenario())
    failures = [r for r in caplog.records if "current one keeps answering" in r.getMessage()]
    assert len(failures) == 1  # logged once, not every few seconds


def test_discord_resume_mid_answer_delivers_once(archive, tmp_path):
    gated = Gated(archive)

    async def scenario():
        async with bot_session(gated, bot_settings(tmp_path)) as s:
            stub = s.stub
            i = await stub.command("ask", question=QUESTION)
            await stub.wait_request(is_callback(i["token"]))  # deferred
            seen = stub.last_seq  # the client has had every event up to the command
            assert await asyncio.to_thread(gated.entered.wait, 10)
            await stub.drop(4000, hold=True)  # resumable: "unknown error"
            # Sent while the bot is away: Discord replays it after the RESUME.
            missed = await stub.mention(QUESTION)
            stub.reopen()
            resume = await stub.wait_frame(6)
            assert resume["d"]["session_id"] == stub.session_id
            assert resume["d"]["seq"] == seen
            await s.until(lambda: stub.replayed == [stub.last_seq])
            gated.release.set()
            await stub.wait_request(is_followup(i["token"]))
            await stub.wait_request(reply_to(missed))
            await asyncio.sleep(0.5)  # time for any duplicate to show up
            assert len([r for r in stub.requests if is_followup(i["token"])(r)]) == 1
            assert len([r for r in stub.requests if is_callback(i["token"])(r)]) == 1
            assert len([r for r in stub.requests if r.path.endswith("/messages")]) == 1
            assert [f["op"] for f in stub.frames].count(2) == 1  # resumed, not re-identified
            assert gated.calls == 2 and stub.connected

    run(scenario())


def test_discord_reload_after_rebuild(embedder, archive, tmp_path):
    from tipbot.archive import Archive
    from tipbot.index import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    posts = archive.data.posts[:3]
    lines = [
        json.dumps(
            {
                "id": p.id,
                "title": p.title,
                "date": p.date.isoformat(),
                "url": p.url,
                "labels": list(p.labels),
                "text": p.text,
            }
        )
        for p in posts
    ]
    (corpus / "posts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = make_config(tmp_path, [corpus])
    fresh = Archive.open(cfg, embedder=embedder)
    fact = "the Zanzibar Lighthouse Authority trained 47 lighthouse keepers"
    question = "How many lighthouse keepers did the Zanzibar Lighthouse Authority train?"

    async def scenario():
        async with bot_session(fresh, bot_settings(tmp_path)) as s:
            before = fresh.data.build_id
            new = {
                "id": "2024-05-01-lighthouse",
                "title": "Lighthouse keepers learn the signs",
                "date": "2024-05-01",
                "url": "https://example.org/2024/05/lighthouse.html",
                "text": f"In May {fact} to recognise trafficked crew on passing fishing "
                "boats. The course ran for three weeks.",
            }
            with open(corpus / "posts.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(new) + "\n")
            build = asyncio.create_task(
                asyncio.to_thread(build_index, cfg, embedder, None, incremental=True, wait=True)
            )
            during = await s.stub.command("ask", question=QUESTION)  # answered during the build
            await build
            await s.until(lambda: fresh.data.build_id != before)
            i = await s.stub.command("ask", question=question)
            follow = await s.stub.wait_request(is_followup(i["token"]))
            first = embeds_of(follow)[0]
            assert first["url"].startswith(new["url"])
            assert "47 lighthouse keepers" in unquote_block(first["description"])
            answered = await s.stub.wait_request(is_followup(during["token"]))
            assert embeds_of(answered) and not answered.body.get("content", "").startswith("Sorry")

    run(scenario())

"""The bot's pure rules (cooldown, dates, places, mentions) and its feedback log."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from conftest import Clock

from tipbot.bot import policy
from tipbot.bot.feedback import user_hash, vote_record
from tipbot.bot.service import AnswerMemo, FeedbackLog, Shown
from tipbot.config import BotConfig


def test_discord_cooldown_window():
    clock = Clock(1000.0)
    cd = policy.Cooldown(questions=2, seconds=10.0, clock=clock)
    assert cd.hit(1) == 0.0
    clock.now += 1
    assert cd.hit(1) == 0.0
    clock.now += 1
    assert cd.hit(1) == pytest.approx(8.0)  # the first question leaves the window at t+10
    assert cd.hit(2) == 0.0  # per user
    clock.now += 8
    assert cd.hit(1) == 0.0
    # Refused questions do not count: the wait does not grow while someone keeps trying.
    assert cd.hit(1) == pytest.approx(1.0)
    assert cd.hit(1) == pytest.approx(1.0)


def test_discord_retry_message_is_polite_and_rounds_up():
    msg = policy.retry_message(2.2)
    assert "try again in 3 seconds" in msg
    assert "in 1 second " in policy.retry_message(0.01)


@pytest.mark.parametrize("value", ["2011-13-01", "18/10/2011", "yesterday", "20111018", "2011-1-5"])
def test_discord_bad_dates_explained(value):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        policy.parse_date(value, "since")


def test_discord_dates_and_range():
    assert policy.parse_date(" 2011-10-18 ", "since") == dt.date(2011, 10, 18)
    assert policy.parse_date(None, "since") is None
    assert policy.parse_date("", "until") is None
    policy.check_range(dt.date(2011, 1, 1), dt.date(2011, 1, 1))
    with pytest.raises(ValueError, match="after"):
        policy.check_range(dt.date(2012, 1, 1), dt.date(2011, 1, 1))


def test_discord_places():
    anywhere = BotConfig()
    assert policy.place_allowed(anywhere, None, (5,))
    guilds = BotConfig(allowed_guilds=(1,))
    assert policy.place_allowed(guilds, 1, (5,))
    assert not policy.place_allowed(guilds, 2, (5,))
    assert not policy.place_allowed(guilds, None, (5,))  # a DM is not in an allowed guild
    channels = BotConfig(allowed_channels=(5,))
    assert policy.place_allowed(channels, 1, (5,))
    assert policy.place_allowed(channels, 1, (9, 5))  # a thread under an allowed channel
    assert not policy.place_allowed(channels, 1, (9,))


def test_discord_mention_question():
    assert policy.mention_question("<@42> who funds it?", 42) == "who funds it?"
    assert policy.mention_question("hey <@!42>\nwho  funds it?", 42) == "hey who funds it?"
    assert policy.mention_question("<@42>", 42) == ""
    assert policy.mention_question("<@43> not me", 42) is None
    assert policy.mention_question("@everyone hello", 42) is None
    assert policy.mention_question("<@42> @everyone <@&7> <#9> <@8> why?", 42) == "why?"


def test_discord_feedback_log_threads(tmp_path):
    log = FeedbackLog(tmp_path / "deep" / "er" / "feedback.jsonl")
    shown = Shown("who? " * 200, ("p1", "p2"), True)

    def vote(i: int) -> None:
        for j in range(50):
            log.append(vote_record("up" if j % 2 else "down", f"{i:016x}", shown, i, j))

    threads = [threading.Thread(target=vote, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = log.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 400
    records = [json.loads(line) for line in lines]
    r = records[0]
    assert r["question"] == shown.question and r["post_ids"] == ["p1", "p2"]
    assert r["vote"] in ("up", "down") and r["user"].startswith("sha256:")
    assert dt.datetime.fromisoformat(r["time"]).tzinfo is not None


def test_discord_vote_for_forgotten_answer_still_recorded():
    r = vote_record("down", "0" * 16, None, 7, None)
    assert r["question"] is None and r["post_ids"] == [] and r["vote"] == "down"
    assert r["user"] == user_hash(7) and r["user"] != "7"


def test_discord_answer_memo_bounded():
    memo = AnswerMemo(size=3)
    keys = [memo.add(Shown(f"q{i}", (), True)) for i in range(5)]
    assert memo.get(keys[0]) is None and memo.get(keys[4]).question == "q4"
    assert len({len(k) for k in keys}) == 1 and len(keys[0]) == 16

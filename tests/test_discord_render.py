"""render/discord.py: Answer → embed payloads within Discord's limits, quotes verbatim, archive
text escaped so it cannot format, hide or link anything."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipbot.render.discord import (
    DECLINED_TITLE,
    DESCRIPTION_MAX,
    FOOTER,
    TITLE_MAX,
    about_payload,
    answer_payload,
    block_quote,
    check_limits,
    clip,
    escape_markdown,
    fit_quote,
    http_url,
    notice_payload,
    text_len,
    unescape_markdown,
    unquote_block,
)
from tipbot.types import Answer, Quote


def quote(
    text: str,
    title: str = "A post",
    link: str = "https://example.org/p#:~:text=a",
    post_id: str = "p1",
    date: dt.date | None = dt.date(2011, 10, 18),
) -> Quote:
    return Quote(post_id, title, date, "https://example.org/p", link, text, ((0, 1),), 1.0)


def shown_pieces(description: str) -> list[str]:
    """The verbatim pieces a reader sees in a quote embed: "…" marks dropped text, between
    parts or at a part's cut start or end."""
    return [p for p in re.split(r"\s*…\s*", unquote_block(description)) if p]


# ---- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "**bold** and __underline__ and ~~strike~~",
        "||spoiler|| and `code` and ```block```",
        "[click me](https://evil.example/x)",
        "<@123456789> <@&42> <#77> <t:1700000000:R>",
        "# heading\n## smaller\n-# subtext\n- list item\n1. numbered",
        "> fake quote\n>>> fake block",
        "back\\slash \\*already\\* escaped",
    ],
)
def test_discord_escape_neutralises_markdown(raw):
    escaped = escape_markdown(raw)
    assert unescape_markdown(escaped) == raw
    for token in ("**", "__", "~~", "||", "`", "[click", "<@", "<#", "<t:"):
        assert token not in escaped.replace("\\" + token[0], "")
    for line in escaped.split("\n"):
        assert not line.startswith(("#", "-", ">", "1.")), line


def test_discord_escape_keeps_links_usable():
    raw = "See https://example.org/a_b*c_(d) and http://x.org/y_z."
    escaped = escape_markdown(raw)
    assert "https://example.org/a_b*c_(d" in escaped
    assert "http://x.org/y_z" in escaped
    assert unescape_markdown(escaped) == raw


@given(st.text(max_size=300))
def test_discord_escape_roundtrip(text):
    assert unescape_markdown(escape_markdown(text)) == text
    block = block_quote(text)
    assert all(line.startswith("> ") for line in block.split("\n"))
    assert unquote_block(block) == text


def test_discord_http_url_only_http():
    assert http_url("https://example.org/p#:~:text=a,b") == "https://example.org/p#:~:text=a,b"
    assert http_url("HTTP://example.org/") == "HTTP://example.org/"
    for bad in (
        "javascript:alert(1)",
        "ftp://x.org/f",
        "/relative",
        "",
        None,
        "https://exa mple.org",
        "https://",
        "data:text/html,hi",
    ):
        assert http_url(bad) is None


# ---- quotes and limits ------------------------------------------------------------------------


def test_discord_fit_quote_drops_parts_then_sentences():
    parts = ["First part one. First part two.", "Second part one. Second part two."]
    text = " … ".join(parts)
    assert fit_quote(text, 10_000) == text
    need = text_len(block_quote("First part one. First part two. …"))
    assert fit_quote(text, need) == "First part one. First part two. …"
    need = text_len(block_quote("First part one. …"))
    assert fit_quote(text, need) == "First part one. …"


def test_discord_fit_quote_long_sentence_cut_at_word():
    text = "word " * 5000 + "end."
    cut = fit_quote(text, 500)
    assert cut is not None and cut.endswith("…")
    assert text.startswith(cut.removesuffix("…"))
    assert text_len(block_quote(cut)) <= 500


def test_discord_huge_post_never_breaks_reply():
    text = ("x" * 20_000) + " " + ("*_`|" * 3000)
    answer = Answer("q", True, tuple(quote(text, "T" * 5000, post_id=f"p{i}") for i in range(10)))
    payload = answer_payload(answer)
    assert check_limits(payload.to_dict()) == []
    assert payload.embeds and len(payload.post_ids) == len(payload.embeds)


def test_discord_answer_payload_from_real_archive(archive):
    answer = archive.ask("Who funds victims of trafficking?", 3)
    assert answer.answered
    payload = answer_payload(answer)
    assert check_limits(payload.to_dict()) == []
    posts = {p.id: p for p in archive.data.posts}
    assert len(payload.embeds) == len(answer.results)
    for embed, q in zip(payload.embeds, answer.results, strict=True):
        post = posts[q.post_id]
        assert embed["url"] == q.link and q.link.startswith(post.url)
        assert embed["title"] == escape_markdown(post.title)
        assert embed["author"]["name"] == f"Posted {post.date.isoformat()}"
        assert all(line.startswith("> ") for line in embed["description"].split("\n"))
        for piece in shown_pieces(embed["description"]):
            assert piece in post.text
    assert payload.embeds[-1]["footer"]["text"] == FOOTER
    assert payload.post_ids == tuple(q.post_id for q in answer.results)


def test_discord_declined_names_closest_posts():
    closest = (quote("x", "Close [one]", post_id="c1"), quote("y", "Close two", post_id="c2"))
    payload = answer_payload(Answer("q", False, (), closest=closest))
    (embed,) = payload.embeds
    assert embed["title"] == DECLINED_TITLE
    assert "[Close \\[one\\]](https://example.org/p)" in embed["description"]
    assert "Close two" in embed["description"]
    assert payload.post_ids == ("c1", "c2")
    bare = answer_payload(Answer("q", False, ()))
    assert "closest" not in bare.embeds[0]["description"] and bare.post_ids == ()


def test_discord_bad_links_are_not_embed_urls():
    answer = Answer("q", True, (quote("Text.", link="javascript:alert(1)"),))
    (embed,) = answer_payload(answer).embeds
    assert embed["url"] == "https://example.org/p"  # falls back to the post's own URL


def test_discord_note_and_notice_fit_content():
    answer = Answer("q", True, (quote("Text."),), note="n" * 5000)
    assert text_len(answer_payload(answer).content) <= 2000
    asked = Answer(
        "**why** @everyone\n# now " + "x" * 3000, True, (quote("Text."),), note="n" * 5000
    )
    content = answer_payload(asked, show_question=True).content
    # One line: the question's own line breaks cannot start a heading or a quote.
    assert content.startswith("**Asked:** \\*\\*why\\*\\* @everyone # now xxx")
    assert text_len(content) <= 2000 and content.count("\n") == 1
    assert "Note: nnn" in content
    assert text_len(notice_payload("z" * 9000).content) <= 2000


def test_discord_about_payload():
    payload = about_payload(20, dt.date(2008, 1, 2), dt.date(2012, 3, 4), "2025-01-01T00:00:00")
    (embed,) = payload.embeds
    assert "20 posts" in embed["description"] and "2008-01-02" in embed["description"]
    assert "word for word" in embed["description"]
    assert check_limits(payload.to_dict()) == []


def test_discord_clip_titles():
    assert clip("short", TITLE_MAX) == "short"
    long = clip("word " * 200, TITLE_MAX)
    assert text_len(long) <= TITLE_MAX and long.endswith("…")
    assert text_len(clip("😀" * 300, TITLE_MAX)) <= TITLE_MAX  # 2 UTF-16 units each


# ---- random answers never break a limit -------------------------------------------------------

_chars = st.characters(codec="utf-8", exclude_categories=("Cs",))
_text = st.text(_chars, min_size=1, max_size=3000) | st.builds(
    lambda w, n: (w + " ") * n, st.text(_chars, min_size=1, max_size=12), st.integers(1, 900)
)
_sentences = st.lists(
    st.text(st.characters(codec="ascii", categories=("L", "P", "Zs")), min_size=1, max_size=400),
    min_size=1,
    max_size=40,
).map(lambda ss: " ".join(s.strip() + "." for s in ss))
_quote = st.builds(
    quote,
    text=st.lists(_text | _sentences, min_size=1, max_size=6).map(" … ".join),
    title=st.text(_chars, max_size=1200),
    link=st.sampled_from(
        ["https://example.org/p#:~:text=x", "javascript:x", "https://e.org/" + "a" * 3000]
    ),
    post_id=st.text(max_size=20),
    date=st.none() | st.dates(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    results=st.lists(_quote, min_size=1, max_size=12),
    answered=st.booleans(),
    note=st.text(max_size=2500),
    question=st.text(max_size=1200),
    show=st.booleans(),
)
def test_discord_random_answers_keep_limits(results, answered, note, question, show):
    answer = Answer(
        question,
        answered,
        tuple(results) if answered else (),
        tuple(results) if not answered else (),
        note=note,
    )
    payload = answer_payload(answer, show_question=show)
    assert check_limits(payload.to_dict()) == []
    assert 1 <= len(payload.embeds) <= 10
    if answered:
        assert payload.post_ids == tuple(q.post_id for q in results[: len(payload.embeds)])
        for embed, q in zip(payload.embeds, results, strict=False):
            assert text_len(embed["title"]) <= TITLE_MAX
            assert text_len(embed["description"]) <= DESCRIPTION_MAX
            pieces = shown_pieces(embed["description"])
            assert pieces, "every shown quote keeps some words"
            for piece in pieces:
                assert piece.removesuffix("…") in q.text

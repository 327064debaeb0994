"""Answer → Discord message payloads (plain dicts in Discord's API shape). Pure: no discord import.

    payload = answer_payload(answer)
    payload.content, payload.embeds      # -> discord.Embed.from_dict(e) for e in payload.embeds
    problems = check_limits(payload.to_dict())   # [] for anything these functions produce

Every payload keeps Discord's limits (content 2000, embed title 256, description 4096, field
value 1024, footer 2048, 6000 per message, 10 embeds), measured in UTF-16 code units, the
strictest way a client or the API may count. Quotes are shortened only by dropping whole parts
(" … " boundaries) or whole sentences, marked with "…", so what is shown stays word for word.
Archive text is markdown-escaped so a post cannot format, hide or link anything it did not say.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tipbot.render.json import NOTHING
from tipbot.sentences import split_sentences
from tipbot.types import ELLIPSIS, Answer, Quote

CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
TOTAL_MAX = 6000
EMBEDS_MAX = 10
URL_MAX = 2000  # not documented by Discord; longer links fall back to the plain post URL

# Below this many units a quote is not worth showing: drop a result instead.
MIN_QUOTE_BUDGET = 240
PART_SEP = " … "  # how Quote.text joins parts that are not adjacent in the post

COLOR_ANSWER = 0x2B6CB0
COLOR_DECLINED = 0x718096
FOOTER = "Quoted word for word from the archive. Open a title to see the passage in its post."
DECLINED_TITLE = "Nothing in the archive answers this"
# A follow-up read with its conversation says so under the answer, naming the earlier question.
READ_WITH = "read with: "
READ_WITH_MAX = 200  # of the earlier question, in UTF-16 units; footers are far longer
DECLINED_TEXT = (
    "I only reply with passages quoted from the archive, and none of them fits this question "
    "closely enough. Try other words, or a wider date range."
)


def text_len(text: str) -> int:
    """Length as Discord may count it: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


# ---- escaping ---------------------------------------------------------------------------------

# Bare http(s) links stay as they are so they still work; no backslash inside, so escaping and
# unescaping stay exact inverses.
_URL = re.compile(r"https?://[^\s<>\\]*[^\s<>\\.,:;\"')\]]")
# Always special somewhere: emphasis, code, spoilers, strike, quotes, masked links, <@mentions>.
_ALWAYS = re.compile(r"[\\*_~|`>\[\]()<]")
# Special only at the start of a line: headings, "-# " subtext, "- " lists, "1. " lists.
_LINE_START = re.compile(r"^(\s*)(#|-|\+|\d+(?=\.))")
_UNESCAPE = re.compile(r"\\([^0-9A-Za-z\s])")


def _escape_plain(text: str) -> str:
    return _ALWAYS.sub(lambda m: "\\" + m.group(0), text)


def escape_markdown(text: str) -> str:
    """Backslash-escape everything Discord would treat as markdown, keeping bare links usable.

    Discord renders a backslash before any ASCII punctuation as that character, so the reader
    sees the text unchanged; ``unescape_markdown`` is the exact inverse.
    """
    lines = []
    for line in text.split("\n"):
        pieces, pos = [], 0
        for m in _URL.finditer(line):
            pieces.append(_escape_plain(line[pos : m.start()]))
            pieces.append(m.group(0))
            pos = m.end()
        pieces.append(_escape_plain(line[pos:]))
        escaped = "".join(pieces)
        start = _LINE_START.match(escaped)
        if start:
            lead, mark = start.group(1), start.group(2)
            if mark.isdigit():  # "1. " → "1\. "
                escaped = lead + mark + "\\" + escaped[start.end() :]
            else:
                escaped = lead + "\\" + escaped[len(lead) :]
        lines.append(escaped)
    return "\n".join(lines)


def unescape_markdown(text: str) -> str:
    """What a reader sees: drop the backslash before escaped punctuation."""
    return _UNESCAPE.sub(r"\1", text)


def block_quote(text: str) -> str:
    """Every line of ``text``, escaped and prefixed with "> " (Discord's block quote)."""
    return "\n".join("> " + line for line in escape_markdown(text).split("\n"))


def unquote_block(block: str) -> str:
    """Inverse of ``block_quote``: the text a reader sees inside the quote."""
    lines = [line[2:] if line.startswith("> ") else line for line in block.split("\n")]
    return unescape_markdown("\n".join(lines))


def http_url(url: str | None, limit: int = URL_MAX) -> str | None:
    """``url`` when it is an absolute http(s) link fit for an embed, else None."""
    if not url or len(url) > limit or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _link_target(url: str) -> str:
    """A URL safe inside markdown's (…): parentheses percent-encoded (no spaces: http_url)."""
    return url.replace("(", "%28").replace(")", "%29")


# ---- shortening -------------------------------------------------------------------------------


def _longest(n: int, fits: Callable[[int], bool]) -> int:
    """Largest i in [0, n] with fits(i), assuming fits is monotone (true then false)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def clip(text: str, limit: int, render: Callable[[str], str] = escape_markdown) -> str:
    """``render(text)`` when it fits ``limit``, else a shorter prefix cut at a word, plus "…".

    For titles and labels, not quotes (quotes go through ``fit_quote``).
    """
    if text_len(render(text)) <= limit:
        return render(text)
    fits = lambda i: text_len(render(text[:i].rstrip()) + ELLIPSIS) <= limit
    cut = _longest(len(text), fits)
    space = text.rfind(" ", 0, cut + 1)
    if space > cut * 2 // 3:  # a word boundary not far back reads better
        cut = space
    return render(text[:cut].rstrip()) + ELLIPSIS if cut else ELLIPSIS[: max(limit, 0)]


def fit_quote(text: str, budget: int, render: Callable[[str], str] = block_quote) -> str | None:
    """The longest verbatim beginning of ``text`` whose ``render`` fits ``budget``, or None.

    Cuts fall only after a whole part (Quote.text joins parts with " … ") or a whole sentence,
    marked " …". A single sentence longer than the budget is cut at a word (still a verbatim
    prefix, marked "…") so that no post, however long, can break a reply.
    """
    if text_len(render(text)) <= budget:
        return text
    parts = text.split(PART_SEP)

    def fits(candidate: str) -> bool:
        return text_len(render(candidate)) <= budget

    # Whole parts first.
    n = _longest(
        len(parts) - 1, lambda i: i == 0 or fits(PART_SEP.join(parts[:i]) + " " + ELLIPSIS)
    )
    head = PART_SEP.join(parts[:n])
    joiner = PART_SEP if n else ""
    # Then whole sentences of the next part.
    part = parts[n]
    ends = [s.end for s in split_sentences(part)]
    m = _longest(
        len(ends), lambda i: i == 0 or fits(head + joiner + part[: ends[i - 1]] + " " + ELLIPSIS)
    )
    if m:
        return head + joiner + part[: ends[m - 1]] + " " + ELLIPSIS
    if n:
        return head + " " + ELLIPSIS
    # One sentence too long for any budget: a verbatim prefix cut at a word.
    c = _longest(len(part), lambda i: i == 0 or fits(part[:i].rstrip() + ELLIPSIS))
    space = part.rfind(" ", 0, c + 1)
    if space > c // 2:
        c = space
    prefix = part[:c].rstrip()
    return prefix + ELLIPSIS if prefix else None


# ---- payloads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """One Discord message: ``content`` and embed dicts; ``post_ids`` of the posts it shows."""

    content: str = ""
    embeds: tuple[dict[str, Any], ...] = ()
    post_ids: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The message body's text parts, as the API takes them."""
        return {"content": self.content, "embeds": list(self.embeds)}


def _date(d: dt.date | None) -> str:
    return d.isoformat() if d else "undated"


def _quote_embed(q: Quote, title: str, description: str, footer: str | None) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": title,
        "description": description,
        "color": COLOR_ANSWER,
        "author": {"name": f"Posted {_date(q.date)}"},
    }
    url = http_url(q.link) or http_url(q.url)
    if url:
        embed["url"] = url
    if footer:
        embed["footer"] = {"text": footer}
    return embed


def embed_len(embed: dict[str, Any]) -> int:
    """The characters Discord counts toward the 6000 per message."""
    total = text_len(embed.get("title", "")) + text_len(embed.get("description", ""))
    total += text_len(embed.get("footer", {}).get("text", ""))
    total += text_len(embed.get("author", {}).get("name", ""))
    for f in embed.get("fields", ()):
        total += text_len(f.get("name", "")) + text_len(f.get("value", ""))
    return total


def _content(answer: Answer, show_question: bool) -> str:
    """The message text above the embeds: the question (where the reader cannot see it, as
    under a slash command) and the archive's note, escaped, within the content limit."""
    lines = []
    if show_question:
        lines.append("**Asked:** " + clip(" ".join(answer.question.split()), 1000))
    if answer.note:
        lines.append(clip(f"Note: {answer.note}", CONTENT_MAX - 1100))
    return "\n".join(lines)


def _allot(needs: Sequence[int], total: int, cap: int) -> list[int]:
    """Split ``total`` among quotes: none gets more than it needs or ``cap``; the rest share
    what short ones leave (water filling)."""
    budgets = [0] * len(needs)
    left = total
    order = sorted(range(len(needs)), key=lambda i: needs[i])
    for rank, i in enumerate(order):
        share = left // (len(needs) - rank)
        budgets[i] = min(needs[i], cap, share)
        left -= budgets[i]
    return budgets


def read_with(answer: Answer) -> str:
    """ "read with: <the newest earlier question>" when the answer used its conversation, else
    "". Footers show plain text (no markdown), so the question is shortened, not escaped."""
    if not answer.context:
        return ""
    return READ_WITH + clip(" ".join(answer.context[0].split()), READ_WITH_MAX, lambda t: t)


def _try_quotes(quotes: Sequence[Quote], content: str, footer: str) -> Payload | None:
    titles = [clip(q.title or "Untitled", TITLE_MAX) for q in quotes]
    footers = [None] * (len(quotes) - 1) + [footer]
    shells = [_quote_embed(q, t, "", f) for q, t, f in zip(quotes, titles, footers, strict=True)]
    fixed = sum(embed_len(e) for e in shells)
    # The message's content does not count toward the 6000; kept separate on purpose.
    left = TOTAL_MAX - fixed
    needs = [text_len(block_quote(q.text)) for q in quotes]
    budgets = _allot(needs, left, DESCRIPTION_MAX)
    if any(b < min(MIN_QUOTE_BUDGET, need) for b, need in zip(budgets, needs, strict=True)):
        return None
    embeds = []
    for q, shell, budget in zip(quotes, shells, budgets, strict=True):
        text = fit_quote(q.text, budget)
        if text is None:
            return None
        embeds.append({**shell, "description": block_quote(text)})
    return Payload(content, tuple(embeds), tuple(q.post_id for q in quotes))


def answer_payload(answer: Answer, show_question: bool = False) -> Payload:
    """The reply to a question: one embed per quote, or the kind decline. ``show_question``
    repeats the question above the answer (slash commands hide it from other readers). The
    last embed's footer names the earlier question a follow-up was read with."""
    if not answer.answered or not answer.results:
        return declined_payload(answer, show_question)
    content = _content(answer, show_question)
    quotes = answer.results[:EMBEDS_MAX]
    footer = "\n".join(x for x in (FOOTER, read_with(answer)) if x)
    # Fewer results rather than unreadable ones: drop from the end until every quote fits.
    for n in range(len(quotes), 0, -1):
        payload = _try_quotes(quotes[:n], content, footer)
        if payload is not None:
            return payload
    return declined_payload(answer, show_question)  # unreachable: one quote always fits


def _closest_line(q: Quote) -> str:
    title = clip(q.title or "Untitled", 200)  # escaped: brackets cannot end the link text
    url = http_url(q.url)
    shown = f"[{title}]({_link_target(url)})" if url else title
    return f"• {shown} ({_date(q.date)})"


def declined_payload(answer: Answer, show_question: bool = False) -> Payload:
    """ "Nothing in the archive answers this", with the closest posts when there are some."""
    description = DECLINED_TEXT
    shown: list[str] = []
    if answer.closest:
        lines = [_closest_line(q) for q in answer.closest[:EMBEDS_MAX]]
        head = description + "\n\nThe closest posts, in case they help:"
        for line in lines:
            candidate = head + "\n" + "\n".join([*shown, line])
            if text_len(candidate) > DESCRIPTION_MAX:
                break
            shown.append(line)
        if shown:
            description = head + "\n" + "\n".join(shown)
    embed = {"title": DECLINED_TITLE, "description": description, "color": COLOR_DECLINED}
    if context := read_with(answer):
        embed["footer"] = {"text": context}
    post_ids = tuple(q.post_id for q in answer.closest[: len(shown)])
    return Payload(_content(answer, show_question), (embed,), post_ids)


def about_payload(
    posts: int,
    first: dt.date | None,
    last: dt.date | None,
    built_at: str = "",
    synced_at: str = "",
) -> Payload:
    """What /about shows: what the archive is, its size, how to read an answer."""
    span = f" from {first.isoformat()} to {last.isoformat()}" if first and last else ""
    built = f"\nIndex built {built_at}." if built_at else ""
    if synced_at:
        built += f"\nLast synced with the blog {synced_at}."
    description = (
        f"I answer questions about an archive of blog posts on human trafficking: "
        f"**{posts} posts**{span}.{built}\n\n"
        "**How to ask:** `/ask question: Who funds help for victims?` — narrow it with "
        "`since`/`until` (YYYY-MM-DD), `label`, or choose 1–5 `results`. "
        "You can also mention me with a question, or send me a direct message.\n\n"
        "**Follow-ups:** reply to my answer (or ask in a thread started from it) and I read "
        "your question with the earlier ones; the footer says so. To leave them out, use "
        "*Ask without context* or `/ask` with `fresh: True`.\n\n"
        "**How to read an answer:** every reply is quoted word for word from the archive; I "
        "never write my own text. Each quote shows its post's date and title; open the title "
        'to see the passage highlighted in the post. "…" marks where a quote skips text. '
        "When nothing in the archive fits, I say so and name the closest posts.\n\n"
        "Use 👍 / 👎 under an answer to tell the maintainers whether it helped."
    )
    embed = {"title": "About tipbot", "description": description, "color": COLOR_ANSWER}
    return Payload("", (embed,))


def notice_payload(text: str) -> Payload:
    """A short message of the bot's own (errors, cooldowns), as message content."""
    return Payload(clip(text, CONTENT_MAX, lambda t: t))


# ---- checking ---------------------------------------------------------------------------------


def check_limits(message: dict[str, Any]) -> list[str]:
    """Every way ``message`` (API shape: content, embeds) breaks Discord's limits; [] if none."""
    problems = []
    content = message.get("content") or ""
    if text_len(content) > CONTENT_MAX:
        problems.append(f"content is {text_len(content)} > {CONTENT_MAX}")
    embeds = message.get("embeds") or []
    if len(embeds) > EMBEDS_MAX:
        problems.append(f"{len(embeds)} embeds > {EMBEDS_MAX}")
    limits = (("title", TITLE_MAX), ("description", DESCRIPTION_MAX))
    for i, e in enumerate(embeds):
        for key, limit in limits:
            if text_len(e.get(key) or "") > limit:
                problems.append(f"embed {i} {key} is {text_len(e[key])} > {limit}")
        if text_len((e.get("footer") or {}).get("text", "")) > FOOTER_MAX:
            problems.append(f"embed {i} footer > {FOOTER_MAX}")
        if text_len((e.get("author") or {}).get("name", "")) > AUTHOR_MAX:
            problems.append(f"embed {i} author name > {AUTHOR_MAX}")
        for j, f in enumerate(e.get("fields") or ()):
            if text_len(f.get("name", "")) > FIELD_NAME_MAX:
                problems.append(f"embed {i} field {j} name > {FIELD_NAME_MAX}")
            if text_len(f.get("value", "")) > FIELD_VALUE_MAX:
                problems.append(f"embed {i} field {j} value > {FIELD_VALUE_MAX}")
        if "url" in e and http_url(e["url"]) is None:
            problems.append(f"embed {i} url is not an http(s) link: {e['url'][:80]!r}")
    total = sum(embed_len(e) for e in embeds)
    if total > TOTAL_MAX:
        problems.append(f"embeds total {total} > {TOTAL_MAX}")
    return problems


__all__ = [
    "NOTHING",
    "Payload",
    "about_payload",
    "answer_payload",
    "block_quote",
    "check_limits",
    "clip",
    "declined_payload",
    "escape_markdown",
    "fit_quote",
    "http_url",
    "notice_payload",
    "read_with",
    "text_len",
    "unescape_markdown",
    "unquote_block",
]

"""The archive's own text format: a Blogger label page saved as text.

    Showing posts with label Intergovernmental Organizations. Show all posts
    <blank>
    Tuesday, October 18, 2011
    <blank>
    New UN fund awards $300,000 to help rehabilitate victims of human trafficking
    <blank>
    body paragraphs, one a line …
    Read more

A post starts at a date line; the first non-blank line after it is the title. Some posts have
an empty title: their first line is an attribution ("From the OSCE:") followed by the headline,
so the headline becomes the title and stays in the body too.
"""

from __future__ import annotations

import datetime as dt
import re

from tipbot.textutil import clip_title, normalize_paragraphs, permalink, post_id
from tipbot.types import Post, ReadIssue

_DATE_LINE = re.compile(
    r"^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday),\s+"
    r"(January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+(\d{1,2}),\s+(\d{4})\s*$"
)
_LABEL_HEADER = re.compile(r"^Showing posts with label (.+?)\.\s*(?:Show all posts)?\s*$")
_ATTRIBUTION = re.compile(r"^(?:From|Via|Source:)\b.{0,80}:\s*$", re.IGNORECASE)
TITLE_MAX = 200
_MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        start=1,
    )
}


def sniff(text: str) -> bool:
    head = text[:20000].splitlines()
    return any(_DATE_LINE.match(line.strip()) for line in head) or any(
        _LABEL_HEADER.match(line.strip()) for line in head[:5]
    )


def _parse_date(m: re.Match[str]) -> dt.date | None:
    try:
        return dt.date(int(m.group(3)), _MONTHS[m.group(1)], int(m.group(2)))
    except ValueError:
        return None


def read(source: str, text: str, base_url: str) -> tuple[list[Post], list[ReadIssue]]:
    lines = text.splitlines()
    label = ""
    for line in lines[:5]:
        m = _LABEL_HEADER.match(line.strip())
        if m:
            label = m.group(1).strip()
            break

    # (line number, date) of every post start
    starts: list[tuple[int, dt.date | None]] = []
    issues: list[ReadIssue] = []
    for i, line in enumerate(lines):
        m = _DATE_LINE.match(line.strip())
        if m:
            date = _parse_date(m)
            if date is None:
                issues.append(ReadIssue(f"{source}:{i + 1}", f"impossible date {line.strip()!r}"))
            starts.append((i, date))

    posts: list[Post] = []
    for n, (start, date) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        body = lines[start + 1 : end]
        post = _make_post(body, date, label, base_url, f"{source}:{start + 1}")
        if post is None:
            issues.append(ReadIssue(f"{source}:{start + 1}", "post has no text, skipped"))
        else:
            posts.append(post)
    if not starts:
        issues.append(
            ReadIssue(source, "no dated posts found (expected 'Weekday, Month DD, YYYY')")
        )
    return posts, issues


def _make_post(
    body: list[str], date: dt.date | None, label: str, base_url: str, source: str
) -> Post | None:
    i = 0
    # Blank lines and lines of bare punctuation (":", "***") before the title are no title.
    while i < len(body) and not any(c.isalnum() for c in body[i]):
        i += 1
    if i == len(body):
        return None
    first = body[i].strip()
    # An attribution line or a whole paragraph where the title should be means the title is empty.
    title_is_missing = bool(_ATTRIBUTION.match(first)) or len(first) > TITLE_MAX
    if title_is_missing:
        # The title line is empty. Take the first line that reads as a headline (skipping an
        # attribution such as "From the OSCE:") and keep every line in the body.
        title = next(
            (ln.strip() for ln in body[i:] if ln.strip() and not _ATTRIBUTION.match(ln.strip())),
            first,
        )
        text_lines = body[i:]
    else:
        title = first
        text_lines = body[i + 1 :]
    text = normalize_paragraphs(text_lines)
    if not text:
        return None
    title = clip_title(title.rstrip(":"))
    return Post(
        id=post_id(date, title),
        title=title,
        date=date,
        url=permalink(base_url, date, title),
        labels=(label,) if label else (),
        text=text,
        source=source,
    )

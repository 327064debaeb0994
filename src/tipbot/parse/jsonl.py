"""JSON Lines: one post a line, as other tools and earlier exports write them.

    {"id": "…", "title": "…", "date": "2011-10-18", "url": "https://…", "labels": ["…"],
     "text": "<p>…</p> or plain text, one paragraph a line"}

"title" and "text" are required; "id", "date" (YYYY-MM-DD or a full ISO datetime), "url" and
"labels" (a list of strings, or one string) are optional. Other keys are ignored. A line that
cannot be used is reported by its line number and skipped; the other lines are still read.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from tipbot.textutil import clip_title, html_to_text, normalize_paragraphs, permalink, post_id
from tipbot.types import Post, ReadIssue

# A tag such as <p>, </div>, <br/> or <a href="…">; a bare "<" in prose ("x < y") is not one.
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].+)?")


class _Unusable(ValueError):
    """The line's problem, as it goes into the ReadIssue."""


def read(source: str, text: str, base_url: str) -> tuple[list[Post], list[ReadIssue]]:
    posts: list[Post] = []
    issues: list[ReadIssue] = []
    # Split on "\n" only: str.splitlines() also breaks at U+2028 and friends, which JSON allows
    # unescaped inside strings, and would put line numbers out of step with editors.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{source}:{lineno}"
        try:
            posts.append(_make_post(_load(line), base_url, where))
        except _Unusable as e:
            issues.append(ReadIssue(where, f"{e}, line skipped"))
    return posts, issues


def _load(line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise _Unusable(f"not valid JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:  # "[[[[…" nested past the interpreter's limit
        raise _Unusable("not valid JSON: nested too deeply") from None
    if not isinstance(record, dict):
        raise _Unusable(f"expected a JSON object, got {_kind(record)}")
    return record


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return "null" if value is None else names.get(type(value), "a number")


def _string(record: dict[str, Any], key: str, required: bool = False) -> str:
    value = record.get(key)
    if value is None:
        if required:
            raise _Unusable(f"missing required field {key!r}")
        return ""
    if not isinstance(value, str):
        raise _Unusable(f"{key!r} must be a string, got {_kind(value)}")
    return value.strip()


def _date(record: dict[str, Any]) -> dt.date | None:
    raw = _string(record, "date")
    if not raw:
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
    except ValueError:
        raise _Unusable(f"'date' must be YYYY-MM-DD or an ISO datetime, got {raw!r}") from None


def _labels(record: dict[str, Any]) -> tuple[str, ...]:
    value = record.get("labels")
    if value is None:
        return ()
    if isinstance(value, str):  # a single label written without the list
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Unusable("'labels' must be a list of strings")
    # Order kept, blanks and repeats dropped.
    return tuple(dict.fromkeys(v.strip() for v in value if v.strip()))


def _make_post(record: dict[str, Any], base_url: str, source: str) -> Post:
    title = clip_title(_string(record, "title", required=True))
    raw_text = _string(record, "text", required=True)
    if not title:
        raise _Unusable("'title' is empty")
    date = _date(record)
    if _HTML_TAG.search(raw_text):
        text = html_to_text(raw_text)
    else:
        # Plain text keeps the archive's convention: every line is a paragraph.
        text = normalize_paragraphs(raw_text.split("\n"))
    if not text:
        raise _Unusable("'text' has nothing left after cleaning")
    raw_id = record.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        given_id = str(raw_id)  # numeric ids (WordPress, databases) are fine as text
    else:
        given_id = _string(record, "id")
    return Post(
        id=given_id or post_id(date, title),
        title=title,
        date=date,
        url=_string(record, "url") or permalink(base_url, date, title),
        labels=_labels(record),
        text=text,
        source=source,
    )

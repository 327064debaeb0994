"""What every source kind hands back: the posts it read (``Entry``) and what its listing
says about the rest (``Listing``). The store turns entries into lines of the archive's JSONL.

    listing = blogger.pull(fetcher, site, previous)
    listing.entries      # posts read in full this time
    listing.present      # every post the source lists now (new, changed or not)
    listing.complete     # True only when that list is the whole blog: removals are safe
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tipbot.textutil import clip_title, html_to_lines


@dataclass(frozen=True, slots=True)
class Site:
    """Where and what to pull: the source's own URL, and the filters of this pull."""

    url: str  # the blog's address, or the feed's or API's own
    label: str = ""  # one label (category) only
    since: dt.date | None = None  # posts published on or after this date only


@dataclass(frozen=True, slots=True)
class Entry:
    """One post as a source gives it; ``key`` is the source's own id for it."""

    key: str
    title: str
    url: str
    published: str  # ISO 8601 as the blog writes it (its own time zone: the permalink's date)
    updated: str  # the source's "last changed" stamp, compared as given
    labels: tuple[str, ...]
    html: str  # the post's body, HTML or plain text
    summary_only: bool = False  # the source gave a summary, not the whole post

    def record(self) -> dict[str, Any]:
        """The JSONL line (tipbot.parse.jsonl): its fields, plus what the next pull needs."""
        record: dict[str, Any] = {"title": self.title, "date": self.published, "url": self.url}
        record |= {"labels": list(self.labels), "text": self.html}
        record |= {"source_id": self.key, "updated": self.updated}
        if self.summary_only:
            record["summary_only"] = True
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Entry:
        return cls(
            key=str(record["source_id"]),
            title=str(record.get("title", "")),
            url=str(record.get("url", "")),
            published=str(record.get("date", "")),
            updated=str(record.get("updated", "")),
            labels=tuple(record.get("labels") or ()),
            html=str(record.get("text", "")),
            summary_only=bool(record.get("summary_only", False)),
        )


@dataclass(frozen=True)
class Listing:
    entries: tuple[Entry, ...]  # read in full this time
    # Keys of every post the source lists now, those read in full included.
    present: frozenset[str]
    # ``present`` is every post of the blog (within the pull's label and since): a post it
    # lacks was deleted. A feed of only the latest posts is not complete.
    complete: bool
    not_modified: bool = False  # a conditional request answered 304: nothing changed
    # What the next pull sends back (ETag, Last-Modified) and where it found the posts.
    state: dict[str, Any] = field(default_factory=dict)
    requests_saved: int = 0  # for reports only


def clean_title(raw: str, is_html: bool, body: str = "") -> str:
    """A title as one line of text; an empty one becomes the post's first line (Blogger
    allows posts without a title, the archive's readers do not)."""
    # html_to_lines decodes entities itself ("Tom &amp; Jerry" → "Tom & Jerry").
    title = clip_title(" ".join(html_to_lines(raw)) if is_html else raw)
    if title:
        return title
    first = next((line for line in html_to_lines(body) if line.strip()), "")
    return clip_title(first, 100)


def iso_date(value: str) -> str:
    """A feed's date as ISO 8601 in the blog's own time zone; '' when it cannot be read.

    Atom and JSON APIs already write ISO 8601; RSS writes RFC 822 ("Tue, 18 Oct 2011 09:12:00
    -0700"). Moving either to UTC would change the day of late-evening posts.
    """
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError, IndexError):
        return ""


def published_since(published: str, since: dt.date | None) -> bool:
    if since is None:
        return True
    day = re.match(r"\d{4}-\d{2}-\d{2}", published)
    return day is not None and dt.date.fromisoformat(day.group()) >= since

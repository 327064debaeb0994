"""Any RSS or Atom feed, read with feedparser: the fallback for blogs that are neither
Blogger nor WordPress, and for a feed URL given as is.

The first page is asked for conditionally (``If-None-Match`` / ``If-Modified-Since`` from the
last pull): a 304 means nothing changed, for the price of one small answer. Paged feeds
(RFC 5005 ``rel="next"`` links, as Blogger's Atom feed has) are followed to the end. Most
feeds hold only the latest posts, so a feed listing is complete, and a post missing from it
removed, only when the feed says it is whole: an RFC 5005 ``<fh:complete/>``, or as many
entries as its ``openSearch:totalResults``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import feedparser

from tipbot.errors import SourceError
from tipbot.sources.entry import Entry, Listing, Site, clean_title, iso_date, published_since
from tipbot.sources.http import Fetcher, Response

MAX_PAGES = 1000  # a next link that never ends must not page forever
_HARMLESS = (feedparser.CharacterEncodingOverride,)  # declared one charset, was another


def looks_like_feed(response: Response) -> bool:
    head = response.body.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    kind = response.content_type
    return (
        kind.endswith(("rss+xml", "atom+xml", "rdf+xml"))
        or head.startswith((b"<rss", b"<feed", b"<rdf"))
        or (head.startswith(b"<?xml") and any(t in head for t in (b"<rss", b"<feed", b"<rdf")))
    )


def pull(
    fetcher: Fetcher, site: Site, previous: Mapping[str, Entry], state: Mapping[str, Any]
) -> Listing:
    url = site.url
    conditional = {}
    if previous and state.get("etag"):
        conditional["If-None-Match"] = state["etag"]
    if previous and state.get("last_modified"):
        conditional["If-Modified-Since"] = state["last_modified"]
    first = fetcher.get(url, conditional)
    if first.status == 304:
        return Listing((), frozenset(previous), False, not_modified=True, state=dict(state))
    keep = {"etag": first.header("etag"), "last_modified": first.header("last-modified")}
    entries: dict[str, Entry] = {}
    seen, response, complete = {url}, first, False
    while True:
        parsed = _parse(response, url)
        for e in parsed.entries:
            entry = _entry(e, url)
            wanted = not site.label or site.label.casefold() in map(str.casefold, entry.labels)
            if wanted and published_since(entry.published, site.since):
                entries.setdefault(entry.key, entry)
        total = _int(parsed.feed.get("opensearch_totalresults"))
        complete = "fh_complete" in parsed.feed or (total is not None and total == len(entries))
        link = next(
            (k.get("href", "") for k in parsed.feed.get("links", []) if k.get("rel") == "next"), ""
        )
        if not link or link in seen or len(seen) >= MAX_PAGES:
            break
        seen.add(link)
        url = link
        response = fetcher.get(url)
    return Listing(tuple(entries.values()), frozenset(entries), complete, state=keep)


def _parse(response: Response, url: str) -> feedparser.FeedParserDict:
    if not looks_like_feed(response):
        what = "an HTML page" if b"<html" in response.body[:2048].lower() else "something else"
        raise SourceError(url, f"answered {what}, not an RSS or Atom feed")
    parsed = feedparser.parse(response.body, response_headers=dict(response.headers))
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(problem, _HARMLESS):
        # A feed cut short still yields the entries before the cut: never take half a feed.
        raise SourceError(url, f"not a well-formed feed ({problem})")
    if not parsed.get("version"):
        raise SourceError(url, "not an RSS or Atom feed feedparser recognises")
    return parsed


def _int(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _entry(e: feedparser.FeedParserDict, url: str) -> Entry:
    content = next((c for c in e.get("content", []) if c.get("value")), None)
    body_field = content or e.get("summary_detail") or {}
    body = str(body_field.get("value", ""))
    is_html = "html" in str(body_field.get("type", "text/html"))
    # dict.get: feedparser's own get() maps a missing "updated" to "published", with a warning.
    updated = dict.get(e, "updated") or ""
    published = iso_date(dict.get(e, "published") or updated)
    if not published:
        raise SourceError(url, f"entry {e.get('id') or e.get('title')!r} has no readable date")
    link = str(e.get("link") or "")
    # Feeds without ids are keyed by link, else by date and title: stable across pulls.
    key = (
        str(e.get("id") or link)
        or hashlib.sha256(f"{published}\x00{e.get('title', '')}".encode()).hexdigest()[:16]
    )
    title = e.get("title_detail") or {}
    return Entry(
        key=key,
        title=clean_title(str(title.get("value", "")), "html" in str(title.get("type", "")), body),
        url=link,
        published=published,
        updated=str(updated or dict.get(e, "published") or ""),
        labels=tuple(
            dict.fromkeys(
                str(t.get("term", "")).strip() for t in e.get("tags", []) if t.get("term")
            )
        ),
        html=body if is_html else body.replace("\r\n", "\n"),
        summary_only=content is None,
    )

"""Blogger (``*.blogspot.com`` and custom domains) through its public JSON feed.

    https://BLOG/feeds/posts/default?alt=json&max-results=150&start-index=1   posts, whole
    https://BLOG/feeds/posts/default/-/LABEL?alt=json                          one label
    https://BLOG/feeds/posts/summary?alt=json                                  posts, shortened

A first pull pages through the whole posts feed, following its ``next`` links. A later one
lists the blog through the summary feed (ids and update stamps, far smaller than whole posts),
then reads in full only what is new or changed (``updated-min`` with ``orderby=updated``,
then single posts for any the query missed). The listing is complete when it holds as many
posts as the feed's ``openSearch$totalResults``; only then are posts it lacks removed.

The JSON feed carries the same entries as the Atom one (``alt=json``), without XML to walk.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from tipbot.errors import SourceError
from tipbot.sources.entry import Entry, Listing, Site, clean_title, iso_date
from tipbot.sources.http import Fetcher, Response

PAGE = 150  # posts per page of the whole feed: Blogger's own pages hold at most about this
LIST_PAGE = 500  # entries per page of the summary listing
LABEL_SCHEME = "http://www.blogger.com/atom/ns#"
_POST_ID = re.compile(r"\.post-(\d+)$")


def is_blogger(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    # /search/label/NAME is Blogger's own URL scheme for a label's page.
    return host.endswith(".blogspot.com") or any(
        marker in parts.path for marker in ("/feeds/posts/", "/search/label/")
    )


def blog_and_label(url: str) -> tuple[str, str]:
    """The blog's base URL and the label the URL names, if any.

    >>> blog_and_label("https://x.blogspot.com/search/label/Human%20Rights?m=1")
    ('https://x.blogspot.com', 'Human Rights')
    """
    parts = urllib.parse.urlsplit(url)
    path = parts.path
    label = ""
    for marker in ("/feeds/posts/", "/feeds/", "/search/label/"):
        if marker in path:
            path, _, rest = path.partition(marker)
            if marker == "/search/label/":
                label = urllib.parse.unquote(rest.strip("/"))
            elif "/-/" in rest:
                label = urllib.parse.unquote(rest.split("/-/", 1)[1].strip("/"))
            break
    path = re.sub(r"/(?:index\.html?)?$", "", path)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", "")), label


def feed_url(base: str, kind: str, label: str, **params: object) -> str:
    path = f"{base}/feeds/posts/{kind}"
    if label:
        path += "/-/" + urllib.parse.quote(label, safe="")
    query = {"alt": "json", **{k.replace("_", "-"): v for k, v in params.items() if v}}
    return f"{path}?{urllib.parse.urlencode(query)}"


def pull(
    fetcher: Fetcher, site: Site, previous: Mapping[str, Entry], state: Mapping[str, Any]
) -> Listing:
    """Read the blog: everything on a first pull, only what changed on a later one."""
    base, url_label = blog_and_label(site.url)
    label = site.label or url_label
    since = f"{site.since.isoformat()}T00:00:00" if site.since else ""
    if not previous:
        entries: list[Entry] = []
        total = None
        url = feed_url(base, "default", label, max_results=PAGE, published_min=since)
        for feed, page_total in _pages(fetcher, url):
            entries.extend(_entry(e, url) for e in feed.get("entry", []))
            total = page_total
        present = frozenset(e.key for e in entries)
        return Listing(tuple(entries), present, _complete(len(present), total))

    url = feed_url(base, "summary", label, max_results=LIST_PAGE, published_min=since)
    listed: dict[str, str] = {}
    total = None
    for feed, page_total in _pages(fetcher, url):
        for e in feed.get("entry", []):
            listed[_key(e, url)] = _text(e.get("updated"))
        total = page_total
    needed = {k for k, stamp in listed.items() if k not in previous or previous[k].updated != stamp}
    found: dict[str, Entry] = {}
    if needed:
        oldest = min(listed[k] for k in needed)
        url = feed_url(
            base, "default", label, orderby="updated", updated_min=oldest, max_results=PAGE
        )
        for feed, _ in _pages(fetcher, url):
            for e in feed.get("entry", []):
                entry = _entry(e, url)
                if entry.key in listed:
                    found[entry.key] = entry
        # updated-min compares stamps on Blogger's side; a post it did not return is read alone.
        for key in sorted(needed - found.keys()):
            found[key] = _single(fetcher, base, key)
    return Listing(tuple(found.values()), frozenset(listed), _complete(len(listed), total))


def _complete(count: int, total: int | None) -> bool:
    return total is not None and count == total


def _pages(fetcher: Fetcher, url: str) -> Iterator[tuple[dict[str, Any], int | None]]:
    """Each page of a feed with the feed's total, following ``next`` links to the end."""
    seen = {url}
    limit = None
    while True:
        feed = _load(fetcher.get(url), url).get("feed")
        if not isinstance(feed, dict):
            raise SourceError(url, "a Blogger JSON feed without its 'feed' object")
        total = _total(feed)
        yield feed, total
        if total is not None and limit is None:
            # A next link that never ends (a server's bug) must not page forever.
            limit = math.ceil(total / max(1, len(feed.get("entry", [])) or 1)) + 2
        link = next((k.get("href") for k in _list(feed.get("link")) if k.get("rel") == "next"), "")
        if not link or link in seen or (limit is not None and len(seen) >= limit):
            return
        seen.add(link)
        url = link


def _single(fetcher: Fetcher, base: str, key: str) -> Entry:
    match = _POST_ID.search(key)
    if not match:
        raise SourceError(base, f"entry id {key!r} does not end in a post number")
    url = f"{base}/feeds/posts/default/{match.group(1)}?alt=json"
    data = _load(fetcher.get(url), url)
    if not isinstance(data.get("entry"), dict):
        raise SourceError(url, "a Blogger JSON post without its 'entry' object")
    return _entry(data["entry"], url)


def _load(response: Response, url: str) -> dict[str, Any]:
    data = response.json(url, "Blogger's JSON feed")
    if not isinstance(data, dict):
        raise SourceError(url, "not Blogger's JSON feed: expected an object")
    return data


def _list(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _text(value: object) -> str:
    return str(value.get("$t", "")) if isinstance(value, dict) else ""


def _total(feed: dict[str, Any]) -> int | None:
    raw = _text(feed.get("openSearch$totalResults")).strip()
    return int(raw) if raw.isdigit() else None


def _key(e: dict[str, Any], url: str) -> str:
    key = _text(e.get("id")).strip()
    if not key:
        raise SourceError(url, "an entry without an id")
    return key


def _entry(e: dict[str, Any], url: str) -> Entry:
    if not isinstance(e, dict):
        raise SourceError(url, "an entry that is not an object")
    key = _key(e, url)
    content, summary = e.get("content"), e.get("summary")
    body_field = content if isinstance(content, dict) else summary
    body = _text(body_field)
    is_html = isinstance(body_field, dict) and body_field.get("type", "text") != "text"
    title = e.get("title")
    links = _list(e.get("link"))
    published = iso_date(_text(e.get("published")))
    if not published:
        raise SourceError(url, f"entry {key} has no readable 'published' date")
    return Entry(
        key=key,
        title=clean_title(
            _text(title), isinstance(title, dict) and title.get("type") == "html", body
        ),
        url=next((k.get("href", "") for k in links if k.get("rel") == "alternate"), ""),
        published=published,
        updated=_text(e.get("updated")) or published,
        labels=tuple(
            dict.fromkeys(
                c["term"].strip()
                for c in _list(e.get("category"))
                if c.get("scheme", LABEL_SCHEME) == LABEL_SCHEME and str(c.get("term", "")).strip()
            )
        ),
        html=body if is_html else body.replace("\r\n", "\n"),
        summary_only=not isinstance(content, dict),
    )

"""``--format auto``: which kind of source a URL is, from the URL or from one page.

    detect(fetcher, "https://x.blogspot.com")          → ("blogger", "https://x.blogspot.com")
    detect(fetcher, "https://example.org")             → ("wordpress", "https://example.org/wp-json/")
    detect(fetcher, "https://example.org/feed.xml")    → ("feed", "https://example.org/feed.xml")

A URL that says what it is (``*.blogspot.com``, ``/feeds/posts/``, ``/wp-json``) costs no
request. Otherwise the page is read once: a feed is read as one; a blog's home page names its
platform (Blogger's generator tag and feed links, WordPress's ``rel="https://api.w.org/"``
link) or at least its RSS/Atom feed.
"""

from __future__ import annotations

import re
import urllib.parse
from html.parser import HTMLParser

from tipbot.errors import SourceError
from tipbot.sources import blogger, wordpress
from tipbot.sources.feed import looks_like_feed
from tipbot.sources.http import Fetcher

_WP_REL = "https://api.w.org/"
_FEED_TYPES = ("application/rss+xml", "application/atom+xml")


class _Head(HTMLParser):
    """The <link> and <meta> tags of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str]] = []
        self.generator = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "link":
            self.links.append(a)
        elif tag == "meta" and a.get("name", "").lower() == "generator":
            self.generator = a.get("content", "")


def detect(fetcher: Fetcher, url: str) -> tuple[str, str]:
    """(format, where to read it): the URL itself, a feed's URL or the REST API's root."""
    if blogger.is_blogger(url):
        return "blogger", url
    if wordpress.is_wordpress(url):
        return "wordpress", wordpress.api_root(url)
    page = fetcher.get(url)
    if looks_like_feed(page):
        return "feed", url
    head = _Head()
    head.feed(page.text()[:500_000])  # the head is at the top; a huge page is not read whole
    where = page.url
    api = next((k["href"] for k in head.links if k.get("rel") == _WP_REL and k.get("href")), "")
    header = re.search(r'<([^>]+)>\s*;\s*rel="?https://api\.w\.org/"?', page.header("link"))
    if api:
        return "wordpress", urllib.parse.urljoin(where, api)
    if header:
        return "wordpress", urllib.parse.urljoin(where, header.group(1))
    feeds = [
        urllib.parse.urljoin(where, k["href"])
        for k in head.links
        if "alternate" in k.get("rel", "").split()
        and k.get("type") in _FEED_TYPES
        and k.get("href")
    ]
    if head.generator.lower().startswith("blogger") or any("/feeds/posts/" in f for f in feeds):
        return "blogger", where
    if feeds:
        return "feed", feeds[0]
    raise SourceError(
        url,
        "found no feed: the page is neither Blogger nor WordPress and links no RSS or Atom "
        "feed; pass the feed's own URL, or --format",
    )

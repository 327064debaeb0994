"""WordPress through its REST API (``/wp-json/wp/v2/posts``).

    https://SITE/wp-json/wp/v2/posts?per_page=100&page=1&_embed=wp:term   posts, with labels
    https://SITE/wp-json/wp/v2/posts?_fields=id,modified_gmt              the listing only
    https://SITE/wp-json/wp/v2/posts?include=12,57&_embed=wp:term         chosen posts

A first pull pages through every post (``X-WP-TotalPages``). A later one reads the listing,
ids and modification times only, and then in full only the posts that are new or whose
``modified_gmt`` moved, a hundred at a time. The listing is complete when it holds
``X-WP-Total`` posts. Categories and tags become labels; ``--label`` names one of either.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from tipbot.errors import SourceError
from tipbot.sources.entry import Entry, Listing, Site, clean_title, iso_date
from tipbot.sources.http import Fetcher, Response

PAGE = 100  # WordPress's own maximum for per_page
EMBED = "wp:term"  # category and tag names in the same answer as the posts


def is_wordpress(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return "/wp-json" in parts.path or "rest_route=" in parts.query


def api_root(url: str) -> str:
    """The REST root (``…/wp-json/`` or ``…/?rest_route=/``) that ``url`` is in or under."""
    parts = urllib.parse.urlsplit(url)
    if "rest_route=" in parts.query:
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "rest_route=/", ""))
    path = parts.path.split("/wp-json", 1)[0].rstrip("/") + "/wp-json/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def endpoint(root: str, route: str, **params: object) -> str:
    """``route`` ("wp/v2/posts") under ``root``, pretty or ``?rest_route=`` style."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
    if "rest_route=" in root:
        head = root.split("rest_route=", 1)[0]
        route_q = urllib.parse.urlencode({"rest_route": "/" + route})
        return f"{head}{route_q}" + (f"&{query}" if query else "")
    return f"{root.rstrip('/')}/{route}" + (f"?{query}" if query else "")


def pull(
    fetcher: Fetcher, site: Site, previous: Mapping[str, Entry], state: Mapping[str, Any]
) -> Listing:
    root = state.get("api_root") or api_root(site.url)
    filters: dict[str, str | int] = {
        "after": f"{site.since.isoformat()}T00:00:00" if site.since else ""
    }
    if site.label:
        filters |= _label_filter(fetcher, root, site.label)
    keep = {"api_root": root}
    if not previous:
        entries: list[Entry] = []
        seen: set[str] = set()
        total: int | None = None
        url = endpoint(root, "wp/v2/posts", per_page=PAGE, _embed=EMBED, **filters)
        for posts, page_total in _pages(fetcher, url):
            total = page_total
            seen.update(str(_id(p, url)) for p in posts)
            entries.extend(e for e in (_entry(p, url) for p in posts) if e is not None)
        return Listing(tuple(entries), frozenset(seen), total == len(seen), state=keep)

    listed: dict[str, str] = {}
    total = None
    url = endpoint(root, "wp/v2/posts", per_page=PAGE, _fields="id,modified_gmt", **filters)
    for posts, page_total in _pages(fetcher, url):
        total = page_total
        for p in posts:
            listed[str(_id(p, url))] = str(p.get("modified_gmt", ""))
    needed = sorted(
        k for k, stamp in listed.items() if k not in previous or previous[k].updated != stamp
    )
    found: list[Entry] = []
    for i in range(0, len(needed), PAGE):
        ids = ",".join(needed[i : i + PAGE])
        url = endpoint(root, "wp/v2/posts", include=ids, per_page=PAGE, _embed=EMBED)
        for posts, _ in _pages(fetcher, url):
            found.extend(e for e in (_entry(p, url) for p in posts) if e is not None)
    return Listing(tuple(found), frozenset(listed), total == len(listed), state=keep)


def _label_filter(fetcher: Fetcher, root: str, label: str) -> dict[str, int]:
    """``categories=ID`` or ``tags=ID`` for the category or tag named ``label``."""
    wanted = label.strip().casefold()
    for taxonomy, param in (("categories", "categories"), ("tags", "tags")):
        url = endpoint(root, f"wp/v2/{taxonomy}", search=label, per_page=PAGE)
        terms = _load(fetcher.get(url), url)
        for t in terms if isinstance(terms, list) else []:
            names = {clean_title(str(t.get("name", "")), True).casefold(), str(t.get("slug", ""))}
            if wanted in names and isinstance(t.get("id"), int):
                return {param: t["id"]}
    raise SourceError(root, f"has no category or tag named {label!r}: check the label's spelling")


def _pages(fetcher: Fetcher, url: str) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
    """Each page of a listing and its ``X-WP-Total``, up to ``X-WP-TotalPages``."""
    page = 1
    while True:
        paged = f"{url}&page={page}" if page > 1 else url
        response = fetcher.get(paged)
        posts = _load(response, paged)
        if not isinstance(posts, list):
            raise SourceError(paged, "expected a list of posts from the WordPress API")
        total = _int(response.header("x-wp-total"))
        pages = _int(response.header("x-wp-totalpages"))
        yield [p for p in posts if isinstance(p, dict)], total
        if pages is None or page >= pages or not posts:
            return
        page += 1


def _int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


def _load(response: Response, url: str) -> object:
    return response.json(url, "the WordPress REST API's JSON")


def _id(post: dict[str, Any], url: str) -> int:
    value = post.get("id")
    if not isinstance(value, int) or isinstance(value, bool):
        raise SourceError(url, f"a post without a numeric id ({value!r})")
    return value


def _rendered(post: dict[str, Any], key: str) -> str:
    value = post.get(key)
    return str(value.get("rendered", "")) if isinstance(value, dict) else ""


def _entry(post: dict[str, Any], url: str) -> Entry | None:
    """The post, or None for a password-protected one (its content is not public)."""
    key = str(_id(post, url))
    content = post.get("content")
    if isinstance(content, dict) and content.get("protected"):
        return None
    body = _rendered(post, "content")
    published = iso_date(str(post.get("date") or post.get("date_gmt") or ""))
    if not published:
        raise SourceError(url, f"post {key} has no readable 'date'")
    terms = (post.get("_embedded") or {}).get("wp:term") or []
    labels = (
        clean_title(str(t.get("name", "")), True)
        for group in terms
        if isinstance(group, list)
        for t in group
        if isinstance(t, dict)
    )
    return Entry(
        key=key,
        title=clean_title(_rendered(post, "title"), True, body),
        url=str(post.get("link") or ""),
        published=published,
        updated=str(post.get("modified_gmt") or post.get("modified") or published),
        labels=tuple(dict.fromkeys(lb for lb in labels if lb)),
        html=body,
    )

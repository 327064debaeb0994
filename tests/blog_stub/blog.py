"""The stand-in blog's posts, and each shape a blog serves them in: Blogger's Atom and JSON
feeds (paged, filtered), WordPress's REST API, a plain RSS feed, and each post's own page.

The shapes follow what Blogger and WordPress serve (field names, nesting, escaping, dates in
the blog's time zone, ``next`` links, ``openSearch`` totals, ``X-WP-Total`` headers); they are
written here from those formats' documentation, not from tipbot's readers, so the readers
are checked against the formats and not against themselves.
"""

from __future__ import annotations

import datetime as dt
import html
import random
import re
import threading
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from email.utils import format_datetime
from pathlib import Path

TZ = dt.timezone(dt.timedelta(hours=-7))  # the blog's own zone, as Blogger writes its dates
BLOG_ID = "7777000111"
ATOM_NS = "http://www.w3.org/2005/Atom"
LABEL_SCHEME = "http://www.blogger.com/atom/ns#"
ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "corpus" / "intergovernmental-organizations.txt"


@dataclass(frozen=True)
class StubPost:
    id: int
    title: str
    published: dt.datetime
    updated: dt.datetime
    labels: tuple[str, ...]
    html: str  # the body as the blog stores it
    paragraphs: tuple[str, ...] = ()  # the text it was written from, for the tests

    @property
    def slug(self) -> str:
        ascii_title = unicodedata.normalize("NFKD", self.title).encode("ascii", "ignore").decode()
        words = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
        cut = words[:40].rsplit("-", 1)[0] if len(words) > 40 else words
        return cut or "post"

    def path(self) -> str:
        return f"/{self.published:%Y/%m}/{self.slug}.html"


def stamp(t: dt.datetime) -> str:
    """Blogger's time stamps: milliseconds and the blog's offset."""
    return t.astimezone(TZ).isoformat(timespec="milliseconds")


# ---- the posts --------------------------------------------------------------------------------


def _inline(text: str, rng: random.Random) -> str:
    """Text as a blog's editor writes it: entities, the odd non-breaking space, bold names."""
    out = html.escape(text, quote=False)
    out = out.replace("’", "&#8217;") if rng.random() < 0.5 else out
    out = out.replace('"', "&quot;")
    out = re.sub(r"\. (?=[A-Z])", lambda m: ".&nbsp; " if rng.random() < 0.3 else m.group(), out)
    out = re.sub(
        r"\b(UNODC|IOM|OSCE|ILO|UNICEF)\b",
        lambda m: {
            0: f"<b>{m.group()}</b>",
            1: f'<a href="https://example.org/{m.group().lower()}">{m.group()}</a>',
        }.get(rng.randrange(3), m.group()),
        out,
        count=2,
    )
    return out


def render_body(paragraphs: list[str], style: int, rng: random.Random) -> str:
    """Paragraphs as Blogger's editors have stored them over the years: <p>s, <br /> runs,
    <div>s; some paragraphs broken by a <br /> mid-sentence (pasted text)."""
    parts = []
    for para in paragraphs:
        body = _inline(para, rng)
        if style == 1 and len(para) > 160 and rng.random() < 0.4:
            # A line break where a pasted paragraph wrapped: before a lower-case word.
            words = body.split(" ")
            for i in range(len(words) // 2, len(words) - 1):
                if words[i + 1][:1].islower() and not words[i].endswith((".", "?", "!")):
                    body = " ".join(words[: i + 1]) + "<br />\n" + " ".join(words[i + 1 :])
                    break
        parts.append(body)
    if style == 0:
        return "".join(f"<p>{p}</p>\n" for p in parts)
    if style == 1:
        return "<br />\n<br />\n".join(parts)
    return "".join(f"<div>{p}</div>\n<div><br /></div>\n" for p in parts)


def _seed_posts() -> list[tuple[str, dt.date, tuple[str, ...], list[str]]]:
    """The seed archive's posts: (title, date, labels, paragraphs)."""
    from tipbot.parse import read_file

    posts, _ = read_file(SEED, "https://unused.example")
    return [(p.title, p.date, p.labels, p.text.split("\n\n")) for p in posts]


_ORGS = [
    "the Red Cross",
    "a women's shelter network",
    "the labour inspectorate",
    "a port authority",
    "a farmworkers' union",
    "a hotel association",
    "a children's charity",
    "the coast guard",
]
_PLACES = ["Moldova", "Nepal", "Ghana", "Peru", "Laos", "Albania", "Kenya", "Chile", "Fiji"]
_THINGS = [
    "hotline operators",
    "border guards",
    "bus drivers",
    "nurses",
    "teachers",
    "judges",
    "fishing crews",
    "flight attendants",
]
_LABELS = ["Field Reports", "Training", "Shelters", "Funding"]


def _filler(i: int, rng: random.Random) -> tuple[str, list[str], tuple[str, ...]]:
    org, place = _ORGS[i % len(_ORGS)], _PLACES[i % len(_PLACES)]
    thing, n = _THINGS[i % len(_THINGS)], 20 + 7 * i
    title = f"{place}: {org} trains {n} {thing} (report {i})"
    paragraphs = [
        f"In a programme that ran for {3 + i % 9} weeks, {org} in {place} trained {n} {thing} "
        f"to recognise the signs of trafficking, the organisers said on report day {i}.",
        f"“We saw {2 + i % 5} cases referred within a month,” a coordinator said; the "
        f"trainers now plan a second round in {2012 + i % 6}, funded by local donors & "
        "businesses.",
        f"Participants received a {10 + i % 20}-page guide and the number of the national hotline.",
    ]
    return title, paragraphs, (_LABELS[i % len(_LABELS)],)


def make_posts(filler: int = 45, seed: bool = True) -> list[StubPost]:
    """The seed archive's posts and ``filler`` made-up ones, oldest first."""
    rng = random.Random(16)
    made: list[tuple[str, dt.datetime, tuple[str, ...], list[str]]] = []
    if seed:
        for k, (title, date, labels, paras) in enumerate(_seed_posts()):
            when = dt.datetime(date.year, date.month, date.day, 9 + k % 10, 12, tzinfo=TZ)
            made.append((title, when, labels, paras))
    start = dt.datetime(2012, 1, 3, 8, 30, tzinfo=TZ)
    for i in range(filler):
        title, paras, labels = _filler(i, rng)
        made.append((title, start + dt.timedelta(days=9 * i, hours=i % 13), labels, paras))
    made.sort(key=lambda m: m[1])
    posts = []
    for k, (title, when, labels, paras) in enumerate(made):
        body = render_body(paras, k % 3, rng)
        edited = when + dt.timedelta(hours=2 + k % 5)
        posts.append(
            StubPost(5_000_000 + k * 7919, title, when, edited, labels, body, tuple(paras))
        )
    return posts


class Blog:
    """The posts, changed by tests while the server runs (guarded by a lock)."""

    def __init__(self, posts: list[StubPost], title: str = "Stand-in Blog") -> None:
        self.posts = list(posts)
        self.title = title
        self.lock = threading.Lock()
        self.clock = dt.datetime(2024, 6, 1, 12, 0, tzinfo=TZ)
        self.summaries_only = False

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=5)
        return self.clock

    def snapshot(self) -> list[StubPost]:
        with self.lock:
            return list(self.posts)

    def by_id(self, post_id: int) -> StubPost:
        return next(p for p in self.snapshot() if p.id == post_id)

    def add(self, title: str, paragraphs: list[str], labels: tuple[str, ...] = ()) -> StubPost:
        with self.lock:
            when = self.tick()
            post = StubPost(
                max(p.id for p in self.posts) + 13,
                title,
                when,
                when,
                labels,
                render_body(paragraphs, 0, random.Random(1)),
                tuple(paragraphs),
            )
            self.posts.append(post)
            return post

    def change(self, post_id: int, paragraphs: list[str]) -> StubPost:
        with self.lock:
            i = next(i for i, p in enumerate(self.posts) if p.id == post_id)
            post = replace(
                self.posts[i],
                html=render_body(paragraphs, 0, random.Random(2)),
                paragraphs=tuple(paragraphs),
                updated=self.tick(),
            )
            self.posts[i] = post
            return post

    def delete(self, post_id: int) -> None:
        with self.lock:
            self.posts = [p for p in self.posts if p.id != post_id]


# ---- Blogger feeds ----------------------------------------------------------------------------


@dataclass
class Query:
    """A Blogger feed request: which posts, which page."""

    kind: str = "default"  # default | summary
    label: str = ""
    post_id: int | None = None
    alt: str = "atom"
    start: int = 1
    max_results: int = 25
    orderby: str = "published"
    published_min: dt.datetime | None = None
    updated_min: dt.datetime | None = None
    extra: dict = field(default_factory=dict)


def select(blog: Blog, q: Query) -> list[StubPost]:
    posts = blog.snapshot()
    if q.label:
        posts = [p for p in posts if q.label in p.labels]
    if q.published_min:
        posts = [p for p in posts if p.published >= q.published_min]
    if q.updated_min:
        posts = [p for p in posts if p.updated >= q.updated_min]
    key = (lambda p: p.updated) if q.orderby == "updated" else (lambda p: p.published)
    return sorted(posts, key=key, reverse=True)


def _summary(post: StubPost) -> str:
    text = " ".join(post.paragraphs)
    return text[:300]


def blogger_json_entry(base: str, post: StubPost, kind: str, summaries_only: bool) -> dict:
    entry = {
        "id": {"$t": f"tag:blogger.com,1999:blog-{BLOG_ID}.post-{post.id}"},
        "published": {"$t": stamp(post.published)},
        "updated": {"$t": stamp(post.updated)},
        "category": [{"scheme": LABEL_SCHEME, "term": lb} for lb in post.labels],
        "title": {"type": "text", "$t": post.title},
    }
    if kind == "summary" or summaries_only:
        entry["summary"] = {"type": "text", "$t": _summary(post)}
    else:
        entry["content"] = {"type": "html", "$t": post.html}
    feed = f"{base}/feeds/{BLOG_ID}/posts/default/{post.id}"
    entry["link"] = [
        {
            "rel": "replies",
            "type": "application/atom+xml",
            "href": f"{base}/feeds/{post.id}/comments/default",
            "title": "Post Comments",
        },
        {
            "rel": "replies",
            "type": "text/html",
            "href": f"{base}{post.path()}#comment-form",
            "title": "0 Comments",
        },
        {"rel": "edit", "type": "application/atom+xml", "href": feed},
        {"rel": "self", "type": "application/atom+xml", "href": feed},
        {
            "rel": "alternate",
            "type": "text/html",
            "href": f"{base}{post.path()}",
            "title": post.title,
        },
    ]
    entry["author"] = [{"name": {"$t": "Editor"}, "email": {"$t": "noreply@blogger.com"}}]
    entry["thr$total"] = {"$t": "0"}
    return entry


def _next_url(base: str, path: str, params: dict, q: Query, total: int) -> str | None:
    if q.start + q.max_results > total:
        return None
    nxt = {**params, "start-index": str(q.start + q.max_results), "max-results": str(q.max_results)}
    return f"{base}{path}?" + "&".join(f"{k}={v}" for k, v in nxt.items())


def blogger_json(blog: Blog, base: str, path: str, params: dict, q: Query) -> dict:
    posts = select(blog, q)
    page = posts[q.start - 1 : q.start - 1 + q.max_results]
    links = [
        {
            "rel": "http://schemas.google.com/g/2005#feed",
            "type": "application/atom+xml",
            "href": f"{base}/feeds/posts/default",
        },
        {"rel": "self", "type": "application/atom+xml", "href": f"{base}{path}"},
        {"rel": "alternate", "type": "text/html", "href": f"{base}/"},
        {"rel": "hub", "href": "http://pubsubhubbub.appspot.com/"},
    ]
    nxt = _next_url(base, path, params, q, len(posts))
    if nxt:
        links.append({"rel": "next", "type": "application/atom+xml", "href": nxt})
    feed = {
        "xmlns": ATOM_NS,
        "xmlns$openSearch": "http://a9.com/-/spec/opensearchrss/1.0/",
        "xmlns$blogger": "http://schemas.google.com/blogger/2008",
        "id": {"$t": f"tag:blogger.com,1999:blog-{BLOG_ID}"},
        "updated": {"$t": stamp(max((p.updated for p in posts), default=blog.clock))},
        "category": [{"term": lb} for lb in sorted({lb for p in posts for lb in p.labels})],
        "title": {"type": "text", "$t": blog.title},
        "subtitle": {"type": "html", "$t": ""},
        "link": links,
        "author": [{"name": {"$t": "Editor"}}],
        "generator": {"version": "7.00", "uri": "http://www.blogger.com", "$t": "Blogger"},
        "openSearch$totalResults": {"$t": str(len(posts))},
        "openSearch$startIndex": {"$t": str(q.start)},
        "openSearch$itemsPerPage": {"$t": str(q.max_results)},
    }
    if page:  # Blogger leaves "entry" out of an empty page
        feed["entry"] = [blogger_json_entry(base, p, q.kind, blog.summaries_only) for p in page]
    return {"version": "1.0", "encoding": "UTF-8", "feed": feed}


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    e = ET.SubElement(parent, tag, attrs)
    if text is not None:
        e.text = text
    return e


def blogger_atom(blog: Blog, base: str, path: str, params: dict, q: Query) -> bytes:
    data = blogger_json(blog, base, path, params, q)["feed"]
    ET.register_namespace("", ATOM_NS)
    ET.register_namespace("openSearch", "http://a9.com/-/spec/opensearchrss/1.0/")
    a = "{" + ATOM_NS + "}"
    os_ns = "{http://a9.com/-/spec/opensearchrss/1.0/}"
    feed = ET.Element(a + "feed")
    _el(feed, a + "id", data["id"]["$t"])
    _el(feed, a + "updated", data["updated"]["$t"])
    for c in data["category"]:
        _el(feed, a + "category", term=c["term"])
    _el(feed, a + "title", data["title"]["$t"], type="text")
    for k in data["link"]:
        _el(feed, a + "link", **{key: v for key, v in k.items()})
    _el(feed, a + "generator", "Blogger", version="7.00", uri="http://www.blogger.com")
    _el(feed, os_ns + "totalResults", data["openSearch$totalResults"]["$t"])
    _el(feed, os_ns + "startIndex", data["openSearch$startIndex"]["$t"])
    _el(feed, os_ns + "itemsPerPage", data["openSearch$itemsPerPage"]["$t"])
    for e in data.get("entry", []):
        entry = _el(feed, a + "entry")
        _el(entry, a + "id", e["id"]["$t"])
        _el(entry, a + "published", e["published"]["$t"])
        _el(entry, a + "updated", e["updated"]["$t"])
        for c in e["category"]:
            _el(entry, a + "category", scheme=c["scheme"], term=c["term"])
        _el(entry, a + "title", e["title"]["$t"], type="text")
        if "content" in e:
            _el(entry, a + "content", e["content"]["$t"], type="html")  # escaped by ElementTree
        else:
            _el(entry, a + "summary", e["summary"]["$t"], type="text")
        for k in e["link"]:
            _el(entry, a + "link", **k)
        author = _el(entry, a + "author")
        _el(author, a + "name", "Editor")
    body = ET.tostring(feed, encoding="unicode")
    return ("<?xml version='1.0' encoding='UTF-8'?>\n" + body).encode()


# ---- WordPress, RSS, pages --------------------------------------------------------------------


def wp_terms(blog: Blog) -> list[dict]:
    names = sorted({lb for p in blog.snapshot() for lb in p.labels})
    return [
        {
            "id": 100 + i,
            "name": html.escape(n).replace("&#x27;", "&#039;"),
            "taxonomy": "category",
            "slug": re.sub(r"[^a-z0-9]+", "-", n.lower()).strip("-"),
            "link": "",
            "count": 1,
        }
        for i, n in enumerate(names)
    ]


def wp_post(base: str, post: StubPost, terms: dict[str, dict], embed: bool) -> dict:
    local = post.published.replace(tzinfo=None).isoformat()
    gmt = post.published.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    mod_gmt = post.updated.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    # WordPress escapes & in titles as &#038; and writes curly quotes as entities.
    title = html.escape(post.title, quote=False).replace("&amp;", "&#038;").replace("’", "&#8217;")
    d = {
        "id": post.id,
        "date": local,
        "date_gmt": gmt,
        "guid": {"rendered": f"{base}/?p={post.id}"},
        "modified": post.updated.replace(tzinfo=None).isoformat(),
        "modified_gmt": mod_gmt,
        "slug": post.slug,
        "status": "publish",
        "type": "post",
        "link": f"{base}{post.path()}",
        "title": {"rendered": title},
        "content": {"rendered": post.html + "\n", "protected": False},
        "excerpt": {"rendered": f"<p>{html.escape(_summary(post))}</p>\n", "protected": False},
        "author": 1,
        "categories": [terms[lb]["id"] for lb in post.labels],
        "tags": [],
    }
    if embed:
        d["_embedded"] = {"wp:term": [[terms[lb] for lb in post.labels], []]}
    return d


def rss(blog: Blog, base: str, limit: int | None) -> bytes:
    posts = sorted(blog.snapshot(), key=lambda p: p.published, reverse=True)[:limit]
    items = []
    for p in posts:
        cats = "".join(f"<category><![CDATA[{lb}]]></category>" for lb in p.labels)
        items.append(
            f"<item><title>{html.escape(p.title, quote=False)}</title>"
            f'<link>{base}{p.path()}</link><guid isPermaLink="false">{base}/?p={p.id}</guid>'
            f"<pubDate>{format_datetime(p.published)}</pubDate>{cats}"
            f"<description><![CDATA[{_summary(p)} [&#8230;]]]></description>"
            f"<content:encoded><![CDATA[{p.html}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{html.escape(blog.title)}</title><link>{base}/</link>"
        f"<description>A stand-in blog</description>{''.join(items)}</channel></rss>"
    ).encode()


def post_page(blog: Blog, base: str, post: StubPost) -> str:
    """The post as a Blogger template renders it: header, date, title, body, labels, and a
    sidebar that lists other posts' titles (text a link must not land on)."""
    others = [p for p in blog.snapshot() if p.id != post.id][-8:]
    sidebar = "".join(
        f'<li><a href="{base}{p.path()}">{html.escape(p.title)}</a></li>' for p in others
    )
    labels = ", ".join(
        f'<a href="{base}/search/label/{html.escape(lb)}">{html.escape(lb)}</a>'
        for lb in post.labels
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="UTF-8"><meta content='blogger' name='generator'/>
<title>{html.escape(blog.title)}: {html.escape(post.title)}</title>
<style>body {{ font: 15px/1.5 sans-serif; margin: 0 20px; }} .main {{ width: 640px; float: left; }}
.sidebar {{ width: 240px; float: right; font-size: 13px; }}</style></head>
<body><div class="header"><h1><a href="{base}/">{html.escape(blog.title)}</a></h1></div>
<div class="main"><h2 class="date-header"><span>{post.published:%A, %B %d, %Y}</span></h2>
<div class="post hentry"><h3 class="post-title entry-title">{html.escape(post.title)}</h3>
<div class="post-body entry-content" id="post-body-{post.id}">
{post.html}
<div style="clear: both;"></div></div>
<div class="post-footer">Posted by Editor at {post.published:%I:%M %p} | Labels: {labels}</div>
</div></div>
<div class="sidebar"><h2>Recent posts</h2><ul>{sidebar}</ul></div></body></html>"""


def home_page(kind: str, base: str, blog: Blog) -> str:
    if kind == "blogger":
        head = (
            "<meta content='blogger' name='generator'/>"
            f'<link rel="alternate" type="application/atom+xml" title="{blog.title} - Atom" '
            f'href="{base}/feeds/posts/default" />'
        )
    elif kind == "wordpress":
        head = (
            '<meta name="generator" content="WordPress 6.5" />'
            f'<link rel="https://api.w.org/" href="{base}/wp-json/" />'
            f'<link rel="alternate" type="application/rss+xml" href="{base}/feed.xml" />'
        )
    elif kind == "rss":
        head = (
            '<link rel="alternate" type="application/rss+xml" title="Feed" '
            f'href="{base}/feed.xml" />'
        )
    else:
        head = ""
    return f"<!DOCTYPE html><html><head><title>{blog.title}</title>{head}</head><body><h1>{blog.title}</h1></body></html>"  # noqa: E501

"""Blogger's "Back up content" export: one Atom feed holding every entry of the blog.

    <entry>
      <published>2011-10-18T09:12:00.000-07:00</published>
      <category scheme="http://schemas.google.com/g/2005#kind"
                term="http://schemas.google.com/blogger/2008/kind#post"/>
      <category scheme="http://www.blogger.com/atom/ns#" term="A label"/>
      <title type="text">…</title>   <content type="html">&lt;p&gt;…</content>
      <link rel="alternate" type="text/html" href="https://…/2011/10/slug.html"/>
    </entry>

Posts share the feed with comments, settings, template and pages: the classic export marks
the kind with a category, the 2018 one with <blogger:type> and <blogger:status> (and gives
<blogger:filename> instead of an alternate link). Only published posts are read.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from xml.parsers import expat

from tipbot.textutil import (
    clip_title,
    html_to_lines,
    html_to_text,
    normalize_paragraphs,
    permalink,
    post_id,
)
from tipbot.types import Post, ReadIssue

ATOM = "{http://www.w3.org/2005/Atom}"
BLOGGER = "{http://schemas.google.com/blogger/2018}"
KIND_SCHEME = "http://schemas.google.com/g/2005#kind"
TITLE_MAX = 100


def _no_entities(*_args: object) -> None:
    # A Blogger export never declares entities; refusing them stops "billion laughs" bombs.
    raise ValueError("entity declarations are not allowed")


def read(source: str, text: str, base_url: str) -> tuple[list[Post], list[ReadIssue]]:
    entries, issues = _parse(source, text)
    posts: list[Post] = []
    for entry, line in entries:
        if not _is_published_post(entry):
            continue  # comments, settings, template, pages, drafts: not content, not a problem
        try:
            post, problem = _make_post(entry, base_url, f"{source}:{line}")
        except RecursionError:  # absurdly deep xhtml content; ElementTree serialises recursively
            post, problem = None, "post entry content is nested too deeply, skipped"
        if post is None:
            issues.append(ReadIssue(f"{source}:{line}", problem))
        else:
            posts.append(post)
    if not entries and not issues:
        issues.append(ReadIssue(source, "no Atom <entry> elements (expected a Blogger export)"))
    elif not posts and not issues:
        issues.append(ReadIssue(source, f"none of the {len(entries)} entries is a published post"))
    return posts, issues


def _parse(source: str, text: str) -> tuple[list[tuple[ET.Element, int]], list[ReadIssue]]:
    """Every complete <entry> with its first line; entries before a syntax error survive.

    expat is driven directly (ElementTree's parser hides line numbers) and feeds a TreeBuilder.
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    entries: list[tuple[ET.Element, int]] = []
    starts: list[int] = []

    def tag(name: str) -> str:
        return "{" + name if "}" in name else name

    def start(name: str, attrs: dict[str, str]) -> None:
        if tag(name) == ATOM + "entry":
            starts.append(parser.CurrentLineNumber)
        builder.start(tag(name), {tag(k): v for k, v in attrs.items()})

    def end(name: str) -> None:
        elem = builder.end(tag(name))
        if elem.tag == ATOM + "entry" and starts:
            entries.append((elem, starts.pop()))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.EntityDeclHandler = _no_entities
    try:
        parser.Parse(text, True)
    except expat.ExpatError as e:
        kept = f"; {len(entries)} entries before it kept" if entries else ""
        problem = f"broken XML: {expat.ErrorString(e.code)}, column {e.offset + 1}{kept}"
        return entries, [ReadIssue(f"{source}:{e.lineno}", problem)]
    except ValueError as e:  # an entity declaration, or a lone surrogate in the text
        return [], [ReadIssue(f"{source}:{parser.CurrentLineNumber}", f"unusable XML: {e}")]
    return entries, []


def _is_published_post(entry: ET.Element) -> bool:
    cats = entry.findall(ATOM + "category")
    kinds = [c.get("term", "") for c in cats if c.get("scheme") == KIND_SCHEME]
    kind = (entry.findtext(BLOGGER + "type") or "POST").strip().upper()
    status = (entry.findtext(BLOGGER + "status") or "LIVE").strip().upper()
    # An entry with no kind marker at all (a plain Atom feed) is taken as a post.
    if kind != "POST" or status != "LIVE" or (kinds and not kinds[0].endswith("#post")):
        return False  # a comment, page, setting or template; a draft or a trashed post
    # <app:control><app:draft>yes</app:draft>; the app namespace changed over the years.
    controls = [c for c in entry if c.tag.rpartition("}")[2] == "control"]
    flags = [f for c in controls for f in c if f.tag.rpartition("}")[2] == "draft"]
    return not any((f.text or "").strip().lower() == "yes" for f in flags)


def _markup_text(elem: ET.Element | None) -> str:
    """Body text of a content element by its Atom type; XML entities are decoded already."""
    if elem is None:
        return ""
    kind = elem.get("type", "text").lower()
    if kind == "xhtml":
        inner = "".join(ET.tostring(child, encoding="unicode") for child in elem)
        # Drop namespace prefixes ("<html:p>") so the HTML reader sees plain block tags.
        return html_to_text(re.sub(r"<(/?)[\w.-]+:", r"<\1", (elem.text or "") + inner))
    if kind in {"html", "text/html"}:
        return html_to_text(elem.text or "")
    return normalize_paragraphs((elem.text or "").split("\n"))


def _date(value: str) -> dt.date:
    # The date as written, not moved to UTC: that is the date in the blog's permalinks.
    return dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()


def _title(elem: ET.Element | None) -> str:
    # Not through html_to_text: its link-leftover filter would eat a title like "Read more".
    raw = "" if elem is None else elem.text or ""
    if elem is not None and elem.get("type", "text").lower() != "text":
        raw = " ".join(html_to_lines(raw))
    return " ".join(raw.split())


def _title_from_text(text: str) -> str:
    first = text.split("\n", 1)[0]
    if len(first) <= TITLE_MAX:
        return first
    cut = first[: TITLE_MAX + 1].rfind(" ")
    return first[: cut if cut > 0 else TITLE_MAX].rstrip(" ,;:")


def _make_post(entry: ET.Element, base_url: str, source: str) -> tuple[Post | None, str]:
    content = entry.find(ATOM + "content")
    text = _markup_text(content if content is not None else entry.find(ATOM + "summary"))
    if not text:
        return None, "post entry has no text, skipped"
    raw_date = entry.findtext(ATOM + "published") or entry.findtext(ATOM + "updated")
    try:
        date = _date(raw_date) if raw_date and raw_date.strip() else None
    except ValueError:
        assert raw_date is not None  # _date only ran on a date
        return None, f"'published' is not an ISO 8601 date, got {raw_date.strip()!r}; skipped"
    title = clip_title(_title(entry.find(ATOM + "title"))) or _title_from_text(text)
    # Labels: every category but the kind (the 2018 export writes them without a scheme).
    cats = entry.findall(ATOM + "category")
    terms = ((c.get("term") or "").strip() for c in cats if c.get("scheme") != KIND_SCHEME)
    labels = tuple(dict.fromkeys(t for t in terms if t))
    links = entry.findall(ATOM + "link")  # rel defaults to "alternate" in Atom
    url = next((k.get("href") for k in links if k.get("rel", "alternate") == "alternate"), "")
    filename = (entry.findtext(BLOGGER + "filename") or "").strip()
    if not url and filename:  # the 2018 export gives the permalink's path instead
        url = base_url.rstrip("/") + "/" + filename.lstrip("/")
    return Post(
        id=post_id(date, title),
        title=title,
        date=date,
        url=url or permalink(base_url, date, title),
        labels=labels,
        text=text,
        source=source,
    ), ""

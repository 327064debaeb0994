"""One post a file: Markdown (or HTML) with simple YAML front matter, as static-site tools write.

    ---
    title: "New UN fund awards $300,000"
    date: 2011-10-18            # or a full datetime; the file name may carry it instead
    url: https://…/2011/10/new-un-fund.html   # or a path, joined to the blog's base URL
    labels: [Trafficking, UN]   # or tags:/categories:, or "- item" lines below the key
    ---
    Body paragraphs, separated by blank lines.

The front matter is read by hand (no YAML dependency): "key: value" lines, "[a, b]" lists and
"- item" lists; anything else in it is ignored. A ".html"/".htm" body goes through
html_to_text, any other body is treated as Markdown and its common markup is stripped.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import PurePath

from tipbot.textutil import (
    clip_title,
    html_to_lines,
    html_to_text,
    is_link_leftover,
    permalink,
    post_id,
)
from tipbot.types import Post, ReadIssue

_KEY = re.compile(r"([A-Za-z_][\w-]*)\s*:(?:\s+(.*)|$)")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_FENCE = re.compile(r"(```+|~~~+)")
_RULE = re.compile(r"([-*_=])(?:\s*\1){2,}|=+")  # thematic break or setext underline
_HEADING = re.compile(r"#{1,6}\s+(.*?)(?:\s+#+)?")
_ITEM = re.compile(r"(?:[-*+]|\d{1,9}[.)])\s+")
_REF_DEF = re.compile(r"\[[^\]]+\]:\s*\S+.*")
_HTML_HEADING = re.compile(r"<h[1-6](?:\s[^<>]*)?>", re.IGNORECASE)  # [^<>]: stays linear
# Inline markup → its text, in order. No span may contain its own delimiter ([^*], [^\]]…):
# that keeps every pattern linear, where ".+?" went quadratic on long lines of stray "*".
# Each pattern comes with a character it cannot match without; lines lacking it skip it.
_INLINE = [
    ("[", re.compile(r"!\[[^\[\]]*\](?:\((?:[^()]|\([^()]*\))*\)|\[[^\[\]]*\])"), ""),  # images
    ("[", re.compile(r"\[([^\[\]]*)\]\((?:[^()]|\([^()]*\))*\)"), r"\1"),  # [text](url "title")
    ("[", re.compile(r"\[([^\[\]]+)\]\[[^\[\]]*\]"), r"\1"),  # [text][ref]
    ("<", re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),  # <https://…> autolinks
    ("<", re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>"), ""),  # inline HTML tags
    ("`", re.compile(r"(`+)([^`]+)\1"), r"\2"),  # `code`
    ("*", re.compile(r"\*\*([^*\s](?:[^*]*[^*\s])?)\*\*"), r"\1"),  # **strong**
    ("_", re.compile(r"__([^_\s](?:[^_]*[^_\s])?)__"), r"\1"),  # __strong__
    ("*", re.compile(r"(?<![\w*])\*([^*\s](?:[^*]*[^*\s])?)\*(?![\w*])"), r"\1"),  # *em*
    # _em_, not snake_case
    ("_", re.compile(r"(?<![\w_])_([^_\s](?:[^_]*[^_\s])?)_(?![\w_])"), r"\1"),
    ("~", re.compile(r"~~([^~]+)~~"), r"\1"),  # ~~strike~~
    ("\\", re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|~])"), r"\1"),  # backslash escapes
]


def read(source: str, text: str, base_url: str) -> tuple[list[Post], list[ReadIssue]]:
    lines = text.split("\n")  # not splitlines(): keep line numbers as editors count them
    meta: dict[str, list[str]] = {}
    where: dict[str, int] = {}
    body_start = 0
    first = next((i for i, ln in enumerate(lines) if ln.strip()), 0)
    if lines[first].strip() == "---":
        closing = (i for i in range(first + 1, len(lines)) if lines[i].strip() in {"---", "..."})
        body_start = next(closing, -1) + 1
        if not body_start:
            return [], [ReadIssue(f"{source}:{first + 1}", "front matter is never closed by '---'")]
        meta, where = _front_matter(lines[: body_start - 1], first + 1)
    path = PurePath(source)
    field = {k: ", ".join(v) for k, v in meta.items()}

    raw_date = field.get("date", "")
    m = _DATE.match(raw_date or path.name)  # Jekyll-style file names carry the date
    try:
        date = dt.date(int(m[1]), int(m[2]), int(m[3])) if m else None
    except ValueError:
        date = None
    if raw_date and date is None:
        return [], [ReadIssue(f"{source}:{where['date']}", f"bad date {raw_date!r}, skipped")]

    body = lines[body_start:]
    if path.suffix.lower() in {".html", ".htm"}:
        joined = "\n".join(body)
        text_out = html_to_text(joined)
        h = _HTML_HEADING.search(joined)
        end = joined.lower().find("</h", h.end()) if h else -1
        inner = joined[h.end() : end] if h and end >= 0 else ""
        heading = " ".join(" ".join(html_to_lines(inner)).split())
    else:
        paras, heading = _markdown(body)
        # Not normalize_paragraphs: its mending of sentences split across lines would glue a
        # lower-case list item, code line or paragraph onto a heading or an item before it.
        paras = [" ".join(p.split()) for p in paras]
        text_out = "\n\n".join(p for p in paras if p and not is_link_leftover(p))
    stem = re.sub(r"^\d{4}-\d{2}-\d{2}[-_ ]*", "", path.stem).replace("-", " ").strip()
    title = " ".join(field.get("title", "").split()) or heading or stem or "untitled"
    head, _, rest = text_out.partition("\n\n")
    if head == title:  # a leading heading that repeats the title is not body text
        text_out = rest
    title = clip_title(title)
    if not text_out:
        return [], [ReadIssue(f"{source}:{body_start + 1}", "post has no text, skipped")]

    # Labels from any of the usual keys; a plain "a, b" string is a list too.
    keys = ("labels", "tags", "categories")
    tags = [t.strip() for k in keys for v in meta.get(k, []) for t in v.split(",")]
    url = field.get("url") or field.get("permalink") or ""
    if url.startswith("/"):  # a site path: the permalink on the blog itself
        url = base_url.rstrip("/") + url
    post = Post(
        id=field.get("id") or post_id(date, title),
        title=title,
        date=date,
        url=url or permalink(base_url, date, title),
        labels=tuple(dict.fromkeys(t for t in tags if t)),
        text=text_out,
        source=source,
    )
    return [post], []


def _unquote(value: str) -> str:
    """'"a # b"  # note' → 'a # b'; 'a  # note' → 'a' (YAML: " #" starts a comment)."""
    value = value.strip()
    if m := re.fullmatch(r"([\"'])(.*?)\1\s*(?:#.*)?", value):
        return m[2].strip()
    return re.sub(r"(?:^|\s+)#.*", "", value).strip()


def _front_matter(lines: list[str], start: int) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Simple YAML: key → list of values, and key → its line number."""
    meta: dict[str, list[str]] = {}
    where: dict[str, int] = {}
    key = ""  # the key whose "- item" lines may follow
    for i in range(start, len(lines)):
        item = lines[i].strip()
        if key and item.startswith("- "):
            meta[key].append(_unquote(item[2:]))
        elif m := _KEY.fullmatch(lines[i].rstrip()):  # indented (nested) keys never match
            key, value = m[1].lower(), (m[2] or "").strip()
            if value.startswith("["):  # a flow list, maybe followed by a comment
                value = re.sub(r"\]\s*#.*", "]", value)
            listed = value.startswith("[") and value.endswith("]")
            parts = value[1:-1].split(",") if listed else [value]
            meta[key], where[key] = [u for v in parts if (u := _unquote(v))], i + 1
        else:
            key = ""  # comments, block scalars and the like are not needed
    return meta, where


def _inline(line: str) -> str:
    for needed, pattern, repl in _INLINE:
        if needed in line:
            line = pattern.sub(repl, line)
    return html.unescape(line) if "&" in line else line


def _markdown(lines: list[str]) -> tuple[list[str], str]:
    """Paragraphs of plain text, and the first heading."""
    paras: list[str] = []
    buf: list[str] = []
    fence, heading = "", ""

    def flush() -> None:
        if buf:
            paras.append(" ".join(buf))
            buf.clear()

    for line in lines:
        s = line.strip()
        if fence:  # code is kept as written, one line a paragraph
            fence = "" if s.startswith(fence) else fence
            if fence and s:
                paras.append(s)
        elif m := _FENCE.match(s):
            flush()
            fence = m[1]
        elif not s or _RULE.fullmatch(s):
            flush()
        elif m := _HEADING.fullmatch(s):
            flush()
            paras.append(_inline(m[1]))
            heading = heading or " ".join(paras[-1].split())
        elif not _REF_DEF.fullmatch(s):
            s = re.sub(r"^(?:>\s?)+", "", s)  # blockquote markers
            if m := _ITEM.match(s):  # a list item starts a paragraph of its own
                flush()
                s = s[m.end() :]
            buf.append(_inline(s))
    flush()
    return paras, heading

"""Text helpers shared by the readers: slugs, ids, permalinks, HTML to text, link leftovers."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import unicodedata
from html.parser import HTMLParser

SLUG_MAX = 40  # Blogger cuts permalink slugs to about this many characters, at a word boundary

# Lines that are only the text of a link to elsewhere ("Read more", "Click here for the Full
# Report."). They carry no content and must never be quoted.
_LINK_LEFTOVER = re.compile(
    r"""^\s*(?:
        read\s+(?:more|the\s+(?:full\s+)?(?:article|story|report|statement|release|paper))\b.{0,80}
      | click\s+here\b.{0,80}
      | see\s+more\b.{0,80}
      | (?:the\s+)?full\s+(?:text|report|article|story)(?:\s+(?:of|here)\b.{0,60})?
      | (?:full\s+)?(?:article|story)\s+here
      | continue\s+reading\b.{0,40}
      | more\s+here
      | links?
      | watch\s+(?:the\s+)?(?:video|clip)\b.{0,40}
    )\s*[.:!…]*\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_ENDS_SENTENCE = re.compile(r"[.!?:;\"'”’)\]]$")


def content_hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def slugify(title: str, max_len: int = SLUG_MAX) -> str:
    """Blogger-shaped slug: ascii, lowercase, words joined by '-', cut at a word boundary."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    # Punctuation inside a word vanishes ("$300,000" → "300000", "UN.GIFT" → "ungift");
    # everything else that is not a letter or digit separates words.
    joined = re.sub(r"(?<=\w)[',.’](?=\w)", "", ascii_title.lower())
    slug = re.sub(r"[^a-z0-9]+", "-", joined).strip("-")
    if len(slug) > max_len:
        cut = slug[: max_len + 1].rfind("-")
        slug = slug[:cut] if cut > 0 else slug[:max_len]
    return slug or "post"


def post_id(date: dt.date | None, title: str) -> str:
    """A stable id from date and title: '2011-10-18-new-un-fund-awards-300000-to-help'."""
    slug = slugify(title)
    return f"{date.isoformat()}-{slug}" if date else slug


def permalink(base_url: str, date: dt.date | None, title: str) -> str:
    """Blogger's permalink shape: base/YYYY/MM/slug.html (base/slug.html without a date)."""
    base = base_url.rstrip("/")
    slug = slugify(title)
    if date is None:
        return f"{base}/{slug}.html"
    return f"{base}/{date.year:04d}/{date.month:02d}/{slug}.html"


def is_link_leftover(line: str) -> bool:
    return bool(_LINK_LEFTOVER.match(line))


def normalize_paragraphs(lines: list[str]) -> str:
    """Join lines into paragraphs separated by one blank line.

    Each non-empty input line is a paragraph (the archive writes one paragraph a line); runs
    of spaces inside a line collapse to one, link leftovers are dropped, and a sentence broken
    across lines is mended.
    """
    paras: list[str] = []
    for raw in lines:
        line = re.sub(r"[ \t\u00a0]+", " ", raw).strip()
        if not line or is_link_leftover(line):
            continue
        # A line that starts in lower case after a line that did not end a sentence is the
        # rest of that sentence, broken by the page's markup ("Women on the Frontline" / "is a
        # video documentary series…").
        if paras and line[0].islower() and not _ENDS_SENTENCE.search(paras[-1]):
            paras[-1] = f"{paras[-1]} {line}"
        else:
            paras.append(line)
    return "\n\n".join(paras)


class _TextExtractor(HTMLParser):
    """HTML → lines of text: block elements break lines, scripts and styles are dropped."""

    _BLOCK = {
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "tr", "table", "section", "article", "header", "footer", "pre", "hr",
    }  # fmt: skip
    _SKIP = {"script", "style", "noscript", "iframe", "object"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data.replace("\n", " "))


def html_to_lines(markup: str) -> list[str]:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts).split("\n")


def html_to_text(markup: str) -> str:
    return normalize_paragraphs(
        html_to_lines(html.unescape(markup) if "<" not in markup else markup)
    )

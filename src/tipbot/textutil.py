"""Text helpers shared by the readers: slugs, ids, permalinks, HTML to text, link leftovers."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import unicodedata
from html.parser import HTMLParser
from typing import ClassVar

SLUG_MAX = 40  # Blogger cuts permalink slugs to about this many characters, at a word boundary
TITLE_MAX = 200  # characters; longer "titles" are paragraphs put in the wrong field

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


def clip_title(title: str, max_len: int = TITLE_MAX) -> str:
    """A title on one line and at most ``max_len`` characters, cut at a word with "…".

    A title field that holds a whole paragraph (or a whole post) is not a title: the model
    sees the title with every chunk of the post, so an overlong one would crowd out the text.
    """
    title = " ".join(title.split())
    if len(title) <= max_len:
        return title
    cut = title.rfind(" ", 0, max_len)
    return title[: cut if cut > max_len // 2 else max_len - 1].rstrip(" ,;:.-") + "…"


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
    # Each paragraph is kept as its lines and joined once at the end: mending by repeated
    # string concatenation was quadratic on a long run of lower-case lines.
    paras: list[list[str]] = []
    for raw in lines:
        line = re.sub(r"[ \t\u00a0]+", " ", raw).strip()
        if not line or is_link_leftover(line):
            continue
        # A line that starts in lower case after a line that did not end a sentence is the
        # rest of that sentence, broken by the page's markup ("Women on the Frontline" / "is a
        # video documentary series…"). A paragraph ends where its last line ends.
        if paras and line[0].islower() and not _ENDS_SENTENCE.search(paras[-1][-1]):
            paras[-1].append(line)
        else:
            paras.append([line])
    return "\n\n".join(" ".join(p) for p in paras)


class _TextExtractor(HTMLParser):
    """HTML → lines of text: block elements break lines, scripts and styles are dropped."""

    _BLOCK: ClassVar[frozenset[str]] = frozenset(
        "p div br li ul ol h1 h2 h3 h4 h5 h6 blockquote tr table section article header footer "
        "pre hr".split()
    )
    _SKIP: ClassVar[frozenset[str]] = frozenset({"script", "style", "noscript", "iframe", "object"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
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


# What html.parser takes for the start of a comment, a marked section or a script or style
# element (whose content it does not parse), and their ends.
_SPECIAL = re.compile(r"<!--|<!\[|<(script|style)(?=[\s/>])", re.IGNORECASE)
_OPEN_TAG_REST = re.compile(r"""(?:[^<>"']|"[^"]*"|'[^']*')*>""")
_OPEN_TAG_MAX = 4096
_CLOSE_TAG = {n: re.compile(rf"</\s*{n}\s*>", re.IGNORECASE) for n in ("script", "style")}
_LT = re.compile("<")
_COMMENT_END = re.compile(r"--\s*>")
_SECTION_NAME = re.compile(r"[a-zA-Z][-_.a-zA-Z0-9]*\s*")
_SECTION_END = {
    **dict.fromkeys(("temp", "cdata", "ignore", "include", "rcdata"), re.compile(r"\]\s*\]\s*>")),
    **dict.fromkeys(("if", "else", "endif"), re.compile(r"\]\s*>")),  # MS Office: <![if …]>
}
_QUOTE_ENTITY = {"'": "&#39;", '"': "&quot;"}
_END = "<!---->"


def _defuse(markup: str) -> str:
    """Markup that html.parser reads in linear time, giving the same text on well-formed HTML.

    html.parser rescans to the end of the input from every ``<`` that opens something it never
    sees closed, which is quadratic: ``"<h1 " * 20000`` took over a minute. Such a ``<`` is
    written ``&lt;`` here, so the parser reads it as the text it would have made of it anyway:

    - after the last ``>`` nothing can close, so no ``<`` there opens anything;
    - ``<!--`` with no ``-->`` after it, and ``<![`` that is not a marked section the parser
      knows (it raises on those) or one that never closes: text up to the next ``>`` (inside a
      script or style element only the ``<`` itself, so that its end tag stays whole).

    An attribute quote that can never close (``<a title='…`` with no ``'`` after it) is written
    as an entity, and an empty comment ends the input, since the parser would otherwise look
    for the end of such a tag again from every tag before it.
    Searches for closings are cached (one that found nothing stays so further on), and the
    text is rebuilt once, so this pass is linear too.
    """
    tail_start = markup.rfind(">") + 1
    found: dict[re.Pattern[str], tuple[int, re.Match[str] | None]] = {}

    def first_after(pattern: re.Pattern[str], pos: int) -> re.Match[str] | None:
        # The leftmost match at or after pos, reusing an earlier search begun before pos.
        if pattern in found:
            since, m = found[pattern]
            if since <= pos and (m is None or m.start() >= pos):
                return m
        m = pattern.search(markup, pos, tail_start)
        found[pattern] = (pos, m)
        return m

    def close_of(i: int) -> re.Match[str] | None:
        """Where the comment or marked section at ``i`` ends; None if the parser cannot end it."""
        if markup.startswith("<!--", i):
            return first_after(_COMMENT_END, i + 4)
        name = _SECTION_NAME.match(markup, i + 3, tail_start)
        end = _SECTION_END.get(name.group().strip().lower()) if name else None
        return first_after(end, i + 3) if end is not None else None

    edits: list[tuple[int, str]] = []  # (position, replacement of that one character)
    resume = 0  # markup[:resume] is settled
    raw = range(0)  # the content of a script or style element, which the parser reads as text
    # Every opening is looked at, closed ones too: which of them the parser takes for markup
    # depends on tags not tracked here (a "<!--" inside an attribute is none), so nothing is
    # skipped on the strength of a guess.
    for m in _SPECIAL.finditer(markup, 0, tail_start):
        i = m.start()
        if i < resume:
            continue
        if m.group(1) is not None:  # <script or <style: find where its content ends
            if i in raw:
                continue
            tag = _OPEN_TAG_REST.match(markup, m.end(), min(tail_start, i + _OPEN_TAG_MAX))
            if tag and markup[tag.end() - 2] != "/":
                close = first_after(_CLOSE_TAG[m.group(1).lower()], tag.end())
                raw = range(tag.end(), close.start() if close else len(markup))
        elif close_of(i) is None:
            if i in raw:
                # Only its end tag matters there: the opening loses its "<" and nothing else.
                edits.append((i, "&lt;"))
            else:
                # The parser makes text of everything up to the next ">", any "<" included.
                resume = markup.index(">", i) + 1
                edits += [(j.start(), "&lt;") for j in _LT.finditer(markup, i, resume)]
    # A quote after "=" opens a value, and the next quote of its kind closes it, whatever
    # comes before that one (in '<br title=">="/>' the second quote follows "=" but closes).
    # A value still open at the end never ends.
    for quote, entity in _QUOTE_ENTITY.items():
        opened = -1
        for q in (m.start() for m in re.finditer(quote, markup)):
            if opened >= 0:
                opened = -1
            elif _after_equals(markup, q):
                opened = q
        if opened >= 0:
            edits.append((opened, entity))
    if edits:
        parts, prev = [], 0
        for i, replacement in sorted(edits):
            parts += [markup[prev:i], replacement]
            prev = i + 1
        parts.append(markup[prev:])
        markup = "".join(parts)
        tail_start = markup.rfind(">") + 1  # the edits add no ">"
    # The closing empty comment ends any tag still open (one whose quoted value held the last
    # ">"): the parser would otherwise rescan to the end from each such tag. It adds no text.
    return markup[:tail_start] + markup[tail_start:].replace("<", "&lt;") + _END


def _after_equals(text: str, i: int) -> bool:
    """Is ``text[i]`` preceded by "=" and optional whitespace (where a quoted value starts)?"""
    while i > 0:
        window = text[max(0, i - 256) : i]
        kept = window.rstrip()
        if kept:
            return kept[-1] == "="
        i -= len(window)
    return False


def html_to_lines(markup: str) -> list[str]:
    parser = _TextExtractor()
    try:
        parser.feed(_defuse(markup))
        parser.close()
    except AssertionError:  # html.parser's way of refusing input; _defuse should prevent it
        return _strip_tags(markup).split("\n")
    return "".join(parser.parts).split("\n")


def _strip_tags(markup: str) -> str:
    """The last resort for markup html.parser refuses: tags out, text kept (linear time)."""
    text = re.sub(r"</?(?:p|div|br|li|h[1-6]|tr|blockquote)\b[^<>]*>", "\n", markup, flags=re.I)
    text = re.sub(r"<(?:/?[A-Za-z]|!--)[^<>]*>", " ", text)
    return html.unescape(text).replace("\r", "")


def html_to_text(markup: str) -> str:
    return normalize_paragraphs(
        html_to_lines(html.unescape(markup) if "<" not in markup else markup)
    )

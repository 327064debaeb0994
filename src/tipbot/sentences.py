"""Sentence boundaries with character offsets.

Sentences are the unit of quoting, so a boundary must never fall inside "Mr. Costa", "U.N.
officers" or "$2.4 billion". Paragraph breaks always end a sentence. A sentence longer than
``max_chars`` (a run-on line, a table dumped as text, a 10 MB post with no full stop) is cut at
the last clause mark or space before the limit, so every later stage works on bounded pieces.
"""

from __future__ import annotations

import re

from tipbot.types import Sentence

MAX_SENTENCE_CHARS = 600

# Words that end with a period without ending a sentence.
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt no nos vs etc e.g i.e cf approx inc ltd co corp gov sen rep
    gen col lt capt sgt jan feb mar apr jun jul aug sep sept oct nov dec art para fig vol pp
    dept est u.s u.k u.n e.u
    """.split()
)

# A candidate end: terminal punctuation, optional closing quotes/brackets, then whitespace.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+)|[。！？]+[」』”’)]*")
_PARA = re.compile(r"\n\s*\n")
_NEXT_START = re.compile(r"\s*[\"'“‘(\[¿¡«]*(.)")
_WORD_BEFORE = re.compile(r"([A-Za-z.]+)\.$")


def _starts_sentence(text: str, m: re.Match[str], end: int, limit: int) -> bool:
    """Does a sentence start after the candidate end ``m``? A capital letter or digit in any
    script does; after a CJK full stop anything does (those scripts have no case or spaces)."""
    if text[m.start()] in "。！？":
        return True
    nxt = _NEXT_START.match(text, end, limit)
    if not nxt or nxt.end() - nxt.start() < 2 or not text[end].isspace():
        return False
    c = nxt.group(1)
    return c.isupper() or c.isdigit() or c in "$€£" or not (c.isalpha() and c.lower() != c.upper())


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at ``dot`` closes an abbreviation or an initial, not a sentence."""
    m = _WORD_BEFORE.search(text, max(0, dot - 12), dot + 1)
    if not m:
        return False
    word = m.group(1).lower()
    if word in _ABBREVIATIONS:
        return True
    # Initials and dotted acronyms: "J.", "U.N.", "a.m."
    return bool(re.fullmatch(r"(?:[a-z]\.)*[a-z]", word))


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[Sentence]:
    pieces = []
    while end - start > max_chars:
        window = text[start : start + max_chars]
        cut = max(window.rfind("; "), window.rfind(", "), window.rfind(": "))
        if cut < max_chars // 3:
            cut = window.rfind(" ")
        cut = start + (cut + 1 if cut > 0 else max_chars)
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        pieces.append(Sentence(start, piece_end))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        pieces.append(Sentence(start, end))
    return pieces


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[Sentence]:
    """Sentences of ``text`` as offsets; stripped of surrounding whitespace, in order, disjoint."""
    out: list[Sentence] = []
    para_start = 0
    for para_end in [m.start() for m in _PARA.finditer(text)] + [len(text)]:
        start = para_start
        for m in _END.finditer(text, para_start, para_end):
            end = m.end()
            if not _starts_sentence(text, m, end, para_end):
                continue
            if (
                text[m.start()] == "."
                and m.end() - m.start() == 1
                and _is_abbreviation(text, m.start())
            ):
                continue
            out.extend(_trimmed(text, start, end, max_chars))
            start = end
        out.extend(_trimmed(text, start, para_end, max_chars))
        gap = _PARA.search(text, para_end)
        para_start = gap.end() if gap else len(text)
    return out


def _trimmed(text: str, start: int, end: int, max_chars: int) -> list[Sentence]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        return []
    return _split_long(text, start, end, max_chars)

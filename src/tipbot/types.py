"""The small frozen records passed between pipeline stages.

parse → Post → chunk → Chunk → (index) → retrieve → Hit → extract → Quote → Answer → render
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# Marks text left out of a quote: between parts that are not adjacent, or a cut sentence.
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Post:
    """One blog post, as every reader produces it.

    ``text`` is the quotable body: paragraphs separated by blank lines, link-text leftovers
    ("Read more") removed. Quotes are cut from it by character offsets, so it must never be
    rewritten after parsing.
    """

    id: str
    title: str
    date: dt.date | None
    url: str
    labels: tuple[str, ...]
    text: str
    source: str = ""  # "file" or "file:line", for messages only

    @property
    def fingerprint(self) -> str:
        """Content hash: a changed post gets a new fingerprint, an unchanged one keeps it."""
        from tipbot.textutil import content_hash

        date = self.date.isoformat() if self.date else ""
        return content_hash(
            self.id, self.title, date, self.url, "\x1f".join(self.labels), self.text
        )


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of a post: ``post.text[start:end]``."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """A token-bounded run of whole sentences of one post: ``post.text[start:end]``."""

    post_id: str
    ordinal: int  # position of the chunk within its post
    start: int
    end: int
    sentence_start: int  # index of the first sentence of the post in this chunk
    sentence_end: int  # one past the last
    n_tokens: int  # tiktoken tokens of the chunk text


@dataclass(frozen=True, slots=True)
class ReadIssue:
    """A file or line a reader could not use. Named in warnings and counted in summaries."""

    source: str  # "path" or "path:line"
    problem: str

    def __str__(self) -> str:
        return f"{self.source}: {self.problem}"


@dataclass(frozen=True, slots=True)
class Hit:
    """A post found by retrieval, with the chunk that matched it best."""

    post_index: int
    chunk_index: int
    score: float  # the fused score that ranks hits
    dense: float  # cosine similarity of the best chunk with the question


@dataclass(frozen=True, slots=True)
class Quote:
    """A verbatim passage of a post that answers the question."""

    post_id: str
    title: str
    date: dt.date | None
    url: str
    link: str  # url with a text fragment that highlights the quote
    text: str  # verbatim parts of the post; " … " joins parts that are not adjacent
    spans: tuple[tuple[int, int], ...]  # each part is post.text[start:end]
    score: float
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    answered: bool
    results: tuple[Quote, ...]
    # When the archive has nothing that answers, the closest posts are still worth naming.
    closest: tuple[Quote, ...] = field(default=())
    note: str = ""  # e.g. "question was shortened to 512 tokens"
    # The earlier questions of a conversation the answer was found with, newest first; empty
    # when the question stood alone.
    context: tuple[str, ...] = ()

"""Hit → Quote: the sentences of a post that answer the question, cut verbatim by offsets.

Sentences are scored by cosine similarity with the question (vectors computed at build time),
word overlap weighted by rarity across the archive and within the post, whether the sentence
holds the kind of thing asked for (a number for "how many"), and closeness to the chunk that
retrieval matched, less a discount for restating the title and for being the post's lede. The
best sentence is always quoted; up to ``max_sentences`` in all are taken by score while they
fit in ``max_chars``; a sentence one away from those chosen brings the sentence between first,
so that quotes read on where they can; and a strong first companion too long to fit whole is
quoted in part (the run of its clauses that holds most of the question's words). Sentences are
shown in the post's order: neighbours are joined as they stand, parts that are not adjacent are
joined with " … ", and a part that starts or ends inside a sentence is marked with "…". Every
part is verbatim.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote as percent

import numpy as np

from tipbot.config import AnswerConfig
from tipbot.index.store import IndexData
from tipbot.lexical import analyze, terms_present
from tipbot.types import ELLIPSIS, Hit, Quote


@dataclass(frozen=True)
class QuoteSettings:
    """How quotes are built: the lengths from ``[answer]`` (``from_config``), and the hand
    weights of sentence scoring, the quoting stage's own (README, "How a quote is chosen")."""

    max_sentences: int
    max_chars: int
    w_dense: float = 1.0
    w_lexical: float = 0.6
    w_local: float = 0.3
    w_in_chunk: float = 0.1
    # Bonus for a sentence holding what the question asks for (a number for "how many", a
    # name for "who") that the question does not already contain.
    w_answer_type: float = 0.15
    # A name counts as an answer only if its rarest word is in at most this share of chunks:
    # a share, not an idf, so it means the same at any archive size (README, "How a quote is
    # chosen").
    common_name_share: float = 0.05
    # Sentences that restate the post's title match every question about the post; the
    # answer is usually elsewhere. This much is taken off per share of title words repeated.
    w_title: float = 0.5
    # The post's first sentence (a news lede) sums the post up, so it resembles any question
    # about the post; the asked-for detail is usually further down (README, "How a quote is
    # chosen").
    w_lead: float = 0.2
    # A further sentence joins the quote only if it scores at least this share of the best…
    min_ratio: float = 0.3
    # …or, for a sentence that is not next to one already chosen (it would be joined by " … "),
    # this share: a quote in scattered pieces must earn each piece.
    min_ratio_apart: float = 0.6
    # …and has at least this many words: headings, bylines and "From the OSCE:" carry no
    # answer of their own.
    min_words: int = 6
    # The first sentence to join the best, if it scores at least this share of the best but is
    # too long for what is left of max_chars, is quoted in part: its run of clauses holding
    # most of the question's words.
    trim_share: float = 0.6
    # …if at least this many characters are left for it.
    min_trim_chars: int = 80

    @classmethod
    def from_config(cls, answer: AnswerConfig) -> QuoteSettings:
        return cls(max_sentences=answer.max_sentences, max_chars=answer.max_quote_chars)


@dataclass(frozen=True)
class Scored:
    """Sentence rows of one post with their scores; ``best`` indexes into them."""

    rows: np.ndarray
    scores: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    best: int
    # The best sentence before the lede discount: the evidence that the post answers at all.
    # (The discount is a preference among a post's sentences, not evidence against the post;
    # abstention was calibrated without it.)
    evidence: int
    # The question's term ids → idf, for choosing the part of a long sentence to quote.
    query: dict[int, float]


_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozen|half)\b",
    re.I,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’.-]*[A-Za-z]")
_YEAR_OR_DATE = re.compile(
    r"\b(?:1[89]\d\d|20\d\d)\b|\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\b"
)
_ASKS = (
    (
        "number",
        re.compile(
            r"\bhow (?:many|much|long|often|old|big|large)\b"
            r"|\bwhat (?:number|percentage|share|proportion|amount|sum|fraction)\b"
            r"|\bwhat per ?cent",
            re.I,
        ),
    ),
    ("date", re.compile(r"\bwhen\b|\bwhat (?:year|date|month|day)\b|\bwhich year\b", re.I)),
    (
        "name",
        re.compile(
            r"\bwho(?:se|m)?\b|\bwhich\b"
            r"|\bwhat (?:\w+ )?(?:city|country|town|place|organi[sz]ation|group|agency|company"
            r"|office|ngo|channel|name|body|firm|ministry|charity|network|magazine|newspaper)\b"
            r"|\bwhere\b|\bname\b",
            re.I,
        ),
    ),
)


def expected_answer(question: str) -> str | None:
    """What kind of thing the question asks for: "number", "date", "name", or None."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return None


def answer_type_evidence(
    kind: str | None,
    question: str,
    sentences: list[str],
    common: Callable[[str], bool] = lambda name: False,
) -> np.ndarray:
    """1.0 for sentences holding something of the expected kind that the question lacks.

    For names, ``common(name)`` rules out names most of the archive mentions ("United
    Nations", "Europe"): a post's lede names those too, and they are rarely who a "who" or
    "which" question is after.
    """
    if kind is None:
        return np.zeros(len(sentences), dtype=np.float32)
    pattern = {"number": _NUMBER, "date": _YEAR_OR_DATE, "name": _NAME}[kind]
    ql = question.lower()

    def counts(found: str) -> bool:
        return found.lower() not in ql and not (kind == "name" and common(found))

    return np.array(
        [any(counts(m.group(0)) for m in pattern.finditer(s)) for s in sentences],
        dtype=np.float32,
    )


def common_in_archive(data: IndexData, share: float) -> Callable[[str], bool]:
    """name → True when even its rarest word is in more than ``share`` of the archive's chunks."""
    lex = data.lexical
    limit = share * lex.n_docs
    seen: dict[str, bool] = {}  # a post repeats its names

    def common(name: str) -> bool:
        if name not in seen:
            ids = lex.term_ids(analyze(name))
            seen[name] = bool(ids.size) and int(lex.df(ids).min()) > limit
        return seen[name]

    return common


def lexical_overlap(has: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word overlap of each sentence with the question: two float (n,) arrays in [0, 1].

    has: float (n sentences, q terms), 1 where the sentence holds the question's term.
    weights: float (q terms,), each term's idf.
    global: share of the question's idf mass (rarity across the archive) in the sentence.
    local: the same with each term also weighted by its rarity within the post. The words that
    name the post's topic are in most of its sentences and in the question too; the words
    that pick out *the* sentence ("funded", "1,800") are rare within the post.
    """
    n = has.shape[0]
    if has.shape[1] == 0 or n == 0:
        return np.zeros(n, np.float32), np.zeros(n, np.float32)
    df = has.sum(axis=0)
    local_w = weights * np.log1p(n / np.maximum(df, 1)) * (df > 0)
    total, total_local = weights.sum(), local_w.sum()
    glob = has @ weights / total if total > 0 else np.zeros(n, np.float32)
    local = has @ local_w / total_local if total_local > 0 else np.zeros(n, np.float32)
    return glob.astype(np.float32), local.astype(np.float32)


def query_terms(data: IndexData, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The question's distinct terms known to the archive: (term ids, idf), sorted by id."""
    ids = data.lexical.term_ids(terms)
    return ids, data.lexical.idf(ids).astype(np.float32)


@dataclass(frozen=True)
class Features:
    """What the index tells about each sentence of one post, beside the question: arrays of
    (n sentences,), float32. The hand-weighted score and the reader's preselection read these.
    """

    rows: np.ndarray  # global sentence rows, in the post's order
    sentences: list[str]
    dense: np.ndarray  # cosine with the question
    lexical: np.ndarray  # share of the question's idf mass held (global rarity)
    local: np.ndarray  # the same with words also weighted by rarity within the post
    in_chunk: np.ndarray  # 1 inside the chunk retrieval matched
    typed: np.ndarray  # 1 when holding the kind of thing asked for (answer_type_evidence)
    title: np.ndarray  # share of the title's words repeated
    query: dict[int, float]  # the question's term ids → idf


def sentence_features(
    data: IndexData,
    hit: Hit,
    qvec: np.ndarray,
    question: str,
    term_ids: np.ndarray,
    idf: np.ndarray,
    s: QuoteSettings,
) -> Features:
    """Features of every sentence of the hit's post. term_ids, idf: from ``query_terms``."""
    p = hit.post_index
    s0, s1 = int(data.post_sent[p]), int(data.post_sent[p + 1])
    rows = np.arange(s0, s1)
    sims = np.asarray(data.sentence_vectors[s0:s1]) @ qvec
    has = terms_present(data.sentence_terms, s0, s1, term_ids)
    lex, local = lexical_overlap(has, idf)
    text = data.posts[p].text
    sentences = [
        text[a:b] for a, b in zip(data.sent_start[s0:s1], data.sent_end[s0:s1], strict=True)
    ]
    c = hit.chunk_index
    in_chunk = (rows >= data.chunk_sent_start[c]) & (rows < data.chunk_sent_end[c])
    common = common_in_archive(data, s.common_name_share)
    typed = answer_type_evidence(expected_answer(question), question, sentences, common)
    query = dict(zip(term_ids.tolist(), idf.tolist(), strict=True))
    return Features(
        rows,
        sentences,
        sims.astype(np.float32),
        lex,
        local,
        in_chunk.astype(np.float32),
        typed,
        data.sent_title_share[s0:s1],
        query,
    )


def hand_scores(f: Features, s: QuoteSettings) -> tuple[np.ndarray, np.ndarray]:
    """(score with the lede discount, score without it): the hand-weighted sum that chooses
    quotes when the reader is off."""
    plain = (
        s.w_dense * f.dense
        + s.w_lexical * f.lexical
        + s.w_local * f.local
        + s.w_in_chunk * f.in_chunk
        + s.w_answer_type * f.typed
        - s.w_title * f.title
    )
    lead = np.zeros_like(plain)
    lead[0] = s.w_lead
    return (plain - lead).astype(np.float32), plain.astype(np.float32)


def hand_scored(f: Features, s: QuoteSettings) -> Scored:
    """A post's features scored by hand weights, ready to quote."""
    scores, plain = hand_scores(f, s)
    return Scored(
        f.rows, scores, f.dense, f.lexical, int(np.argmax(scores)), int(np.argmax(plain)), f.query
    )


Piece = tuple[int, int, int]  # (position in Scored.rows, start, end in the post's text)


def choose_sentences(data: IndexData, sc: Scored, s: QuoteSettings) -> list[Piece]:
    """The sentences to quote, in the post's order, each with the span quoted of it (the whole
    sentence, or part of a long one); the best is always in, whole."""
    starts, ends = data.sent_start[sc.rows], data.sent_end[sc.rows]
    lengths = ends - starts
    text = data.posts[int(data.sent_post[sc.rows[0]])].text
    words = [len(text[a:b].split()) for a, b in zip(starts, ends, strict=True)]
    b0 = sc.best
    chosen: list[Piece] = [(b0, int(starts[b0]), int(ends[b0]))]
    chars = int(lengths[b0])
    # Ratios are taken above the post's weakest sentence: scores can be negative (the title
    # discount), and a ratio of a negative best would admit nothing or everything.
    base = float(sc.scores.min())
    top = float(sc.scores[sc.best]) - base

    def share(i: int) -> float:
        return (float(sc.scores[i]) - base) / top if top > 0 else 0.0

    def could_join(i: int) -> bool:
        """Would sentence i join next to a chosen one (the rule for an adjacent sentence)?"""
        return share(i) >= s.min_ratio and words[i] >= s.min_words

    def take(i: int) -> None:
        nonlocal chars
        chosen.append((i, int(starts[i]), int(ends[i])))
        chars += int(lengths[i])

    first_companion = True
    for i in (int(x) for x in np.argsort(-sc.scores, kind="stable")):
        if len(chosen) >= s.max_sentences or share(i) < s.min_ratio:
            break
        adjacent = any(abs(i - j) == 1 for j, _, _ in chosen)
        if (
            any(i == j for j, _, _ in chosen)  # the best, or a sentence taken in between
            or (not adjacent and share(i) < s.min_ratio_apart)
            or words[i] < s.min_words
        ):
            continue
        # One sentence away from the quote: the sentence between goes in first, if it could
        # join on its own merits (a quote that reads on is one passage; the one between is
        # often the answer that the question's words missed, as in "The training sessions
        # are funded by …"). Then this one follows if there is still room.
        two_away = (j for j, _, _ in chosen if abs(i - j) == 2)
        between = None if adjacent else next(((i + j) // 2 for j in two_away), None)
        if (
            between is not None
            and could_join(between)
            and chars + int(lengths[between]) <= s.max_chars
        ):
            take(between)
            if len(chosen) >= s.max_sentences:
                break
        if chars + int(lengths[i]) <= s.max_chars:
            take(i)
            first_companion = False
        elif (
            first_companion and share(i) >= s.trim_share and s.max_chars - chars >= s.min_trim_chars
        ):
            # The best's strongest companion, too long to join it whole (a list, a run-on
            # sentence): the part that fits and holds most of the question's words; then the
            # quote is full.
            part = clause_window(
                text, int(starts[i]), int(ends[i]), s.max_chars - chars, data, sc.query
            )
            if part is not None and len(text[part[0] : part[1]].split()) >= s.min_words:
                chosen.append((i, *part))
                break
    return sorted(chosen)


# A clause ends at a comma, semicolon or colon followed by a space (the mark stays with it).
_CLAUSE_END = re.compile(r"[,;:](?=\s)")


def clause_window(
    text: str, start: int, end: int, budget: int, data: IndexData, query: dict[int, float]
) -> tuple[int, int] | None:
    """The run of whole clauses of ``text[start:end]`` of at most ``budget`` characters that
    holds the most of the question's idf, then the earliest (a sentence's opening carries its
    subject and verb), then the longest; its closing clause mark dropped, so the quote shows
    the cut. None when no clause fits."""
    cuts = [start, *(m.end() for m in _CLAUSE_END.finditer(text, start, end)), end]
    # Each clause without the space after the previous one's mark.
    clauses = [
        (a + len(text[a:b]) - len(text[a:b].lstrip()), b)
        for a, b in itertools.pairwise(cuts)
        if text[a:b].strip()
    ]
    held = [set(data.lexical.term_ids(analyze(text[a:b])).tolist()) for a, b in clauses]
    best: tuple[tuple[float, int, int], tuple[int, int]] | None = None
    for i, (a, _) in enumerate(clauses):
        terms: set[int] = set()
        for j in range(i, len(clauses)):
            b = clauses[j][1]
            shown_end = b - 1 if text[b - 1] in ",;:" else b
            if shown_end - a > budget:
                break
            terms |= held[j]
            key = (sum(query.get(t, 0.0) for t in terms), -a, shown_end - a)
            if best is None or key > best[0]:
                best = (key, (a, shown_end))
    return None if best is None else best[1]


def _parts(data: IndexData, sc: Scored, chosen: list[Piece]) -> list[tuple[int, int, bool, bool]]:
    """The quote's parts: (start, end, starts a sentence, ends a sentence). Runs of adjacent
    sentences quoted whole are one part; a sentence quoted in part is a part of its own."""
    parts: list[tuple[int, int, bool, bool]] = []
    prev = -2
    for i, start, end in chosen:
        r = sc.rows[i]
        opens, closes = start == int(data.sent_start[r]), end == int(data.sent_end[r])
        if parts and i == prev + 1 and parts[-1][3] and opens:
            parts[-1] = (parts[-1][0], end, parts[-1][2], closes)
        else:
            parts.append((start, end, opens, closes))
        prev = i
    return parts


_SENTENCE_ENDS = frozenset(".!?…:;\"'”’)]")


def make_quote(data: IndexData, hit: Hit, sc: Scored, chosen: list[Piece], score: float) -> Quote:
    post = data.posts[hit.post_index]
    text = post.text
    parts = _parts(data, sc, chosen)
    spans = [(start, end) for start, end, _, _ in parts]
    shown = []
    for k, (start, end, whole_start, whole_end) in enumerate(parts):
        body = text[start:end]
        before = text[max(0, start - 8) : start]
        # A part that starts or ends inside a sentence (cut at a clause, or a sentence the
        # splitter cut for length) says so.
        opens = whole_start and (
            start == 0 or "\n" in before or before.rstrip()[-1:] in _SENTENCE_ENDS
        )
        closes = whole_end and (body[-1:] in _SENTENCE_ENDS or end >= len(text.rstrip()))
        lead = "" if opens or k > 0 else ELLIPSIS
        shown.append(f"{lead}{body}{'' if closes else ELLIPSIS}")
    joined = shown[0]
    for part in shown[1:]:
        joined = joined + (" " if joined.endswith(ELLIPSIS) else f" {ELLIPSIS} ") + part
    return Quote(
        post_id=post.id,
        title=post.title,
        date=post.date,
        url=post.url,
        link=fragment_link(
            post.url,
            [text[a:b] for a, b in spans],
            before=[f"{post.title}\n{text[:a]}" for a, _ in spans],
        ),
        text=joined,
        spans=tuple(spans),
        score=round(float(score), 4),
        labels=post.labels,
    )


def _fragment_part(text: str) -> str:
    # Text fragments reserve '-', ',' and '&'; everything outside unreserved characters is
    # percent-encoded.
    return percent(text, safe="").replace("-", "%2D")


def _folded(text: str) -> str:
    # Browsers match text fragments regardless of case, and any run of white space as one.
    return " ".join(text.split()).casefold()


def fragment_link(
    url: str, parts: list[str], words: int = 4, before: list[str] | None = None
) -> str:
    """``url#:~:text=…&text=…``: a browser scrolls to the quoted parts and highlights them.

    One ``text=`` directive per part: short parts are matched whole, longer ones by their
    first and last few words (``text=start,end``). A match cannot cross a block of the page,
    so each part is cut to its first paragraph. The browser highlights the first match on the
    page, so opening words that ``before[i]`` (what the page shows ahead of part i: the title,
    the post's text before it) already holds are lengthened until they are not met there.
    """
    directives = []
    for k, quoted in enumerate(parts):
        tokens = quoted.split("\n")[0].split()
        if not tokens:
            continue
        ahead = _folded(before[k]) if before else ""
        n = words
        while n < len(tokens) and _folded(" ".join(tokens[:n])) in ahead:
            n += 1
        # The closing words are the fewest that are not met sooner inside the part: the page
        # may break a line (<br>) where the post's text reads on, and a match cannot cross
        # that break, so fewer words are less likely to straddle one.
        m = 1
        while n + m < len(tokens) and _folded(" ".join(tokens[-m:])) in _folded(
            " ".join(tokens[n:-m])
        ):
            m += 1
        if len(tokens) <= n + m:
            directives.append(f"text={_fragment_part(' '.join(tokens))}")
        else:
            directives.append(
                f"text={_fragment_part(' '.join(tokens[:n]))},"
                f"{_fragment_part(' '.join(tokens[-m:]))}"
            )
    base = url.split("#", 1)[0]
    return f"{base}#:~:{'&'.join(directives)}" if directives else base

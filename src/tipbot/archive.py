"""The one object the CLI, the bot and the evaluator share: an index loaded once, many questions.

    archive = Archive.open(load_config())          # loads the model; builds the index if needed
    answer = archive.ask("Who funds victims of trafficking?", k=3)

``ask`` is thread-safe: the loaded index is an immutable snapshot, and ``reload`` swaps in a new
one with a single assignment, so a question in flight finishes on the snapshot it started with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tipbot import abstain as abstention
from tipbot import extract, followup, reading, retrieve
from tipbot.choice import FollowupChoice, Reading, Side, answer_followup
from tipbot.config import Config, FollowupDecision, Rerank
from tipbot.conversation import Turn
from tipbot.embed import Embedder
from tipbot.errors import ConfigError, IndexError_, IndexMissing, QuestionError
from tipbot.index import IndexData, build_index, check_settings, corpus_changed, load_current
from tipbot.index.build import Progress, corpus_present
from tipbot.index.store import current_build_name
from tipbot.lexical import analyze
from tipbot.reader import Reader
from tipbot.scorer import LinearScorer
from tipbot.tokens import encoding
from tipbot.types import Answer, Hit, Quote

# Question vectors kept for the questions follow-ups are read with (a few kB each).
_VECTORS_KEPT = 512

# Terminal colour and cursor codes pasted along with a question.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@dataclass(frozen=True)
class _Question:
    """A question as ``ask`` prepared it, for each reading of it."""

    question: str  # as asked
    text: str  # cleaned: what is embedded, read and quoted for
    qvec: np.ndarray
    k: int
    mode: retrieve.Mode
    filters: retrieve.Filters
    abstain: bool
    note: str
    use_reader: bool
    reader_settings: reading.ReaderSettings  # how many posts and sentences the reader reads
    cache: reading.ReadCache  # what the reader read, shared by the readings


class Archive:
    def __init__(self, cfg: Config, embedder: Embedder, data: IndexData) -> None:
        self.cfg = cfg
        self.embedder = embedder
        self.data = data
        self._reload_lock = threading.Lock()
        self._embed_lock = threading.Lock()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.quote_settings = extract.QuoteSettings.from_config(cfg.answer)
        self.reader: Reader | None = None
        self.scorer: LinearScorer | None = None
        self.abstention: abstention.ReaderAbstention | None = None
        self.choice: FollowupChoice | None = None
        self.reranker: reading.Reranker | None = None
        self.reader_settings = reading.ReaderSettings.from_config(cfg.answer)
        if cfg.answer.reader:
            # The question encoder's word table is the reader's too (frozen in training).
            word = embedder.questions.word if embedder.questions is not None else None
            self.reader = Reader(word=word)
            try:
                self.scorer = LinearScorer()
                self.abstention = abstention.ReaderAbstention()
                if cfg.answer.rerank == Rerank.MODEL:
                    self.reranker = reading.Reranker()
                if cfg.conversation.decide == FollowupDecision.MODEL:
                    self.choice = FollowupChoice()
            except (OSError, ValueError, KeyError) as e:
                raise ConfigError(
                    f"cannot read the reader's settings ({type(e).__name__}: {e}): reinstall "
                    "tipbot, or set [answer] reader = false to answer without the reader "
                    '(or [conversation] decide = "margin" if only models/followup.json fails, '
                    '[answer] rerank = "weight" if only models/rerank.json does)'
                ) from None

    # ---- opening and reloading -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        cfg: Config,
        *,
        embedder: Embedder | None = None,
        build_if_needed: bool = True,
        progress: Progress | None = None,
        on_build: Callable[[str], None] | None = None,
    ) -> Archive:
        """Load model and index. With ``build_if_needed``, a missing or stale index is (re)built
        first (``on_build`` is told why); otherwise a missing index is IndexMissing."""
        embedder = embedder or Embedder(cfg.model)
        data = None
        reason = None
        try:
            data = load_current(cfg.index.dir)
            check_settings(cfg, data.manifest, embedder.name)
            # An index deployed without its corpus still answers; it just cannot be refreshed.
            if corpus_present(cfg) and corpus_changed(cfg, data.manifest):
                reason = "the corpus changed since the index was built: updating it"
        except IndexMissing:
            if not build_if_needed:
                raise
            reason = f"no index in {cfg.index.dir} yet: building it"
        except IndexError_ as e:
            if not build_if_needed:
                raise
            # Damaged or built with other settings, and the corpus is at hand: rebuild, say so.
            data = None
            reason = f"the index cannot be used ({e}); rebuilding it"
        if reason and build_if_needed:
            if on_build:
                on_build(reason)
            # An update reuses the vectors of unchanged posts; it falls back to a full build
            # by itself when the old index is unusable.
            build_index(cfg, embedder, progress, incremental=data is not None, wait=True)
            data = load_current(cfg.index.dir)
        assert data is not None  # loaded, built, or IndexMissing/IndexError_ raised above
        return cls(cfg, embedder, data)

    def reload_if_changed(self) -> bool:
        """Load the published build if it is newer than ours. False when nothing changed.

        A build that cannot be loaded leaves the current snapshot answering (the caller logs).
        """
        with self._reload_lock:
            name = current_build_name(self.cfg.index.dir)
            if name is None or name == self.data.build_id:
                return False
            fresh = load_current(self.cfg.index.dir)
            check_settings(self.cfg, fresh.manifest, self.embedder.name)
            self.data = fresh  # one assignment: questions in flight keep their snapshot
            return True

    # ---- answering -------------------------------------------------------------------------

    def clean_question(self, question: str) -> tuple[str, str]:
        """(question fit to search, note). Control characters go, whitespace collapses, and a
        very long question is cut to ``max_question_tokens`` so any input costs bounded work."""
        text = _ANSI.sub(" ", question)
        text = "".join(
            " " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text
        )
        text = re.sub(r"\s+", " ", text).strip()
        if not text:
            raise QuestionError(
                "the question is empty: ask something, e.g. tipbot ask "
                '"Who runs the UN trust fund for victims?"'
            )
        if not any(c.isalnum() for c in text):
            raise QuestionError(
                f"the question {text[:40]!r} has no words to search for: ask with words"
            )
        enc = encoding(self.cfg.chunking.tokenizer)
        limit = self.cfg.answer.max_question_tokens
        # Cut characters first so a 10 MB question is never tokenised whole.
        tokens = enc.encode_ordinary(text[: limit * 16])
        note = ""
        if len(tokens) > limit:
            text = enc.decode(tokens[:limit]).strip()
            note = f"the question was shortened to its first {limit} tokens"
        return text, note

    def ask(
        self,
        question: str,
        k: int | None = None,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        label: str | None = None,
        mode: retrieve.Mode = retrieve.Mode.HYBRID,
        abstain: bool = True,
        reader: bool | None = None,
        context: Sequence[Turn] = (),
    ) -> Answer:
        """Answer a question with up to ``k`` quotes.

        ``abstain``: as users get it, declining when nothing answers and leaving out later
        posts that do not answer; False quotes the first ``k`` posts whatever they hold (the
        evaluator's rankings). ``reader``: None follows the config; False answers without the
        reader (hand-weighted quotes), as ``[answer] reader = false`` does. ``context``: the
        earlier turns of the conversation the question continues (``tipbot.followup``); the
        answer's ``context`` names the earlier questions it was found with."""
        data = self.data  # one snapshot for the whole question
        text, note = self.clean_question(question)
        k = self.cfg.retrieval.k if k is None else k
        if k <= 0:
            raise QuestionError(f"the number of results must be at least 1, got {k}")
        use_reader = self.reader is not None and reader is not False
        qvec = self.embed(text)
        conv = self.cfg.conversation
        widened = followup.context_query(
            text,
            qvec,
            context,
            lambda q: self.embed(self.clean_question(q)[0]),
            conv,
            lambda turn: followup.quoted_vector(data, turn),
        )
        settings = self.reader_settings
        if widened is not None:
            # A message in a conversation ranks the posts of both its readings by the rule, not
            # the fitted ranking: that was fitted on questions asked alone, and it weighs the
            # best sentence's cosine with a follow-up's own few words above the search the
            # conversation widened; the choice between the readings was fitted on them ranked
            # so (README, "Reranking the posts read").
            settings = dataclasses.replace(settings, rerank=Rerank.WEIGHT)
        q = _Question(
            question,
            text,
            qvec,
            k,
            mode,
            retrieve.Filters(since, until, label),
            abstain,
            note,
            use_reader,
            settings,
            reading.ReadCache(),
        )
        alone = self._answer(data, q, text, qvec)
        if widened is None:
            return alone.answer
        rows = data.post_rows
        earlier = [rows[p] for p in widened.posts if p in rows]
        # The reading with context reads fewer sentences: a follow-up costs about 1.5 questions.
        lighter = dataclasses.replace(
            settings, depth=conv.reader_posts, per_post=conv.reader_sentences
        )
        q = dataclasses.replace(q, reader_settings=lighter)
        joint = self._answer(
            data,
            q,
            widened.text,
            widened.vector,
            dict.fromkeys(earlier, conv.post_weight),
            earlier if conv.read_earlier else (),
        )
        return answer_followup(alone, joint, widened.used, conv, self.choice, q.abstain)

    def _answer(
        self,
        data: IndexData,
        q: _Question,
        search_text: str,
        search_vec: np.ndarray,
        bonus: dict[int, float] | None = None,
        keep: Sequence[int] = (),
    ) -> Reading:
        """``q`` read with its posts found by ``search_text`` and ``search_vec`` (the
        question's own, or widened by its conversation). The belief is the reader's
        probability that the first post answers, or the hand rules' relevance. ``bonus``: post
        index → added to its rank by the reader; ``keep``: posts the reader reads even when
        retrieval ranks them past its depth (the latest answer's posts)."""
        depth = max(q.k, q.reader_settings.depth) if q.use_reader else q.k
        hits = retrieve.search(
            data, search_vec, search_text, depth, self.cfg.retrieval, q.mode, q.filters
        )
        if not hits:
            return Reading(Answer(q.question, False, (), note=q.note), -1.0)
        if q.use_reader:
            if keep:
                hits, added = retrieve.with_posts(data, hits, keep, search_vec, depth, q.filters)
                deeper = dataclasses.replace(q.reader_settings, depth=depth + added)
                q = dataclasses.replace(q, reader_settings=deeper)
            return self._read(data, hits, q, bonus)
        quotes, evidence = self.quote(data, hits, q.qvec, q.text)
        belief = evidence[0].relevance
        note = q.note
        if q.abstain:
            a = self.cfg.answer
            missing = abstention.unknown_names(q.text, data.lexical)
            answered, why = abstention.decide(
                evidence[0], missing, a.min_score, a.unknown_name_min_score
            )
            if not answered:
                note = "; ".join(x for x in (note, why) if x)
                declined = Answer(q.question, False, (), closest=tuple(quotes), note=note)
                return Reading(declined, belief, tuple(quotes), tuple(quotes))
        answer = Answer(q.question, True, tuple(quotes), note=note)
        return Reading(answer, belief, tuple(quotes), tuple(quotes))

    def _read(
        self, data: IndexData, hits: list[Hit], q: _Question, bonus: dict[int, float] | None
    ) -> Reading:
        """The reader's answer: the first posts reranked by what the reader found, declined or
        shown by its evidence.
        Users get every post read (``k`` of them at most); the evaluator's longer rankings
        (``abstain`` off) have the posts past ``reader_posts`` quoted by hand weights."""
        assert self.reader is not None and self.scorer is not None
        assert self.abstention is not None
        s = q.reader_settings
        k, text = q.k, q.text
        term_ids, idf = extract.query_terms(data, analyze(text))
        depth = max(k, s.depth) if q.abstain else s.depth
        readings = reading.read(
            data,
            hits[:depth],
            q.qvec,
            text,
            self.reader,
            self.scorer,
            self.quote_settings,
            s,
            term_ids,
            idf,
            self.cfg.model.query_threads,
            reranker=self.reranker,
            bonus=bonus,
            cache=q.cache,
        )
        quotes: list[Quote] = []
        for r in readings[:k]:
            chosen = extract.choose_sentences(data, r.scored, self.quote_settings)
            quotes.append(extract.make_quote(data, r.hit, r.scored, chosen, r.answer))
        if k > len(quotes):
            quotes += self.quote(data, hits[depth:k], q.qvec, text)[0]
        unknown = bool(abstention.unknown_names(text, data.lexical))
        # A follow-up's evidence is its own, as asked, even in the reading with context: the
        # widened vector's sentence cosine answered more follow-ups on validation but also
        # an off-topic one (README, "Conversations").
        evidence = readings[0].evidence(unknown)
        belief = self.abstention.probability(evidence)
        side = Side(belief, evidence)
        every = tuple(quotes)
        if not q.abstain:
            return Reading(Answer(q.question, True, every, note=q.note), belief, every, every, side)
        shown = tuple(
            x
            for i, (x, r) in enumerate(zip(quotes, readings[:k], strict=True))
            if i == 0 or r.answer >= s.min_shown
        )
        if belief < s.min_answer:
            declined = Answer(q.question, False, (), closest=every, note=q.note)
            return Reading(declined, belief, every, shown, side)
        return Reading(Answer(q.question, True, shown, note=q.note), belief, every, shown, side)

    def embed(self, text: str) -> np.ndarray:
        """The question's unit vector; a conversation's earlier questions are embedded once."""
        with self._embed_lock:
            vec = self._vectors.get(text)
            if vec is not None:
                self._vectors.move_to_end(text)
                return vec
        vec = self.embedder.encode_one(text)
        with self._embed_lock:
            self._vectors[text] = vec
            while len(self._vectors) > _VECTORS_KEPT:
                self._vectors.popitem(last=False)
        return vec

    def forget_vectors(self) -> None:
        """Drop the kept question vectors, so the next question is embedded as a new one is
        (benchmarks time each question that way)."""
        with self._embed_lock:
            self._vectors.clear()

    def quote(
        self, data: IndexData, hits: list[Hit], qvec: np.ndarray, text: str
    ) -> tuple[list[Quote], list[abstention.Evidence]]:
        """Each hit quoted by the hand weights, with the evidence that it answers."""
        term_ids, idf = extract.query_terms(data, analyze(text))
        quotes: list[Quote] = []
        feats: list[abstention.Evidence] = []
        for hit in hits:
            f = extract.sentence_features(data, hit, qvec, text, term_ids, idf, self.quote_settings)
            sc = extract.hand_scored(f, self.quote_settings)
            chosen = extract.choose_sentences(data, sc, self.quote_settings)
            quotes.append(extract.make_quote(data, hit, sc, chosen, hit.score))
            feats.append(
                abstention.Evidence(
                    float(sc.dense[sc.evidence]), float(sc.lexical[sc.evidence]), hit.dense
                )
            )
        return quotes, feats

"""The one object the CLI, the bot and the evaluator share: an index loaded once, many questions.

    archive = Archive.open(load_config())          # loads the model; builds the index if needed
    answer = archive.ask("Who funds victims of trafficking?", k=3)

``ask`` is thread-safe: the loaded index is an immutable snapshot, and ``reload`` swaps in a new
one with a single assignment, so a question in flight finishes on the snapshot it started with.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import unicodedata
from collections.abc import Callable

import numpy as np

from tipbot import abstain as abstention
from tipbot import extract, reading, retrieve
from tipbot.config import Config
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

# Terminal colour and cursor codes pasted along with a question.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class Archive:
    def __init__(self, cfg: Config, embedder: Embedder, data: IndexData) -> None:
        self.cfg = cfg
        self.embedder = embedder
        self.data = data
        self._reload_lock = threading.Lock()
        self.quote_settings = extract.QuoteSettings(
            max_sentences=cfg.answer.max_sentences, max_chars=cfg.answer.max_quote_chars
        )
        self.reader: Reader | None = None
        self.scorer: LinearScorer | None = None
        self.abstention: abstention.ReaderAbstention | None = None
        self.reader_settings = reading.ReaderSettings.from_config(cfg.answer)
        if cfg.answer.reader:
            # The question encoder's word table is the reader's too (frozen in training).
            word = embedder.questions.word if embedder.questions is not None else None
            self.reader = Reader(word=word)
            try:
                self.scorer = LinearScorer()
                self.abstention = abstention.ReaderAbstention()
            except (OSError, ValueError, KeyError) as e:
                raise ConfigError(
                    f"cannot read the reader's settings ({type(e).__name__}: {e}): reinstall "
                    "tipbot, or set [answer] reader = false to answer without the reader"
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
        embedder = embedder or Embedder(
            cfg.model.path, cfg.model.batch_size, cfg.model.threads, cfg.model.query_threads
        )
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
                'the question is empty: ask something, e.g. tipbot ask "Who runs the UN trust fund for victims?"'
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
    ) -> Answer:
        """Answer a question with up to ``k`` quotes.

        ``abstain``: as users get it, declining when nothing answers and leaving out later
        posts that do not answer; False quotes the first ``k`` posts whatever they hold (the
        evaluator's rankings). ``reader``: None follows the config; False answers without the
        reader (hand-weighted quotes), as ``[answer] reader = false`` does."""
        data = self.data  # one snapshot for the whole question
        text, note = self.clean_question(question)
        k = self.cfg.retrieval.k if k is None else k
        if k <= 0:
            raise QuestionError(f"the number of results must be at least 1, got {k}")
        use_reader = self.reader is not None and reader is not False
        qvec = self.embedder.encode_one(text)
        depth = max(k, self.reader_settings.depth) if use_reader else k
        hits = self.search(data, qvec, text, depth, mode, retrieve.Filters(since, until, label))
        if not hits:
            return Answer(question, False, (), note=note)
        if use_reader:
            return self._read(data, hits, qvec, text, question, k, abstain, note)
        quotes, evidence = self.quote(data, hits, qvec, text)
        if abstain:
            a = self.cfg.answer
            missing = abstention.unknown_names(text, data.lexical)
            answered, why = abstention.decide(
                evidence[0], missing, a.min_score, a.unknown_name_min_score
            )
            if not answered:
                note = "; ".join(x for x in (note, why) if x)
                return Answer(question, False, (), closest=tuple(quotes), note=note)
        return Answer(question, True, tuple(quotes), note=note)

    def _read(
        self,
        data: IndexData,
        hits: list[Hit],
        qvec: np.ndarray,
        text: str,
        question: str,
        k: int,
        abstain: bool,
        note: str,
    ) -> Answer:
        """The reader's answer: the first posts reranked by what the reader found, declined or
        shown by its evidence.
        Users get every post read (``k`` of them at most); the evaluator's longer rankings
        (``abstain`` off) have the posts past ``reader_posts`` quoted by hand weights."""
        assert self.reader is not None and self.scorer is not None
        s = self.reader_settings
        term_ids, idf = extract.query_terms(data, analyze(text))
        depth = max(k, s.depth) if abstain else s.depth
        readings = reading.read(
            data, hits[:depth], qvec, text, self.reader, self.scorer, self.quote_settings,
            s, term_ids, idf, self.cfg.model.query_threads,
        )  # fmt: skip
        quotes: list[Quote] = []
        for r in readings[:k]:
            chosen = extract.choose_sentences(data, r.scored, self.quote_settings)
            quotes.append(extract.make_quote(data, r.hit, r.scored, chosen, r.answer))
        if k > len(quotes):
            quotes += self.quote(data, hits[depth:k], qvec, text)[0]
        if not abstain:
            return Answer(question, True, tuple(quotes), note=note)
        unknown = bool(abstention.unknown_names(text, data.lexical))
        if self.abstention.probability(readings[0].evidence(unknown)) < s.min_answer:
            return Answer(question, False, (), closest=tuple(quotes), note=note)
        shown = [q for i, (q, r) in enumerate(zip(quotes, readings[:k], strict=True))
                 if i == 0 or r.answer >= s.min_shown]  # fmt: skip
        return Answer(question, True, tuple(shown), note=note)

    def search(
        self,
        data: IndexData,
        qvec: np.ndarray,
        text: str,
        k: int,
        mode: retrieve.Mode,
        filters: retrieve.Filters,
    ) -> list[Hit]:
        r = self.cfg.retrieval
        return retrieve.search(
            data, qvec, text, k, candidates=r.candidates, mode=mode, fusion=r.fusion,
            rrf_k=r.rrf_k, dense_weight=r.dense_weight, sentence_weight=r.sentence_weight,
            overlap_weight=r.overlap_weight,
            filters=filters,
        )  # fmt: skip

    def quote(self, data: IndexData, hits: list[Hit], qvec: np.ndarray, text: str):
        term_ids, idf = extract.query_terms(data, analyze(text))
        quotes, feats = [], []
        for hit in hits:
            sc = extract.score_sentences(data, hit, qvec, text, term_ids, idf, self.quote_settings)
            chosen = extract.choose_sentences(data, sc, self.quote_settings)
            quotes.append(extract.make_quote(data, hit, sc, chosen, hit.score))
            feats.append(
                abstention.Evidence(
                    float(sc.dense[sc.evidence]), float(sc.lexical[sc.evidence]), hit.dense
                )
            )
        return quotes, feats

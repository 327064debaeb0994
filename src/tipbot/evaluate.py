"""How well the archive answers a question set: ranking, quotes, abstention and latency.

    qs = load_questions("tests/data/devset.jsonl")
    report = evaluate(archive, qs.questions)
    report.to_json()["metrics"]["recall@1"]

Per question, each retrieval mode (lexical, dense, hybrid) ranks posts with
``archive.ask(q, k, mode=m, abstain=False, reader=False)``: retrieval alone, hand-weighted
quotes. The ``reader`` mode is hybrid retrieval with the reader reranking the first posts,
quoted as ``[answer] quotes`` says (when the config has the reader on). The *pipeline* is
what a user gets: ``archive.ask(q)`` with the config's k and abstention on, timed for latency.
It ranks posts as the reader mode does (hybrid without a reader), so its ranking metrics are
that mode's; its quote metrics count only the quotes it shows (none when it declines). With
the reader on, the pipeline is also run with it off (``pipeline_no_reader``: quote and
abstention metrics), so the two stand side by side.

Metrics:

* success@1, recall@1/3/5/10, mrr@10, ndcg@10 over posts, from ir-measures (Success@1, R@k,
  RR@10, nDCG@10) on a run of each question's ranked post ids. Averaged over answerable
  questions only (at least one gold post): an off-topic question has no right post to rank.
  success@1 is "a gold post first"; recall@1 divides by the gold posts, so a question with two
  of them scores at most 0.5 on it.
* answer_in_quote@n: one of the first n quotes comes from a gold post and contains a gold answer
  string. The post must be gold: a number that also turns up in an unrelated post is a
  coincidence, not an answer. Text is compared normalised (case, accents and punctuation
  dropped, whitespace collapsed) and on word boundaries ("30 times" is not in "130 times").
  Averaged over answerable questions that list answers; null when none do.
* quote_chars: the first quote's mean length in characters, over the questions given one. A
  length, not a score: quotes should be short (a whole chunk is not an answer), so no floor
  applies to it.
* abstention (pipeline): declined_unanswerable, the share of off-topic questions declined;
  declined_answerable, the share of answerable ones wrongly declined (lower is better);
  answered_answerable = 1 - declined_answerable.
* latency_ms: p50/p95/p99/mean/max of the pipeline's ``archive.ask`` call, after one warm-up
  question per mode.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ir_measures
import numpy as np
from ir_measures import RR, Measure, Qrel, R, ScoredDoc, Success, nDCG

from tipbot.errors import QuestionError, TipbotError
from tipbot.evaluate_io import Question
from tipbot.retrieve import Mode

if TYPE_CHECKING:
    from tipbot.archive import Archive
    from tipbot.types import Answer

READER = "reader"
MODES = (*(m.value for m in Mode), READER)  # lexical, dense, hybrid, reader
PIPELINE = "pipeline"
RANKING = {
    "success@1": Success @ 1,
    "recall@1": R @ 1,
    "recall@3": R @ 3,
    "recall@5": R @ 5,
    "recall@10": R @ 10,
    "mrr@10": RR @ 10,
    "ndcg@10": nDCG @ 10,
}
QUOTE = ("answer_in_quote@1", "answer_in_quote@3")
LENGTHS = ("quote_chars",)  # reported, never floored: not better when higher
METRICS = (*RANKING, *QUOTE, *LENGTHS)
CURVE_DEPTH = 10
CURVE = tuple(R @ k for k in range(1, CURVE_DEPTH + 1))
ABSTENTION = ("declined_unanswerable", "answered_answerable", "declined_answerable")
LOWER_IS_BETTER = {"declined_answerable"}


# ---- quotes -----------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Case, accents and punctuation gone, whitespace collapsed: "$300,000" → "300000",
    "U.N." → "un", "Al-Nasser" → "al nasser", "DynCorp's" → "dyncorp s". A comma or full stop
    inside a word joins it; other punctuation separates words."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"(?<=\w)[,.](?=\w)", "", text)
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def contains_answer(quote: str, answers: Sequence[str]) -> bool:
    padded = f" {normalise(quote)} "
    return any((a := normalise(ans)) and f" {a} " in padded for ans in answers)


def answer_in_quote(q: Question, quotes: Sequence[tuple[str, str]], n: int) -> bool:
    """One of the first ``n`` (post id, quote) pairs is from a gold post and holds an answer."""
    relevant = q.relevant
    return any(pid in relevant and contains_answer(text, q.answers) for pid, text in quotes[:n])


# ---- running ----------------------------------------------------------------------------------


@dataclass
class Ranking:
    ranked: list[tuple[str, float]]  # (post id, score), scores strictly falling
    quotes: list[tuple[str, str]]  # (post id, quote text), same order


@dataclass
class Outcome:
    question: Question
    modes: dict[str, Ranking]  # the modes run, hybrid always among them
    answered: bool  # the pipeline's answer
    shown: list[tuple[str, str]]  # the quotes the pipeline shows
    latency_ms: float
    # The pipeline with the reader off, when the archive has one: (answered, shown).
    plain: tuple[bool, list[tuple[str, str]]] | None = None


def _falling(scores: Sequence[float]) -> list[float]:
    """Scores rounded for a run file and nudged so each is below the last: trec_eval and
    ir-measures sort by score, so ties would reorder the ranking."""
    out: list[float] = []
    for s in scores:
        s = round(float(s), 6)
        if out and s >= out[-1]:
            s = round(out[-1] - 1e-6, 6)
        out.append(s)
    return out


def _run_modes(modes: Sequence[str], reader: bool = False) -> list[str]:
    """The modes run: those asked for, hybrid always, the reader's whenever there is one (the
    pipeline ranks as it does)."""
    return [m for m in MODES if m in modes or m == "hybrid" or (m == READER and reader)]


def _mode_args(mode: str) -> dict[str, Any]:
    if mode == READER:
        return {"mode": Mode.HYBRID, "reader": True}
    return {"mode": Mode(mode), "reader": False}


def _ask(archive: Archive, q: Question, **kw: Any) -> Answer:
    try:
        return archive.ask(q.text, **kw)
    except QuestionError as e:
        raise TipbotError(f"{q.source}: this question cannot be asked: {e}") from None


def run_questions(
    archive: Archive,
    questions: Sequence[Question],
    *,
    k: int = 10,
    modes: Sequence[str] = MODES,
    progress: Callable[[int, int], None] | None = None,
) -> list[Outcome]:
    """Ask every question in each mode (k posts each; hybrid always, the pipeline ranks with it)
    and through the pipeline (timed)."""
    has_reader = getattr(archive, "reader", None) is not None
    modes = _run_modes([m for m in modes if m != READER or has_reader], has_reader)
    if questions:  # warm-up: first calls pay for lazy loading and caches
        for mode in modes:
            _ask(archive, questions[0], k=k, abstain=False, **_mode_args(mode))
        _ask(archive, questions[0])
    outcomes = []
    for i, q in enumerate(questions, 1):
        rankings = {}
        for mode in modes:
            res = _ask(archive, q, k=k, abstain=False, **_mode_args(mode)).results
            ranked = list(
                zip([r.post_id for r in res], _falling([r.score for r in res]), strict=True)
            )
            rankings[mode] = Ranking(ranked, [(r.post_id, r.text) for r in res])
        start = time.perf_counter()
        answer = _ask(archive, q)
        ms = (time.perf_counter() - start) * 1000
        shown = [(r.post_id, r.text) for r in answer.results]
        plain = None
        if has_reader:
            off = _ask(archive, q, reader=False)
            plain = (off.answered, [(r.post_id, r.text) for r in off.results])
        outcomes.append(Outcome(q, rankings, answer.answered, shown, ms, plain))
        if progress:
            progress(i, len(questions))
    return outcomes


# ---- scoring ----------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def ranking_per_question(outcomes: Sequence[Outcome], mode: str) -> dict[str, dict[Measure, float]]:
    """qid → {measure: value} from ir-measures, for answerable questions; a question whose
    ranking is empty scores 0 on everything."""
    judged = [o for o in outcomes if o.question.answerable]
    qrels = [Qrel(o.question.qid, d, rel) for o in judged for d, rel in o.question.gold.items()]
    run = [ScoredDoc(o.question.qid, d, s) for o in judged for d, s in o.modes[mode].ranked]
    measures = {*RANKING.values(), *CURVE}
    values = {o.question.qid: dict.fromkeys(measures, 0.0) for o in judged}
    if run:
        for m in ir_measures.iter_calc(list(measures), qrels, run):
            values[m.query_id][m.measure] = float(m.value)
    return values


@dataclass
class Report:
    metrics: dict[str, float | None]
    modes: dict[str, dict[str, float | None]]
    abstention: dict[str, Any]
    latency_ms: dict[str, float | None]
    curves: dict[str, list[float | None]]  # mode → recall@1..10
    latencies: list[float]
    run: dict[str, list[tuple[str, float]]]  # the pipeline's ranking, for a run file
    per_question: list[dict[str, Any]]
    answerable: int
    with_answers: int
    # The pipeline with the reader off (ranking, quotes, abstention), when there is a reader.
    plain: dict[str, Any] | None = None

    @property
    def questions(self) -> int:
        return len(self.per_question)

    def to_json(self, per_question: bool = False) -> dict[str, Any]:
        out = {
            "metrics": self.metrics,
            "modes": self.modes,
            "abstention": self.abstention,
            "latency_ms": self.latency_ms,
            "questions": self.questions,
        }
        if self.plain is not None:
            out["pipeline_no_reader"] = self.plain
        if per_question:
            out["per_question"] = self.per_question
        return out


def summarise(outcomes: Sequence[Outcome], modes: Sequence[str] = MODES) -> Report:
    answerable = [o for o in outcomes if o.question.answerable]
    with_answers = [o for o in answerable if o.question.answers]
    per_mode: dict[str, dict[str, Any]] = {}
    curves: dict[str, list[float | None]] = {}
    per_q_rank = {}
    has_reader = bool(outcomes) and READER in outcomes[0].modes
    ranked_by = READER if has_reader else "hybrid"
    # Reported: the modes asked for, and the reader's whenever it ran (it is the pipeline's
    # ranking); hybrid runs always but is shown only when asked for.
    modes = [m for m in MODES if (m in modes or m == READER) and (m != READER or has_reader)]
    for mode in _run_modes(modes, has_reader):
        values = ranking_per_question(outcomes, mode)
        per_q_rank[mode] = values
        metrics = {
            n: _mean([values[o.question.qid][m] for o in answerable]) for n, m in RANKING.items()
        }
        for n in (1, 3):
            hits = [answer_in_quote(o.question, o.modes[mode].quotes, n) for o in with_answers]
            metrics[f"answer_in_quote@{n}"] = _mean(hits)
        metrics["quote_chars"] = _first_quote_chars([o.modes[mode].quotes for o in outcomes])
        per_mode[mode] = metrics
        curves[mode] = [_mean([values[o.question.qid][m] for o in answerable]) for m in CURVE]
    pipeline = {n: per_mode[ranked_by][n] for n in RANKING}
    pipeline.update(_shown_metrics(outcomes, [(o.answered, o.shown) for o in outcomes]))
    abstention = _abstention(outcomes, [o.answered for o in outcomes])
    plain = None
    if has_reader:
        runs = [o.plain or (False, []) for o in outcomes]
        plain = {n: per_mode["hybrid"][n] for n in RANKING}
        plain.update(_shown_metrics(outcomes, runs))
        plain.update(_abstention(outcomes, [a for a, _ in runs]))
    lat = [o.latency_ms for o in outcomes]
    latency: dict[str, float | None] = dict.fromkeys(("p50", "p95", "p99", "mean", "max"))
    if lat:
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        stats = {"p50": p50, "p95": p95, "p99": p99, "mean": np.mean(lat), "max": np.max(lat)}
        latency = {k: round(float(v), 2) for k, v in stats.items()}
    rows = []
    for o in outcomes:
        q = o.question
        row = {
            "id": q.qid,
            "question": q.text,
            "source": q.source,
            "gold": sorted(q.relevant),
            "answerable": q.answerable,
            "answered": o.answered,
            "latency_ms": round(o.latency_ms, 2),
            "ranked": [d for d, _ in o.modes[ranked_by].ranked],
            "metrics": _question_metrics(q, o.shown, per_q_rank[ranked_by].get(q.qid)),
            "modes": {
                m: {
                    "ranked": [d for d, _ in o.modes[m].ranked],
                    "metrics": _question_metrics(q, o.modes[m].quotes, per_q_rank[m].get(q.qid)),
                }
                for m in modes
            },
        }
        rows.append(row)
    return Report(
        metrics=pipeline,
        modes={m: per_mode[m] for m in modes},
        abstention=abstention,
        latency_ms=latency,
        curves={m: curves[m] for m in modes},
        latencies=lat,
        run={o.question.qid: o.modes[ranked_by].ranked for o in outcomes},
        per_question=rows,
        answerable=len(answerable),
        with_answers=len(with_answers),
        plain=plain,
    )


def _shown_metrics(
    outcomes: Sequence[Outcome], runs: Sequence[tuple[bool, list[tuple[str, str]]]]
) -> dict[str, float | None]:
    """Quote metrics of what a pipeline showed: runs[i] = (answered, [(post id, quote)])."""
    out: dict[str, float | None] = {}
    for n in (1, 3):
        out[f"answer_in_quote@{n}"] = _mean(
            [
                answer_in_quote(o.question, shown, n)
                for o, (_, shown) in zip(outcomes, runs, strict=True)
                if o.question.answerable and o.question.answers
            ]
        )
    out["quote_chars"] = _first_quote_chars([shown for _, shown in runs])
    return out


def _abstention(outcomes: Sequence[Outcome], answered: Sequence[bool]) -> dict[str, Any]:
    off = [not a for o, a in zip(outcomes, answered, strict=True) if not o.question.answerable]
    missed = [not a for o, a in zip(outcomes, answered, strict=True) if o.question.answerable]
    declined = _mean(missed)
    return {
        "declined_unanswerable": _mean(off),
        "answered_answerable": None if declined is None else 1 - declined,
        "declined_answerable": declined,
        "unanswerable": len(off),
        "answerable": len(missed),
    }


def _first_quote_chars(quote_lists: Sequence[list[tuple[str, str]]]) -> float | None:
    value = _mean([len(quotes[0][1]) for quotes in quote_lists if quotes])
    return None if value is None else round(value, 1)


def _question_metrics(
    q: Question, quotes: Sequence[tuple[str, str]], ranking: dict[Measure, float] | None
) -> dict[str, float | None]:
    out = {n: (ranking[m] if ranking else None) for n, m in RANKING.items()}
    for n in (1, 3):
        ok = q.answerable and q.answers
        out[f"answer_in_quote@{n}"] = float(answer_in_quote(q, quotes, n)) if ok else None
    out["quote_chars"] = len(quotes[0][1]) if quotes else None
    return out


def evaluate(
    archive: Archive,
    questions: Sequence[Question],
    *,
    k: int = 10,
    modes: Sequence[str] = MODES,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    return summarise(run_questions(archive, questions, k=k, modes=modes, progress=progress), modes)


# ---- floors -----------------------------------------------------------------------------------


def metric_names(modes: Sequence[str] = MODES) -> list[str]:
    """Names --fail-under accepts: pipeline metrics, abstention shares, and mode.metric."""
    return [*METRICS, *ABSTENTION, *(f"{m}.{n}" for m in modes for n in METRICS)]


def parse_floor(text: str, modes: Sequence[str] = MODES) -> tuple[str, float]:
    """'recall@1=0.9' → ('recall@1', 0.9); raises ValueError with the fix."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(f"{text!r}: write METRIC=VALUE, e.g. recall@1=0.9")
    if name in LOWER_IS_BETTER:
        raise ValueError(f"{name} is lower-is-better: put a floor on answered_answerable instead")
    if name.rpartition(".")[2] in LENGTHS:
        raise ValueError(f"{name} is a length, not a score: floors apply to scores only")
    if name not in metric_names(modes):
        raise ValueError(f"unknown metric {name!r}: use one of {', '.join(metric_names(modes))}")
    try:
        return name, float(value)
    except ValueError:
        raise ValueError(f"{text!r}: {value!r} is not a number") from None


def lookup(report: dict[str, Any], name: str) -> float | None:
    mode, dot, metric = name.partition(".")
    value: float | None
    if dot:
        value = report["modes"][mode][metric]
    else:
        value = report["metrics"][name] if name in report["metrics"] else report["abstention"][name]
    return value


def below_floors(report: dict[str, Any], floors: Sequence[tuple[str, float]]) -> list[str]:
    """One line per metric below its floor (or not measured on this question set)."""
    failures = []
    for name, floor in floors:
        value = lookup(report, name)
        if value is None:
            failures.append(f"{name} was not measured on this question set (floor {floor:g})")
        elif value < floor:
            failures.append(f"{name} = {value:.4f} is below its floor {floor:g}")
    return failures

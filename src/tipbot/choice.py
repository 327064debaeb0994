"""Which reading of a follow-up to give, and whether to give one: a learned choice.

A follow-up is read twice (``archive.Archive.ask``): alone, as any question, and with its
conversation. Each reading has the reader's evidence for its first post (``abstain.COLUMNS``)
and the abstention model's probability that it answers. That probability was fitted on
self-contained questions; a follow-up's own words are thin ("How many took part?"), so it
declined many follow-ups it had the right post for, and comparing the two probabilities chose
between readings only as well as each was calibrated.

``FollowupChoice`` is a logistic model over one reading's evidence, both readings' beliefs and
whether the reading is the one with context; it gives the chance that this reading puts a
post that answers first. Both readings are scored; the likelier is kept, and given when its
chance reaches ``[conversation] min_answer``, declined otherwise. It was fitted on
conversations nobody tests on (``training/fit_choice.py``: synthetic conversations from
held-out SQuAD train articles, plain and terse, and DoQA's cooking dev dialogues).
``answer_followup`` makes the follow-up's answer from its two ``Reading``s, by the model or,
with ``[conversation] decide = "margin"`` or without the reader, by the rule before it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tipbot.config import ConversationConfig, FollowupDecision
from tipbot.scorer import load_linear, logistic
from tipbot.types import Answer, Quote

CHOICE_FILE = Path(__file__).resolve().parent / "models" / "followup.json"
# One reading's columns, in this order: its belief and the other reading's (as logits), the
# reader's highest logit in its first post, that post's best sentence cosine with the
# follow-up as asked, its chunk cosine with the reading's search vector, the best share of the
# follow-up's idf mass in a sentence, 1 for the reading with context, 1 when the follow-up
# names something the archive never mentions.
COLUMNS = (
    "belief",
    "other_belief",
    "reader",
    "dense",
    "chunk_dense",
    "lexical",
    "with_context",
    "unknown_name",
)


@dataclass(frozen=True)
class Side:
    """What one reading brings to the choice."""

    belief: float  # the abstention model's probability that it answers
    evidence: np.ndarray  # abstain.COLUMNS of its first post


@dataclass(frozen=True)
class Reading:
    """One reading of a question (``archive.Archive._answer``): its answer as that reading
    alone gives it, and what the choice between a follow-up's readings needs."""

    answer: Answer
    belief: float  # how surely it answers: the reader's probability, or the hand relevance
    quotes: tuple[Quote, ...] = ()  # every post's quote, as the ranking found them
    shown: tuple[Quote, ...] = ()  # the quotes it shows when it answers
    side: Side | None = None  # its first post's evidence, with the reader


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def design(side: Side, other: Side, with_context: bool) -> np.ndarray:
    """``COLUMNS`` for ``side``, read beside ``other``."""
    reader, dense, chunk, lexical, unknown = (float(x) for x in side.evidence)
    return np.array(
        [
            _logit(side.belief),
            _logit(other.belief),
            reader,
            dense,
            chunk,
            lexical,
            float(with_context),
            unknown,
        ]
    )


class FollowupChoice:
    """The fitted model (``models/followup.json``): each reading's chance of answering."""

    def __init__(self, path: Path = CHOICE_FILE) -> None:
        self.weights, self.bias = load_linear(path, COLUMNS)

    @classmethod
    def of(cls, weights: np.ndarray, bias: float) -> FollowupChoice:
        """A model from weights over ``COLUMNS`` (the training script's folds)."""
        model = cls.__new__(cls)
        model.weights, model.bias = np.asarray(weights, dtype=np.float64), float(bias)
        return model

    def probability(self, side: Side, other: Side, with_context: bool) -> float:
        """The chance that ``side`` puts a post that answers first."""
        return logistic(float(design(side, other, with_context) @ self.weights + self.bias))

    def choose(self, alone: Side, joint: Side) -> tuple[bool, float]:
        """(whether the reading with context wins, its chance of answering)."""
        p_alone = self.probability(alone, joint, False)
        p_joint = self.probability(joint, alone, True)
        return (True, p_joint) if p_joint > p_alone else (False, p_alone)


def answer_followup(
    alone: Reading,
    joint: Reading,
    used: tuple[str, ...],
    cfg: ConversationConfig,
    model: FollowupChoice | None,
    abstain: bool,
) -> Answer:
    """A follow-up's answer from its readings alone and with context; ``used``: the earlier
    questions the second was found with. ``abstain`` False: the evaluator's rankings, never
    declined. The rule by ``margin`` answers without the reader (no evidence to weigh), when
    a reading found no posts at all, and where the archive was opened with ``decide =
    "margin"`` (``model`` None: it is loaded only when asked for)."""
    learned = cfg.decide == FollowupDecision.MODEL and model is not None
    if not learned or alone.side is None or joint.side is None:
        if joint.belief > alone.belief + cfg.margin:
            return dataclasses.replace(joint.answer, context=used)
        return alone.answer
    assert model is not None
    with_context, chance = model.choose(alone.side, joint.side)
    pick, context = (joint, used) if with_context else (alone, ())
    first = pick.answer
    if not abstain:
        return dataclasses.replace(first, context=context)
    if chance < cfg.min_answer:
        return Answer(
            first.question, False, (), closest=pick.quotes, note=first.note, context=context
        )
    return Answer(first.question, True, pick.shown, note=first.note, context=context)

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tipbot.scorer import load_linear

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
    def __init__(self, path: Path = CHOICE_FILE) -> None:
        self.weights, self.bias = load_linear(path, COLUMNS)

    def probability(self, side: Side, other: Side, with_context: bool) -> float:
        """The chance that ``side`` puts a post that answers first."""
        z = float(design(side, other, with_context) @ self.weights + self.bias)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def choose(self, alone: Side, joint: Side) -> tuple[bool, float]:
        """(whether the reading with context wins, its chance of answering)."""
        p_alone = self.probability(alone, joint, False)
        p_joint = self.probability(joint, alone, True)
        return (True, p_joint) if p_joint > p_alone else (False, p_alone)

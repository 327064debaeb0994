"""Should tipbot answer at all? Abstention from the top result's evidence.

With the reader (the default), ``ReaderAbstention``: a logistic model over the first post's
evidence, the reader's highest logit among its sentences beside retrieval's cosines and word
overlap and whether the question names something the archive never mentions, fitted on
SQuAD v1.1 train articles (answerable questions, and questions of other articles asked of
them) by ``training/fit_abstain.py``. Its probability that the archive answers is compared
with ``[answer] min_answer``.

Without the reader, two hand rules, calibrated on tests/data (devset and held-out questions,
off-topic ones included):
- relevance: how close the best sentence and chunk are to the question (cosine), plus a little
  for word overlap. General off-topic questions ("banana bread") score far below any real one.
- unknown names: near-domain questions ("How many victims did Brazil identify in 2015?") score
  as high as real ones, because the archive is full of trafficking statistics. But they name
  something — a capitalised name or a number — that the archive never mentions. Such a
  question is declined unless the evidence for its answer is very strong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tipbot.lexical import TOKEN, LexicalIndex, analyze
from tipbot.scorer import load_linear, logistic

ABSTAIN_FILE = Path(__file__).resolve().parent / "models" / "abstain.json"
# The first post's evidence, in this order: the reader's highest logit in the post, the best
# sentence cosine, the chunk cosine, the best share of the question's idf mass in a
# sentence, and 1 when the question names something the archive never mentions.
COLUMNS = ("reader", "dense", "chunk_dense", "lexical", "unknown_name")


class ReaderAbstention:
    def __init__(self, path: Path = ABSTAIN_FILE) -> None:
        self.weights, self.bias = load_linear(path, COLUMNS)

    def probability(self, evidence: np.ndarray) -> float:
        """The chance that the archive answers, from ``COLUMNS`` in order."""
        z = float(np.asarray(evidence, dtype=np.float64) @ self.weights + self.bias)
        return logistic(z)


@dataclass(frozen=True)
class Evidence:
    dense: float  # cosine of the best sentence with the question
    lexical: float  # share of the question's idf mass in the best sentence
    chunk_dense: float  # cosine of the best chunk

    @property
    def relevance(self) -> float:
        return max(self.dense, self.chunk_dense) + 0.25 * self.lexical


def unknown_names(question: str, lexical: LexicalIndex) -> list[str]:
    """Names and numbers in the question that appear nowhere in the archive.

    A name is a capitalised word that does not open the question; a number is any word with a
    digit. Both are looked up the way the lexical index analyses text.
    """
    missing = []
    for i, word in enumerate(TOKEN.findall(question)):
        named = (i > 0 and word[0].isupper() and word != "I") or any(c.isdigit() for c in word)
        if not named:
            continue
        terms = analyze(word)
        if terms and not any(t in lexical.vocab for t in terms):
            missing.append(word)
    return missing


def decide(
    evidence: Evidence, missing: list[str], min_score: float, unknown_name_min_score: float
) -> tuple[bool, str]:
    """(answered, why not). ``why not`` is empty when answered."""
    if evidence.relevance < min_score:
        return False, ""
    if missing and evidence.relevance < unknown_name_min_score:
        names = ", ".join(f"'{m}'" for m in missing[:5])
        return False, f"the archive never mentions {names}"
    return True, ""

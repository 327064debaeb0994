"""Should tipbot answer at all? Abstention from the top result's evidence.

Two signals, calibrated on tests/data (devset and held-out questions, off-topic ones included):
- relevance: how close the best sentence and chunk are to the question (cosine), plus a little
  for word overlap. General off-topic questions ("banana bread") score far below any real one.
- unknown names: near-domain questions ("How many victims did Brazil identify in 2015?") score
  as high as real ones, because the archive is full of trafficking statistics. But they name
  something — a capitalised name or a number — that the archive never mentions. Such a
  question is declined unless the evidence for its answer is very strong.
"""

from __future__ import annotations

from dataclasses import dataclass

from tipbot.lexical import TOKEN, LexicalIndex, analyze


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

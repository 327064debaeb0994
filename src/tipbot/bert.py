"""The question encoder: the same BERT sentence model, run in numpy.

A question needs one forward pass over ~20 word pieces, milliseconds of work; but importing
torch, transformers and sentence-transformers takes seconds (README, "Performance"), which
would be nearly all of ``tipbot ask``'s start-up. So questions go through this forward pass over the
model's own safetensors weights and tokenizer.json (numpy, scipy's erf, the Rust tokenizer;
together well under a second to import), while index builds, which embed thousands of texts,
use sentence-transformers on torch. A test holds the two to the same vectors.

Only what the packaged model is, is supported: a BERT encoder with absolute positions, mean
pooling and normalisation. ``NumpyBert.supports`` says whether a model folder is of that kind;
any other model is run by sentence-transformers for questions too.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

# What the sentence-transformers folder must say for this forward pass to be the model's own.
_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]


_SQRT_HALF = math.sqrt(0.5)


def _read_json(path: Path) -> dict[str, Any] | list[Any] | None:
    try:
        data: dict[str, Any] | list[Any] | None = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return None


class _BlasCap:
    """Caps BLAS threads while any question is being encoded, from any number of threads.

    The BLAS thread count is process-wide: the first caller in sets it, the last one out puts
    the previous value back, so concurrent questions (the bot's workers) never leave it capped
    or uncapped by the order in which they finish.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        # threadpoolctl has no types: the limiter is its private _ThreadpoolLimiter.
        self._limiter: Any = None
        self._controller: ThreadpoolController | None = None

    @contextmanager
    def cap(self, threads: int) -> Iterator[None]:
        from threadpoolctl import ThreadpoolController

        with self._lock:
            if self._inside == 0:
                # Finding the loaded BLAS libraries scans the process's libraries (~2 ms): once.
                if self._controller is None:
                    self._controller = ThreadpoolController()
                self._limiter = self._controller.limit(limits=threads, user_api="blas")
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0 and self._limiter is not None:
                    self._limiter.restore_original_limits()
                    self._limiter = None


# One for the process: the question encoder and the reader share BLAS's thread setting.
BLAS = _BlasCap()


class NumpyBert:
    """Mean-pooled, unit-length BERT sentence vectors from numpy, for short texts."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        cfg = _read_json(path / "config.json")
        st_cfg = _read_json(path / "sentence_bert_config.json") or {}
        assert isinstance(cfg, dict) and isinstance(st_cfg, dict)
        self.max_pieces = int(st_cfg.get("max_seq_length") or cfg["max_position_embeddings"])
        self.heads = int(cfg["num_attention_heads"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # tokenizer.json carries fixed 128-piece padding and truncation; sentence-transformers
        # replaces both with its own max_seq_length. Here the tokenizer is left unlimited (so
        # counting never mutates it under another thread) and ``encode`` cuts the ids itself.
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        weights = load_file(str(path / "model.safetensors"))
        # Checkpoints saved from BertModel have bare names; from BertFor… they carry "bert.".
        w = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in weights.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.pos = w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = load_layers(w, int(cfg["num_hidden_layers"]))
        self.dim = int(self.word.shape[1])

    @staticmethod
    def supports(path: Path) -> bool:
        """True when the folder holds a BERT + mean pooling + normalise model in safetensors."""
        modules = _read_json(path / "modules.json")
        cfg = _read_json(path / "config.json")
        pooling = _read_json(path / "1_Pooling" / "config.json")
        if not (isinstance(modules, list) and isinstance(cfg, dict) and isinstance(pooling, dict)):
            return False
        kinds = [m.get("type") for m in modules if isinstance(m, dict)]
        pools = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
        return (
            kinds == _MODULES
            and cfg.get("model_type") == "bert"
            and cfg.get("hidden_act") == "gelu"
            and cfg.get("position_embedding_type", "absolute") == "absolute"
            and pools == {"pooling_mode_mean_tokens"}
            and (path / "model.safetensors").is_file()
            and (path / "tokenizer.json").is_file()
        )

    def count_pieces(self, texts: Sequence[str]) -> list[int]:
        """Word pieces each text becomes, [CLS] and [SEP] included, before any truncation."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str], threads: int = 1) -> npt.NDArray[np.float32]:
        """Texts → float32 (len(texts), dim), unit rows. One text at a time: no padding, and a
        question is one text. ``threads`` caps BLAS threads for the call: on a short text more
        threads barely help and spin-wait against everything else on a busy machine."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with BLAS.cap(threads):
            for i, enc in enumerate(self.tokenizer.encode_batch(list(texts))):
                ids = enc.ids
                if len(ids) > self.max_pieces:
                    # What the tokenizer's own truncation does to one sequence: keep the first
                    # pieces and the closing [SEP].
                    ids = ids[: self.max_pieces - 1] + ids[-1:]
                h = self._forward(np.asarray(ids, dtype=np.int64))
                v = h.mean(axis=0)
                out[i] = v / max(float(np.linalg.norm(v)), 1e-12)
        return out

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        """Token ids (n,) → last hidden states (n, dim). Unpadded, so no attention mask."""
        n = len(ids)
        x = layer_norm(self.word[ids] + self.pos[:n] + self.type0, self.emb_ln, self.eps)
        return run_layers(x, self.layers, self.heads, self.eps)


Linear = tuple[np.ndarray, np.ndarray]  # (weight as (in, out), bias)
Norm = tuple[np.ndarray, np.ndarray]  # (scale, shift)
Layer = tuple[Linear, Linear, Norm, Linear, Linear, Norm]  # qkv, out, ln1, up, down, ln2


def load_layers(w: dict[str, np.ndarray], n: int, prefix: str = "encoder.layer.") -> list[Layer]:
    """BERT encoder layers 0…n-1 from a float32 state dict, ready for ``run_layers``."""
    layers = []
    for i in range(n):
        p = f"{prefix}{i}."

        def lin(name: str, p: str = p) -> Linear:
            # Stored (out, in); transposed once here so every matmul is x @ W.
            return np.ascontiguousarray(w[p + name + ".weight"].T), w[p + name + ".bias"]

        # Query, key and value as one matrix: one matmul instead of three.
        q, k, v = (
            lin("attention.self.query"),
            lin("attention.self.key"),
            lin("attention.self.value"),
        )
        qkv = (np.concatenate([q[0], k[0], v[0]], axis=1), np.concatenate([q[1], k[1], v[1]]))
        layers.append(
            (
                qkv,
                lin("attention.output.dense"),
                (
                    w[p + "attention.output.LayerNorm.weight"],
                    w[p + "attention.output.LayerNorm.bias"],
                ),
                lin("intermediate.dense"),
                lin("output.dense"),
                (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
            )
        )
    return layers


def run_layers(
    x: np.ndarray,
    layers: Sequence[Layer],
    heads: int,
    eps: float,
    bounds: Sequence[tuple[int, int]] | None = None,
    activation: str = "gelu",
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Embedded tokens (n, dim) → last hidden states (n, dim).

    ``bounds``: several sequences packed one after another, (start, end) rows each; a token
    attends only within its own sequence. Packing instead of padding keeps every matmul but
    attention one large product over real tokens only (pairs of a question and a sentence
    differ in length by half). ``activation``: "gelu" (exact, with erf: the packaged model's)
    or "gelu_tanh" (the tanh approximation; scipy's float32 erf costs as much as a matmul on
    a batch, tanh a tenth of that).

    ``rows``: ``x`` holds distinct embedded tokens and the sequence is ``x[rows]``. An embedded
    token is a function of its word piece, position and segment alone, so the question that
    opens each of a batch's pairs (and a post's title, shared by its sentences) need only be
    embedded and projected to query, key and value once: the first layer's projection is a
    row-wise product, the same for equal rows. Attention is where rows first differ."""

    d = x.shape[1]
    dh = d // heads
    scale = 1.0 / math.sqrt(dh)  # Python floats keep the arithmetic in float32
    for i, (qkv, out, ln1, up, down, ln2) in enumerate(layers):
        h = _affine(x, qkv)
        if i == 0 and rows is not None:
            h, x = h[rows], x[rows]
        n = x.shape[0]
        spans = bounds or [(0, n)]
        ctx = np.empty((n, d), dtype=x.dtype)
        for a, b in spans:
            m = b - a
            # Contiguous heads: numpy multiplies strided stacks a third slower.
            q = np.ascontiguousarray(h[a:b, :d].reshape(m, heads, dh).transpose(1, 0, 2))
            k = np.ascontiguousarray(h[a:b, d : 2 * d].reshape(m, heads, dh).transpose(1, 2, 0))
            v = np.ascontiguousarray(h[a:b, 2 * d :].reshape(m, heads, dh).transpose(1, 0, 2))
            scores = q @ k  # (heads, m, m)
            scores *= scale
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx[a:b] = (scores @ v).transpose(1, 0, 2).reshape(m, d)
        attended = _affine(ctx, out)
        attended += x
        x = layer_norm(attended, ln1, eps)
        hidden = _affine(_gelu(_affine(x, up), activation), down)
        hidden += x
        x = layer_norm(hidden, ln2, eps)
    return x


def _affine(x: np.ndarray, lin: Linear) -> np.ndarray:
    """x @ W + b, the bias added in place: one array fewer on the reader's batch."""
    y: np.ndarray = x @ lin[0]
    y += lin[1]
    return y


_TANH_SCALE = math.sqrt(2.0 / math.pi)


def _gelu(h: np.ndarray, activation: str) -> np.ndarray:
    """GELU in place on a fresh array."""
    if activation == "gelu_tanh":
        # 0.5 h (1 + tanh(u)) with u = sqrt(2/pi) (h + 0.044715 h^3), torch's approximate="tanh",
        # computed as h / (1 + exp(-2u)), the same function: numpy's float32 exp costs 0.6 of
        # its tanh, and this is a tenth of the reader's time. exp overflowing to inf gives 0,
        # the function's limit.
        inner = h * h
        inner *= -2.0 * 0.044715 * _TANH_SCALE
        inner -= 2.0 * _TANH_SCALE
        inner *= h
        with np.errstate(over="ignore", under="ignore"):
            np.exp(inner, out=inner)
        inner += 1.0
        h /= inner
        return h
    from scipy.special import erf

    exact: np.ndarray = 0.5 * h * (1.0 + erf(h * _SQRT_HALF))  # BERT's exact GELU
    return exact


def layer_norm(x: np.ndarray, ln: Norm, eps: float) -> np.ndarray:
    # LayerNorm with sums rather than .mean(): the same arithmetic, less call overhead on
    # these small arrays (it runs 13 times per question).
    inv_d = 1.0 / x.shape[-1]
    xc = x - x.sum(axis=-1, keepdims=True) * inv_d
    var = np.einsum("ij,ij->i", xc, xc)[:, None] * inv_d
    normed: np.ndarray = xc * (1.0 / np.sqrt(var + eps)) * ln[0] + ln[1]
    return normed

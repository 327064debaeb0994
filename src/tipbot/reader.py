"""The reader: a small cross-encoder that reads a question together with one sentence.

A sentence vector and a question vector are made apart, so they cannot see that "earns more"
is answered by a ranking that names what comes first; a model that reads both at once can.
The reader is the first layers of the packaged all-MiniLM-L6-v2, fine-tuned on SQuAD v1.1
*train* to say whether a sentence answers a question (``training/train_reader.py``; the model
card is ``models/reader/README.md``). Its input is

    [CLS] question [SEP] post title | sentence [SEP]

and its output one logit per pair; sigmoid(logit) is the chance that the sentence holds the
answer, which also tells when nothing in the archive does.

Only what the fine-tuning changed ships (``models/reader/model.safetensors``, float16):
position and segment embeddings, the encoder layers and the head. The word-embedding table
was frozen, so it is read from the packaged model. Questions run the numpy forward pass of
``tipbot.bert`` (no torch on the question path); ``torch_model`` builds the same network in
torch for training and for the test that holds the two together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from tipbot.bert import BLAS, layer_norm, load_layers, run_layers
from tipbot.errors import ConfigError

if TYPE_CHECKING:
    # Only for annotations: the question path never imports torch or transformers.
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

READER_DIR = Path(__file__).resolve().parent / "models" / "reader"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


@dataclass(frozen=True)
class ReaderSpec:
    """The reader's shape and input format, stored beside its weights (``config.json``)."""

    layers: int
    heads: int = 12
    eps: float = 1e-12
    # Word pieces per pair in all, of the question, and of the title (both cut to fit).
    max_pieces: int = 128
    max_question_pieces: int = 40
    max_title_pieces: int = 16
    # "title": the post's title before the sentence; "none": the sentence alone.
    context: str = "title"
    # "gelu_tanh" (trained with torch's tanh approximation: ten times cheaper in numpy than
    # the exact "gelu", which needs erf).
    activation: str = "gelu_tanh"

    @classmethod
    def read(cls, folder: Path) -> ReaderSpec:
        raw = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)


class PairEncoder:
    """(question, title, sentence) → the reader's word-piece ids and segment ids.

    The training script encodes with this very class, so what the model learned on is what it
    reads here."""

    def __init__(self, tokenizer: Tokenizer, spec: ReaderSpec) -> None:
        self.tokenizer = tokenizer
        self.spec = spec
        self.cls = _token_id(tokenizer, "[CLS]")
        self.sep = _token_id(tokenizer, "[SEP]")
        self.bar = _token_id(tokenizer, "|")

    def pieces(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's word-piece ids, without special tokens."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def pair(
        self, question: list[int], title: list[int], sentence: list[int]
    ) -> tuple[list[int], int]:
        """(ids, length of the first segment with [CLS] and [SEP]); the second segment runs to
        the end. The question, the title and then the sentence are cut to fit."""
        s = self.spec
        q = question[: s.max_question_pieces]
        context = [*title[: s.max_title_pieces], self.bar] if s.context == "title" and title else []
        room = s.max_pieces - len(q) - 3
        b = (context + sentence)[:room]
        return [self.cls, *q, self.sep, *b, self.sep], len(q) + 2

    def encode(
        self, question: str, passages: Sequence[tuple[str, str]]
    ) -> list[tuple[list[int], int]]:
        """One (ids, first segment's length) per (title, sentence) of ``passages``."""
        titles = sorted({t for t, _ in passages})
        pieces = self.pieces([question, *titles, *(s for _, s in passages)])
        q, by_title = pieces[0], dict(zip(titles, pieces[1 : 1 + len(titles)], strict=True))
        sents = pieces[1 + len(titles) :]
        return [self.pair(q, by_title[t], ids) for (t, _), ids in zip(passages, sents, strict=True)]


def _token_id(tokenizer: Tokenizer, token: str) -> int:
    id_ = tokenizer.token_to_id(token)
    assert id_ is not None, f"the tokenizer has no {token}"
    return id_


class Reader:
    """Scores (question, sentence) pairs: ``logits(question, [(title, sentence), …])``."""

    def __init__(
        self,
        folder: Path = READER_DIR,
        base: Path | None = None,
        word: npt.NDArray[np.floating[Any]] | None = None,
    ) -> None:
        """``base``: the packaged model folder (word embeddings, tokenizer); ``word``: its
        word-embedding table when the caller has it loaded already (the question encoder)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        from tipbot.embed import packaged_model_path

        base = base or packaged_model_path()
        try:
            self.spec = ReaderSpec.read(folder)
            w = {k: v.astype(np.float32) for k, v in load_file(str(folder / WEIGHTS)).items()}
            if word is None:
                word = load_file(str(base / "model.safetensors"))[
                    "embeddings.word_embeddings.weight"
                ]
            tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
            self.pos = w["embeddings.position_embeddings.weight"]
            self.types = w["embeddings.token_type_embeddings.weight"]
            self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
            self.layers = load_layers(w, self.spec.layers)
            self.head = (w["head.weight"].reshape(-1), float(w["head.bias"].reshape(-1)[0]))
            self.match_scale = float(w["head.match_scale"].reshape(-1)[0])
        # A truncated or foreign file: safetensors raises its own error, a missing tensor KeyError.
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as e:
            raise ConfigError(
                f"cannot read the reader in {folder} ({type(e).__name__}: {e}): reinstall tipbot, "
                "or set [answer] reader = false to answer without it"
            ) from None
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.encoder = PairEncoder(tokenizer, self.spec)
        self.word = word.astype(np.float32, copy=False)

    def logits(
        self, question: str, passages: Sequence[tuple[str, str]], threads: int = 1
    ) -> npt.NDArray[np.float32]:
        """float32 (len(passages),): how strongly each (title, sentence) answers the question.
        ``threads`` caps BLAS threads for the call, as for the question's embedding."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        with BLAS.cap(threads):
            return self.logits_ids(self.encoder.encode(question, passages))

    def logits_ids(self, pairs: Sequence[tuple[list[int], int]]) -> npt.NDArray[np.float32]:
        """The same for pairs encoded already; all pairs run as one packed batch."""
        ids = np.concatenate([np.asarray(p, dtype=np.int64) for p, _ in pairs])
        positions = np.concatenate([np.arange(len(p)) for p, _ in pairs])
        segment = np.concatenate([np.arange(len(p)) >= a for p, a in pairs]).astype(np.int64)
        # Every pair opens with the same question, and a post's sentences share its title: a
        # token at the same place is embedded and projected once (``run_layers``' rows), which
        # spares about two fifths of the first layer's projection (README, "The reader").
        key = (ids * self.pos.shape[0] + positions) * self.types.shape[0] + segment
        _, first, rows = np.unique(key, return_index=True, return_inverse=True)
        ids, positions, segment = ids[first], positions[first], segment[first]
        x = self.word[ids] + self.pos[positions] + self.types[segment]
        x = layer_norm(x, self.emb_ln, self.spec.eps)
        ends = np.cumsum([len(p) for p, _ in pairs])
        bounds = list(zip([0, *ends[:-1].tolist()], ends.tolist(), strict=True))
        h = run_layers(
            x, self.layers, self.spec.heads, self.spec.eps, bounds, self.spec.activation, rows
        )
        cls = h[[a for a, _ in bounds]]
        unit = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
        match = np.array(
            [
                _max_sim(unit[a : a + first - 1], unit[a + first : b - 1])
                for (a, b), (_, first) in zip(bounds, pairs, strict=True)
            ],
            dtype=np.float32,
        )
        return (cls @ self.head[0] + self.head[1] + self.match_scale * match).astype(np.float32)


def _max_sim(question: np.ndarray, passage: np.ndarray) -> float:
    """Mean over the question's word pieces (after [CLS]) of the best cosine with a piece of
    the passage (title and sentence, before the closing [SEP]): unit rows in, 0 if empty."""
    if len(question) <= 1 or len(passage) == 0:
        return 0.0
    return float((question[1:] @ passage.T).max(axis=1).mean())


_TORCH_ACTIVATION = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh"}


class ReaderHead(Protocol):
    """What ``torch_head`` builds: a torch module (its class needs torch imported)."""

    linear: torch.nn.Linear
    match_scale: torch.nn.Parameter

    def __call__(
        self, h: torch.Tensor, types: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor: ...

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any: ...


def torch_head(dim: int, match_scale: float = 8.0) -> ReaderHead:
    """The reader's head: a linear map of [CLS] plus ``match_scale`` times the MaxSim match of
    question and passage pieces (``_max_sim``). [CLS] starts at zero weight, so the untrained
    reader ranks by soft word overlap (identical and related pieces match), a strong start
    that the fine-tuning then corrects: trained from [CLS] alone, two layers learned too
    slowly for a CPU's budget (pilots in ``training/train_reader.py``'s docstring)."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(dim, 1)
            torch.nn.init.zeros_(self.linear.weight)
            torch.nn.init.zeros_(self.linear.bias)
            self.match_scale = torch.nn.Parameter(torch.tensor([match_scale]))

        def forward(self, h: torch.Tensor, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            unit = torch.nn.functional.normalize(h, dim=-1)
            question = (types == 0) & (mask > 0)
            question[:, 0] = False  # [CLS]
            question &= torch.roll(question, -1, dims=1)  # not the [SEP] that closes it
            passage = (types == 1) & (mask > 0)
            passage &= torch.roll(passage, -1, dims=1)  # not the closing [SEP]
            sim = unit @ unit.transpose(1, 2)
            sim = sim.masked_fill(~passage[:, None, :], -2.0)
            best = sim.max(dim=-1).values * question
            match = best.sum(-1) / question.sum(-1).clamp(min=1)
            first: torch.Tensor = self.linear(h[:, 0])  # the [CLS] row
            return first.squeeze(-1) + self.match_scale * match

    return Head()


def torch_model(base: Path, spec: ReaderSpec) -> tuple[BertModel, ReaderHead]:
    """The reader in torch: the packaged model's first ``spec.layers`` layers and its head
    (``torch_head``). Returns (bert, head); ``load_torch`` loads trained weights into them."""
    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(
        str(base), num_hidden_layers=spec.layers, hidden_act=_TORCH_ACTIVATION[spec.activation]
    )
    bert = BertModel(config, add_pooling_layer=False)
    from safetensors.torch import load_file

    state = {
        k.removeprefix("bert."): v for k, v in load_file(str(base / "model.safetensors")).items()
    }
    bert.load_state_dict({k: v for k, v in state.items() if k in bert.state_dict()}, strict=False)
    return bert, torch_head(config.hidden_size)


def trained_state(bert: BertModel, head: ReaderHead) -> dict[str, torch.Tensor]:
    """What ships: every tensor the fine-tuning changed (the word embeddings stay frozen)."""
    state = {k: v for k, v in bert.state_dict().items() if k != "embeddings.word_embeddings.weight"}
    state = {k: v for k, v in state.items() if not k.endswith("position_ids")}
    state["head.weight"] = head.linear.weight
    state["head.bias"] = head.linear.bias
    state["head.match_scale"] = head.match_scale
    return {k: v.detach().to("cpu").half().contiguous() for k, v in state.items()}


def load_torch(folder: Path, base: Path) -> tuple[BertModel, ReaderHead, ReaderSpec]:
    """The shipped reader in torch (float32), for the test that holds numpy to it."""
    from safetensors.torch import load_file

    spec = ReaderSpec.read(folder)
    bert, head = torch_model(base, spec)
    state = {k: v.float() for k, v in load_file(str(folder / WEIGHTS)).items()}
    head.load_state_dict(
        {
            "linear.weight": state.pop("head.weight"),
            "linear.bias": state.pop("head.bias"),
            "match_scale": state.pop("head.match_scale"),
        }
    )
    missing = bert.load_state_dict(state, strict=False).missing_keys
    assert set(missing) <= {"embeddings.word_embeddings.weight", "embeddings.position_ids"}, missing
    bert.eval()  # type: ignore[no-untyped-call]  # transformers leaves PreTrainedModel.eval unannotated
    return bert, head, spec


def torch_padded(
    pairs: Sequence[tuple[list[int], int]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Encoded pairs as one padded torch batch: (ids, token types, attention mask)."""
    import torch

    n = max(len(p) for p, _ in pairs)
    ids = torch.zeros((len(pairs), n), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, (p, a) in enumerate(pairs):
        ids[i, : len(p)] = torch.tensor(p)
        types[i, a : len(p)] = 1
        mask[i, : len(p)] = 1
    return ids, types, mask


def torch_logits(
    bert: BertModel, head: ReaderHead, pairs: Sequence[tuple[list[int], int]]
) -> torch.Tensor:
    """Logits of encoded pairs in torch, padded to one batch: float tensor (len(pairs),)."""
    ids, types, mask = torch_padded(pairs)
    h = bert(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
    return head(h, types, mask)

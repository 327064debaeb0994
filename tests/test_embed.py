"""The numpy question encoder gives sentence-transformers' vectors, and answering over a built
index never imports torch (the start-up cost it exists to avoid)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, read_jsonl

from tipbot.bert import NumpyBert
from tipbot.config import ModelConfig
from tipbot.embed import Embedder
from tipbot.errors import ConfigError


def _texts(archive) -> list[str]:
    questions = [q["question"] for q in read_jsonl(DATA / "devset.jsonl")]
    d = archive.data
    sentences = [d.posts[d.sent_post[i]].text[d.sent_start[i] : d.sent_end[i]] for i in range(150)]
    odd = [
        "x",
        "Ünïcödé — “quotes”, 中文, Ελληνικά, emoji 🙂 and \u00a0odd\u2009spaces",
        "AU.COMMIT $300,000 Galnaftogas 2.4 million",
        "trafficking " * 400,  # past the model's 256 word pieces: cut the same way
    ]
    return questions + sentences + odd


def test_question_vectors_match_sentence_transformers(embedder, archive):
    assert embedder.questions is not None, "the packaged model should run in numpy"
    texts = _texts(archive)
    ours = embedder.questions.encode(texts)
    reference = embedder.model.encode(
        texts, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_piece_counts_match_the_reference_tokenizer(embedder, archive):
    texts = _texts(archive)
    reference = embedder.model.tokenizer(texts, add_special_tokens=True, truncation=False)
    assert embedder.count_pieces(texts) == [len(ids) for ids in reference["input_ids"]]
    assert embedder.max_pieces == embedder.model.max_seq_length


def model_copy(tmp_path: Path, embedder, leave_out: str = "") -> Path:
    """A model folder of links to the packaged model's files (all but ``leave_out``), with its
    own 1_Pooling folder for the test to fill."""
    model = tmp_path / "model"
    model.mkdir()
    for f in embedder.path.iterdir():
        if f.is_file() and f.name != leave_out:
            (model / f.name).symlink_to(f)
    (model / "1_Pooling").mkdir()
    return model


def test_other_models_are_left_to_sentence_transformers(tmp_path, embedder):
    model = model_copy(tmp_path, embedder)
    pooling = json.loads((embedder.path / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    (model / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    assert NumpyBert.supports(embedder.path)
    assert not NumpyBert.supports(model)  # CLS pooling is not what the numpy pass computes
    assert not NumpyBert.supports(tmp_path)  # not a model folder at all
    other = Embedder(ModelConfig(path=str(model)))
    assert other.questions is None and other.dim == embedder.dim
    reference = other.model.encode(
        "Who funds victims?", convert_to_numpy=True, normalize_embeddings=True
    )
    assert np.abs(other.encode_one("Who funds victims?") - reference).max() < 1e-6


def test_thread_caps_do_not_change_vectors(embedder):
    one = embedder.questions.encode(["Who pays for the training courses?"], threads=1)
    two = embedder.questions.encode(["Who pays for the training courses?"], threads=2)
    assert np.abs(one - two).max() < 1e-6


FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    from tipbot.archive import Archive
    from tipbot.config import parse_config
    from pathlib import Path

    cfg = parse_config(json.loads(sys.argv[1]), Path(sys.argv[2]))
    answer = Archive.open(cfg).ask("How much did the new UN fund award?")
    heavy = sorted(
        m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules
    )
    print(
        json.dumps({"answered": answer.answered, "quote": answer.results[0].text, "heavy": heavy})
    )
    """
)


def test_answering_over_a_built_index_never_imports_torch(archive, seed_config):
    raw = {
        "corpus": {"paths": [str(p) for p in seed_config.corpus.paths]},
        "index": {"dir": str(seed_config.index.dir)},
    }
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, json.dumps(raw), str(seed_config.index.dir.parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["answered"] and "$300,000" in out["quote"]
    assert out["heavy"] == [], f"the question path imported {out['heavy']}"


def test_the_embedder_loads_sentence_transformers_only_when_asked(embedder):
    fresh = Embedder()
    assert fresh._model is None  # a question encoder alone does not load torch's model
    vec = fresh.encode_one("Who funds victims of trafficking?")
    assert fresh._model is None and vec.shape == (fresh.dim,)


def test_concurrent_questions_leave_blas_threads_as_they_were(embedder):
    import threading

    from threadpoolctl import threadpool_info

    def blas() -> list[tuple[str, int]]:
        return sorted(
            (i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"
        )

    before = blas()
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            for _ in range(5):
                embedder.encode_one("Who pays for the police training courses?")
        except BaseException as e:
            errors.append(e)

    workers = [threading.Thread(target=ask) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    assert blas() == before


def test_a_damaged_model_file_is_one_clear_error(tmp_path, embedder):
    model = model_copy(tmp_path, embedder, leave_out="model.safetensors")
    (model / "1_Pooling" / "config.json").symlink_to(embedder.path / "1_Pooling" / "config.json")
    (model / "model.safetensors").write_bytes(b"\x00" * 64)  # truncated download
    with pytest.raises(ConfigError, match=r"cannot read the model in .*reinstall"):
        Embedder(ModelConfig(path=str(model)))

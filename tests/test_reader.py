"""The reader: it ships and loads offline, its numpy forward pass is torch's, it reads pairs the
way it was trained to, and it tells an answering sentence from its neighbours."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import DATA, read_jsonl

from tipbot import extract, reading, retrieve
from tipbot.bert import _gelu, layer_norm, run_layers
from tipbot.config import AnswerConfig, Rerank
from tipbot.embed import packaged_model_path
from tipbot.errors import ConfigError
from tipbot.extract import Features, QuoteSettings, hand_scores
from tipbot.lexical import analyze
from tipbot.reader import READER_DIR, Reader, ReaderSpec, load_torch, torch_logits
from tipbot.reading import RERANK_FILE, Reranker, blended_scored

QUESTION = "Who pays for the police training courses in Ukraine?"
PASSAGES = [
    (
        "OSCE trains police in Ukraine",
        "The OSCE Project Co-ordinator in Ukraine runs courses for police officers on human "
        "trafficking.",
    ),
    (
        "OSCE trains police in Ukraine",
        "The training sessions are funded by the Danish Foreign Ministry.",
    ),
    (
        "OSCE trains police in Ukraine",
        "Some 1,800 officers have taken part since the project began.",
    ),
    ("Banana bread", "Mash three ripe bananas and fold them into the batter."),
    ("A very long title " * 8, "trafficking " * 200),  # cut to max_pieces
]


@pytest.fixture(scope="module")
def reader(embedder):
    return Reader(word=embedder.questions.word)


def test_the_reader_ships_with_the_package_and_its_card():
    spec = ReaderSpec.read(READER_DIR)
    assert (READER_DIR / "model.safetensors").stat().st_size < 50_000_000
    card = (READER_DIR / "README.md").read_text(encoding="utf-8")
    for must in ("all-MiniLM-L6-v2", "SQuAD", "CC BY-SA 4.0", "training/train_reader.py"):
        assert must in card
    assert 1 <= spec.layers <= 6


def test_numpy_and_torch_give_the_same_logits(reader):
    torch = pytest.importorskip("torch")
    bert, head, _ = load_torch(READER_DIR, packaged_model_path())
    pairs = reader.encoder.encode(QUESTION, PASSAGES)
    ours = reader.logits_ids(pairs)
    with torch.inference_mode():
        reference = torch_logits(bert, head, pairs).numpy()
    assert ours.shape == (len(PASSAGES),) and ours.dtype == np.float32
    assert np.abs(ours - reference).max() < 1e-4, (ours, reference)


def test_pairs_are_cut_to_the_trained_lengths(reader):
    spec = reader.spec
    pairs = reader.encoder.encode("why " * 100, PASSAGES)
    for ids, first in pairs:
        assert len(ids) <= spec.max_pieces
        assert first == spec.max_question_pieces + 2  # [CLS] question [SEP]
        assert ids[0] == reader.encoder.cls and ids[first - 1] == reader.encoder.sep
        assert ids[-1] == reader.encoder.sep


def test_packing_sequences_changes_nothing(reader):
    # Pairs run packed into one batch, attending only within themselves, score as one alone.
    pairs = reader.encoder.encode(QUESTION, PASSAGES)
    together = reader.logits_ids(pairs)
    alone = np.concatenate([reader.logits_ids([p]) for p in pairs])
    assert np.abs(together - alone).max() < 1e-4


def test_run_layers_with_bounds_is_each_sequence_alone(reader):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((11, reader.word.shape[1])).astype(np.float32)
    x = layer_norm(x, reader.emb_ln, reader.spec.eps)
    args = (reader.layers, reader.spec.heads, reader.spec.eps)
    packed = run_layers(x, *args, bounds=[(0, 4), (4, 11)], activation=reader.spec.activation)
    first = run_layers(x[:4], *args, activation=reader.spec.activation)
    second = run_layers(x[4:], *args, activation=reader.spec.activation)
    assert np.abs(packed - np.vstack([first, second])).max() < 1e-5


def test_tanh_gelu_is_torchs_to_the_extremes():
    # Computed through exp, which overflows to inf for large negative inputs: still 0 there.
    torch = pytest.importorskip("torch")
    x = np.linspace(-200.0, 200.0, 40_001, dtype=np.float32)
    with np.errstate(all="raise"):
        ours = _gelu(x.copy(), "gelu_tanh")
    reference = torch.nn.functional.gelu(torch.from_numpy(x), approximate="tanh").numpy()
    assert np.isfinite(ours).all()
    assert np.abs(ours - reference).max() < 1e-5


def test_distinct_rows_run_as_the_whole_batch(reader, embedder):
    # A token repeated across packed pairs (the question opening each) is embedded and
    # projected once: the hidden states are those of the batch given row by row, with the
    # reader's one layer and with the question encoder's six (only the first is shared).
    rng = np.random.default_rng(1)
    distinct = rng.standard_normal((7, reader.word.shape[1])).astype(np.float32)
    distinct = layer_norm(distinct, reader.emb_ln, reader.spec.eps)
    rows = np.array([0, 1, 2, 3, 0, 1, 2, 4, 5, 6, 6])
    bounds = [(0, 4), (4, 11)]
    for layers, activation in (
        (reader.layers, reader.spec.activation),
        (embedder.questions.layers, "gelu"),
    ):
        args = (layers, reader.spec.heads, reader.spec.eps, bounds, activation)
        whole = run_layers(distinct[rows], *args)
        shared = run_layers(distinct, *args, rows)
        assert shared.shape == whole.shape
        assert np.abs(shared - whole).max() < 1e-5


def test_the_answering_sentence_scores_highest(reader):
    # The sentence that answers shares no word with the question but "training"; its
    # neighbours share more. An unrelated sentence scores far below all three.
    z = reader.logits(QUESTION, PASSAGES[:4])
    assert int(np.argmax(z)) == 1, z
    assert z[3] < min(z[:3]), z
    assert 1 / (1 + np.exp(-z[3])) < 0.1


def test_a_damaged_reader_is_one_clear_error(tmp_path, embedder):
    (tmp_path / "config.json").write_text(json.dumps({"layers": 2}))
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ConfigError, match=r"cannot read the reader .*reader = false"):
        Reader(tmp_path, word=embedder.questions.word)


def _features(n: int, dense: list[float]) -> Features:
    zeros = np.zeros(n, dtype=np.float32)
    return Features(
        np.arange(10, 10 + n),
        [f"Sentence {i}." for i in range(n)],
        np.array(dense, dtype=np.float32),
        zeros,
        zeros,
        zeros,
        zeros,
        zeros,
        {},
    )


def test_blended_quotes_add_the_readers_logit_to_the_hand_weights():
    # quotes = "blend": hand + weight × logit; a sentence not read counts one below the
    # lowest logit read, so it wins only by a clear hand-weighted margin.
    s = QuoteSettings.from_config(AnswerConfig())
    f = _features(4, [0.2, 0.5, 0.45, 0.4])
    hand, _ = hand_scores(f, s)
    chosen = np.array([1, 2])  # sentences the reader read
    z = np.array([-3.0, 4.0], dtype=np.float32)
    sc = blended_scored(f, chosen, z, s, 0.3)
    expected = hand + 0.3 * np.array([-4.0, -3.0, 4.0, -4.0])
    np.testing.assert_allclose(sc.scores, expected, rtol=1e-6)
    assert sc.best == 2  # the reader's sentence over the hand weights' favourite (1)
    assert sc.evidence == int(np.argmax(hand_scores(f, s)[1]))
    # With no weight on the reader, the hand weights' favourite again.
    assert blended_scored(f, chosen, z, s, 0.0).best == int(np.argmax(hand))
    # A sentence not read, far ahead on the hand weights, still wins.
    far = _features(4, [0.2, 0.5, 0.45, 9.0])
    assert blended_scored(far, chosen, z, s, 0.3).best == 3


# ---- reranking the posts read ----------------------------------------------------------------


def test_the_shipped_ranking_is_the_one_the_defaults_were_fitted_with():
    raw = json.loads(RERANK_FILE.read_text(encoding="utf-8"))
    assert tuple(raw["columns"]) == Reranker.COLUMNS
    assert AnswerConfig().rerank == Rerank.MODEL
    # The bar to answer was moved with the ranking (fit_rerank.py): the default is that bar.
    assert AnswerConfig().min_answer == raw["validation"]["min_answer"]
    weights = Reranker().weights
    assert np.isfinite(weights).all() and weights[Reranker.COLUMNS.index("reader")] > 0


def _readings(archive, question: str, rerank: Rerank):
    data, text = archive.data, question
    qvec = archive.embedder.encode_one(text)
    s = dataclasses.replace(archive.reader_settings, rerank=rerank)
    hits = retrieve.search(
        data, qvec, text, s.depth, archive.cfg.retrieval, retrieve.Mode.HYBRID, retrieve.Filters()
    )
    term_ids, idf = extract.query_terms(data, analyze(text))
    args = (archive.reader, archive.scorer, archive.quote_settings, s, term_ids, idf)
    readings = reading.read(data, hits, qvec, text, *args, reranker=archive.reranker)
    scores = np.array([h.score for h in hits])
    z = (scores - scores.mean()) / scores.std()
    by_post = dict(zip((h.post_index for h in hits), z, strict=True))
    return readings, by_post


def test_posts_rank_by_the_fitted_weights_or_by_the_rule_before(archive):
    # "model": each post's rank is the fitted sum of retrieval's standardised score and its
    # evidence; "weight": that score plus rerank_weight times the best logit. On the devset's
    # questions both orders follow their own formula, and they differ somewhere.
    questions = [q["question"] for q in read_jsonl(DATA / "devset.jsonl")][:20]
    reranker, w = archive.reranker, archive.reader_settings.rerank_weight
    firsts = set()
    for question in questions:
        model, z = _readings(archive, question, Rerank.MODEL)
        rule, _ = _readings(archive, question, Rerank.WEIGHT)
        for r in model:
            assert r.rank == pytest.approx(reranker.rank(z[r.hit.post_index], r))
        for r in rule:
            assert r.rank == pytest.approx(z[r.hit.post_index] + w * r.logit)
        for ranked in (model, rule):
            assert [r.rank for r in ranked] == sorted((r.rank for r in ranked), reverse=True)
        firsts.add((model[0].hit.post_index, rule[0].hit.post_index))
    assert any(a != b for a, b in firsts)


def test_the_rule_before_needs_no_fitted_ranking(seed_config, embedder, archive):
    from tipbot.archive import Archive

    cfg = seed_config.with_changes(answer={"rerank": "weight", "min_answer": 0.25})
    rule = Archive(cfg, embedder, archive.data)
    assert rule.reranker is None and archive.reranker is not None
    answer = rule.ask("Who funds the police training courses in Ukraine?", 3)
    assert answer.answered and answer.results

"""Index build, update, publication and loading, on the real model and real FAISS."""

import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import SEED, make_config

from tipbot.archive import Archive
from tipbot.chunk import embed_text
from tipbot.errors import (
    CorpusError,
    IndexBusy,
    IndexDamaged,
    IndexError_,
    IndexMismatch,
    IndexMissing,
)
from tipbot.index import build_index, corpus_changed, dense, load_current, store
from tipbot.types import Chunk

EXTRA = {
    "id": "extra-1",
    "title": "Galnaftogas billboards",
    "date": "2010-05-01",
    "text": "Galnaftogas paid for 40 billboards in Lviv. The campaign ran for a month.",
}


def small_seed() -> str:
    """The first four posts of the seed: enough to test the machinery, quick to embed."""
    text = SEED.read_text(encoding="utf-8")
    return text[: text.index("Monday, November 02, 2009")]


def corpus_with(tmp: Path, extra: list[dict] | None = None, seed_text: str | None = None) -> Path:
    corpus = tmp / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "seed.txt").write_text(
        seed_text if seed_text is not None else small_seed(), encoding="utf-8"
    )
    jl = corpus / "extra.jsonl"
    if extra:
        jl.write_text("".join(json.dumps(e) + "\n" for e in extra), encoding="utf-8")
    elif jl.exists():
        jl.unlink()
    return corpus


def test_build_then_load_gives_the_same_vectors_and_offsets(archive):
    data = archive.data
    assert data.manifest["posts"] == 20 and data.dense.ntotal == len(data.chunk_post)
    rows = [0, len(data.chunk_post) // 2, len(data.chunk_post) - 1]
    texts = [
        embed_text(
            data.posts[data.chunk_post[i]],
            Chunk("", 0, int(data.chunk_start[i]), int(data.chunk_end[i]), 0, 0, 0),
        )
        for i in rows
    ]
    fresh = archive.embedder.encode(texts)
    np.testing.assert_allclose(np.asarray(data.chunk_vectors[rows]), fresh, atol=1e-5)
    assert np.allclose(np.linalg.norm(np.asarray(data.chunk_vectors), axis=1), 1.0, atol=1e-5)
    assert data.chunk_vectors.dtype == np.float32
    # A reload from disk is identical.
    again = load_current(archive.cfg.index.dir)
    assert again.posts == data.posts
    np.testing.assert_array_equal(
        np.asarray(again.sentence_vectors), np.asarray(data.sentence_vectors)
    )
    # Sentence offsets point inside their post.
    for r in range(0, len(data.sent_post), 37):
        post = data.posts[data.sent_post[r]]
        assert 0 <= data.sent_start[r] < data.sent_end[r] <= len(post.text)


def test_update_equals_full_build(tmp_path, embedder):
    questions = [
        "Who paid for the billboards in Lviv?",
        "How much did the UN fund award?",
        "Which channel broadcast the Annie Lennox series?",
    ]
    seed = small_seed()
    corpus = corpus_with(tmp_path / "a", [EXTRA])
    cfg = make_config(tmp_path / "a", [corpus])
    build_index(cfg, embedder)
    # Change one post, add one, remove one.
    changed_seed = seed.replace("some $300,000 today", "some $400,000 today")
    corpus_with(
        tmp_path / "a",
        [
            {
                **EXTRA,
                "id": "extra-2",
                "title": "Lviv billboards",
                "text": "Galnaftogas paid for 50 billboards in Lviv.",
            }
        ],
        changed_seed,
    )
    assert corpus_changed(cfg, load_current(cfg.index.dir).manifest)
    report = build_index(cfg, embedder, incremental=True)
    assert report.reused_posts == 3 and report.embedded_chunks < 10
    updated = Archive(cfg, embedder, load_current(cfg.index.dir))

    corpus_b = corpus_with(
        tmp_path / "b",
        [
            {
                **EXTRA,
                "id": "extra-2",
                "title": "Lviv billboards",
                "text": "Galnaftogas paid for 50 billboards in Lviv.",
            }
        ],
        changed_seed,
    )
    cfg_b = make_config(tmp_path / "b", [corpus_b])
    build_index(cfg_b, embedder)
    full = Archive(cfg_b, embedder, load_current(cfg_b.index.dir))

    u, f = updated.data, full.data
    assert [p.id for p in u.posts] == [p.id for p in f.posts]
    for name in ("chunk_post", "chunk_start", "chunk_end", "sent_start", "sent_end", "post_sent"):
        np.testing.assert_array_equal(getattr(u, name), getattr(f, name), err_msg=name)
    np.testing.assert_allclose(np.asarray(u.chunk_vectors), np.asarray(f.chunk_vectors), atol=1e-5)
    np.testing.assert_allclose(u.lexical.lengths, f.lexical.lengths)
    for q in questions:
        a, b = updated.ask(q, 3, abstain=False), full.ask(q, 3, abstain=False)
        assert [r.post_id for r in a.results] == [r.post_id for r in b.results], q
        assert [r.text for r in a.results] == [r.text for r in b.results], q
        assert [r.score for r in a.results] == pytest.approx([r.score for r in b.results], abs=1e-6)
    assert "$400,000" in updated.ask("How much did the UN fund award?", 1).results[0].text
    # Words only the removed post had are gone from both: abstention agrees too.
    assert set(u.lexical.vocab) == set(f.lexical.vocab)
    gone = "How many billboards did Galnaftogas pay for in Lviv, per the first report?"
    assert updated.ask(gone).answered == full.ask(gone).answered
    np.testing.assert_allclose(
        np.asarray(u.sentence_vectors), np.asarray(f.sentence_vectors), atol=1e-5
    )
    assert (
        u.sentence_terms != f.sentence_terms[:, [f.lexical.vocab[t] for t in u.lexical.vocab]]
    ).nnz == 0


def test_a_failed_build_leaves_the_previous_index_answering(tmp_path, embedder, monkeypatch):
    cfg = make_config(tmp_path, [corpus_with(tmp_path)])
    build_index(cfg, embedder)
    before = store.current_build_name(cfg.index.dir)
    corpus_with(tmp_path, [EXTRA])

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(store, "_save_npy", boom)
    with pytest.raises(IndexError_, match=r"disk full.*previous index still answers"):
        build_index(cfg, embedder)
    monkeypatch.undo()
    assert store.current_build_name(cfg.index.dir) == before
    assert len(load_current(cfg.index.dir).posts) == 4
    # The next build cleans the stale temporary folder and publishes.
    build_index(cfg, embedder)
    assert len(load_current(cfg.index.dir).posts) == 5
    assert not [p for p in (cfg.index.dir / "builds").iterdir() if p.name.endswith(".tmp")]


def test_a_build_killed_mid_write_leaves_the_previous_index(tmp_path, embedder):
    """SIGKILL a real build process while it writes; the old index still loads and answers."""
    cfg = make_config(tmp_path, [corpus_with(tmp_path)])
    build_index(cfg, embedder)
    before = store.current_build_name(cfg.index.dir)
    corpus_with(tmp_path, [EXTRA])
    script = textwrap.dedent(f"""
        import os, signal
        from tipbot.index import store
        from tipbot.index.build import build_index
        from tipbot.embed import Embedder
        from conftest import make_config
        from pathlib import Path
        real = store._save_npy
        def save_then_die(path, array):
            real(path, array)
            os.kill(os.getpid(), signal.SIGKILL)  # mid-build, after some files are written
        store._save_npy = save_then_die
        cfg = make_config(Path({str(tmp_path)!r}), [Path({str(tmp_path / "corpus")!r})])
        build_index(cfg, Embedder())
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert store.current_build_name(cfg.index.dir) == before
    archive = Archive(cfg, embedder, load_current(cfg.index.dir))
    assert archive.ask("Who funds the UN trust fund for trafficking victims?").answered
    # The lock died with the process: a new build runs.
    build_index(cfg, embedder)
    assert len(load_current(cfg.index.dir).posts) == 5


def test_a_second_build_refuses_while_one_runs(tmp_path, embedder):
    cfg = make_config(tmp_path, [corpus_with(tmp_path)])
    with (
        store.build_lock(cfg.index.dir),
        pytest.raises(IndexBusy, match="another build is running"),
    ):
        build_index(cfg, embedder)


def test_damaged_missing_and_mismatched_indexes_are_named(tmp_path, embedder):
    cfg = make_config(tmp_path, [corpus_with(tmp_path)])
    with pytest.raises(IndexMissing, match="tipbot index build"):
        load_current(cfg.index.dir)
    build_index(cfg, embedder)
    build_dir = store.current_build_dir(cfg.index.dir)
    # Built with other chunk settings than the config asks for.
    other = make_config(
        tmp_path, [tmp_path / "corpus"], chunking={"max_tokens": 64, "overlap_tokens": 8}
    )
    with pytest.raises(IndexMismatch, match="max_tokens: index has 96, config says 64"):
        Archive.open(other, embedder=embedder, build_if_needed=False)
    # Values from a fixed set are named as written in config.toml.
    other = make_config(tmp_path, [tmp_path / "corpus"], chunking={"tokenizer": "o200k_base"})
    with pytest.raises(
        IndexMismatch, match="tokenizer: index has 'cl100k_base', config says 'o200k_base'"
    ):
        Archive.open(other, embedder=embedder, build_if_needed=False)
    # A truncated file.
    vectors = build_dir / "chunk_vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:1000])
    with pytest.raises(IndexDamaged, match="truncated"):
        load_current(cfg.index.dir)
    # A missing file.
    (build_dir / "dense.faiss").unlink()
    with pytest.raises(IndexDamaged, match="missing"):
        load_current(cfg.index.dir)
    # With the corpus at hand, ask rebuilds and says why.
    said = []
    archive = Archive.open(cfg, embedder=embedder, on_build=said.append)
    assert said and "cannot be used" in said[0]
    assert archive.ask(
        "Who directed the film about the Bosnia peacekeeping scandal?", abstain=False
    ).results


def test_garbage_manifest_and_current_pointer(tmp_path, embedder):
    cfg = make_config(tmp_path, [corpus_with(tmp_path)])
    build_index(cfg, embedder)
    build_dir = store.current_build_dir(cfg.index.dir)
    (build_dir / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexDamaged, match="unreadable"):
        load_current(cfg.index.dir)
    (cfg.index.dir / "CURRENT").write_text("no-such-build\n", encoding="utf-8")
    with pytest.raises(IndexDamaged, match="missing"):
        load_current(cfg.index.dir)
    shutil.rmtree(cfg.index.dir)


def test_empty_corpus_is_a_clear_error(tmp_path, embedder):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.txt").write_text("nothing here", encoding="utf-8")
    cfg = make_config(tmp_path, [tmp_path / "corpus"])
    with pytest.raises(CorpusError, match="no posts found"):
        build_index(cfg, embedder)


def test_strict_turns_problems_into_failure(tmp_path, embedder):
    corpus = corpus_with(tmp_path)
    (corpus / "bad.jsonl").write_text(
        '{"title": "x", "text": "ok"}\n{"title": \n', encoding="utf-8"
    )
    cfg = make_config(tmp_path, [corpus])
    with pytest.raises(CorpusError, match="--strict"):
        build_index(cfg, embedder, strict=True)
    report = build_index(cfg, embedder)
    assert report.posts == 5 and any("bad.jsonl:2" in str(i) for i in report.issues)


def test_a_build_reports_each_step_to_its_progress_bar(tmp_path, embedder):
    cfg = make_config(tmp_path, [corpus_with(tmp_path, [EXTRA])])
    seen: list[tuple[str, int, int]] = []
    build_index(cfg, embedder, lambda stage, done, total: seen.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in seen))
    assert stages == ["chunking", "model", "embedding", "writing"]
    embedded = [(done, total) for stage, done, total in seen if stage == "embedding"]
    assert embedded[0][0] == 0 and embedded[-1][0] == embedded[-1][1] > 0
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(embedded))


def test_an_update_with_nothing_to_do_publishes_nothing_and_loads_no_model(tmp_path, embedder):
    from tipbot.embed import Embedder

    corpus = corpus_with(tmp_path, [EXTRA])
    cfg = make_config(tmp_path, [corpus])
    first = build_index(cfg, embedder)
    # Up to date (a second `ask` that waited for the first one's build sees this): same build.
    again = build_index(cfg, embedder, incremental=True)
    assert again.build_dir == first.build_dir and again.embedded_chunks == 0
    assert store.current_build_name(cfg.index.dir) == first.build_dir.name
    # Only a removal: a new build, and the batch model is never loaded for it.
    (corpus / "extra.jsonl").unlink()
    fresh = Embedder()
    removed = build_index(cfg, fresh, incremental=True)
    assert removed.build_dir != first.build_dir and removed.posts == first.posts - 1
    assert fresh._model is None
    assert "extra-1" not in {p.id for p in load_current(cfg.index.dir).posts}


def test_label_filter_on_posts_with_different_labels(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    posts = [
        ("a", ["Africa", "Labour"], "The Accra office trained 40 labour inspectors in May."),
        ("b", ["Europe"], "The Vienna office trained 30 border guards in June."),
        ("c", ["africa"], "The Nairobi office trained 20 judges in July."),
        ("d", [], "The Lima office trained 10 prosecutors in August."),
    ]
    lines = [
        json.dumps(
            {"id": i, "title": f"Training {i}", "date": "2020-01-01", "labels": lb, "text": t}
        )
        for i, lb, t in posts
    ]
    (corpus / "posts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = make_config(tmp_path, [corpus])
    archive = Archive.open(cfg, embedder=embedder)
    q = "Who did the office train?"

    def ids(label):
        return {r.post_id for r in archive.ask(q, k=4, label=label, abstain=False).results}

    assert ids(None) == {"a", "b", "c", "d"}
    assert ids("AFRICA") == {"a", "c"}  # labels match case-insensitively
    assert ids("labour") == {"a"} and ids("Europe") == {"b"}
    assert ids("Asia") == set()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_an_approximate_index_answers_as_the_exact_one(tmp_path, embedder, kind, monkeypatch):
    corpus = corpus_with(tmp_path)
    cfg = make_config(tmp_path, [corpus], index={"kind": kind})
    approx = Archive.open(cfg, embedder=embedder)
    assert approx.data.manifest["index_kind"] == kind
    exact = Archive.open(make_config(tmp_path / "flat", [corpus]), embedder=embedder)
    q = "How many police officers will the OSCE train in Ukraine?"
    first = exact.ask(q, k=3, abstain=False)
    assert [r.post_id for r in approx.ask(q, k=3, abstain=False).results] == [
        r.post_id for r in first.results
    ]
    # A filtered search past the exact limit steers FAISS with a selector.
    monkeypatch.setattr(dense, "EXACT_SUBSET", 0)
    selectors = []
    real = faiss.IDSelectorBitmap
    monkeypatch.setattr(faiss, "IDSelectorBitmap", lambda *a: selectors.append(a) or real(*a))
    label = first.results[0].labels[0]
    filtered = approx.ask(q, k=3, label=label, abstain=False).results
    assert selectors, "the selector path was not taken"
    assert filtered and all(label in r.labels for r in filtered)

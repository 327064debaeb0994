"""A messy corpus through the real pipeline: binary junk, a Latin-1 file, truncated JSONL lines,
a JSON line that is not a post, broken Atom XML, empty files, an undated post, duplicated posts
and a large post. Every good post is indexed once; every bad file or line is named (file:line)
in the build report and by `tipbot index build`; only a corpus with nothing indexable, a
missing corpus folder or ``--strict`` fails, in one line; nothing raises.

A 10 MB post is read by every reader and chunked in bounded time and memory, measured directly
(embedding 10 MB on two cores would take many minutes; the build test uses a 100 KB post).
"""

from __future__ import annotations

import html
import json
import random
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_config

from tipbot.archive import Archive
from tipbot.cli import main
from tipbot.errors import CorpusError
from tipbot.index import build_index, load_current
from tipbot.parse import read_file

BASE = "https://tipbot-test.blogspot.com"
ROOT = Path(__file__).resolve().parent.parent
BIG_FACT = "the ferry inspectors in Zanzibar counted 1,234 forged work permits"

SHELTERS = {
    "id": "shelters-north",
    "title": "Shelters reopen in the north",
    "date": "2012-02-01",
    "text": "Three shelters for trafficking survivors reopened in the north. Each takes twenty.",
}
HOTLINE = {
    "title": "Hotline calls rise",
    "date": "2012-05-02",
    "text": "Calls to the national trafficking hotline rose by a third in 2012.",
}
UNDATED = {
    "id": "coalition-meets",
    "title": "The coalition meets monthly",
    "text": "The coalition against labour trafficking meets every month to share leads.",
}
ATOM = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns='http://www.w3.org/2005/Atom'>
<entry>
<published>2013-06-01T08:00:00.000+02:00</published>
<title type='text'>Border guards trained</title>
<content type='html'>&lt;p&gt;Two hundred border guards learned to spot \
trafficking.&lt;/p&gt;</content>
</entry>
<entry>
<published>2013-06-02T08:00:00.000+02:00</published>
<title type='text'>Cut off</title>
<content type='html'>&lt;p&gt;The export broke <here
"""
ATOM_BREAK_LINE = 11  # the line expat stops at: "<here" is an unclosed tag


@dataclass(frozen=True)
class Messy:
    corpus: Path
    good_titles: frozenset[str]
    bad: dict[str, str]  # source ("file" or "file:line") → what its problem says


def prose(chars: int, seed: int) -> str:
    """Deterministic paragraphs of plain sentences, about ``chars`` characters."""
    rng = random.Random(seed)
    words = (
        "the fund victims trafficking shelter report labour forced border police court women "
        "children grant support help office survivors network training officers"
    ).split()
    paras, size = [], 0
    while size < chars:
        sents = [
            " ".join(rng.choice(words) for _ in range(rng.randint(5, 24))).capitalize() + "."
            for _ in range(rng.randint(2, 8))
        ]
        paras.append(" ".join(sents))
        size += len(paras[-1]) + 2
    return "\n\n".join(paras)


def write_messy_corpus(root: Path, big_chars: int = 100_000) -> Messy:
    c = root / "corpus"
    c.mkdir(parents=True)
    bad: dict[str, str] = {}
    # JSONL: good lines, an undated post, a cut-off line, lines that are not posts, a repeat.
    lines = [
        json.dumps(SHELTERS),
        json.dumps(HOTLINE),
        json.dumps(UNDATED),
        '{"id": "cut", "title": "Cut off mid-line", "text": "This line was trunc',
        "[1, 2, 3]",
        '{"kind": "comment", "body": "Great post!"}',
        json.dumps(SHELTERS),  # the same post twice in one file
        "",
        "null",
    ]
    (c / "posts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad[f"{c / 'posts.jsonl'}:4"] = "not valid JSON"
    bad[f"{c / 'posts.jsonl'}:5"] = "expected a JSON object, got an array"
    bad[f"{c / 'posts.jsonl'}:6"] = "missing required field 'title'"
    bad[f"{c / 'posts.jsonl'}:9"] = "expected a JSON object, got null"
    # The same post again in another file: indexed once, not a problem.
    (c / "copy.jsonl").write_text(json.dumps(SHELTERS) + "\n", encoding="utf-8")
    # The same id with other content: the first is kept, the clash is named.
    clash = {**SHELTERS, "text": "A different story under the same id."}
    (c / "zz-clash.jsonl").write_text(json.dumps(clash) + "\n", encoding="utf-8")
    bad[f"{c / 'zz-clash.jsonl'}:1"] = "already read from"
    # A legacy Latin-1 file: read, with its accents intact.
    latin = (
        "---\ntitle: Café owners in São Tomé trained\ndate: 2013-03-04\n---\n"
        "Café owners in São Tomé learned to spot the signs of trafficking. Ninety took part.\n"
    )
    (c / "latin1.md").write_bytes(latin.encode("latin-1"))
    # Markdown with no date anywhere: indexed, undated.
    (c / "volunteers.md").write_text(
        "---\ntitle: Volunteers map safe houses\n---\n"
        "Volunteers mapped forty safe houses for people escaping forced labour.\n",
        encoding="utf-8",
    )
    # Atom export that breaks after one good entry.
    (c / "export.xml").write_text(ATOM, encoding="utf-8")
    bad[f"{c / 'export.xml'}:{ATOM_BREAK_LINE}"] = "broken XML"
    # Binary junk, with and without NUL bytes; an image; empty and blank files; plain notes.
    rng = random.Random(7)
    (c / "junk.bin").write_bytes(b"\x00" + bytes(rng.randrange(256) for _ in range(4096)))
    bad[str(c / "junk.bin")] = "binary file"
    (c / "noise.dat").write_bytes(bytes(rng.randrange(1, 256) for _ in range(4096)))
    bad[str(c / "noise.dat")] = "binary file"
    (c / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    bad[str(c / "photo.png")] = "not a text format"
    (c / "empty.md").write_bytes(b"")
    bad[str(c / "empty.md")] = "empty file"
    (c / "blank.txt").write_text("  \n\n\t\n", encoding="utf-8")
    bad[str(c / "blank.txt")] = "empty file"
    (c / "notes.txt").write_text("remember to back up the blog\n", encoding="utf-8")
    bad[str(c / "notes.txt")] = "format not recognised"
    # Hidden files are not part of the corpus at all.
    (c / ".DS_Store").write_bytes(b"\x00\x01junk")
    good = {
        SHELTERS["title"],
        HOTLINE["title"],
        UNDATED["title"],
        "Café owners in São Tomé trained",
        "Volunteers map safe houses",
        "Border guards trained",
    }
    if big_chars:
        body = prose(big_chars, seed=3) + f"\n\nIn the final count, {BIG_FACT}."
        (c / "big.md").write_text(
            f"---\ntitle: A long report on ferries\ndate: 2014-01-01\n---\n{body}\n",
            encoding="utf-8",
        )
        good.add("A long report on ferries")
    return Messy(c, frozenset(good), bad)


def write_config(root: Path, paths: list[str]) -> Path:
    cfg = root / "config.toml"
    cfg.write_text(
        f"[corpus]\npaths = {json.dumps(paths)}\nbase_url = {json.dumps(BASE)}\n"
        '[index]\ndir = "index"\n',
        encoding="utf-8",
    )
    return cfg


def run_cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def session_embedder(embedder, monkeypatch):
    """`tipbot index build` loads its own model; hand it the session's instead."""
    monkeypatch.setattr("tipbot.embed.Embedder", lambda *a, **k: embedder)
    return embedder


# ---- the build ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def messy_build(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("messy")
    messy = write_messy_corpus(root)
    cfg = make_config(root, [messy.corpus]).with_changes(corpus={"base_url": BASE})
    # A build killed earlier left its temporary folder behind.
    stale = cfg.index.dir / "builds" / "20200101T000000-1-000001.tmp"
    stale.mkdir(parents=True)
    (stale / "chunk_vectors.npy").write_bytes(b"half written")
    t0 = time.perf_counter()
    report = build_index(cfg, embedder)
    seconds = time.perf_counter() - t0
    return messy, cfg, report, load_current(cfg.index.dir), seconds


def test_every_good_post_is_indexed_once(messy_build):
    messy, cfg, report, data, seconds = messy_build
    assert seconds < 60, f"the build took {seconds:.0f} s"
    titles = [p.title for p in data.posts]
    assert sorted(titles) == sorted(messy.good_titles)  # each once: duplicates dropped
    assert report.posts == len(data.posts) == len(messy.good_titles)
    by_title = {p.title: p for p in data.posts}
    shelters = by_title[SHELTERS["title"]]
    # Files are read in name order: the copy in copy.jsonl comes first and is kept; the same
    # post twice in posts.jsonl is dropped, and the clash in zz-clash.jsonl is reported.
    assert shelters.text == SHELTERS["text"]
    assert shelters.source == f"{messy.corpus / 'copy.jsonl'}:1"
    assert "Café owners in São Tomé learned" in by_title["Café owners in São Tomé trained"].text
    for title in (UNDATED["title"], "Volunteers map safe houses"):
        post = by_title[title]
        assert post.date is None
        assert post.url.startswith(BASE + "/") and post.url.count("/") == 3  # base/slug.html
    big = by_title["A long report on ferries"]
    assert len(big.text) > 100_000 and big.text.endswith(f"{BIG_FACT}.")
    # The stale temporary folder of the killed build is gone.
    assert not [p for p in (cfg.index.dir / "builds").iterdir() if p.name.endswith(".tmp")]


def test_every_bad_file_and_line_is_named(messy_build):
    messy, _cfg, report, _data, _seconds = messy_build
    named = {i.source: i.problem for i in report.issues}
    assert len(named) == len(report.issues)  # one issue per bad file or line
    assert set(named) == set(messy.bad)
    for source, expected in messy.bad.items():
        assert expected in named[source], (source, named[source])
    # The hidden file is no part of the corpus, and good files raise nothing.
    assert not any(".DS_Store" in s or s.startswith(str(messy.corpus / "big.md")) for s in named)


def test_big_and_undated_posts_answer(messy_build, embedder):
    _messy, cfg, _report, data, _seconds = messy_build
    archive = Archive(cfg, embedder, data)
    answer = archive.ask("How many forged work permits did the ferry inspectors count?", 1)
    assert answer.results[0].title == "A long report on ferries"
    assert "1,234 forged work permits" in answer.results[0].text
    answer = archive.ask("How often does the coalition against labour trafficking meet?", 1)
    assert answer.results[0].title == UNDATED["title"] and answer.results[0].date is None


def test_a_title_field_holding_a_whole_post_is_clipped_and_indexed(tmp_path, embedder):
    """Every chunk is embedded with its post's title: a 4,000-character "title" filled the
    model's 256 word pieces on its own, and cutting chunks to fit never ended."""
    words = prose(4000, seed=5).replace("\n\n", " ")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = "The body of the post is short. It has two sentences."
    (corpus / "a.jsonl").write_text(json.dumps({"title": words, "text": body}), encoding="utf-8")
    (corpus / "b.md").write_text(f"---\ntitle: {words}\n---\n{body}\n", encoding="utf-8")
    (corpus / "c.xml").write_text(
        "<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>"
        f"{words}</title><content>{body}</content></entry></feed>",
        encoding="utf-8",
    )
    (corpus / "d.txt").write_text(f"Tuesday, October 18, 2011\n\n{words}\n", encoding="utf-8")
    for path in sorted(corpus.iterdir()):
        (post,), issues = read_file(path, BASE)
        assert issues == [] and len(post.title) <= 201 and post.title.endswith("…"), path.name
        assert words.startswith(post.title[:-1]), path.name
    cfg = make_config(tmp_path, [corpus / "a.jsonl"])

    def hung(*_args):
        raise TimeoutError("the build did not finish")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        report = build_index(cfg, embedder)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert report.posts == 1 and report.chunks >= 1


# ---- the command ------------------------------------------------------------------------------


def test_index_build_warns_names_and_summarises(tmp_path, session_embedder):
    messy = write_messy_corpus(tmp_path, big_chars=0)
    r = run_cli("--config", write_config(tmp_path, ["corpus"]), "index", "build")
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning: ")]
    assert len(warnings) == len(messy.bad)
    for source, expected in messy.bad.items():
        assert any(w.startswith(f"warning: {source}: ") and expected in w for w in warnings), source
    (summary,) = r.stdout.strip().splitlines()
    assert summary.startswith(f"indexed {len(messy.good_titles)} posts, ")
    assert summary.endswith(f", {len(messy.bad)} problems skipped)")


def test_strict_turns_warnings_into_one_line_failure(tmp_path, session_embedder):
    write_messy_corpus(tmp_path, big_chars=0)
    r = run_cli("--config", write_config(tmp_path, ["corpus"]), "index", "build", "--strict")
    assert r.exit_code == 1
    assert "Traceback" not in r.output and r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: ") and "--strict" in line and "first: " in line
    assert not (tmp_path / "index" / "CURRENT").exists()  # nothing was published


def test_a_corpus_with_nothing_indexable_fails_in_one_line(tmp_path, session_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "junk.bin").write_bytes(bytes(range(256)) * 8)
    (corpus / "posts.jsonl").write_text('{"title": "cut\n[1]\n', encoding="utf-8")
    (corpus / "empty.md").write_bytes(b"")
    r = run_cli("--config", write_config(tmp_path, ["corpus"]), "index", "build")
    assert r.exit_code == 1 and "Traceback" not in r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: no posts found in ") and "(3 files, 4 problems; first: " in line
    assert "[corpus] paths in " in line and str(tmp_path / "config.toml") in line
    # The same through the library.
    with pytest.raises(CorpusError, match="no posts found"):
        build_index(make_config(tmp_path, [corpus]), session_embedder)


@pytest.mark.parametrize("paths", [["nope"], ["corpus", "nope"]])
def test_a_missing_corpus_folder_is_named_with_key_file_and_fix(tmp_path, session_embedder, paths):
    write_messy_corpus(tmp_path, big_chars=0)
    cfg = write_config(tmp_path, paths)
    r = run_cli("--config", cfg, "index", "build")
    assert r.exit_code == 1 and "Traceback" not in r.output and r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"error: corpus path {tmp_path / 'nope'} does not exist ")
    assert f"([corpus] paths in {cfg})" in line
    assert "create it and put the archive there, or set [corpus] paths" in line
    assert not (tmp_path / "index" / "CURRENT").exists()


# ---- a 10 MB post ------------------------------------------------------------------------------

HUGE_CHARS = 10_000_000


@pytest.fixture(scope="module")
def huge_text() -> str:
    return prose(HUGE_CHARS, seed=11)


@pytest.fixture(scope="module")
def huge_words(huge_text) -> list[str]:
    return huge_text.split()


def _huge_files(text: str) -> dict[str, str]:
    paras = text.split("\n\n")
    as_html = "".join(f"<p>{p}</p>\n" for p in paras)
    return {
        "huge.jsonl": json.dumps({"title": "Huge", "date": "2011-01-01", "text": text}) + "\n",
        "huge.md": f"---\ntitle: Huge\ndate: 2011-01-01\n---\n{text}\n",
        "huge.html": f"---\ntitle: Huge\ndate: 2011-01-01\n---\n{as_html}",
        "huge.xml": (
            "<?xml version='1.0' encoding='UTF-8'?>\n<feed xmlns='http://www.w3.org/2005/Atom'>"
            "<entry><published>2011-01-01T00:00:00Z</published><title>Huge</title>"
            f"<content type='html'>{html.escape(as_html)}</content></entry></feed>\n"
        ),
        "huge.txt": "Tuesday, October 18, 2011\n\nHuge\n\n" + text.replace("\n\n", "\n") + "\n",
    }


@pytest.mark.parametrize("name", ["huge.jsonl", "huge.md", "huge.html", "huge.xml", "huge.txt"])
def test_a_10mb_post_is_read_in_bounded_time_and_memory(tmp_path, huge_text, huge_words, name):
    path = tmp_path / name
    path.write_text(_huge_files(huge_text)[name], encoding="utf-8")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        posts, issues = read_file(path, BASE)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"\n{name}: {size / 1e6:.1f} MB read in {seconds:.1f} s, peak {peak / 1e6:.0f} MB")
    assert issues == []
    (post,) = posts
    # Every word is there (HTML paragraphs and the label page's lines become paragraphs).
    assert post.text.split() == huge_words
    assert seconds < 30, seconds  # about 1-4 s here, under tracemalloc
    assert peak < 12 * size, peak / size  # about 6x the file: bytes, text, lines, post


CHUNK_PROBE = textwrap.dedent("""
    import json, os, sys, threading, time
    from tipbot.chunk import segment
    from tipbot.tokens import encoding
    from tipbot.types import Post

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    text = open(sys.argv[1], encoding="utf-8").read()
    enc = encoding("cl100k_base")
    segment(Post("warm", "t", None, "u", (), "A warm-up sentence."), enc, 96, 24)
    before = peak = rss()
    done = threading.Event()

    def sample():  # the peak of the resident set while segment() runs
        global peak
        while not done.wait(0.005):
            peak = max(peak, rss())

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    seg = segment(Post("huge", "Huge", None, "u", (), text), enc, 96, 24)
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    peak = max(peak, rss())
    reach = uncovered = 0  # non-blank characters that no chunk holds
    for c in seg.chunks:
        if c.start > reach:
            uncovered += len("".join(text[reach:c.start].split()))
        reach = max(reach, c.end)
    uncovered += len("".join(text[reach:].split()))
    print(json.dumps({
        "seconds": seconds, "rss_growth": peak - before, "chunks": len(seg.chunks),
        "max_tokens": max(c.n_tokens for c in seg.chunks), "last_end": seg.chunks[-1].end,
        "uncovered": uncovered,
    }))
""")


def test_a_10mb_post_is_chunked_in_bounded_time_and_memory(tmp_path, huge_text):
    """In a fresh process, so the peak RSS is the chunker's own (tiktoken allocates outside
    Python, where tracemalloc cannot see)."""
    path = tmp_path / "huge.txt"
    path.write_text(huge_text, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", CHUNK_PROBE, str(path)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    print(
        f"\nsegment() on {len(huge_text) / 1e6:.0f} MB: {got['seconds']:.1f} s, "
        f"{got['chunks']} chunks, peak RSS growth {got['rss_growth'] / 2**20:.0f} MB"
    )
    assert got["max_tokens"] <= 96
    assert got["last_end"] == len(huge_text)
    assert got["uncovered"] == 0  # every word of the post is in some chunk
    assert got["seconds"] < 90, got  # about 6 s here
    assert got["rss_growth"] < 40 * len(huge_text), got  # about 19x the text here

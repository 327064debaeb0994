"""`tipbot corpus pull` against the stand-in blog on 127.0.0.1 (no model needed): every source
kind read exactly, incremental pulls reported exactly, and every failure leaving corpus/
byte-identical."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from blog_stub import Blog, BlogStub, make_posts
from click.testing import CliRunner

from tipbot.cli import main
from tipbot.config import load_config, parse_config
from tipbot.errors import ConfigError, CorpusError, SourceError
from tipbot.parse import read_corpus
from tipbot.sources import store
from tipbot.sources.http import HttpSettings
from tipbot.sources.pull import pull

ROOT = Path(__file__).resolve().parent.parent
FAST = HttpSettings(delay=0.0, backoff=0.01, retries=1, read_timeout=2.0, connect_timeout=2.0)
POSTS = make_posts()  # the seed archive's 20 posts and 45 more: 65, three Blogger pages of 25


@pytest.fixture
def blog() -> Blog:
    return Blog(POSTS)


@pytest.fixture
def stub(blog):
    with BlogStub(blog) as s:
        yield s


@pytest.fixture
def cli(tmp_path):
    """Runs `tipbot --config tmp/config.toml …`; the corpus is tmp/corpus."""
    (tmp_path / "config.toml").write_text(
        '[corpus]\npaths = ["corpus"]\n[index]\ndir = "index"\n'
        "[sync]\ndelay_seconds = 0\nretries = 1\ntimeout_seconds = 2\n",
        encoding="utf-8",
    )
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, ["--config", str(tmp_path / "config.toml"), *args])

    return run


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, hidden ones too, by relative path."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))}


def read_posts(folder: Path):
    read = read_corpus([folder], "https://unused.example")
    assert read.issues == ()
    return read.posts


def assert_equals_source(folder: Path, blog: Blog, base: str) -> None:
    """What tipbot reads from the pulled file is the blog: title, date, link, labels, text."""
    posts = {p.url: p for p in read_posts(folder)}
    source = blog.snapshot()
    assert len(posts) == len(source)
    for sp in source:
        p = posts[base + sp.path()]
        assert p.title == sp.title
        assert p.date == sp.published.date()
        assert p.labels == sp.labels
        # Word for word; a <br /> inside a paragraph may make two of it.
        assert p.text.split() == " ".join(sp.paragraphs).split()


# ---- each source kind, read whole -------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,url,fmt",
    [
        ("blogger", "", "auto"),  # Blogger's JSON feed, found from the home page
        ("blogger", "/feeds/posts/default", "feed"),  # Blogger's Atom feed, through feedparser
        ("wordpress", "", "auto"),  # the REST API, found from the home page
        ("rss", "", "auto"),  # the RSS feed the home page links
    ],
)
def test_a_full_pull_equals_the_source(tmp_path, blog, kind, url, fmt):
    with BlogStub(blog, kind=kind) as stub:
        report = pull(stub.base + url, tmp_path / "corpus", format=fmt, settings=FAST)
        assert_equals_source(tmp_path / "corpus", blog, stub.base)
    expected = {"blogger": "feed" if fmt == "feed" else "blogger", "wordpress": "wordpress"}
    assert report.format == expected.get(kind, "feed")
    assert (report.new, report.changed, report.removed, report.unchanged) == (65, 0, 0, 0)
    assert report.path.name == f"127.0.0.1-{stub.base.rsplit(':', 1)[1]}.jsonl"
    assert stub.max_in_flight == 1


def test_blogger_pages_through_the_json_feed(tmp_path, stub):
    pull(stub.base, tmp_path / "corpus", settings=FAST)
    feeds = [r for r in stub.requests if r.path == "/feeds/posts/default"]
    assert [r.query.get("start-index", "1") for r in feeds] == ["1", "26", "51"]
    assert all(r.query["alt"] == "json" for r in feeds)
    assert len(stub.requests) == 4  # the home page (to tell what the blog is) and 3 pages


# ---- incremental pulls ------------------------------------------------------------------------


def test_second_pull_reports_exactly_what_changed(tmp_path, blog, stub, cli):
    assert cli("corpus", "pull", stub.base).exit_code == 0
    old = blog.snapshot()
    blog.change(old[10].id, ["The report was corrected: 61 shelters, not 16."])
    blog.delete(old[30].id)
    added = blog.add("Lighthouse keepers learn the signs", ["Forty-seven keepers were trained."])
    before = len(stub.requests)

    result = cli("corpus", "pull", stub.base)
    assert result.exit_code == 0, result.output
    assert "1 new, 1 changed, 1 removed, 63 unchanged" in result.output
    assert_equals_source(tmp_path / "corpus", blog, stub.base)
    # The listing (3 summary pages) and one query for what changed: no whole-blog reread.
    again = stub.requests[before:]
    assert [r.path for r in again] == ["/feeds/posts/summary"] * 3 + ["/feeds/posts/default"]
    assert again[-1].query["orderby"] == "updated" and "updated-min" in again[-1].query
    assert any(p.title == added.title for p in read_posts(tmp_path / "corpus"))


def test_a_pull_with_nothing_new_writes_nothing(tmp_path, stub):
    corpus = tmp_path / "corpus"
    pull(stub.base, corpus, settings=FAST)
    posts_file = next(corpus.glob("*.jsonl"))
    stat, before = posts_file.stat(), posts_file.read_bytes()
    report = pull(stub.base, corpus, settings=FAST)
    assert (report.new, report.changed, report.removed, report.unchanged) == (0, 0, 0, 65)
    assert report.requests == 3 and not report.written
    assert posts_file.read_bytes() == before and posts_file.stat().st_mtime_ns == stat.st_mtime_ns


def test_wordpress_second_pull_reads_only_changed_posts(tmp_path, blog):
    with BlogStub(blog, kind="wordpress") as stub:
        pull(stub.base, tmp_path / "corpus", settings=FAST)
        old = blog.snapshot()
        blog.change(old[3].id, ["Changed on WordPress."])
        blog.delete(old[4].id)
        blog.add("New on WordPress", ["A new post."], ("Training",))
        before = len(stub.requests)
        report = pull(stub.base, tmp_path / "corpus", settings=FAST)
        again = stub.requests[before:]
        assert_equals_source(tmp_path / "corpus", blog, stub.base)
    assert (report.new, report.changed, report.removed, report.unchanged) == (1, 1, 1, 63)
    assert again[0].query["_fields"] == "id,modified_gmt"
    assert len(again[-1].query["include"].split(",")) == 2  # the new and the changed post


def test_rss_conditional_get_and_incomplete_listing(tmp_path, blog):
    with BlogStub(blog, kind="rss", rss_limit=20) as stub:
        corpus = tmp_path / "corpus"
        first = pull(stub.base, corpus, settings=FAST)
        assert first.new == 20 and not first.complete
        again = pull(stub.base, corpus, settings=FAST)
        assert again.requests == 1 and again.unchanged == 20  # 304 Not Modified
        assert stub.requests[-1].status == 304
        newest = blog.snapshot()[-1]
        blog.delete(newest.id)  # gone from the feed, and one older post moves into it
        report = pull(stub.base, corpus, settings=FAST)
    # A feed of the latest posts says nothing about older ones: nothing is removed.
    assert (report.new, report.removed, report.unlisted_kept) == (1, 0, 1)
    assert "nothing was removed" in report.notes()[0]


def test_label_and_since(tmp_path, stub, blog):
    report = pull(f"{stub.base}/search/label/Training", tmp_path / "a", settings=FAST)
    want = [p for p in blog.snapshot() if "Training" in p.labels]
    assert report.new == len(want) > 0 and report.path.name.endswith("-training.jsonl")
    assert stub.requests[-1].path == "/feeds/posts/default/-/Training"

    report = pull(stub.base, tmp_path / "b", since=dt.date(2012, 6, 1), settings=FAST)
    assert report.new == sum(p.published.date() >= dt.date(2012, 6, 1) for p in blog.snapshot())
    assert stub.requests[-1].query["published-min"] == "2012-06-01T00:00:00"
    # A later pull keeps the first pull's --since.
    assert pull(stub.base, tmp_path / "b", settings=FAST).unchanged == report.new


def test_summaries_only_are_said_clearly(tmp_path, blog, cli):
    blog.summaries_only = True
    with BlogStub(blog) as stub:
        result = cli("corpus", "pull", stub.base)
    assert result.exit_code == 0
    assert "gives only a summary of 65 of 65 posts" in result.output
    assert "Allow blog feed: Full" in result.output


# ---- failures leave corpus/ as it was ---------------------------------------------------------


def seed_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "hand-saved.txt").write_bytes(
        (ROOT / "corpus" / "intergovernmental-organizations.txt").read_bytes()
    )
    return corpus


@pytest.mark.parametrize("fault", ["truncate", "html", "malformed", "500"])
@pytest.mark.parametrize("second_pull", [False, True])
def test_a_failed_pull_leaves_corpus_byte_identical(tmp_path, stub, blog, cli, fault, second_pull):
    corpus = seed_corpus(tmp_path)
    path = "/feeds/posts/default"
    if second_pull:
        assert cli("corpus", "pull", stub.base).exit_code == 0
        blog.add("Another post", ["Text of another post."])
        path = "/feeds/posts/summary"
    before = snapshot(corpus)
    stub.fault(fault, path, times=-1, **{"start-index": "26"})  # the second page
    result = cli("corpus", "pull", stub.base)
    assert result.exit_code == 1
    lines = result.output.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith(f"error: {stub.base}{path}?alt=json")
    problem = {
        "truncate": "cut off",
        "html": "HTML page",
        "malformed": "not Blogger's JSON",
        "500": "answered 500",
    }[fault]
    assert problem in lines[0]
    assert snapshot(corpus) == before


def test_a_killed_pull_leaves_corpus_as_it_was(tmp_path, stub, blog):
    corpus = seed_corpus(tmp_path)
    pull(stub.base, corpus, settings=FAST)
    blog.add("Posted while the pull runs", ["Some text."])
    before = snapshot(corpus)
    stub.fault("hold", "/feeds/posts/summary", times=1, **{"start-index": "51"})
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "from tipbot.cli import main; main()"
    (tmp_path / "config.toml").write_text(
        '[corpus]\npaths = ["corpus"]\n[sync]\ndelay_seconds = 0\n'
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "--config",
            str(tmp_path / "config.toml"),
            "corpus",
            "pull",
            stub.base,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert stub.arrived.wait(60), "the pull never reached the third page"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(corpus) == before
    # The next pull still works, and finds the post.
    assert pull(stub.base, corpus, settings=FAST).new == 1


def test_an_empty_listing_never_empties_the_archive(tmp_path, stub, blog):
    corpus = tmp_path / "corpus"
    pull(stub.base, corpus, settings=FAST)
    before = snapshot(corpus)
    with blog.lock:
        blog.posts = []
    with pytest.raises(SourceError, match="lists no posts where 65 were pulled before"):
        pull(stub.base, corpus, settings=FAST)
    assert snapshot(corpus) == before


def test_a_file_not_written_by_pull_is_not_overwritten(tmp_path, stub):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    name = f"127.0.0.1-{stub.base.rsplit(':', 1)[1]}.jsonl"
    (corpus / name).write_text('{"title": "mine", "text": "hand-made"}\n')
    with pytest.raises(CorpusError, match="was not written by `tipbot corpus pull`"):
        pull(stub.base, corpus, settings=FAST)


def test_another_format_for_the_same_file_is_refused(tmp_path, stub):
    corpus = tmp_path / "corpus"
    pull(stub.base, corpus, settings=FAST)
    before = snapshot(corpus)
    with pytest.raises(
        CorpusError, match="was pulled as blogger before: pull with --format blogger"
    ):
        pull(stub.base, corpus, format="feed", settings=FAST)
    assert snapshot(corpus) == before


def test_one_pull_at_a_time_per_folder(tmp_path, stub):
    corpus = tmp_path / "corpus"
    with store.locked(corpus), pytest.raises(CorpusError, match="another pull is writing"):
        pull(stub.base, corpus, settings=FAST)


def test_not_a_blog(tmp_path, stub, cli):
    result = cli("corpus", "pull", f"{stub.base}/2099/01/nothing.html")
    assert result.exit_code == 1 and "answered 404" in result.output
    stub.kind = "plain"  # a home page that names no platform and links no feed
    result = cli("corpus", "pull", stub.base)
    assert result.exit_code == 1 and "found no feed" in result.output
    result = cli("corpus", "pull", "http://127.0.0.1:9")  # nothing listens there
    assert result.exit_code == 1 and result.output.startswith("error: http://127.0.0.1:9")


# ---- config and help --------------------------------------------------------------------------


def test_sync_config_section(tmp_path):
    cfg = parse_config(
        {
            "sync": {
                "sources": ["https://a.blogspot.com", {"url": "https://b.org", "label": "X"}],
                "every": "90m",
            }
        },
        tmp_path,
    )
    assert [s.url for s in cfg.sync.sources] == ["https://a.blogspot.com", "https://b.org"]
    assert cfg.sync.sources[1].label == "X" and cfg.sync.every_seconds == 5400
    bad = [
        ({"sources": ["ftp://x"]}, "must be an http:// or https:// URL"),
        ({"sources": [{"label": "x"}]}, "needs a 'url' key"),
        ({"sources": [{"url": "https://x", "lable": "x"}]}, "unknown key [sync.sources[0]] lable"),
        (
            {"sources": [{"url": "https://x", "format": "rss"}]},
            "[sync.sources[0]] format in config.toml must be one of auto, blogger, wordpress, "
            "feed, got 'rss'",
        ),
        ({"every": "6"}, "is not a duration"),
        ({"every": "0h"}, "is not a duration"),
        ({"delay_seconds": -1}, "must be 0 or more"),
    ]
    for raw, message in bad:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
            parse_config({"sync": raw}, tmp_path, "config.toml")


def test_shipped_config_documents_sync():
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert "[sync]" in text
    assert load_config(ROOT / "config.toml").sync.every == "6h"


def test_pull_help_has_examples(cli):
    result = cli("corpus", "pull", "--help")
    assert result.exit_code == 0
    assert "tipbot corpus pull https://example.blogspot.com --update" in result.output
    assert "--since" in result.output and "--label" in result.output

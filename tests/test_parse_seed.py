"""The archive's own text format, on the real seed archive and on small broken files."""

import datetime as dt
from pathlib import Path

from conftest import SEED

from tipbot.parse import read_corpus
from tipbot.parse.blogger_text import read
from tipbot.textutil import is_link_leftover, normalize_paragraphs, permalink, slugify

BASE = "https://blog.example"


def seed_posts():
    return read(str(SEED), SEED.read_text(encoding="utf-8"), BASE)


def test_seed_has_exactly_twenty_posts_with_dates_titles_and_label():
    posts, issues = seed_posts()
    assert issues == []
    assert len(posts) == 20
    assert [p.date for p in posts][:3] == [
        dt.date(2011, 10, 18),
        dt.date(2011, 9, 29),
        dt.date(2011, 9, 19),
    ]
    assert posts[-1].date == dt.date(2007, 9, 22)
    assert (
        posts[0].title
        == "New UN fund awards $300,000 to help rehabilitate victims of human trafficking"
    )
    assert posts[-1].title == "Kangaroo Courts, Trafficking & Corruption"
    assert all(p.labels == ("Intergovernmental Organizations",) for p in posts)
    assert len({p.id for p in posts}) == 20
    assert sorted((p.date for p in posts), reverse=True) == [p.date for p in posts]


def test_the_untitled_post_takes_its_headline_and_keeps_its_body():
    posts, _ = seed_posts()
    post = next(p for p in posts if p.date == dt.date(2008, 9, 18))
    assert post.title.startswith(
        "Joint UN-OSCE meeting aims to intensify fight against money laundering"
    )
    assert "LARNACA, 18 September 2008" in post.text
    # Not glued to its neighbours.
    previous = next(p for p in posts if p.date == dt.date(2008, 11, 16))
    assert "LARNACA" not in previous.text and post.title not in previous.text


def test_link_leftovers_are_not_quotable_text():
    posts, _ = seed_posts()
    for p in posts:
        for para in p.text.split("\n\n"):
            assert not is_link_leftover(para), (p.id, para)
            assert para not in {
                "Read more",
                "Read the full article",
                "Click here for the Full Report.",
            }


def test_ids_and_permalinks_have_bloggers_shape():
    posts, _ = seed_posts()
    first = posts[0]
    assert first.id == "2011-10-18-new-un-fund-awards-300000-to-help"
    assert first.url == f"{BASE}/2011/10/new-un-fund-awards-300000-to-help.html"
    assert slugify("UN.GIFT Expert Group Initiative") == "ungift-expert-group-initiative"
    assert permalink(BASE + "/", None, "Hello, World") == f"{BASE}/hello-world.html"


def test_paragraphs_mend_sentences_broken_across_lines():
    text = normalize_paragraphs(
        ["Women on the Frontline", "is a series.", "", "Read more", "Next one."]
    )
    assert text == "Women on the Frontline is a series.\n\nNext one."


def test_corpus_reading_names_bad_files_and_keeps_good_posts(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed.txt").write_bytes(SEED.read_bytes())
    (corpus / "copy-of-seed.txt").write_bytes(SEED.read_bytes())  # duplicates: indexed once
    (corpus / "junk.bin.txt").write_bytes(bytes(range(256)) * 10)
    (corpus / "empty.txt").write_bytes(b"")
    latin = (
        "Showing posts with label Europe. Show all posts\n\nMonday, March 02, 2009\n\n"
        "Caf\xe9 raid\n\nPolice in K\xf6ln freed 12 workers.\n"
    )
    (corpus / "latin1.txt").write_bytes(latin.encode("latin-1"))
    (corpus / "notes.txt").write_text("just some notes, not a post\n", encoding="utf-8")
    read_ = read_corpus([corpus], BASE)
    assert len(read_.posts) == 21
    latin_post = next(p for p in read_.posts if p.labels == ("Europe",))
    assert latin_post.title == "Café raid" and "Köln" in latin_post.text
    problems = {Path(i.source.split(":")[0]).name: i.problem for i in read_.issues}
    assert "binary" in problems["junk.bin.txt"]
    assert "empty" in problems["empty.txt"]
    assert "not recognised" in problems["notes.txt"]
    assert "copy-of-seed.txt" not in problems  # identical duplicates are dropped silently

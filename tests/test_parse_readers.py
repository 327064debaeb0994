"""The Atom, JSONL and Markdown readers, on small hand-written fixtures in tests/data/readers/."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipbot.parse import atom, jsonl, markdown, pick_reader, read_corpus
from tipbot.textutil import post_id

DATA = Path(__file__).parent / "data" / "readers"
BASE = "https://tipbot-test.blogspot.com"


def read(module, name: str):
    path = DATA / name
    return module.read(str(path), path.read_text(encoding="utf-8"), BASE)


def assert_clean(text: str) -> None:
    """Quotable text: no markup, no undecoded entities, no link leftovers, tidy paragraphs."""
    for bad in ("<", ">", "&amp;", "&nbsp;", "&#39;", "&quot;", "Read more", "Click here"):
        assert bad not in text
    assert text == text.strip()
    assert "\n\n\n" not in text
    assert all(p and p == p.strip() and "  " not in p for p in text.split("\n\n"))


# --- Atom (Blogger export) ---------------------------------------------------------------------


def test_atom_reads_posts_and_skips_comments_settings_and_drafts():
    posts, issues = read(atom, "blogger_export.xml")
    assert issues == []
    assert [p.title for p in posts] == [
        "New UN fund awards $300,000 to help rehabilitate victims of human trafficking",
        "Fishing crews freed & paid",
    ]
    titles = {p.title for p in posts}
    assert not titles & {"Blog name", "Great news", "Unfinished draft"}

    first, second = posts
    assert first.date == dt.date(2011, 10, 18)
    assert first.labels == ("Intergovernmental Organizations", "Victim Assistance")
    assert first.url == f"{BASE}/2011/10/new-un-fund-awards-300000-to-help.html"
    assert first.id == "2011-10-18-new-un-fund-awards-300000-to-help"
    assert first.source.endswith("blogger_export.xml:16")  # the line the <entry> opens on
    # Entities decoded (&amp;amp; → &, &amp;nbsp; → space), tags gone, "Read more" dropped,
    # and the sentence broken by <br /> mended by textutil.
    assert first.text == (
        "The UN Voluntary Trust Fund & its partners awarded grants to eleven groups.\n\n"
        "Survivors get shelter, legal aid and job training."
    )
    assert_clean(first.text)

    # 23:30 at -07:00: the date as written (the blog's own), not the UTC date.
    assert second.date == dt.date(2011, 10, 19)
    assert second.labels == ("Labor Trafficking",)
    # No alternate link: the Blogger-shaped permalink is built from date and title.
    assert second.url == f"{BASE}/2011/10/fishing-crews-freed-paid.html"
    assert (
        second.text
        == 'Thirty crew members were freed "within days".\n\nOfficials\' statement follows.'
    )
    assert_clean(second.text)


def test_atom_2018_export_uses_type_status_and_filename():
    posts, issues = read(atom, "blogger_2018.xml")
    assert issues == []
    assert [(p.title, p.date, p.labels, p.url) for p in posts] == [
        (
            "Shelters reopen in the north",
            dt.date(2019, 11, 9),
            ("Victim Assistance",),
            f"{BASE}/2019/11/shelters-reopen.html",
        )
    ]  # the DRAFT, the PAGE and the COMMENT are left out


def test_atom_broken_xml_reports_line_and_keeps_entries_before_the_break():
    posts, issues = read(atom, "broken.xml")
    assert [p.title for p in posts] == ["Recovered before the break"]
    assert posts[0].date == dt.date(2012, 5, 1)
    assert len(issues) == 1
    assert issues[0].source == f"{DATA / 'broken.xml'}:13"
    assert issues[0].problem.startswith("broken XML: no element found")


def entry(body: str) -> str:
    return (
        "<feed xmlns='http://www.w3.org/2005/Atom'>\n<entry>\n"
        "<category scheme='http://schemas.google.com/g/2005#kind' "
        "term='http://schemas.google.com/blogger/2008/kind#post'/>\n"
        f"{body}\n</entry>\n</feed>\n"
    )


def test_atom_entry_without_title_takes_its_first_line():
    long_line = "Word " * 40
    xml = entry(
        "<published>2012-01-01T00:00:00Z</published><title type='text'></title>"
        f"<content type='html'>&lt;p&gt;{long_line}&lt;/p&gt;&lt;p&gt;More.&lt;/p&gt;</content>"
    )
    [post], issues = atom.read("feed.xml", xml, BASE)
    assert issues == []
    assert post.title == ("Word " * 20).strip()  # cut at a word boundary, at most 100 chars
    assert post.text.startswith(long_line.strip())  # the line stays in the body
    assert post.id == post_id(dt.date(2012, 1, 1), post.title)


def test_atom_entry_with_empty_content_is_reported_and_skipped():
    xml = entry("<published>2012-01-01T00:00:00Z</published><title>Empty</title><content/>")
    posts, issues = atom.read("feed.xml", xml, BASE)
    assert posts == []
    assert [(i.source, i.problem) for i in issues] == [
        ("feed.xml:2", "post entry has no text, skipped")
    ]


@pytest.mark.parametrize(
    ("xml", "line", "problem"),
    [
        ("<rss version='2.0'><channel/></rss>", None, "no Atom <entry> elements"),
        ("<feed>\n<entry>\n&nbsp;</entry></feed>", 3, "broken XML: undefined entity"),
        (
            '<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<feed>&a;</feed>',
            1,
            "unusable XML: entity declarations are not allowed",
        ),
    ],
)
def test_atom_unusable_files_give_one_issue(xml, line, problem):
    posts, issues = atom.read("f.xml", xml, BASE)
    assert posts == []
    assert len(issues) == 1
    assert issues[0].source == ("f.xml" if line is None else f"f.xml:{line}")
    assert issues[0].problem.startswith(problem)


# --- JSONL ---------------------------------------------------------------------------------------


def test_jsonl_reads_good_lines_and_reports_every_bad_one():
    posts, issues = read(jsonl, "posts.jsonl")
    src = str(DATA / "posts.jsonl")
    assert [(p.source, p.id, p.title, p.date, p.labels, p.url) for p in posts] == [
        (
            f"{src}:1",
            "2011-10-21-ilo-report",
            "ILO report counts 21 million in forced labour",
            dt.date(2011, 10, 21),
            ("Labor Trafficking", "Reports"),
            f"{BASE}/2011/10/ilo-report.html",
        ),
        (
            f"{src}:3",  # line 2 is blank: ignored, not reported
            "hotline-calls-rise",  # no id, no date: the id is the slug
            "Hotline calls rise",
            None,
            (),
            f"{BASE}/hotline-calls-rise.html",
        ),
        (
            f"{src}:8",
            "2012-01-05-court-convicts-recruiters",
            "Court convicts recruiters",
            dt.date(2012, 1, 5),  # from a full ISO datetime
            ("Prosecution",),  # a single string is one label
            f"{BASE}/2012/01/court-convicts-recruiters.html",
        ),
    ]
    # HTML text is converted; plain text keeps one paragraph a line.
    assert posts[0].text == "The ILO counted 21 million people in forced labour & servitude."
    assert posts[1].text == "Calls to the hotline rose by a third.\n\nMost came from teachers."
    for post in posts:
        assert_clean(post.text)

    assert [(i.source, i.problem) for i in issues] == [
        (f"{src}:4", "not valid JSON: Unterminated string starting at (column 30), line skipped"),
        (f"{src}:5", "expected a JSON object, got an array, line skipped"),
        (f"{src}:6", "missing required field 'text', line skipped"),
        (
            f"{src}:7",
            "'date' must be YYYY-MM-DD or an ISO datetime, got '18/10/2011', line skipped",
        ),
        (f"{src}:9", "'labels' must be a list of strings, line skipped"),
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"text": "x"}', "missing required field 'title'"),
        ('{"title": 3, "text": "x"}', "'title' must be a string, got a number"),
        ('{"title": "t", "text": "x", "date": "2011-02-30"}', "'date' must be YYYY-MM-DD"),
        ('{"title": "t", "text": "x", "date": "20110203"}', "'date' must be YYYY-MM-DD"),
        ('{"title": "t", "text": "Read more"}', "'text' has nothing left after cleaning"),
        ('"just a string"', "expected a JSON object, got a string"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_jsonl_bad_line_problems(line, problem):
    posts, issues = jsonl.read("p.jsonl", f'{{"title": "ok", "text": "ok"}}\n{line}\n', BASE)
    assert [p.title for p in posts] == ["ok"]
    assert len(issues) == 1
    assert issues[0].source == "p.jsonl:2"
    assert issues[0].problem.startswith(problem)


def test_jsonl_line_numbers_ignore_unicode_line_separators():
    # U+2028 may stand unescaped inside a JSON string; it must not split the line.
    text = '{"title": "a", "text": "one\u2028two"}\n{"title": "b", "text": "x", "date": 1}\n'
    posts, issues = jsonl.read("p.jsonl", text, BASE)
    assert [p.title for p in posts] == ["a"]
    assert [i.source for i in issues] == ["p.jsonl:2"]


# --- Markdown / HTML with front matter -----------------------------------------------------------


def test_markdown_post_with_front_matter():
    [post], issues = read(markdown, "2012-03-04-markdown-post.md")
    assert issues == []
    assert post.title == "Border checks: what changed"
    assert post.date == dt.date(2012, 3, 4)
    assert post.labels == ("Border Security", "Policy")
    assert post.url == f"{BASE}/2012/03/border-checks.html"  # a path is joined to the base
    assert post.id == "2012-03-04-border-checks-what-changed"
    # Heading repeating the title dropped, markup stripped, image gone, code kept as text.
    assert post.text == (
        "The new rules took effect on Monday, with guidance for officers at every crossing.\n\n"
        "Training\n\n"
        "Officers get two days of training\n\n"
        "Screeners learn the indicator list\n\n"
        "refreshers follow every year\n\n"  # explicit structure: not mended onto the item above
        'indicators = ["no passport", "debt"]'
    )
    assert "*" not in post.text and "](" not in post.text and "#" not in post.text


def test_html_post_with_front_matter():
    [post], issues = read(markdown, "shelter-funding.html")
    assert issues == []
    assert (post.title, post.date, post.labels) == (
        "Shelter funding doubles",
        dt.date(2013, 6, 1),
        ("Victim Assistance", "Funding"),
    )
    assert post.url == f"{BASE}/2013/06/shelter-funding-doubles.html"
    assert post.text == "Funding for shelters doubled this year — the largest rise since 2008."


def test_markdown_without_front_matter_takes_heading_or_file_name():
    [post], _ = markdown.read("a/notes.md", "# Field notes\n\nSome *text*.\n", BASE)
    assert (post.title, post.date, post.text) == ("Field notes", None, "Some text.")
    [post], _ = markdown.read("a/2012-01-02-hello-world.md", "Just text.\n", BASE)
    assert (post.title, post.date) == ("hello world", dt.date(2012, 1, 2))


def test_markdown_front_matter_comments_quotes_and_lists():
    text = (
        "---\n"
        "# a comment line\n"
        'title: "Issue #5: a hash inside quotes"   # a comment after it\n'
        "date: 2011-10-18 09:12:00 -0700\n"
        "url: https://example.org/a.html#frag  # fragment kept, comment dropped\n"
        "tags: [One, 'Two' ]  # flow list\n"
        "labels: Three, Four\n"
        "description: >\n"
        "  folded text is ignored\n"
        "id: my-own-id\n"
        "---\n"
        "Body.\n"
    )
    [post], issues = markdown.read("a.md", text, BASE)
    assert issues == []
    assert (post.id, post.title, post.date, post.url, post.labels) == (
        "my-own-id",
        "Issue #5: a hash inside quotes",
        dt.date(2011, 10, 18),
        "https://example.org/a.html#frag",
        ("Three", "Four", "One", "Two"),
    )


@pytest.mark.parametrize(
    ("text", "source", "problem"),
    [
        ("---\ntitle: x\nbody\n", "a.md:1", "front matter is never closed"),
        ("---\ntitle: x\ndate: 2012-13-01\n---\nbody\n", "a.md:3", "bad date '2012-13-01'"),
        ("---\ntitle: x\n---\n# x\n", "a.md:4", "post has no text"),
    ],
)
def test_markdown_unusable_files(text, source, problem):
    posts, issues = markdown.read("a.md", text, BASE)
    assert posts == []
    assert [i.source for i in issues] == [source]
    assert issues[0].problem.startswith(problem)


# --- Through read_corpus -------------------------------------------------------------------------


def test_read_corpus_reaches_every_reader():
    result = read_corpus([DATA], BASE)
    titles = {p.title for p in result.posts}
    assert titles == {
        "New UN fund awards $300,000 to help rehabilitate victims of human trafficking",
        "Fishing crews freed & paid",
        "Shelters reopen in the north",
        "Recovered before the break",
        "ILO report counts 21 million in forced labour",
        "Hotline calls rise",
        "Court convicts recruiters",
        "Border checks: what changed",
        "Shelter funding doubles",
    }
    assert sorted(i.source for i in result.issues) == sorted(
        [f"{DATA / 'broken.xml'}:13"] + [f"{DATA / 'posts.jsonl'}:{n}" for n in (4, 5, 6, 7, 9)]
    )


def test_read_corpus_sniffs_content_when_the_suffix_says_nothing(tmp_path):
    shutil.copy(DATA / "blogger_export.xml", tmp_path / "backup")  # starts with <?xml
    shutil.copy(DATA / "posts.jsonl", tmp_path / "posts.json")  # starts with {
    assert pick_reader(tmp_path / "backup", "<?xml version='1.0'?><feed/>") is atom.read
    result = read_corpus([tmp_path], BASE)
    assert len(result.posts) == 5
    assert {p.source.rsplit(":", 1)[0] for p in result.posts} == {
        str(tmp_path / "backup"),
        str(tmp_path / "posts.json"),
    }


# --- Robustness ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_readers_never_raise(text):
    for module, name in (
        (atom, "f.xml"),
        (jsonl, "f.jsonl"),
        (markdown, "f.md"),
        (markdown, "f.html"),
    ):
        posts, issues = module.read(name, text, BASE)
        assert isinstance(posts, list) and isinstance(issues, list)
        for post in posts:
            assert post.text and post.title


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet="<>/&;#!-[]{}\":,'\n pentryfdcigtl=*_`~0123456789"))
def test_readers_never_raise_on_markup_shaped_text(text):
    # st.text() rarely writes anything tag- or JSON-shaped; this alphabet does.
    for module, name in (
        (atom, "f.xml"),
        (jsonl, "f.jsonl"),
        (markdown, "f.md"),
        (markdown, "f.html"),
    ):
        module.read(name, text, BASE)
        module.read(name, "<feed xmlns='http://www.w3.org/2005/Atom'>" + text, BASE)

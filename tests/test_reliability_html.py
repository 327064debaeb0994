"""HTML to text in bounded time for any input, and unchanged on well-formed HTML.

html.parser rescans to the end of the input from every "<" that opens something it never sees
closed: ``"<h1 " * 20000`` took about 70 s. textutil defuses such markup first; these tests
hold it to a generous time bound (a regression guard, not a benchmark) and check that on
well-formed HTML the text is exactly what html.parser alone gives.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tipbot import textutil
from tipbot.parse import read_file
from tipbot.textutil import html_to_lines, html_to_text, normalize_paragraphs

DATA = Path(__file__).parent / "data" / "readers"
BOUND = 5.0  # seconds for any of these inputs; they take 10-200 ms with the guard


def parser_only_lines(markup: str) -> list[str]:
    """What html_to_lines gave before the guard: html.parser on the raw markup."""
    parser = textutil._TextExtractor()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts).split("\n")


def timed(fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t0


# Each was quadratic or worse in html.parser (seconds to minutes at these sizes).
RUNAWAY = [
    "<h1 " * 20_000,
    "<a\n" * 20_000,
    "<a/" * 20_000,
    "<a =" * 20_000,
    "<a b=c " * 20_000,
    "<a b='" * 20_000,
    "<a b='x' " * 20_000,
    "</a " * 20_000,
    "<!-- " * 20_000,
    "<!-- > " * 20_000,
    "<? " * 20_000,
    "<!x " * 20_000,
    "<![if x " * 20_000,
    "<![CDATA[ " * 20_000,
    "<a x='>' " * 20_000 + "y='",
    '<a x=">" ' * 20_000 + 'y="',
    "<p>" + "<h1 " * 20_000 + ">" + "<b " * 20_000,
    "a='" * 20_000 + ">",
]


@pytest.mark.parametrize("markup", RUNAWAY, ids=lambda m: repr(m[:12]))
def test_runaway_markup_converts_in_bounded_time(markup):
    _text, seconds = timed(html_to_text, markup)
    assert seconds < BOUND, f"{seconds:.1f} s"
    _lines, seconds = timed(html_to_lines, markup)
    assert seconds < BOUND, f"{seconds:.1f} s"


@pytest.mark.parametrize("unit", ["<h1 ", "</a ", "<!-- ", "<!-- a <b> c > ", "<? ", "<a b='x' "])
def test_runaway_markup_gives_the_text_html_parser_gives(unit):
    """Small enough for html.parser alone: the guard changes its speed, not its text."""
    for markup in (unit, unit * 3, unit * 200, "<p>Before.</p>" + unit * 50):
        assert html_to_lines(markup) == parser_only_lines(markup)


def test_a_megabyte_of_unclosed_tags_is_linear():
    markup = "<h1 " * 250_000  # 12x the 70 s example, which would take hours unguarded
    text, seconds = timed(html_to_text, markup)
    assert seconds < BOUND, f"{seconds:.1f} s"
    assert text == markup.strip()


def test_marked_sections_html_parser_raises_on_become_text():
    # html.parser raises AssertionError on these; a post holding one used to stop the build.
    assert html_to_text("<p>Scores <![rank]]> rose</p>") == "Scores <![rank]]> rose"
    assert html_to_text("<p>a</p><![ x") == "a\n\n<![ x"
    assert html_to_text("<![if !supportLists]>· <![endif]>Item") == "· Item"  # Word's own


def test_openings_the_parser_does_not_see_as_such_are_still_defused():
    # "<!--" inside an attribute or a script is no comment: what follows is still checked.
    assert html_to_text('<a title="<!--">x</a><![foo[ y ]]>-->') == "x<![foo[ y ]]>-->"
    assert html_to_text("<!-- <script> --> <![foo[ z ]]>") == "<![foo[ z ]]>"
    assert html_to_lines("<p><script><!--</script>After</p>") == ["", "After", ""]


def test_if_the_parser_refuses_anyway_the_text_survives(monkeypatch):
    monkeypatch.setattr(textutil, "_defuse", lambda markup: markup)
    text = html_to_text("<p>Scores <![rank]]> rose</p><!-- note --><p>A &amp; B</p>")
    assert text == "Scores <![rank]]> rose\n\nA & B"  # as with the guard


def test_a_post_with_such_markup_is_read(tmp_path):
    path = tmp_path / "posts.jsonl"
    post = {"title": "Scores", "text": "<p>Scores <![rank]]> rose.</p><p>Then fell.</p>"}
    path.write_text(json.dumps(post) + "\n", encoding="utf-8")
    (got,), issues = read_file(path, "https://b.example")
    assert issues == [] and got.text == "Scores <![rank]]> rose.\n\nThen fell."


def test_long_runs_of_lower_case_lines_mend_in_linear_time():
    # Mending a sentence broken across lines once copied the whole paragraph per line:
    # 20,000 lines took 12 s, these would take minutes.
    lines = ["word"] * 100_000
    text, seconds = timed(normalize_paragraphs, lines)
    assert seconds < BOUND and text == " ".join(lines)
    markup = "<p>" + "<br>word" * 100_000 + "</p>"
    text, seconds = timed(html_to_text, markup)
    assert seconds < BOUND and text == " ".join(lines)


# ---- unchanged on well-formed HTML --------------------------------------------------------------

REALISTIC = [
    '<p>The <a href="https://example.org/a?b=1&amp;c=2" title="a > b">UN fund</a> gave '
    "$300,000.</p>",
    '<img alt="x < y" src="data:image/png;base64,' + "A" * 50_000 + '"><p>After the image.</p>',
    "<!--[if gte mso 9]><xml><w:WordDocument></w:WordDocument></xml><![endif]-->"
    "<p class=MsoNormal>Pasted from Word.<o:p></o:p></p>",
    "<p><![if !supportLists]>1.<![endif]>First item</p>",
    "<script>if (a < b && c > d) { document.write('<p>no</p>'); }</script><p>Shown.</p>",
    "<style>p > a { color: red } /* <b> */</style><p>Styled.</p>",
    "<!DOCTYPE html><html><head><title>T</title></head><body><h1>Head</h1><p>Body</p></body>",
    "<?xml version='1.0'?><p>After a processing instruction.</p>",
    "<p>Tom &amp; Jerry &lt;3 &#8220;quoted&#8221; &nbsp;spaced</p>",
    "<p>A <b>bold</b> and <i>italic</i> line<br/>and the next</p><ul><li>one</li><li>two</li>",
    "<div><![CDATA[ raw <stuff> ]]>Kept text</div>",
    "<p>Comment <!-- with <b>tags</b> and > signs --> inside.</p>",
    "<table><tr><td>1</td><td>2</td></tr></table>x < y and y > z",
    "<p title='it&#39;s'>Single-quoted attribute.</p>",
    "<a href=https://example.org/unquoted>Unquoted</a> text",
    "<p><script><!--</script></p><p>After an unclosed comment in a script.</p>",
    "<script>var s = '<![if x]>';</script><p>After.</p>",
    '<SCRIPT type="text/javascript"><!-- hide\nold();\n// --></SCRIPT><p>Old style.</p>',
]


@pytest.mark.parametrize("markup", REALISTIC, ids=lambda m: repr(m[:20]))
def test_well_formed_html_gives_the_same_text(markup):
    assert html_to_lines(markup) == parser_only_lines(markup)


def test_the_reader_fixtures_give_the_same_text():
    for path in sorted(DATA.iterdir()):
        text = path.read_text(encoding="utf-8")
        assert html_to_lines(text) == parser_only_lines(text), path.name
        if path.suffix == ".xml":  # the HTML inside the Atom entries
            import html

            for chunk in text.split("<content type='html'>")[1:]:
                inner = html.unescape(chunk.split("</content>")[0])
                assert html_to_lines(inner) == parser_only_lines(inner), path.name


words = st.text(alphabet="abc XYZ.,!?&;#'\"<>=/-\n", max_size=12)
names = st.sampled_from(["p", "a", "b", "div", "span", "h2", "li", "img", "br", "o:p", "td"])
values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)


@st.composite
def attributes(draw) -> str:
    out = []
    for name in draw(st.lists(st.sampled_from(["href", "title", "class", "alt", "x"]), max_size=3)):
        v = draw(values)
        quote = draw(st.sampled_from(['"', "'"]))
        out.append(f" {name}={quote}{v.replace(quote, '')}{quote}")
    return "".join(out)


@st.composite
def well_formed(draw, depth: int = 0) -> str:
    """Elements with quoted attributes (any text inside the quotes), escaped text, comments,
    marked sections and scripts: the HTML a blog export holds."""
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "element", "comment", "script", "section", "void"]))
        if kind == "text":
            parts.append(draw(words).replace("&", "&amp;").replace("<", "&lt;"))
        elif kind == "element" and depth < 3:
            name = draw(names)
            inner = draw(well_formed(depth + 1))
            parts.append(f"<{name}{draw(attributes())}>{inner}</{name}>")
        elif kind == "comment":
            parts.append(f"<!--{draw(words).replace('--', '- -').rstrip('-')}-->")
        elif kind == "script":
            parts.append(f"<script>{draw(words).replace('</', '< /')}</script>")
        elif kind == "section":
            parts.append(f"<![if {draw(st.sampled_from(['!x', 'gte mso 9']))}]>")
        else:
            parts.append(f"<br{draw(attributes())}/>")
    return "".join(parts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(well_formed())
# A value ending in "=": its closing quote follows "=" as an opening one does (found by this
# test; it once read as a value that never ends, and the tag's rest became text).
@example(markup='<br href=">="/>')
@example(markup="<a title='x='>y</a><b alt=\"=\">z</b>")
def test_generated_well_formed_html_gives_the_same_text(markup):
    # Blank lines carry nothing (paragraphs are the non-empty lines); the text must be equal.
    def text_lines(lines):
        return [line for line in lines if line.strip()]

    assert text_lines(html_to_lines(markup)) == text_lines(parser_only_lines(markup))


markup_bits = st.sampled_from(
    [
        "<",
        ">",
        "</",
        "<!--",
        "-->",
        "<![",
        "]]>",
        "]>",
        "<![if ",
        "<![CDATA[",
        "<?",
        "<!",
        "<a ",
        "<p>",
        "</p>",
        "<script>",
        "</script>",
        "<style>",
        "='",
        '="',
        "'",
        '"',
        "=",
        " ",
        "\n",
        "x",
        "if",
        "&",
        "&amp;",
        "&#",
        ";",
        "/",
        "\x00",
        "é",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(markup_bits, st.text(max_size=3)), max_size=40).map("".join))
def test_html_to_text_never_raises(markup):
    text = html_to_text(markup)
    assert isinstance(text, str) and "\n\n\n" not in text
    html_to_lines(markup)


@settings(max_examples=40, deadline=None)
@given(st.lists(markup_bits, min_size=1, max_size=6).map("".join), st.integers(10_000, 40_000))
def test_any_repeated_markup_converts_in_bounded_time(unit, chars):
    markup = unit * (chars // len(unit) + 1)
    _text, seconds = timed(html_to_text, markup)
    assert seconds < BOUND, (unit, f"{seconds:.1f} s")

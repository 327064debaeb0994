"""The terminal rendering of an answer: clickable titles on a terminal, URLs in pipes and files."""

import datetime as dt
import io

from rich.console import Console

from tipbot.render.terminal import render_answer
from tipbot.types import Answer, Quote

URL = "https://b.example/2011/10/fund.html"
LINK = URL + "#:~:text=awarded%20%24300%2C000"
# Markup characters in a title are text, never tags.
TITLE = "The [bold]fund[/bold] awards [link=https://evil.example]grants[/link]"


def quote(**changes) -> Quote:
    fields = dict(
        post_id="2011-10-18-fund",
        title=TITLE,
        date=dt.date(2011, 10, 18),
        url=URL,
        link=LINK,
        text="The fund awarded $300,000 in grants.",
        spans=((0, 36),),
        score=0.9,
    )
    return Quote(**{**fields, **changes})


ANSWERED = Answer(question="How much?", answered=True, results=(quote(),))
DECLINED = Answer(question="pizza?", answered=False, results=(), closest=(quote(),))


def printed(answer: Answer, terminal: bool) -> str:
    buf = io.StringIO()
    colors = {"color_system": "standard"} if terminal else {}
    console = Console(file=buf, force_terminal=terminal, width=120, **colors)
    console.print(render_answer(answer))
    return buf.getvalue()


def test_on_a_terminal_titles_are_links_and_no_url_is_printed():
    for answer, target in ((ANSWERED, LINK), (DECLINED, URL)):
        shown = printed(answer, terminal=True)
        assert "\x1b]8;id=" in shown and f";{target}\x1b\\" in shown  # OSC 8 around the title
        text = _plain(shown)
        assert TITLE in text
        assert URL not in text  # the long URL stays hidden behind the title
        assert "evil.example\x1b" not in shown  # the title's own markup did not become a link


def test_in_a_pipe_or_file_the_url_is_printed():
    answered = printed(ANSWERED, terminal=False)
    assert "\x1b" not in answered
    assert TITLE in answered and "2011-10-18  " + LINK in answered
    declined = printed(DECLINED, terminal=False)
    assert f"  • {TITLE}  {URL}" in declined


def _plain(ansi: str) -> str:
    """The text a person sees: escape sequences (SGR and OSC 8) taken out."""
    import re

    return re.sub(r"\x1b\]8;[^\x1b]*\x1b\\|\x1b\[[0-9;]*m", "", ansi)

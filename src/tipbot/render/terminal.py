"""Answer → rich renderables for the terminal: each quote in a box, then title, date, link.

On a terminal each title is a clickable link (OSC 8) to the quoted passage and the long URL is
left out; written to a pipe or a file, the URL is printed, so nothing is lost. The choice is
made when the answer is printed, from the console it is printed on.
"""

from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.style import Style
from rich.text import Text

from tipbot.render.json import NOTHING
from tipbot.types import Answer, Quote

FOOTER = "Quoted word for word from the archive; follow a link to read the passage in its post."


def _title(title: str, url: str, style: str) -> Text:
    # A Style object, not markup: a title or URL holding "[" or "]" cannot break the link.
    return Text(title, style=Style.parse(style) + Style(link=url))


def _quote_block(n: int, q: Quote, terminal: bool) -> Group:
    heading = Text.assemble((f"{n}. ", "bold"), _title(q.title, q.link, "bold cyan"))
    date = q.date.isoformat() if q.date else "undated"
    where = Text(date, style="dim")
    if not terminal:
        where.append("  ")
        where.append(q.link, Style(color="blue", link=q.link))
    return Group(
        heading,
        Panel(Text(q.text, style="italic"), box=box.ROUNDED, border_style="dim", padding=(0, 1)),
        where,
        Text(""),
    )


def _closest(q: Quote, terminal: bool) -> Text:
    line = Text.assemble("  • ", _title(q.title, q.url, "cyan"))
    if not terminal:
        line.append("  ")
        line.append(q.url, Style(dim=True, link=q.url))
    return line


class AnswerView:
    """An answer as the console it is printed on shows it: links on a terminal, URLs elsewhere."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield render_parts(self.answer, terminal=console.is_terminal)


def render_parts(answer: Answer, terminal: bool) -> Group:
    parts: list[RenderableType] = []
    if answer.note:
        parts.append(Text(f"note: {answer.note}", style="yellow"))
    if answer.context:
        # Why a short follow-up found these posts: the earlier question it was read with.
        parts.append(Text(f"read with: {answer.context[0]}", style="dim"))
    if answer.answered:
        parts.extend(_quote_block(i, q, terminal) for i, q in enumerate(answer.results, 1))
        parts.append(Text(FOOTER, style="dim"))
    else:
        parts.append(Text(NOTHING, style="bold"))
        if answer.closest:
            parts.append(Text("The closest posts, in case they help:", style="dim"))
            parts.extend(_closest(q, terminal) for q in answer.closest)
    return Group(*parts)


def render_answer(answer: Answer) -> AnswerView:
    """What `tipbot ask` and `tipbot chat` print for an answer."""
    return AnswerView(answer)

"""Answer → rich renderables for the terminal: each quote in a box, then title, date, link."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from tipbot.render.json import NOTHING
from tipbot.types import Answer, Quote

FOOTER = "Quoted word for word from the archive; follow a link to read the passage in its post."


def _quote_block(n: int, q: Quote) -> Group:
    heading = Text.assemble((f"{n}. ", "bold"), (q.title, "bold cyan"))
    date = q.date.isoformat() if q.date else "undated"
    return Group(
        heading,
        Panel(Text(q.text, style="italic"), box=box.ROUNDED, border_style="dim", padding=(0, 1)),
        Text.assemble((date, "dim"), "  ", (q.link, f"link {q.link} blue")),
        Text(""),
    )


def render_answer(answer: Answer) -> Group:
    parts: list = []
    if answer.note:
        parts.append(Text(f"note: {answer.note}", style="yellow"))
    if answer.context:
        # Why a short follow-up found these posts: the earlier question it was read with.
        parts.append(Text(f"read with: {answer.context[0]}", style="dim"))
    if answer.answered:
        parts.extend(_quote_block(i, q) for i, q in enumerate(answer.results, 1))
        parts.append(Text(FOOTER, style="dim"))
    else:
        parts.append(Text(NOTHING, style="bold"))
        if answer.closest:
            parts.append(Text("The closest posts, in case they help:", style="dim"))
            parts.extend(
                Text.assemble("  • ", (q.title, "cyan"), "  ", (q.url, f"link {q.url} dim"))
                for q in answer.closest
            )
    return Group(*parts)

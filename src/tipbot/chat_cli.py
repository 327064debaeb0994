"""`tipbot chat`: a conversation in the terminal. Each question is read with the ones before it
(see tipbot.followup), answered as `tipbot ask` answers, with the same rendering.

    $ tipbot chat
    you> Who paid for the police training in Ukraine?
    …
    you> How many officers took part?
    read with: Who paid for the police training in Ukraine?
    …
    you> /new

Line editing and history come from the standard library's readline where the platform has it.
"""

from __future__ import annotations

import contextlib

import click

from tipbot.errors import QuestionError

PROMPT = "you> "
HELP = (
    "Ask a question; follow-ups are read with the conversation so far.\n"
    "/new starts over · /alone QUESTION asks without the conversation · /quit leaves (or Ctrl-D)"
)


@click.command()
@click.option(
    "-k", "--results", "k", type=click.IntRange(1, 20), help="At most this many posts an answer."
)
@click.pass_context
def chat(ctx: click.Context, k: int | None) -> None:
    """Talk with the archive: each question is read with the conversation so far.

    \b
    tipbot chat
    /new               start a new conversation
    /alone QUESTION    ask without the conversation
    /quit              leave (also Ctrl-D)
    """
    from tipbot.cli_common import err, open_archive, out
    from tipbot.conversation import Memory, Turn
    from tipbot.render.terminal import render_answer

    with contextlib.suppress(ImportError):  # not on every platform; plain input still works
        import readline  # noqa: F401 - input() gains line editing and history
    archive = open_archive(ctx)
    memory = Memory(archive.cfg.conversation)
    key = "terminal"
    err.print(HELP, style="dim", highlight=False)
    while True:
        try:
            line = input(PROMPT).strip()
        except EOFError:
            out.print()
            return
        except KeyboardInterrupt:  # a new prompt, as shells do; Ctrl-D leaves
            out.print()
            continue
        if not line:
            continue
        command, _, rest = line.partition(" ")
        if command in ("/quit", "/exit"):
            return
        if command == "/new":
            memory.forget(key)
            err.print("a new conversation", style="dim")
            continue
        if command == "/help":
            err.print(HELP, style="dim", highlight=False)
            continue
        alone = command == "/alone"
        if command.startswith("/") and not alone:
            err.print(f"unknown command {command}: /new, /alone QUESTION, /quit", style="yellow")
            continue
        question = rest if alone else line
        try:
            answer = archive.ask(question, k, context=() if alone else memory.turns(key))
        except QuestionError as e:
            err.print(f"{e}", style="yellow", markup=False, highlight=False)
            continue
        out.print(render_answer(answer))
        memory.add(key, Turn.of(answer))

"""The `tipbot` command. The library raises TipbotError; only here does it become a short
message on stderr and an exit code. Progress and warnings go to stderr, answers to stdout, so
`--json` output can be piped."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

import click
from rich.markup import escape

from tipbot import __version__
from tipbot.cli_common import (
    EXIT_ERROR,
    err,
    get_config,
    open_archive,
    out,
    run_build,
)
from tipbot.errors import QuestionError, TipbotError


class TipbotGroup(click.Group):
    """Turns tipbot's own errors into one line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TipbotError as e:
            err.print(
                f"[bold red]error:[/] {escape(str(e))}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
            ctx.exit(EXIT_ERROR)
        except OSError as e:
            # A file tipbot was told to use cannot be read or written: name it, no traceback.
            where = f" ({e.filename})" if e.filename else ""
            err.print(
                f"[bold red]error:[/] {escape(e.strerror or str(e))}{escape(where)}", soft_wrap=True
            )
            ctx.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            err.print("interrupted")
            ctx.exit(130)


@click.group(cls=TipbotGroup)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="TIPBOT_CONFIG",
    help="Config file (default ./config.toml; also $TIPBOT_CONFIG).",
)
@click.version_option(__version__, prog_name="tipbot")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Answer questions about the archive with verbatim, linked quotes.

    \b
    tipbot ask "Who funds the UN trust fund for trafficking victims?"
    tipbot index build        rebuild the index from the corpus
    tipbot corpus pull URL    bring a blog's posts into the corpus
    tipbot serve              run the Discord bot
    tipbot eval questions.jsonl
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"config_path": config_path}


# ---- ask --------------------------------------------------------------------------------------


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date: use YYYY-MM-DD", param_hint=name
        ) from None


@main.command()
@click.argument("question")
@click.option(
    "-k",
    "--results",
    "k",
    type=click.IntRange(1, 20),
    help=(
        "At most this many posts; those the reader finds no answer in are left out "
        "(default: config retrieval.k)."
    ),
)
@click.option("--since", help="Only posts on or after this date (YYYY-MM-DD).")
@click.option("--until", help="Only posts on or before this date (YYYY-MM-DD).")
@click.option("--label", help="Only posts with this label.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per question.")
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    k: int | None,
    since: str | None,
    until: str | None,
    label: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION with quotes from the archive; `-` reads one question a line from stdin.

    A line may also be JSON: {"conversation": "ID", "question": "…"}. Lines with the same ID
    are one conversation, asked in order: each is read with the earlier ones (its answer's
    "context" lists those it was found with). Plain lines are answered each alone.

    \b
    tipbot ask "How much did the UN fund award in its first grants?"
    tipbot ask --since 2009-01-01 --label "Intergovernmental Organizations" "ILO forced labour"
    printf 'q1\\nq2\\n' | tipbot ask --json -
    printf '{"conversation": "a", "question": "q1"}\\n{"conversation": "a", "question": "q2"}\\n' \\
      | tipbot ask --json -
    """
    from tipbot.conversation import Memory, Turn
    from tipbot.render.json import answer_dict
    from tipbot.render.terminal import render_answer

    since_d, until_d = _date(since, "--since"), _date(until, "--until")
    archive = open_archive(ctx, quiet=as_json)
    memory = Memory(archive.cfg.conversation)
    lines = (line.rstrip("\n") for line in sys.stdin) if question == "-" else [question]
    failed = False
    for number, line in enumerate(lines, 1):
        if question == "-" and not line.strip():
            continue
        conversation = None
        try:
            conversation, q = _batch_line(line) if question == "-" else (None, line)
            context = memory.turns(conversation) if conversation is not None else ()
            answer = archive.ask(q, k, since=since_d, until=until_d, label=label, context=context)
        except QuestionError as e:
            if question != "-":
                raise
            if isinstance(e, LineError):
                conversation = e.conversation
            # In a batch, one bad line is reported in its place and the rest still answered:
            # a JSON row with --json, a line on stderr otherwise.
            failed = True
            if as_json:
                row: dict[str, object] = {
                    "question": line,
                    "answered": False,
                    "results": [],
                    "error": str(e),
                }
                if conversation is not None:
                    row["conversation"] = conversation
                print(json.dumps(row, ensure_ascii=False), flush=True)
            else:
                err.print(
                    f"[bold red]error:[/] line {number}: {escape(str(e))}",
                    markup=True,
                    highlight=False,
                    soft_wrap=True,
                )
            continue
        if conversation is not None:
            memory.add(conversation, Turn.of(answer))
        if as_json:
            row = answer_dict(answer)
            if conversation is not None:
                row["conversation"] = conversation
            print(json.dumps(row, ensure_ascii=False), flush=True)
        else:
            out.print(render_answer(answer))
    if failed:
        ctx.exit(EXIT_ERROR)


def _batch_line(line: str) -> tuple[str | None, str]:
    """(conversation id or None, question) of one line of `ask -`: plain text, or a JSON
    object with "question" and optionally "conversation". A bad JSON line is a
    LineError that still names its conversation, so the error row can echo it."""
    if not line.lstrip().startswith("{"):
        return None, line
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise LineError(
            f'the line is not valid JSON ({e.msg}): write {{"conversation": "ID", '
            '"question": "…"} or a plain question'
        ) from None
    if not isinstance(obj, dict):
        raise LineError('a JSON line must be an object, e.g. {"question": "…"}')
    cid = obj.get("conversation")
    if cid is not None and (not isinstance(cid, str | int) or isinstance(cid, bool)):
        raise LineError(f'"conversation" must be a string or a number, got {cid!r}')
    cid = str(cid) if cid is not None else None
    question = obj.get("question")
    if not isinstance(question, str):
        raise LineError('a JSON line needs a "question" string, e.g. {"question": "…"}', cid)
    return cid, question


class LineError(QuestionError):
    def __init__(self, message: str, conversation: str | None = None) -> None:
        super().__init__(message)
        self.conversation = conversation


# ---- index ------------------------------------------------------------------------------------


@main.group()
def index() -> None:
    """Build, update and inspect the index (for maintainers)."""


_strict = click.option(
    "--strict", is_flag=True, help="Fail on any unreadable file or line instead of skipping it."
)
_wait = click.option(
    "--wait", is_flag=True, help="If another build is running, wait for it instead of failing."
)


def _build_command(name: str, incremental: bool, doc: str) -> None:
    """`index build` and `index update`: one shape, told apart by ``incremental``."""

    @index.command(name, help=doc)
    @_strict
    @_wait
    @click.pass_context
    def command(ctx: click.Context, strict: bool, wait: bool) -> None:
        run_build(ctx, incremental=incremental, strict=strict, wait=wait)


_build_command(
    "build",
    incremental=False,
    doc="""Build the index from the corpus, from scratch.

    \b
    tipbot index build
    """,
)
_build_command(
    "update",
    incremental=True,
    doc="""Bring the index up to date: embed only posts added or changed, drop removed ones.

    \b
    tipbot index update
    """,
)


@index.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.pass_context
def info(ctx: click.Context, as_json: bool) -> None:
    """What the index holds, and whether the corpus changed since it was built.

    \b
    tipbot index info --json
    """
    from tipbot.index import corpus_changed
    from tipbot.index.store import current_build_dir, read_manifest

    cfg = get_config(ctx)
    build_dir = current_build_dir(cfg.index.dir)
    m = read_manifest(build_dir)
    summary = {
        "posts": m["posts"],
        "chunks": m["chunks"],
        "sentences": m["sentences"],
        "model": m["model"],
        "dims": m["dim"],
        "index_kind": m["index_kind"],
        "tokenizer": m["tokenizer"],
        "max_tokens": m["max_tokens"],
        "overlap_tokens": m["overlap_tokens"],
        "built_at": m["built_at"],
        "build_seconds": m.get("build_seconds"),
        "stale": corpus_changed(cfg, m),
        "path": str(build_dir),
    }
    if as_json:
        print(json.dumps(summary))
        return
    for key, value in summary.items():
        out.print(f"{key:<15} {value}")


# ---- serve and eval live in their own modules -------------------------------------------------


def _register() -> None:
    from tipbot.bot.cli import serve
    from tipbot.chat_cli import chat
    from tipbot.evaluate_cli import eval_group
    from tipbot.sources.cli import corpus_group

    main.add_command(serve)
    main.add_command(chat)
    main.add_command(eval_group)
    main.add_command(corpus_group)


_register()

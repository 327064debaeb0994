"""What the `tipbot` commands share: the two consoles, the config, the archive, the index build.

Every command module (cli, chat_cli, evaluate_cli, sources/cli, bot/cli) imports from here, and
`tipbot.cli` imports the command modules to register them, so nothing imports `tipbot.cli`
back. Progress and warnings go to ``err`` (stderr), answers to ``out`` (stdout), in every
output mode: `--json` keeps stdout pure JSON, never the warnings quiet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from tipbot.config import Config, load_config

if TYPE_CHECKING:
    from tipbot.archive import Archive

out = Console(highlight=False)
# stderr is never hard-wrapped: a terminal wraps lines itself, and a log or a script that
# reads a message must get its paths and words whole.
err = Console(stderr=True, highlight=False, soft_wrap=True)
MAX_ISSUES_SHOWN = 20

EXIT_ERROR = 1


def get_config(ctx: click.Context) -> Config:
    """The config of this run, loaded once from `--config` (or its default)."""
    if "config" not in ctx.obj:
        ctx.obj["config"] = load_config(ctx.obj.get("config_path"))
    cfg: Config = ctx.obj["config"]
    return cfg


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress callback for index builds, drawn on stderr."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def warn(lines: Sequence[object], rest: str = "more") -> None:
    """Warnings on stderr (a file's problems, a question set's), at most MAX_ISSUES_SHOWN of
    them and a count of the ``rest``. Each is printed as it stands, never read as markup."""
    for line in lines[:MAX_ISSUES_SHOWN]:
        err.print(f"[yellow]warning:[/] {escape(str(line))}", markup=True, highlight=False)
    if len(lines) > MAX_ISSUES_SHOWN:
        err.print(f"[yellow]warning:[/] … and {len(lines) - MAX_ISSUES_SHOWN} {rest}")


def open_archive(ctx: click.Context, *, quiet: bool = False) -> Archive:
    """The shared Archive; builds the index first when it is missing or stale.

    ``quiet`` (the `--json` modes) leaves out the progress bar only: why the index is being
    built is said on stderr either way, so a script sees the same warnings a person does."""
    from tipbot.archive import Archive

    cfg = get_config(ctx)
    with progress_bar(not quiet) as progress:
        return Archive.open(
            cfg,
            progress=progress,
            on_build=lambda why: err.print(f"tipbot: {why}", markup=False),
        )


def run_build(ctx: click.Context, incremental: bool, strict: bool, wait: bool) -> None:
    """`tipbot index build` (from scratch) or `update` (incremental), with its report."""
    from tipbot.embed import Embedder
    from tipbot.index import build_index

    cfg = get_config(ctx)
    embedder = Embedder(cfg.model)
    with progress_bar() as progress:
        report = build_index(
            cfg, embedder, progress, incremental=incremental, strict=strict, wait=wait
        )
    warn(report.issues, "more problems")
    rate = report.embedded_chunks / report.seconds if report.seconds else 0.0
    reused = f", {report.reused_posts} posts unchanged" if incremental else ""
    problems = f", {len(report.issues)} problems skipped" if report.issues else ""
    out.print(
        f"indexed {report.posts} posts, {report.chunks} chunks in {report.seconds:.1f} s "
        f"({rate:.0f} chunks/s{reused}{problems})"
    )

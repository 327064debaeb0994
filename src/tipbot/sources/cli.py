"""`tipbot corpus pull`: bring a blog's posts into the archive from its public feed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from tipbot.sources import FORMATS


@click.group("corpus")
def corpus_group() -> None:
    """Keep the archive in step with the blogs it comes from (for maintainers)."""


def _since(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: use YYYY-MM-DD") from None


@corpus_group.command("pull")
@click.argument("url")
@click.option("--label", default="", help="Only the posts with this label (Blogger, WordPress).")
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="What the URL is; auto tells Blogger, WordPress and RSS/Atom feeds apart.",
)
@click.option("--since", help="Only posts published on or after this date (YYYY-MM-DD).")
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (default: the first folder in [corpus] paths).",
)
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    help="Seconds between two requests (default: [sync] delay_seconds).",
)
@click.option("--update", is_flag=True, help="Then run `tipbot index update`.")
@click.pass_context
def pull_command(
    ctx: click.Context,
    url: str,
    label: str,
    format_: str,
    since: str | None,
    into: Path | None,
    delay: float | None,
    update: bool,
) -> None:
    """Read every post of the blog at URL and write them into the archive.

    \b
    tipbot corpus pull https://example.blogspot.com --update
    tipbot corpus pull https://example.blogspot.com --label "Reports" --since 2010-01-01
    tipbot corpus pull https://example.org                    # WordPress, found by itself
    tipbot corpus pull https://example.org/feed.xml --format feed

    Posts go to one file per source, e.g. corpus/example.blogspot.com.jsonl. A later pull
    reads only what changed where the blog allows it, and reports new, changed, removed and
    unchanged posts; posts are removed only when the blog listed all of its posts. Nothing is
    written until every page was read, so a failed pull leaves the archive as it was.
    Requests go one at a time, [sync] delay_seconds apart, with the timeouts and retries of
    the [sync] section.
    """
    from tipbot.cli_common import err, get_config, out, run_build
    from tipbot.sources.pull import corpus_folder, http_settings, pull

    cfg = get_config(ctx)
    folder = into or corpus_folder(cfg)
    if into is not None and not any(_within(folder, p) for p in cfg.corpus.paths):
        err.print(
            f"warning: {folder} is not in [corpus] paths: the index will not read it",
            markup=False,
        )
    settings = http_settings(cfg.sync) if delay is None else http_settings(cfg.sync, delay=delay)
    report = pull(url, folder, format=format_, label=label, since=_since(since), settings=settings)
    for note in report.notes():
        err.print(f"warning: {note}", markup=False, soft_wrap=True)
    out.print(report.line(), markup=False, soft_wrap=True)
    if update:
        run_build(ctx, incremental=True, strict=False, wait=True)


def _within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False

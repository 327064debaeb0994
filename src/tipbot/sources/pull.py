"""One pull: read a blog's posts and bring its file in the archive up to date.

    report = pull("https://x.blogspot.com", Path("corpus"))
    report.line()   # 'corpus/x.blogspot.com.jsonl: 3 new, 1 changed, 1 removed, 57 unchanged (…)'

Every page is read before anything is written; then the file is replaced atomically, or not
at all when nothing changed (so the index does not see a change that is not one).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

from tipbot.config import Config, SyncConfig, SyncSource
from tipbot.errors import CorpusError, SourceError, TipbotError
from tipbot.sources import FORMATS, blogger, feed, store, wordpress
from tipbot.sources.detect import detect
from tipbot.sources.entry import Entry, Listing, Site
from tipbot.sources.http import Fetcher, HttpSettings

READERS = {"blogger": blogger.pull, "wordpress": wordpress.pull, "feed": feed.pull}


@dataclass(frozen=True)
class PullReport:
    url: str
    format: str
    path: Path
    new: int
    changed: int
    removed: int
    unchanged: int
    complete: bool  # the listing was the whole blog (removals were possible)
    unlisted_kept: int  # posts of earlier pulls the (incomplete) listing did not show, kept
    summaries: int  # posts the source gave only a summary of
    requests: int
    bytes_read: int
    seconds: float
    written: bool  # the posts file was replaced

    @property
    def posts(self) -> int:
        return self.new + self.changed + self.unchanged

    def line(self) -> str:
        counts = (
            f"{self.new} new, {self.changed} changed, {self.removed} removed, "
            f"{self.unchanged} unchanged"
        )
        cost = f"{self.requests} requests, {_size(self.bytes_read)}, {self.seconds:.1f} s"
        return f"{self.path}: {counts} ({self.format} {self.url}; {cost})"

    def notes(self) -> list[str]:
        """Warnings worth a line of their own."""
        notes = []
        if self.summaries:
            notes.append(
                f"{self.url} gives only a summary of {self.summaries} of {self.posts} posts: the "
                "archive holds those summaries, not the whole posts (on Blogger, the blog's "
                "owner can set Settings → Site feed → Allow blog feed: Full)"
            )
        if self.unlisted_kept:
            notes.append(
                f"the listing was not complete, so nothing was removed: {self.unlisted_kept} "
                "posts of earlier pulls that it did not show were kept"
            )
        return notes


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


@dataclass(frozen=True)
class _Merged:
    entries: list[Entry]
    new: int
    changed: int
    removed: int
    unchanged: int
    unlisted_kept: int


def _same_post(a: Entry, b: Entry) -> bool:
    # The update stamp alone moving (Blogger bumps it for reasons of its own) is no change.
    return dataclasses.replace(a, updated="") == dataclasses.replace(b, updated="")


def merge(previous: Mapping[str, Entry], listing: Listing) -> _Merged:
    """The archive after this pull, and what changed: by the source's own post keys."""
    fetched = {e.key: e for e in listing.entries}
    result: dict[str, Entry] = {}
    new = changed = removed = unchanged = kept = 0
    for key, old in previous.items():
        if key in fetched:
            result[key] = fetched[key]
            if _same_post(old, fetched[key]):
                unchanged += 1
            else:
                changed += 1
        elif listing.not_modified or key in listing.present:
            result[key] = old
            unchanged += 1
        elif listing.complete:
            removed += 1
        else:
            result[key] = old
            unchanged += 1
            kept += 1
    for key, entry in fetched.items():
        if key not in previous:
            result[key] = entry
            new += 1
    ordered = sorted(result.values(), key=lambda e: (e.published, e.key))
    return _Merged(ordered, new, changed, removed, unchanged, kept)


class HttpChanges(TypedDict, total=False):
    """The HttpSettings fields a caller of ``http_settings`` may set."""

    delay: float
    connect_timeout: float
    read_timeout: float
    deadline: float
    retries: int
    backoff: float
    max_bytes: int
    max_retry_after: float
    contact: str


def http_settings(sync: SyncConfig, **changes: Unpack[HttpChanges]) -> HttpSettings:
    """The HTTP limits for pulls, from the [sync] section."""
    settings = HttpSettings(
        delay=sync.delay_seconds,
        connect_timeout=sync.timeout_seconds,
        read_timeout=sync.timeout_seconds,
        retries=sync.retries,
        contact=sync.contact,
    )
    return dataclasses.replace(settings, **changes)


def pull(
    url: str,
    into: Path,
    *,
    format: str = "auto",
    label: str = "",
    since: dt.date | None = None,
    settings: HttpSettings | None = None,
    fetcher: Fetcher | None = None,
    stop: threading.Event | None = None,
) -> PullReport:
    """Pull the blog at ``url`` into ``into``/<host>.jsonl; see the module's docstring."""
    if format not in FORMATS:
        raise SourceError(url, f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
    t0 = time.perf_counter()
    fetcher = fetcher or Fetcher(settings, stop=stop)
    url = url.strip()
    url_label = blogger.blog_and_label(url)[1] if blogger.is_blogger(url) else ""
    label = label or url_label
    stem = store.file_stem(url, label)
    with store.locked(into):
        stored = store.load(into, stem)
        state = stored.state
        same_source = state.get("url") == url and state.get("label", "") == label
        if same_source and state.get("format") and format in ("auto", state["format"]):
            kind, where = state["format"], state["where"]
        elif format == "auto":
            kind, where = detect(fetcher, url)
        else:
            kind, where = format, url
        if state.get("format") not in (None, kind):
            # Posts are matched by the source's own ids, which differ from one kind to another.
            raise CorpusError(
                f"{stored.path} was pulled as {state['format']} before: pull with --format "
                f"{state['format']}, or delete it and {stored.state_path} to pull it as {kind}"
            )
        if since is None and state.get("since"):
            since = dt.date.fromisoformat(state["since"])
        previous = stored.entries
        listing = READERS[kind](fetcher, Site(where, label, since), previous, state)
        if not listing.present and not listing.not_modified and (listing.complete or not previous):
            # An empty listing is far likelier a broken blog or a wrong URL than a blog whose
            # every post was deleted: keep what was pulled before.
            raise SourceError(
                where,
                f"lists no posts where {len(previous)} were pulled before; nothing was removed"
                if previous
                else "lists no posts: check the URL, the label and --since",
            )
        merged = merge(previous, listing)
        changed = bool(merged.new or merged.changed or merged.removed) or not stored.path.exists()
        new_state = {
            "url": url,
            "label": label,
            "format": kind,
            "where": where,
            "since": since.isoformat() if since else "",
            "pulled_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "complete": listing.complete,
            "posts": len(merged.entries),
            **{k: v for k, v in listing.state.items() if k not in ("version",)},
        }
        # Stamps can move while posts do not; keep them so the next pull need not look again.
        stamps_moved = any(
            previous.get(e.key) is not None and previous[e.key].updated != e.updated
            for e in merged.entries
        )
        store.publish(stored, merged.entries if changed or stamps_moved else None, new_state)
    return PullReport(
        url=url,
        format=kind,
        path=stored.path,
        new=merged.new,
        changed=merged.changed,
        removed=merged.removed,
        unchanged=merged.unchanged,
        complete=listing.complete,
        unlisted_kept=merged.unlisted_kept,
        summaries=sum(e.summary_only for e in merged.entries),
        requests=fetcher.requests,
        bytes_read=fetcher.bytes_read,
        seconds=time.perf_counter() - t0,
        written=changed or stamps_moved,
    )


def corpus_folder(cfg: Config) -> Path:
    """Where pulled posts go: the first folder among [corpus] paths."""
    for path in cfg.corpus.paths:
        if path.is_dir() or not path.exists():
            return path
    raise CorpusError(
        "none of [corpus] paths is a folder for pulled posts: add one (paths = "
        '["corpus", …]) or pass --into'
    )


def pull_sources(
    cfg: Config,
    sources: tuple[SyncSource, ...] | None = None,
    stop: threading.Event | None = None,
) -> tuple[list[PullReport], list[TipbotError]]:
    """Pull every [sync] source into the corpus folder, one after another: the reports, and
    the failures (one source failing does not stop the others)."""
    folder = corpus_folder(cfg)
    settings = http_settings(cfg.sync)
    reports: list[PullReport] = []
    failures: list[TipbotError] = []
    for src in cfg.sync.sources if sources is None else sources:
        try:
            reports.append(
                pull(
                    src.url,
                    folder,
                    format=src.format,
                    label=src.label,
                    settings=settings,
                    stop=stop,
                )
            )
        except TipbotError as e:
            failures.append(e)
    return reports, failures


def last_synced(cfg: Config) -> dt.datetime | None:
    """When a pull into the corpus last succeeded (None: never, or no corpus folder)."""
    try:
        return store.last_pulled(corpus_folder(cfg))
    except CorpusError:
        return None

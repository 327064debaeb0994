"""The bot's scheduled sync: every ``[sync] every``, pull each ``[sync] sources`` blog into the
corpus, update the index when a post came, changed or went, and load the new build.

    task = asyncio.create_task(sync_loop(service))    # TipClient does this when sources are set

Pulls and the index update run in a worker thread: the event loop never waits on them, and
questions are answered from the current index meanwhile. A pull that fails is logged and
tried again at the next turn; the other sources are still pulled. The first turn comes when
the last pull (by the bot or by `tipbot corpus pull`) is ``every`` old, so a restart does not
pull again at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING

from tipbot.config import Config
from tipbot.sources.pull import PullReport, last_synced, pull_sources

if TYPE_CHECKING:
    from tipbot.archive import Archive
    from tipbot.bot.service import BotService

log = logging.getLogger(__name__)


def sync_once(
    cfg: Config, archive: Archive, stop: threading.Event | None = None
) -> list[PullReport]:
    """Pull every source, then update and reload the index if the corpus changed (blocking)."""
    from tipbot.index import build_index

    reports, failures = pull_sources(cfg, stop=stop)
    for e in failures:
        log.warning("sync failed, tried again at the next turn: %s", e)
    for r in reports:
        log.info("synced %s", r.line())
    if any(r.new or r.changed or r.removed for r in reports):
        report = build_index(cfg, archive.embedder, None, incremental=True, wait=True)
        log.info(
            "index updated: %d posts, %d chunks embedded", report.posts, report.embedded_chunks
        )
        if archive.reload_if_changed():
            log.info("loaded index build %s", archive.data.build_id)
    return reports


def first_wait(cfg: Config, now: dt.datetime | None = None) -> float:
    """Seconds until the first turn: what is left of ``every`` since the last pull."""
    last = last_synced(cfg)
    if last is None:
        return 0.0
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, cfg.sync.every_seconds - (now - last).total_seconds())


async def sync_loop(service: BotService) -> None:
    """Run the schedule until cancelled; ``service.archive`` may still be loading at first."""
    while service.archive is None:
        await asyncio.sleep(service.settings.reload_check_seconds)
    archive = service.archive
    cfg = archive.cfg
    if not cfg.sync.sources:
        return
    stop = threading.Event()
    wait = first_wait(cfg)
    try:
        while True:
            await asyncio.sleep(wait)
            wait = cfg.sync.every_seconds
            try:
                await asyncio.to_thread(sync_once, cfg, archive, stop)
            except Exception:
                log.exception("sync failed; the current index keeps answering")
    finally:
        stop.set()  # a pull still running in its thread stops at its next request

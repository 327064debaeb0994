"""The pulled posts on disk: one JSONL file per source, a hidden state file beside it.

    corpus/
      example.blogspot.com.jsonl         the posts, one a line (tipbot.parse.jsonl reads it)
      .example.blogspot.com.pull.json    where they came from, and what the next pull needs

Files are replaced whole and atomically (written to a hidden temporary file, synced, renamed
over the old one), so a reader, an index build or a killed pull only ever sees the old file
or the new one. Nothing is written until every page has been read: a pull that fails
half-way leaves the folder as it was. Hidden files are never read as posts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tipbot.errors import CorpusError
from tipbot.sources.entry import Entry
from tipbot.textutil import slugify

STATE_SUFFIX = ".pull.json"
STATE_VERSION = 1
_NOT_PART_OF_NAME = re.compile(r"/(?:feeds|wp-json|search/label|feed|rss|atom)\b.*$|/index\.\w+$")


def file_stem(url: str, label: str = "") -> str:
    """The archive file's name without ``.jsonl``: host, the blog's path, the label.

    >>> file_stem("https://x.blogspot.com/feeds/posts/default", "Human Rights")
    'x.blogspot.com-human-rights'
    """
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "blog").lower().removeprefix("www.")
    if parts.port:
        host += f"-{parts.port}"
    path = _NOT_PART_OF_NAME.sub("", parts.path).strip("/")
    if "rest_route=" in parts.query or not path:
        path = ""
    pieces = (
        [host] + ([slugify(path, 60)] if path else []) + ([slugify(label, 60)] if label else [])
    )
    return "-".join(pieces)


@dataclass(frozen=True)
class Stored:
    """What an earlier pull left: its posts by source key, and its state."""

    path: Path
    state_path: Path
    entries: dict[str, Entry]
    state: dict[str, Any]

    @property
    def exists(self) -> bool:
        return bool(self.state)


def paths(folder: Path, stem: str) -> tuple[Path, Path]:
    return folder / f"{stem}.jsonl", folder / f".{stem}{STATE_SUFFIX}"


def load(folder: Path, stem: str) -> Stored:
    """The earlier pull of this source into ``folder``; empty when there was none."""
    path, state_path = paths(folder, stem)
    if not state_path.exists():
        if path.exists():
            raise CorpusError(
                f"{path} exists and was not written by `tipbot corpus pull`: move it out of "
                "the corpus, or pull into another folder with --into"
            )
        return Stored(path, state_path, {}, {})
    damaged = f"delete {state_path} and {path} to pull the blog afresh"
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError("unknown state version")
        entries = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").split("\n"):
                if line.strip():
                    entry = Entry.from_record(json.loads(line))
                    entries[entry.key] = entry
    except (OSError, UnicodeDecodeError) as e:
        raise CorpusError(f"cannot read the last pull ({e}): {damaged}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise CorpusError(f"the last pull's files are damaged ({e}): {damaged}") from None
    return Stored(path, state_path, entries, state)


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """One pull at a time into ``folder``; the OS frees the lock if the puller dies.

    The folder itself is locked, so a failed first pull leaves no lock file behind.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise CorpusError(
            f"cannot use {folder} for pulled posts ({e.strerror or e}): make it a writable "
            "folder, or pass --into"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CorpusError(
                f"another pull is writing into {folder}: wait for it to finish, then try again"
            ) from None
        yield
    finally:
        os.close(fd)  # closing frees the lock


def publish(stored: Stored, entries: list[Entry] | None, state: dict[str, Any]) -> None:
    """Write the posts (None: they did not change) and the state, each atomically.

    The posts go first: if the process dies between the two renames, the next pull meets new
    posts with the old state, and reads a little more than it needed to, nothing worse.
    """
    folder = stored.path.parent
    _remove_leftovers(folder, stored.path.name, stored.state_path.name)
    if entries is not None:
        lines = (json.dumps(e.record(), ensure_ascii=False) + "\n" for e in entries)
        _atomic_write(stored.path, "".join(lines))
    _atomic_write(stored.state_path, json.dumps({**state, "version": STATE_VERSION}, indent=1))


def _tmp_name(final: str) -> str:
    # Hidden, so the corpus reader skips it if a killed process leaves it behind.
    return f".{final.lstrip('.')}.tmp-{os.getpid()}"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(_tmp_name(path.name))
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise CorpusError(
            f"cannot write {path} ({e.strerror or e}); the archive is as it was: free space "
            "or fix permissions, then pull again"
        ) from None
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def _remove_leftovers(folder: Path, *names: str) -> None:
    """Temporary files of a pull that was killed while writing."""
    for name in names:
        for leftover in folder.glob(glob_escape(f".{name.lstrip('.')}.tmp-") + "*"):
            with contextlib.suppress(OSError):
                leftover.unlink()


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def last_pulled(folder: Path) -> dt.datetime | None:
    """When a pull into ``folder`` last succeeded (any source), from the state files."""
    times = []
    for state_path in folder.glob(f".*{STATE_SUFFIX}"):
        try:
            raw = json.loads(state_path.read_text(encoding="utf-8")).get("pulled_at", "")
            times.append(dt.datetime.fromisoformat(raw))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    return max(times, default=None)

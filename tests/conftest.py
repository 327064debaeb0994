"""Shared fixtures: the real model, loaded once, and a real index of the seed archive built
once per test session in a temporary folder (the seed embeds in seconds)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from tipbot.config import Config, parse_config

# CI replays the same generated examples every run: a property test fails there only for a
# change in the code, never for a newly drawn example (run locally to explore new ones).
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SEED = ROOT / "corpus" / "intergovernmental-organizations.txt"


def make_config(tmp: Path, corpus: list[Path] | None = None, **sections: dict) -> Config:
    """A config whose corpus and index live under ``tmp``: tests never touch ./index."""
    raw = {
        "corpus": {"paths": [str(p) for p in (corpus or [SEED])]},
        "index": {"dir": str(tmp / "index")},
        **sections,
    }
    for name, changes in sections.items():
        raw[name] = {**raw.get(name, {}), **changes}
    return parse_config(raw, tmp, str(tmp / "config.toml"))


class Clock:
    """A clock the test moves: ``clock.now += 10``."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def read_jsonl(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.fixture(scope="session")
def embedder():
    from tipbot.embed import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def seed_dir(tmp_path_factory) -> Path:
    """A folder with a copy of the seed corpus, for tests that build from it."""
    d = tmp_path_factory.mktemp("seed")
    (d / "corpus").mkdir()
    shutil.copy(SEED, d / "corpus" / SEED.name)
    return d


@pytest.fixture(scope="session")
def seed_config(seed_dir) -> Config:
    return make_config(seed_dir, [seed_dir / "corpus"])


@pytest.fixture(scope="session")
def archive(seed_config, embedder):
    """The seed archive, indexed for real, shared read-only by the tests."""
    from tipbot.archive import Archive

    return Archive.open(seed_config, embedder=embedder)


@pytest.fixture(scope="session")
def seed_cfg(seed_dir, archive) -> Path:
    """A config file for the session's seed index (already built by the archive fixture)."""
    path = seed_dir / "config.toml"
    path.write_text('[corpus]\npaths = ["corpus"]\n[index]\ndir = "index"\n', encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def plain_archive(seed_config, embedder, archive):
    """The same index answered without the reader ([answer] reader = false): hand-weighted
    quotes and the hand rules of abstention."""
    from tipbot.archive import Archive

    return Archive(seed_config.with_changes(answer={"reader": False}), embedder, archive.data)

"""The persistent index: FAISS + BM25 + metadata + manifest, built, updated, stored, loaded."""

from tipbot.index.build import BuildReport, build_index, check_settings, corpus_changed
from tipbot.index.store import IndexData, current_build_name, load_current

__all__ = [
    "BuildReport",
    "IndexData",
    "build_index",
    "check_settings",
    "corpus_changed",
    "current_build_name",
    "load_current",
]

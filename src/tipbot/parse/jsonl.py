"""Reader placeholder: filled in by the jsonl reader work."""

from __future__ import annotations

from tipbot.types import Post, ReadIssue


def read(source: str, text: str, base_url: str) -> tuple[list[Post], list[ReadIssue]]:
    return [], [ReadIssue(source, "jsonl reader not implemented yet")]

"""Reader placeholder: filled in by the markdown reader work."""

from __future__ import annotations

from tipbot.types import Post, ReadIssue


def read(source: str, text: str, base_url: str) -> tuple[list[Post], list[ReadIssue]]:
    return [], [ReadIssue(source, "markdown reader not implemented yet")]

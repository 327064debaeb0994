"""tipbot's own exceptions. The library raises these; only the CLI and the bot turn them into a
short message and an exit code. Each message says what went wrong, the value, and the fix."""

from __future__ import annotations


class TipbotError(Exception):
    """A known failure with a message fit for the user."""


class ConfigError(TipbotError):
    pass


class CorpusError(TipbotError):
    """Nothing indexable was found, or --strict met a problem."""


class IndexError_(TipbotError):
    """The index is missing, damaged, or does not match the config."""


class IndexMissing(IndexError_):
    pass


class IndexMismatch(IndexError_):
    """Built with another model, tokenizer or chunk settings than the config asks for."""


class IndexDamaged(IndexError_):
    pass


class IndexBusy(IndexError_):
    """Another build holds the lock."""


class QuestionError(TipbotError):
    """The question cannot be searched (empty, only punctuation…)."""


class SourceError(TipbotError):
    """A blog's feed could not be read: the request failed, or the answer is not a feed."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"{url}: {problem}")
        self.url = url
        self.problem = problem

"""Conversations: the turns a follow-up is read with, held in a small bounded memory.

    memory = Memory(ConversationConfig())
    answer = archive.ask(question, context=memory.turns(key))
    memory.add(key, Turn.of(answer))

A key is whatever identifies one conversation to its caller: a Discord thread, a user's DM, a
JSON line's ``conversation`` id. The memory lives in the process and forgets on three bounds:
each conversation keeps its last ``turns`` turns, a conversation idle for ``idle`` is dropped,
and beyond ``max_conversations`` the one used longest ago goes first. Nothing is written to
disk.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from tipbot.config import ConversationConfig
from tipbot.types import Answer


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier question of a conversation: the posts its answer quoted (best first; empty
    when it was declined), where in the first post the first quote lies, and the earlier
    questions it was itself read with (newest first; empty when it stood alone)."""

    question: str
    posts: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()  # the first quote's parts in posts[0]'s text

    @classmethod
    def of(cls, answer: Answer) -> Turn:
        posts = tuple(q.post_id for q in answer.results) if answer.answered else ()
        spans = answer.results[0].spans if posts else ()
        return cls(answer.question, posts, answer.context, spans)


class Memory:
    """key → the conversation's last turns, bounded in turns, idle time and conversations.
    Thread-safe: the bot answers in worker threads."""

    def __init__(
        self, cfg: ConversationConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_turns = cfg.turns
        self.idle_seconds = cfg.idle_seconds
        self.max_conversations = cfg.max_conversations
        self._clock = clock
        self._items: OrderedDict[Hashable, tuple[float, tuple[Turn, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def turns(self, key: Hashable) -> tuple[Turn, ...]:
        """The conversation's turns, oldest first; () when it is unknown or idle too long."""
        with self._lock:
            self._expire()
            item = self._items.get(key)
            return item[1] if item else ()

    def add(self, key: Hashable, turn: Turn) -> None:
        with self._lock:
            self._expire()
            _, earlier = self._items.pop(key, (0.0, ()))
            self._items[key] = (self._clock(), (*earlier, turn)[-self.max_turns :])
            while len(self._items) > self.max_conversations:
                self._items.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        """Start the conversation over (``/new`` in ``tipbot chat``)."""
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return bool(self.turns(key))

    def _expire(self) -> None:
        # Least recently used first, so the idle ones are at the front.
        cutoff = self._clock() - self.idle_seconds
        while self._items:
            key, (used, _) = next(iter(self._items.items()))
            if used >= cutoff:
                break
            del self._items[key]

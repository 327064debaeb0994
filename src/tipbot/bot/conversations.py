"""Which conversation a question on Discord continues, and what the bot remembers of its answers.
Pure bookkeeping, no discord import, so each rule is unit-tested on its own.

    conversations = Conversations(cfg.conversation)
    place = conversations.place(channel_id, user_id, dm=False, replied_to=None)
    answer = archive.ask(question, context=place.context)
    conversations.record(place, sent_message_id, user_id, Turn.of(answer))

The rules, first match wins:

- in a thread started from one of the bot's answers (a thread made from a message has that
  message's id): the thread's conversation, shared by everyone in it, starting from the answer;
- in a DM: that user's recent turns;
- a reply to one of the bot's answers, by the person who asked it: that answer's conversation, as
  it stood at that answer;
- anything else (a mention that is not a reply, a reply to someone else's answer): a new
  conversation, named after the answer it gets. Context never passes between users outside a
  shared thread.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from tipbot.config import ConversationConfig
from tipbot.conversation import Memory, Turn

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class Place:
    """Where a question belongs: its conversation's key (None: a new one, named after the answer
    once it is sent) and the earlier turns to read it with."""

    key: Hashable | None
    context: tuple[Turn, ...] = ()


@dataclass(frozen=True)
class Sent:
    """One answer the bot sent: its conversation, who asked, and its own turn."""

    key: Hashable
    owner: int
    turn: Turn


@dataclass(frozen=True)
class Asked:
    """A question as asked, to ask it again without its context ("Ask without context")."""

    question: str
    k: int | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    label: str | None = None


class Conversations:
    """The memory of turns, plus a bounded map answer message id → Sent so that replies and
    threads find their conversation. Used from the event loop only (the memory itself is
    thread-safe)."""

    def __init__(
        self, cfg: ConversationConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.memory = Memory(cfg, clock)
        # An answer is worth finding while its turn can still be in the memory: at most
        # ``turns`` answers of each of ``max_conversations`` conversations.
        self.size = cfg.max_conversations * max(cfg.turns, 1)
        self._sent: OrderedDict[int, Sent] = OrderedDict()
        self._asked: OrderedDict[str, Asked] = OrderedDict()

    def place(self, channel_id: int, user_id: int, *, dm: bool, replied_to: int | None) -> Place:
        """Where a question from ``user_id`` in ``channel_id`` belongs (the module's rules);
        ``replied_to``: the message it replies to, if any."""
        thread = ("thread", channel_id)
        if turns := self.memory.turns(thread):
            return Place(thread, turns)
        if (start := self._sent.get(channel_id)) is not None:
            return Place(thread, self._upto(start))
        if dm:
            key = ("dm", user_id)
            return Place(key, self.memory.turns(key))
        sent = self._sent.get(replied_to) if replied_to is not None else None
        if sent is not None and sent.owner == user_id and (turns := self._upto(sent)):
            return Place(sent.key, turns)
        return Place(None)

    def record(self, place: Place, message_id: int, user_id: int, turn: Turn) -> Hashable:
        """Remember the answer ``message_id`` sent for ``place``; returns its conversation key."""
        key = place.key if place.key is not None else ("answer", message_id)
        self.memory.add(key, turn)
        _put(self._sent, message_id, Sent(key, user_id, turn), self.size)
        return key

    def keep_asked(self, key: str, asked: Asked) -> None:
        _put(self._asked, key, asked, self.size)

    def asked(self, key: str) -> Asked | None:
        return self._asked.get(key)

    def _upto(self, sent: Sent) -> tuple[Turn, ...]:
        """The answer's conversation as it stood at that answer: a reply to an older answer
        continues from it, not from what came after. () once the memory has let it go."""
        turns = self.memory.turns(sent.key)
        return turns[: turns.index(sent.turn) + 1] if sent.turn in turns else ()


def _put(items: OrderedDict[K, V], key: K, value: V, size: int) -> None:
    """Insert as the most recently used; drop the least recently used beyond ``size``."""
    items[key] = value
    items.move_to_end(key)
    while len(items) > size:
        items.popitem(last=False)

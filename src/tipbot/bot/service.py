"""What the bot keeps and how it answers, without Discord: the client owns one; its commands and
buttons reach it with ``service_of(interaction.client)``.

    service = BotService(archive)              # settings default to archive.cfg.bot
    if not service.cooldown.hit(user_id):
        result = await service.answer(Asked(question), place.context)
        ...send result.payload (with buttons when result.key)...
        service.remember(place, sent_message_id, user_id, result)

The event loop never waits on a search: ``archive.ask`` runs in a worker thread, at most
``max_concurrency`` at a time. No discord import: Discord objects (embeds, buttons) are made from
a ``Result`` on the client's side.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipbot.bot import policy
from tipbot.bot.conversations import Asked, Conversations, Place
from tipbot.config import BotConfig, ConversationConfig
from tipbot.conversation import Turn
from tipbot.errors import QuestionError, TipbotError
from tipbot.render.discord import Payload, answer_payload, notice_payload

if TYPE_CHECKING:
    from tipbot.archive import Archive

log = logging.getLogger(__name__)

LOADING = "I'm still loading the archive. Please try again shortly."


@dataclass(frozen=True)
class Shown:
    """What an answer showed, for the votes on it."""

    question: str
    post_ids: tuple[str, ...]
    answered: bool


class AnswerMemo:
    """key → Shown for the last ``size`` answers (an LRU: memory stays bounded)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._items: OrderedDict[str, Shown] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, shown: Shown) -> str:
        key = secrets.token_hex(8)
        with self._lock:
            self._items[key] = shown
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> Shown | None:
        with self._lock:
            return self._items.get(key)


class FeedbackLog:
    """Append-only JSON lines; one lock so concurrent votes never interleave within a line."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()


@dataclass(frozen=True)
class Result:
    """What a question came to: the ``payload`` to send; ``key``, the answer's memo key for its
    buttons (None when only a notice came); ``turn``, to remember once sent (None with a
    notice); ``with_context``: read with its conversation (offer it on its own, same key)."""

    payload: Payload
    key: str | None = None
    turn: Turn | None = None
    with_context: bool = False


class BotService:
    """The archive (None until loaded), the [bot] settings, the per-user cooldown, the memo of
    answers shown, the conversations and the feedback log. Used from the event loop."""

    def __init__(
        self,
        archive: Archive | None = None,
        settings: BotConfig | None = None,
        conversation: ConversationConfig | None = None,
    ) -> None:
        """``settings`` and ``conversation`` default to the archive's config."""
        self.archive = archive
        self.settings = settings or (archive.cfg.bot if archive is not None else BotConfig())
        self.cooldown = policy.Cooldown(
            self.settings.cooldown_questions, self.settings.cooldown_seconds
        )
        self.memo = AnswerMemo()
        if conversation is None and archive is not None:
            conversation = archive.cfg.conversation
        self.conversations = Conversations(conversation or ConversationConfig())
        self.feedback = FeedbackLog(self.settings.feedback_file)
        self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        self._labels: tuple[str, tuple[str, ...]] = ("", ())

    async def answer(
        self, asked: Asked, context: Sequence[Turn] = (), *, show_question: bool = False
    ) -> Result:
        """What to send for ``asked``, read with the earlier turns ``context`` where that helps.
        Failures become a short notice; their traceback goes to the log."""
        if self.archive is None:
            return Result(notice_payload(LOADING))
        ask = functools.partial(
            self.archive.ask,
            asked.question,
            asked.k,
            since=asked.since,
            until=asked.until,
            label=asked.label,
            context=tuple(context),
        )
        try:
            async with self._slots:
                answer = await asyncio.get_running_loop().run_in_executor(None, ask)
        except QuestionError:
            return Result(notice_payload(policy.UNSEARCHABLE))
        except TipbotError:
            log.exception("could not answer %r", asked.question[:200])
            return Result(notice_payload(policy.FAILED))
        except Exception:
            log.exception("answering %r failed", asked.question[:200])
            return Result(notice_payload(policy.FAILED))
        payload = answer_payload(answer, show_question)
        key = self.memo.add(Shown(answer.question, payload.post_ids, answer.answered))
        with_context = bool(answer.context)
        if with_context:
            # Read with the conversation: keep the question to ask it on its own, same key.
            self.conversations.keep_asked(key, asked)
        return Result(payload, key, Turn.of(answer), with_context)

    def remember(self, place: Place, message_id: int | None, user_id: int, result: Result) -> None:
        """Record the answer sent as message ``message_id`` as the newest turn of ``place``."""
        if message_id is not None and result.turn is not None:
            self.conversations.record(place, message_id, user_id, result.turn)

    def labels(self) -> tuple[str, ...]:
        """The archive's labels, sorted; recomputed only when a new build is loaded."""
        if self.archive is None:
            return ()
        data = self.archive.data
        if self._labels[0] != data.build_id:
            found = {lb for p in data.posts for lb in p.labels}
            self._labels = (data.build_id, tuple(sorted(found, key=str.casefold)))
        return self._labels[1]

    async def save_vote(self, record: dict[str, Any]) -> None:
        """Append a vote to the feedback log (in a worker thread); a failed write is logged."""
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.feedback.append, record)
        except OSError:
            log.exception("could not write feedback to %s", self.feedback.path)


def service_of(client: object) -> BotService:
    """The BotService of a Discord client (``interaction.client``)."""
    service = getattr(client, "service", None)
    if not isinstance(service, BotService):
        raise TypeError(
            f"{type(client).__name__} has no tipbot BotService as .service: the bot's commands "
            "and buttons run on a tipbot.bot.client.TipClient"
        )
    return service

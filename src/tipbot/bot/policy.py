"""Who may ask, how often, and what a question's options mean. Pure helpers, no discord import,
so each rule is unit-tested on its own.

    cooldown = Cooldown(questions=3, seconds=10.0)
    wait = cooldown.hit(user_id)        # 0.0: go ahead; else seconds until the next question
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import deque
from collections.abc import Callable

from tipbot.config import BotConfig

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Cooldown:
    """At most ``questions`` per ``seconds`` per user, in a sliding window.

    Only questions let through count, so someone who keeps asking during a cooldown is not
    locked out for longer. Users idle for a full window are forgotten (bounded memory).
    """

    def __init__(
        self, questions: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.questions = questions
        self.seconds = seconds
        self._clock = clock
        self._seen: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, user_id: int) -> float:
        """Record a question from ``user_id`` if allowed: 0.0; else seconds to wait."""
        now = self._clock()
        with self._lock:
            if len(self._seen) > 10_000:
                self._forget(now)
            times = self._seen.setdefault(user_id, deque())
            while times and now - times[0] >= self.seconds:
                times.popleft()
            if len(times) >= self.questions:
                return max(self.seconds - (now - times[0]), 0.01)
            times.append(now)
            return 0.0

    def _forget(self, now: float) -> None:
        for uid in [u for u, t in self._seen.items() if not t or now - t[-1] >= self.seconds]:
            del self._seen[uid]


def retry_message(wait: float) -> str:
    seconds = max(1, round(wait + 0.49))
    unit = "second" if seconds == 1 else "seconds"
    return (
        f"You're asking faster than I can keep up. Please try again in {seconds} {unit} "
        "(this keeps the bot quick for everyone)."
    )


def parse_date(value: str | None, name: str) -> dt.date | None:
    """'2011-10-18' → date; None stays None. A bad value is ValueError with a message for users."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        shown = text[:40].replace("`", "'")
        raise ValueError(
            f"`{name}` must be a date written YYYY-MM-DD, e.g. 2011-10-18; got `{shown}`."
        ) from None


def check_range(since: dt.date | None, until: dt.date | None) -> None:
    if since and until and since > until:
        raise ValueError(
            f"`since` ({since.isoformat()}) is after `until` ({until.isoformat()}): "
            "swap them or widen the range."
        )


def place_allowed(cfg: BotConfig, guild_id: int | None, channel_ids: tuple[int, ...]) -> bool:
    """May the bot answer here? Empty allow-lists allow everything.

    ``channel_ids``: the channel and, for a thread, its parent, so allowing a channel allows its
    threads. A DM has no guild, so a bot limited to some guilds does not answer DMs.
    """
    if cfg.allowed_guilds and guild_id not in cfg.allowed_guilds:
        return False
    return not cfg.allowed_channels or any(c in cfg.allowed_channels for c in channel_ids)


# Mention markup is addressing, not part of the question: users, roles, channels, everyone.
_MARKUP = re.compile(r"<@[!&]?\d+>|<#\d+>|@everyone\b|@here\b")


def strip_mentions(content: str) -> str:
    return re.sub(r"\s+", " ", _MARKUP.sub(" ", content)).strip()


def mention_question(content: str, bot_id: int) -> str | None:
    """The question in a message that mentions the bot (``<@id>`` or ``<@!id>``), mentions
    removed; None when the bot is not mentioned in the text."""
    if not re.search(rf"<@!?{bot_id}>", content):
        return None
    return strip_mentions(content)


DENIED_PLACE = "I only answer questions in the channels this server set up for me."
EMPTY_QUESTION = (
    "Ask me a question about the archive, e.g. `@tipbot Who funds help for trafficking victims?` "
    "or use `/ask`."
)
UNSEARCHABLE = (
    "I couldn't search that: ask with words, e.g. `/ask question: Who funds help for victims?`"
)
FAILED = "Sorry, something went wrong while searching the archive. Please try again in a moment."
FRESH_GONE = (
    "I no longer remember that question: ask it again with `/ask`, and `fresh: True` to leave "
    "the earlier questions out."
)
THANKS = "Thanks for the feedback! It helps the maintainers improve the answers."

"""A follow-up's retrieval, rewritten with the conversation it continues — never its answer.

"How many officers took part?" after "Who paid for the police training in Ukraine?" finds
nothing useful by its own few words. Its search is widened with what the earlier turns asked:

- the dense query is the follow-up's vector plus ``context_weight`` times each earlier
  question's vector (renormalised), so the earlier topic pulls without drowning the new words;
- the lexical query is the follow-up's words followed by the earlier questions' words;
- the posts the previous answer quoted rank ``post_weight`` higher when the reader reranks.

The quote is still chosen for the follow-up as asked: the reader and the quote scores read the
follow-up's own words, so an off-topic follow-up ("any good pizza nearby?") finds nothing that
answers it in the previous topic's posts and is declined. Whether the follow-up stands alone
is the reader's call (``archive.Archive.ask``): both readings are made and the one the reader
believes more wins, the question's own unless the context's beats it by ``margin``.

The earlier questions are the previous turn's question and the questions *it* was read with,
newest first, at most ``turns`` of them: a chain of follow-ups keeps its topic, and a turn that
stood alone (a new topic) ends the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tipbot.config import ConversationConfig
from tipbot.conversation import Turn


@dataclass(frozen=True)
class ContextQuery:
    text: str  # what the lexical index searches: the follow-up's words, then the earlier ones
    vector: np.ndarray  # unit float32 (dim,): what the dense index searches
    posts: frozenset[str]  # posts the previous answer quoted
    used: tuple[str, ...]  # the earlier questions, newest first


def earlier_questions(turns: Sequence[Turn], limit: int) -> tuple[str, ...]:
    """The questions a follow-up to ``turns`` is read with, newest first."""
    if not turns or limit <= 0:
        return ()
    last = turns[-1]
    return (last.question, *last.context)[:limit]


def context_query(
    text: str,
    qvec: np.ndarray,
    turns: Sequence[Turn],
    embed: Callable[[str], np.ndarray],
    cfg: ConversationConfig,
) -> ContextQuery | None:
    """The follow-up's search widened by ``turns``; None when there is nothing to widen by."""
    used = tuple(q for q in earlier_questions(turns, cfg.turns) if q.casefold() != text.casefold())
    if not used:
        return None
    vector = qvec.astype(np.float64)
    for q in used:
        vector = vector + cfg.context_weight * embed(q)
    norm = float(np.linalg.norm(vector))
    vector = (vector / norm if norm > 0 else qvec).astype(np.float32)
    posts = frozenset(turns[-1].posts)
    return ContextQuery(" ".join((text, *used)), vector, posts, used)

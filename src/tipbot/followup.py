"""A follow-up's retrieval, rewritten with the conversation it continues — never its answer.

"How many officers took part?" after "Who paid for the police training in Ukraine?" finds
nothing useful by its own few words. Its search is widened with what the earlier turns asked:

- the dense query is the follow-up's vector plus ``context_weight`` times each earlier
  question's vector and ``answer_weight`` times the vector of the sentences the latest answer
  quoted first (stored in the index), renormalised;
- the lexical query is the follow-up's words followed by the earlier questions' words;
- optionally, the posts the latest answer quoted rank ``post_weight`` higher when the reader
  reranks, and with ``read_earlier`` the reader reads them even when the search ranks them
  low (both off by default: they gained nothing on validation; README, "Conversations").

The quote is still chosen for the follow-up as asked: the reader and the quote scores read the
follow-up's own words, so an off-topic follow-up ("any good pizza nearby?") finds nothing that
answers it in the previous topic's posts and is declined. Whether the follow-up stands alone
is decided from what the reader found (``archive.Archive.ask``): both readings are made, and a
model fitted on validation conversations (``tipbot.choice``) keeps the likelier one and
declines when neither is likely enough (``[conversation] decide = "margin"``: the reading
with context when the reader's belief in it beats the question's own by ``margin``).

The earlier questions are the previous turn's question and the questions *it* was read with,
newest first, at most ``turns`` of them: a chain of follow-ups keeps its topic, and a turn that
stood alone (a new topic) ends the chain. A declined turn does not end it: it found no topic of
its own, so the next follow-up is read with its question, the questions before it and the
latest answer the conversation got ("Can I freeze it?" after an unanswered "What about the
rind?" is still about the cheese the first answer quoted).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tipbot.config import ConversationConfig
from tipbot.conversation import Turn
from tipbot.index.store import IndexData


@dataclass(frozen=True)
class ContextQuery:
    text: str  # what the lexical index searches: the follow-up's words, then the earlier ones
    vector: np.ndarray  # unit float32 (dim,): what the dense index searches
    posts: tuple[str, ...]  # posts the latest answer quoted, best first
    used: tuple[str, ...]  # the earlier questions, newest first


def earlier_questions(turns: Sequence[Turn], limit: int) -> tuple[str, ...]:
    """The questions a follow-up to ``turns`` is read with, newest first: the previous turn's
    and those it was itself read with. A declined turn found no topic of its own, so it does
    not end the chain: its question is followed by the ones before it."""
    if not turns or limit <= 0:
        return ()
    last = turns[-1]
    rest = last.context if last.posts else earlier_questions(turns[:-1], limit)
    return tuple(dict.fromkeys((last.question, *rest)))[:limit]


def last_answered(turns: Sequence[Turn]) -> Turn | None:
    """The latest turn whose answer quoted posts: a follow-up after a declined turn is
    still read with the last answer the conversation got."""
    return next((t for t in reversed(turns) if t.posts), None)


def context_query(
    text: str,
    qvec: np.ndarray,
    turns: Sequence[Turn],
    embed: Callable[[str], np.ndarray],
    cfg: ConversationConfig,
    quoted: Callable[[Turn], np.ndarray | None] = lambda turn: None,
) -> ContextQuery | None:
    """The follow-up's search widened by ``turns``; None when there is nothing to widen by.
    ``quoted``: the unit vector of a turn's first quote, None when it has none."""
    used = tuple(q for q in earlier_questions(turns, cfg.turns) if q.casefold() != text.casefold())
    if not used:
        return None
    vector = qvec.astype(np.float64)
    for q in used:
        vector = vector + cfg.context_weight * embed(q)
    answered = last_answered(turns)
    if cfg.answer_weight and answered and (answer := quoted(answered)) is not None:
        vector = vector + cfg.answer_weight * answer
    norm = float(np.linalg.norm(vector))
    vector = (vector / norm if norm > 0 else qvec).astype(np.float32)
    posts = answered.posts if answered else ()
    return ContextQuery(" ".join((text, *used)), vector, posts, used)


def quoted_vector(data: IndexData, turn: Turn) -> npt.NDArray[np.float64] | None:
    """The mean vector of the sentences a turn's first quote holds (stored in the index, so
    nothing is embedded); None when the post or the sentences are gone."""
    row = data.post_rows.get(turn.posts[0]) if turn.posts and turn.spans else None
    if row is None:
        return None
    s0, s1 = int(data.post_sent[row]), int(data.post_sent[row + 1])
    starts, ends = data.sent_start[s0:s1], data.sent_end[s0:s1]
    hit = np.zeros(s1 - s0, dtype=bool)
    for a, b in turn.spans:
        hit |= (starts < b) & (ends > a)
    if not hit.any():
        return None
    v = np.asarray(data.sentence_vectors[s0:s1][hit], dtype=np.float64).mean(axis=0)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else None

"""How well tipbot answers conversations: every turn asked in order, with context and without.

    convs = load_conversations(Path("tests/data/conversations.jsonl"))
    report = evaluate_conversations(archive, convs)
    report["context"]["followup"]["answer_in_quote@1"]

A conversation file is JSONL, one turn a line, as ``tipbot eval`` question files with three
more keys:

    {"conversation": "c01", "turn": 1, "question": "…", "gold": [post ids], "answers": [...],
     "kind": "first"}

``kind`` (optional) is one of ``first`` (turn 1), ``followup`` (needs the earlier turns),
``switch`` (a self-contained new topic) and ``offtopic`` (nothing in the archive answers; gold
empty). Without it, turn 1 is ``first``, a turn with no gold ``offtopic`` and any other
``followup``.

Each conversation is asked twice, as users get it (``archive.ask`` with abstention): once with
each turn read with the conversation so far (``context``), once each turn alone (``alone``).
Per kind of turn, over the quotes shown:

* success@1: the first quote comes from a gold post (answerable turns);
* answer_in_quote@1/@3: one of the first 1/3 quotes is from a gold post and holds an answer;
* declined: the share declined (wanted for ``offtopic``, unwanted for the rest);
* with_context: the share answered with earlier turns (``Answer.context`` not empty);
* latency_ms: p50 and p95 of ``archive.ask``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tipbot.conversation import Turn
from tipbot.errors import QuestionError
from tipbot.evaluate import answer_in_quote
from tipbot.evaluate_io import EvalFileError, Question, json_lines, str_list

if TYPE_CHECKING:
    from tipbot.archive import Archive

KINDS = ("first", "followup", "switch", "offtopic")
GROUPS = (*KINDS, "later_turns")  # later_turns: every turn after the first, whatever its kind
TURN_METRICS = ("success@1", "answer_in_quote@1", "answer_in_quote@3", "declined", "with_context")
SETTINGS = ("context", "alone")


@dataclass(frozen=True)
class ChatTurn:
    conversation: str
    turn: int
    kind: str
    question: Question


@dataclass(frozen=True)
class TurnOutcome:
    turn: ChatTurn
    answered: bool
    shown: tuple[tuple[str, str], ...]  # (post id, quote text) as shown
    context: tuple[str, ...]  # earlier questions the answer was found with
    latency_ms: float


def is_conversation_file(path: Path) -> bool:
    """True when the file's first line has a "conversation" key."""
    for _, obj in json_lines(path):
        return "conversation" in obj
    return False


def load_conversations(path: Path) -> list[list[ChatTurn]]:
    """The file's conversations, each in turn order (the order of first appearance)."""
    convs: dict[str, list[ChatTurn]] = {}
    for n, obj in json_lines(path):
        where = f"{path}:{n}"
        cid, number, text = obj.get("conversation"), obj.get("turn"), obj.get("question")
        if not isinstance(cid, str | int) or not str(cid).strip():
            raise EvalFileError(f'{where}: "conversation" must be a string or a number')
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise EvalFileError(f'{where}: "turn" must be a whole number from 1, got {number!r}')
        if not isinstance(text, str) or not text.strip():
            raise EvalFileError(f'{where}: "question" must be a non-empty string')
        if "gold" not in obj:
            raise EvalFileError(f'{where}: no "gold": list the post ids that answer it, or []')
        gold = str_list(obj["gold"], where, "gold")
        answers = str_list(obj.get("answers", []), where, "answers")
        kind = obj.get("kind") or ("first" if number == 1 else "followup" if gold else "offtopic")
        if kind not in KINDS:
            raise EvalFileError(f'{where}: "kind" must be one of {", ".join(KINDS)}, got {kind!r}')
        qid = f"{cid}#{number}"
        q = Question(qid, text.strip(), dict.fromkeys(gold, 1), tuple(answers), where)
        convs.setdefault(str(cid), []).append(ChatTurn(str(cid), number, kind, q))
    for cid, turns in convs.items():
        numbers = [t.turn for t in turns]
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            raise EvalFileError(
                f"{path}: conversation {cid!r} has turns {numbers}: number them 1, 2, 3…"
            )
        turns.sort(key=lambda t: t.turn)
    return list(convs.values())


def run_conversation(
    archive: Archive, turns: Sequence[ChatTurn], *, context: bool, k: int | None = None
) -> list[TurnOutcome]:
    """Ask the turns in order; with ``context``, each is read with the ones before it."""
    history: list[Turn] = []
    out = []
    for t in turns:
        start = time.perf_counter()
        try:
            answer = archive.ask(t.question.text, k, context=tuple(history) if context else ())
        except QuestionError:
            out.append(TurnOutcome(t, False, (), (), 0.0))
            continue
        ms = (time.perf_counter() - start) * 1000
        shown = tuple((q.post_id, q.text) for q in answer.results) if answer.answered else ()
        out.append(TurnOutcome(t, answer.answered, shown, answer.context, ms))
        history.append(Turn.of(answer))
    return out


def _mean(values: Sequence[bool]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def summarise(outcomes: Sequence[TurnOutcome]) -> dict[str, dict[str, Any]]:
    """kind → metrics (only kinds present), and "all_followups": every turn after the first."""
    groups: dict[str, list[TurnOutcome]] = {}
    for o in outcomes:
        groups.setdefault(o.turn.kind, []).append(o)
        if o.turn.turn > 1:
            groups.setdefault("later_turns", []).append(o)
    report = {}
    for kind in GROUPS:
        group = groups.get(kind)
        if not group:
            continue
        answerable = [o for o in group if o.turn.question.answerable]
        with_answers = [o for o in answerable if o.turn.question.answers]
        ms = [o.latency_ms for o in group]
        report[kind] = {
            "turns": len(group),
            "success@1": _mean(
                [bool(o.shown) and o.shown[0][0] in o.turn.question.relevant for o in answerable]
            ),
            "answer_in_quote@1": _mean(
                [answer_in_quote(o.turn.question, o.shown, 1) for o in with_answers]
            ),
            "answer_in_quote@3": _mean(
                [answer_in_quote(o.turn.question, o.shown, 3) for o in with_answers]
            ),
            "declined": _mean([not o.answered for o in group]),
            "with_context": _mean([bool(o.context) for o in group]),
            "latency_ms": {
                "p50": round(float(np.percentile(ms, 50)), 1),
                "p95": round(float(np.percentile(ms, 95)), 1),
            },
        }
    return report


def evaluate_conversations(
    archive: Archive,
    conversations: Sequence[Sequence[ChatTurn]],
    k: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """{"context": per-kind metrics, "alone": the same with every turn asked alone,
    "conversations", "turns", "per_turn": each turn's outcome with context}."""
    total = 2 * len(conversations)
    runs: dict[str, list[TurnOutcome]] = {s: [] for s in SETTINGS}
    done = 0
    for conv in conversations:
        for setting in SETTINGS:
            runs[setting] += run_conversation(archive, conv, context=setting == "context", k=k)
            done += 1
            if progress:
                progress(done, total)
    report: dict[str, Any] = {s: summarise(runs[s]) for s in SETTINGS}
    report["conversations"] = len(conversations)
    report["turns"] = sum(len(c) for c in conversations)
    report["per_turn"] = [
        {
            "conversation": o.turn.conversation,
            "turn": o.turn.turn,
            "kind": o.turn.kind,
            "question": o.turn.question.text,
            "answered": o.answered,
            "posts": [pid for pid, _ in o.shown],
            "context": list(o.context),
            "answer_in_quote@1": answer_in_quote(o.turn.question, o.shown, 1),
            "answer_in_quote@1_alone": answer_in_quote(a.turn.question, a.shown, 1),
        }
        for o, a in zip(runs["context"], runs["alone"], strict=True)
    ]
    return report


def parse_conversation_floor(text: str) -> tuple[str, float]:
    """'followup.answer_in_quote@1=0.8' (or 'alone.followup.…') → (name, 0.8); ValueError
    with the fix."""
    name, sep, value = text.partition("=")
    name = name.strip()
    parts = name.split(".")
    if parts[0] == "alone":
        parts = parts[1:]
    if not sep or len(parts) != 2 or parts[0] not in GROUPS or parts[1] not in TURN_METRICS:
        raise ValueError(
            f"{text!r}: write KIND.METRIC=VALUE for a conversation file, KIND one of "
            f"{', '.join(GROUPS)}, METRIC one of {', '.join(TURN_METRICS)} "
            "(prefix alone. for the turns asked alone), e.g. followup.answer_in_quote@1=0.8"
        )
    try:
        return name, float(value)
    except ValueError:
        raise ValueError(f"{text!r}: {value!r} is not a number") from None


def below_conversation_floors(
    report: dict[str, Any], floors: Sequence[tuple[str, float]]
) -> list[str]:
    failures = []
    for name, floor in floors:
        parts = name.split(".")
        setting = "alone" if parts[0] == "alone" else "context"
        kind, metric = parts[-2:]
        value = report[setting].get(kind, {}).get(metric)
        if value is None:
            failures.append(f"{name} was not measured on this file (floor {floor:g})")
        elif value < floor:
            failures.append(f"{name} = {value:.4f} is below its floor {floor:g}")
    return failures

"""Question sets in, run files and qrels out: the file formats of `tipbot eval`.

Three question formats, all read into the same :class:`Question` records:

* tipbot JSONL, one object a line: ``{"question": str, "gold": [post ids], "answers": [str]}``
  (optional ``"id"``). Empty ``gold`` marks a question the archive cannot answer.
* BEIR: ``queries.jsonl`` (``{"_id", "text"}``) plus a qrels TSV ``query-id corpus-id score``
  with a header line. A folder holding ``queries.jsonl`` and ``qrels/test.tsv`` works too.
* TREC: topics (``<top><num> Number: 301 <title> …</top>``) plus qrels ``qid 0 docid rel``.

Either qrels shape is accepted for either format. A judged query with no relevance above 0 is
an unanswerable question, like empty ``gold``; a query with no judgments at all is left out
(a BEIR queries file usually spans several splits). Bad files and lines raise TipbotError
naming ``file:line`` and the fix.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipbot.errors import TipbotError

FORMATS = ("auto", "tipbot", "beir", "trec")
QRELS_HEADER = "query-id\tcorpus-id\tscore"


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    gold: dict[str, int]  # post id → relevance (0 = judged not relevant)
    answers: tuple[str, ...] = ()
    source: str = ""  # "file:line", for messages

    @property
    def relevant(self) -> frozenset[str]:
        return frozenset(d for d, rel in self.gold.items() if rel > 0)

    @property
    def answerable(self) -> bool:
        return bool(self.relevant)


@dataclass
class QuestionSet:
    questions: list[Question]
    warnings: list[str] = field(default_factory=list)


class EvalFileError(TipbotError):
    """A question, qrels or feedback file that cannot be used."""


def question_id(text: str) -> str:
    """Stable id of a question: a hash of its words, so re-worded spacing or case keep it."""
    norm = " ".join(text.split()).casefold()
    return "q" + hashlib.sha1(norm.encode("utf-8")).hexdigest()[:12]


# ---- reading ----------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalFileError(f"{path}: no such file: check the path") from None
    except IsADirectoryError:
        raise EvalFileError(f"{path}: is a folder, expected a file") from None
    except UnicodeDecodeError as e:
        raise EvalFileError(f"{path}: not UTF-8 text ({e.reason}): save it as UTF-8") from None
    except OSError as e:
        raise EvalFileError(f"{path}: cannot be read ({e.strerror})") from None


def _decoded_lines(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, decoded value, or the JSONDecodeError) for each non-blank line: the
    question readers stop at a bad line, the feedback reader skips it."""
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                yield n, e


def json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a line that is not an object is an error."""
    for n, obj in _decoded_lines(path):
        if isinstance(obj, json.JSONDecodeError):
            raise EvalFileError(f"{path}:{n}: not valid JSON ({obj.msg}): one object a line")
        if not isinstance(obj, dict):
            raise EvalFileError(f"{path}:{n}: expected a JSON object, got {type(obj).__name__}")
        yield n, obj


def str_list(value: object, where: str, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise EvalFileError(f'{where}: "{name}" must be a list of non-empty strings, got {value!r}')
    return [v.strip() for v in value]


def _check_unique(questions: list[Question]) -> None:
    seen: dict[str, Question] = {}
    for q in questions:
        if q.qid in seen:
            raise EvalFileError(
                f"{q.source}: repeats the question of {seen[q.qid].source} (id {q.qid}): "
                'remove one, or give each its own "id"'
            )
        seen[q.qid] = q


def read_tipbot(path: Path) -> list[Question]:
    questions = []
    for n, obj in json_lines(path):
        where = f"{path}:{n}"
        text = obj.get("question")
        if not isinstance(text, str) or not text.strip():
            raise EvalFileError(f'{where}: "question" must be a non-empty string')
        if "gold" not in obj:
            raise EvalFileError(
                f'{where}: no "gold": list the post ids that answer it, or "gold": [] for a '
                "question the archive cannot answer"
            )
        gold = str_list(obj["gold"], where, "gold")
        answers = str_list(obj.get("answers", []), where, "answers")
        qid = obj.get("id")
        if qid is not None and (not isinstance(qid, str | int) or not str(qid).strip()):
            raise EvalFileError(f'{where}: "id" must be a string or a number, got {qid!r}')
        qid = str(qid).strip() if qid is not None else question_id(text)
        questions.append(Question(qid, text.strip(), dict.fromkeys(gold, 1), tuple(answers), where))
    _check_unique(questions)
    return questions


# (id, text, answers, source) of one query before its judgements are joined.
Query = tuple[str, str, tuple[str, ...], str]


def read_beir_queries(path: Path) -> list[Query]:
    """(id, text, answers, source) per query; answers from an optional "answers" list, at the
    top level or under "metadata"."""
    out = []
    for n, obj in json_lines(path):
        where = f"{path}:{n}"
        qid, text = obj.get("_id"), obj.get("text")
        if not isinstance(qid, str | int) or not str(qid).strip():
            raise EvalFileError(f'{where}: BEIR query needs an "_id" (string)')
        if not isinstance(text, str) or not text.strip():
            raise EvalFileError(f'{where}: BEIR query needs a non-empty "text"')
        metadata = obj.get("metadata")
        meta = metadata if isinstance(metadata, dict) else {}
        answers = str_list(obj.get("answers", meta.get("answers", [])), where, "answers")
        out.append((str(qid).strip(), text.strip(), tuple(answers), where))
    return out


_TOPIC = re.compile(r"<top>(.*?)</top>", re.IGNORECASE | re.DOTALL)
_FIELD = re.compile(r"<(num|title|desc|narr)>(.*?)(?=<|\Z)", re.IGNORECASE | re.DOTALL)


def read_trec_topics(path: Path) -> list[Query]:
    """(id, title, (), source) per <top> block; the title is the query, as in TREC ad hoc."""
    text = _read_text(path)
    out: list[Query] = []
    for m in _TOPIC.finditer(text):
        where = f"{path}:{text.count(chr(10), 0, m.start()) + 1}"
        fields: dict[str, str] = {}
        for f in _FIELD.finditer(m.group(1)):
            fields.setdefault(f.group(1).lower(), " ".join(f.group(2).split()))
        num = re.sub(r"^number:\s*", "", fields.get("num", ""), flags=re.IGNORECASE)
        title = re.sub(r"^topic:\s*", "", fields.get("title", ""), flags=re.IGNORECASE)
        if not num:
            raise EvalFileError(f"{where}: topic has no <num>: add '<num> Number: 301'")
        if not title:
            raise EvalFileError(f"{where}: topic {num} has no <title>: the title is the query")
        out.append((num, title, (), where))
    if not out:
        raise EvalFileError(
            f"{path}: no TREC topics found: expected blocks "
            "'<top> <num> Number: 1 <title> … </top>'"
        )
    return out


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id → {doc id: relevance}. Lines are BEIR ``query-id corpus-id score`` (a header
    line is skipped) or TREC ``qid 0 docid rel``; tabs or spaces; '#' lines are comments."""
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    first = True
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        header, first = first, False
        if len(parts) not in (3, 4):
            raise EvalFileError(
                f"{path}:{n}: expected 'query-id corpus-id score' (BEIR) or 'qid 0 docid rel' "
                f"(TREC), got {len(parts)} columns"
            )
        qid, doc, rel = parts if len(parts) == 3 else (parts[0], parts[2], parts[3])
        try:
            qrels[qid][doc] = int(rel)
        except ValueError:
            if header:
                continue  # "query-id corpus-id score"
            raise EvalFileError(
                f"{path}:{n}: relevance {rel!r} is not a whole number (use 0 for not relevant)"
            ) from None
    if not qrels:
        raise EvalFileError(f"{path}: no judgments found: one 'query-id corpus-id score' a line")
    return dict(qrels)


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "beir"
    for line in _read_text(path).splitlines():
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                break
            if isinstance(obj, dict) and "question" in obj:
                return "tipbot"
            if isinstance(obj, dict) and "_id" in obj:
                return "beir"
        break
    if "<top>" in _read_text(path).lower():
        return "trec"
    raise EvalFileError(
        f'{path}: cannot tell the format: expected tipbot JSONL ("question", "gold"), BEIR '
        '("_id", "text") or TREC topics (<top>); pass --format'
    )


def load_questions(
    path: str | Path, fmt: str = "auto", qrels: str | Path | None = None
) -> QuestionSet:
    """Read a question set in any of the three formats (see the module docstring)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise EvalFileError(f"unknown question format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "tipbot":
        if qrels is not None:
            raise EvalFileError(
                f'{path}: tipbot question files carry their own "gold": drop --qrels'
            )
        return QuestionSet(read_tipbot(path))
    if path.is_dir():
        qrels = qrels or path / "qrels" / "test.tsv"
        path = path / "queries.jsonl"
    if qrels is None:
        kind = "BEIR queries" if fmt == "beir" else "TREC topics"
        raise EvalFileError(f"{path}: {kind} need relevance judgments: pass --qrels FILE")
    reader = read_beir_queries if fmt == "beir" else read_trec_topics
    return join_qrels(reader(path), read_qrels(Path(qrels)), Path(qrels))


def join_qrels(
    queries: Iterable[Query], judged: dict[str, dict[str, int]], qrels_path: Path
) -> QuestionSet:
    questions, warnings, unjudged = [], [], []
    for qid, text, answers, where in queries:
        if qid not in judged:
            unjudged.append(qid)
            continue
        questions.append(Question(qid, text, judged[qid], answers, where))
    _check_unique(questions)
    if unjudged:
        warnings.append(
            f"{len(unjudged)} queries have no judgments in {qrels_path} and are left out "
            f"(e.g. {', '.join(unjudged[:3])})"
        )
    extra = set(judged) - {q.qid for q in questions}
    if extra:
        warnings.append(f"{len(extra)} judged query ids of {qrels_path} have no query text")
    if not questions:
        raise EvalFileError(
            f"{qrels_path}: none of its query ids match the queries: check both files are "
            "from the same collection"
        )
    return QuestionSet(questions, warnings)


# ---- writing ----------------------------------------------------------------------------------


def write_run(path: str | Path, run: dict[str, list[tuple[str, float]]], tag: str) -> None:
    """A TREC run file: ``qid Q0 docid rank score tag``, best first; scores strictly fall."""
    lines = []
    for qid, ranked in run.items():
        for rank, (doc, score) in enumerate(ranked, 1):
            lines.append(f"{qid} Q0 {doc} {rank} {score:.6f} {tag}\n")
    _write(Path(path), "".join(lines))


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise EvalFileError(f"{path}: cannot be written ({e.strerror}): check the folder") from None


def write_beir(
    queries: list[tuple[str, str]],
    qrels: dict[str, dict[str, int]],
    qrels_out: Path,
    queries_out: Path,
) -> None:
    rows = [f"{q}\t{d}\t{rel}\n" for q, docs in qrels.items() for d, rel in docs.items()]
    _write(qrels_out, QRELS_HEADER + "\n" + "".join(rows))
    _write(
        queries_out,
        "".join(
            json.dumps({"_id": qid, "text": text, "metadata": {}}, ensure_ascii=False) + "\n"
            for qid, text in queries
        ),
    )


# ---- feedback → qrels -------------------------------------------------------------------------


@dataclass
class FeedbackQrels:
    queries: list[tuple[str, str]]  # (id, question), in first-seen order
    qrels: dict[str, dict[str, int]]
    votes: int  # votes turned into judgments
    conflicts: int  # (question, post) pairs whose votes disagreed
    skipped: list[str]  # "file:line: why", for lines that are not usable records
    unlinked: int = 0  # votes the bot logged without their question (answer older than a restart)
    declined_down: int = 0  # 👎 on a declined answer: says "answer this", not which post does


def feedback_to_qrels(path: str | Path) -> FeedbackQrels:
    """The bot's 👍/👎 log (bot/feedback.py) as judgments of (question, post).

    * A vote judges every post shown with it: up → 1, down → 0.
    * On a declined answer the posts shown are only the closest ones: 👍 agrees that nothing
      answers, so they are judged 0 (the question comes out unanswerable); 👎 says the bot
      should have answered but not with what, so it is counted and left out.
    * Disagreeing votes on one (question, post): the majority wins; a tie goes to the latest
      vote (the bot appends votes as they come, so later lines are newer).
    * Questions are grouped by :func:`question_id`: spacing and case differences are one
      question. Votes logged without their question (after a bot restart) are counted and left
      out; lines that are not usable records are skipped and named in ``skipped``.
    """
    path = Path(path)
    tally: dict[str, dict[str, list[int]]] = {}  # qid → post → [ones, zeros, last judgment]
    texts: dict[str, str] = {}
    fb = FeedbackQrels([], {}, 0, 0, [])
    for n, obj in _decoded_lines(path):
        if isinstance(obj, json.JSONDecodeError):
            fb.skipped.append(f"{path}:{n}: not valid JSON ({obj.msg})")
            continue
        problem = _feedback_problem(obj)
        if problem or not isinstance(obj, dict):  # a problem is named for every non-object
            fb.skipped.append(f"{path}:{n}: {problem}")
            continue
        if obj.get("question") is None and not obj.get("post_ids"):
            fb.unlinked += 1
            continue
        declined = obj.get("answered") is False
        if declined and obj["vote"] == "down":
            fb.declined_down += 1
            continue
        rel = int(obj["vote"] == "up" and not declined)
        qid = question_id(obj["question"])
        texts.setdefault(qid, " ".join(obj["question"].split()))
        fb.votes += 1
        for post in dict.fromkeys(obj["post_ids"]):
            t = tally.setdefault(qid, {}).setdefault(post, [0, 0, 0])
            t[1 - rel] += 1
            t[2] = rel
    for qid, posts in tally.items():
        fb.qrels[qid] = {}
        for post, (ones, zeros, last) in posts.items():
            fb.conflicts += bool(ones and zeros)
            fb.qrels[qid][post] = 1 if ones > zeros else 0 if zeros > ones else last
    fb.queries = list(texts.items())
    return fb


def _feedback_problem(obj: object) -> str:
    if not isinstance(obj, dict):
        return "expected a JSON object"
    if obj.get("vote") not in ("up", "down"):
        return f'"vote" must be "up" or "down", got {obj.get("vote")!r}'
    q, ids = obj.get("question"), obj.get("post_ids")
    if q is None and ids in ([], None):
        return ""  # the bot's record of a vote whose answer it no longer remembers
    if not isinstance(q, str) or not q.strip():
        return 'no "question" text'
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        return '"post_ids" must be a non-empty list of post ids'
    return ""


def unknown_gold(questions: list[Question], known: set[str]) -> list[str]:
    """A warning per question whose judged posts are not in the index (typo, or a stale index)."""
    out = []
    for q in questions:
        missing = sorted(set(q.relevant) - known)
        if missing:
            out.append(
                f"{q.source}: gold post {', '.join(missing)} is not in the index: check the id "
                "(`tipbot ask --json` shows post ids) or rebuild the index"
            )
    return out

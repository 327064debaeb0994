r"""Choose how follow-ups use their conversation (``[conversation]`` in config.toml) on
conversations made from held-out SQuAD v1.1 *train* articles.

    .venv/bin/python training/fit_followup.py --workdir /tmp/followup [--conversations 240]

No public conversational QA set with passages could be had here (QuAC, CANARD, CoQA, QReCC
and DoQA train files are not reachable; TopiOCQA's early release has no passages and a
non-commercial licence), so the validation conversations are made from SQuAD v1.1 train
(CC BY-SA 4.0), from the 40 articles held out of the reader's training
(``squad_posts.split_articles(seed=0)``), indexed as an archive of ~3,000-character posts:

- turn 1 (``first``): a question that names its article's subject ("When did Beyoncé release
  Dangerously in Love?");
- turn 2 (``followup``): another question of that article with the subject replaced by a
  pronoun ("What was its first single?"), so it cannot be answered alone; about a third of
  them are answered in another post of the article (the article runs over several posts);
- turn 3: another such follow-up, or a ``switch`` (a question naming another held-out
  article's subject, self-contained), or an ``offtopic`` question (from an article outside
  the archive: nothing answers it);
- turn 4, after a switch: a follow-up about the new subject (the chain must follow the switch).

``--terse`` makes the follow-ups harder: each also drops the words it shares with the question
it follows, as people drop what was just said ("What was the first single?").

Each grid point of ``context_weight`` × ``post_weight`` × ``answer_weight`` × the posts and
sentences the reading with context reads (``--readings 3x2``) runs every conversation through
``Archive.ask`` with the conversation as context; both readings of each later turn (the turn
alone, the turn with context) are recorded, so every ``margin`` is scored from one run. The
chain a turn continues is the one margin 0 chose (a small approximation for other margins).
It prints, per grid point and margin, the answer in the first quote for follow-ups and
switches and the share of off-topic turns declined, beside every turn asked alone; the
choice: the most follow-ups answered with switches and off-topic turns no worse than alone
(within 0.01). About 4 minutes per grid point on the 2-core machine. The runs behind the
shipped values:

    fit_followup.py --workdir W --weights 0.35,0.7,1.0,1.5,2.5 --post-weights 0,1 \
        --answer-weights 0 --readings 5x4
    fit_followup.py --workdir W --weights 1.0 --post-weights 0 --answer-weights 0.5,1 --readings 5x4
    fit_followup.py --workdir W --weights 1.0 --post-weights 0 --answer-weights 0 \
        --readings 3x2,3x4,5x4
    fit_followup.py --workdir W --weights 1.0 --post-weights 0 --answer-weights 0 \
        --readings 3x2 --terse
    fit_followup.py --workdir W --weights 1.0 --post-weights 0 --answer-weights 0 \
        --readings 3x2 --terse --margins 0 --floors 0.25,0.2,0.15,0.1,0.05
    fit_followup.py --workdir W --weights 1.0 --post-weights 0 --answer-weights 1 \
        --readings 3x2 --margins=-0.1,0
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from squad_posts import SQUAD_TRAIN, load_squad, make_posts, split_articles, write_archive

from tipbot.archive import Archive
from tipbot.config import FollowupDecision, load_config
from tipbot.conversation import Turn
from tipbot.evaluate import answer_in_quote
from tipbot.evaluate_io import Question


def subject_pattern(title: str) -> re.Pattern:
    """The article's subject as a question names it: the title, without a parenthesis."""
    name = re.sub(r"\s*\(.*\)", "", title).strip()
    return re.compile(rf"\b(the\s+)?{re.escape(name)}('s)?\b", re.IGNORECASE)


def pronoun(question: str, pattern: re.Pattern) -> str | None:
    """The question with its subject replaced by "it"/"its"; None when it does not name it."""
    if not pattern.search(question):
        return None
    return pattern.sub(lambda m: "its" if m.group(2) else "it", question, count=1)


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")


_DANGLING = {
    "in",
    "the",
    "of",
    "from",
    "for",
    "to",
    "a",
    "an",
    "on",
    "at",
    "by",
    "with",
    "and",
    "its",
    "it",
}


def terse(question: str, earlier: str) -> str:
    """With ``--terse``: the follow-up also loses the words (of four letters or more) it shares
    with the question it follows, as people drop what was just said ("What was the first
    single?" rather than "What was the first single from Dangerously in Love?")."""
    said = {w.lower() for w in _WORD.findall(earlier) if len(w) >= 4}
    kept = [w for w in question.rstrip("?").split() if w.strip(",.\"'").lower() not in said]
    while len(kept) > 2 and kept[-1].strip(",.").lower() in _DANGLING:
        kept.pop()
    return " ".join(kept) + "?" if len(kept) >= 2 else question


def build(args) -> tuple[list, list[list[dict]]]:
    articles = load_squad(args.squad)
    rest, val = split_articles(articles, val_articles=40, seed=0)
    posts, questions, _ = make_posts(val)
    _outside_posts, outside_qs, _ = make_posts(random.Random(1).sample(rest, 60))
    rng = random.Random(args.seed)
    by_article: dict[int, list] = {}
    for q in questions:
        by_article.setdefault(posts[q.post].article, []).append(q)
    named: dict[int, list] = {}
    follow: dict[int, list] = {}
    for a, qs in by_article.items():
        pat = subject_pattern(val[a]["title"].replace("_", " "))
        for q in qs:
            p = pronoun(q.question, pat)
            if p is not None:
                named.setdefault(a, []).append(q)
                follow.setdefault(a, []).append((q, p))
    usable = [a for a in named if len(follow[a]) >= 4]
    offtopic = [q.question for q in outside_qs]

    def turn(q, text, kind, earlier=None):
        if args.terse and earlier is not None:
            text = terse(text, earlier)
        return {
            "question": text,
            "gold": [posts[q.post].id],
            "answers": list(q.answers),
            "kind": kind,
        }

    convs = []
    for c in range(args.conversations):
        a = usable[c % len(usable)]
        first = rng.choice(named[a])
        pool = [(q, p) for q, p in follow[a] if q.id != first.id]
        f1, f2 = rng.sample(pool, 2)
        conv = [
            turn(first, first.question, "first"),
            turn(f1[0], f1[1], "followup", first.question),
        ]
        r = rng.random()
        if r < 0.5:
            conv.append(turn(f2[0], f2[1], "followup", first.question))
        elif r < 0.75:
            b = rng.choice([x for x in usable if x != a])
            sw = rng.choice(named[b])
            conv.append(turn(sw, sw.question, "switch"))
            nxt = rng.choice([(q, p) for q, p in follow[b] if q.id != sw.id])
            conv.append(turn(nxt[0], nxt[1], "followup", sw.question))
        else:
            conv.append(
                {"question": rng.choice(offtopic), "gold": [], "answers": [], "kind": "offtopic"}
            )
        convs.append(conv)
    return posts, questions, convs


def run(archive: Archive, convs: list[list[dict]]) -> list[dict]:
    """Each later turn: both readings (answer, belief) and the turn."""
    seen: list = []
    original = archive._answer

    def capture(*a, **kw):
        out = original(*a, **kw)
        seen.append((out.answer, out.belief))
        return out

    archive._answer = capture  # type: ignore[method-assign]
    rows = []
    for conv in convs:
        history: list[Turn] = []
        for i, t in enumerate(conv):
            seen.clear()
            answer = archive.ask(t["question"], context=tuple(history))
            q = Question(t["kind"], t["question"], dict.fromkeys(t["gold"], 1), tuple(t["answers"]))
            readings = list(seen)
            if len(readings) == 1:
                readings.append(readings[0])  # nothing to widen by: the context reading is the same
            rows.append(
                {"kind": t["kind"], "turn": i, "q": q, "alone": readings[0], "joint": readings[1]}
            )
            history.append(Turn.of(answer))
    archive._answer = original  # type: ignore[method-assign]
    return rows


def score(rows: list[dict], margin: float | None, floor: float | None = None) -> dict[str, float]:
    """kind → answer in first quote (declined share for off-topic); margin None: alone.
    ``floor``: the reading with context, when chosen, answers from this probability on instead
    of ``[answer] min_answer`` (its declined answers keep their quotes as ``closest``)."""
    got: dict[str, list[bool]] = {}
    for r in rows:
        (a, b), (j, jb) = r["alone"], r["joint"]
        answer = j if margin is not None and jb > b + margin else a
        answered = answer.answered
        if answer is j and floor is not None and j is not a:
            answered = jb >= floor
        quotes = answer.results or answer.closest
        shown = [(x.post_id, x.text) for x in quotes] if answered else []
        ok = not answered if r["kind"] == "offtopic" else answer_in_quote(r["q"], shown, 1)
        got.setdefault(r["kind"], []).append(ok)
    return {k: sum(v) / len(v) for k, v in got.items()}


def outcome(r: dict, answer) -> bool:
    shown = [(x.post_id, x.text) for x in answer.results] if answer.answered else []
    return not answer.answered if r["kind"] == "offtopic" else answer_in_quote(r["q"], shown, 1)


def dump(rows: list[dict], path: Path) -> None:
    """Per later turn: both readings' belief and whether each got it right (for analysis)."""
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            if r["turn"] == 0:
                continue
            (a, b), (j, jb) = r["alone"], r["joint"]
            row = {
                "kind": r["kind"],
                "alone_ok": outcome(r, a),
                "joint_ok": outcome(r, j),
                "alone_belief": b,
                "joint_belief": jb,
                "question": r["q"].text,
            }
            f.write(json.dumps(row) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--squad", type=Path, default=SQUAD_TRAIN)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--conversations", type=int, default=240)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--floors",
        default="",
        help="probabilities the reading with context answers from (comma-separated)",
    )
    ap.add_argument(
        "--terse", action="store_true", help="follow-ups drop the words of the question they follow"
    )
    ap.add_argument("--weights", default="0.35,0.7,1.0,1.5,2.5")
    ap.add_argument("--post-weights", default="0,1")
    ap.add_argument("--answer-weights", default="0,0.5,1")
    ap.add_argument(
        "--read-earlier",
        default="0",
        help="whether the earlier answer's posts are always read: 0, 1 or 0,1",
    )
    ap.add_argument(
        "--readings",
        default="3x2",
        help="posts x sentences the reading with context reads (comma-separated)",
    )
    ap.add_argument("--margins", default="-0.1,0,0.1,0.2")
    ap.add_argument("--dump", type=Path, help="write each grid point's later turns here (JSONL)")
    args = ap.parse_args()
    posts, questions, convs = build(args)
    write_archive(posts, questions, args.workdir)
    (args.workdir / "config.toml").write_text(
        '[corpus]\npaths = ["corpus"]\n[index]\ndir = "index"\n'
    )
    with open(args.workdir / "conversations.jsonl", "w", encoding="utf-8") as f:
        for c, conv in enumerate(convs):
            for i, t in enumerate(conv, 1):
                f.write(json.dumps({"conversation": f"v{c:03d}", "turn": i, **t}) + "\n")
    cfg = load_config(args.workdir / "config.toml")
    archive = Archive.open(cfg)
    kinds = ("first", "followup", "switch", "offtopic")
    counts = {k: sum(t["kind"] == k for c in convs for t in c) for k in kinds}
    print(f"{len(convs)} conversations; turns by kind: {counts}")
    results = []
    floats = lambda text: [float(x) for x in text.split(",")]
    grid = itertools.product(
        floats(args.weights),
        floats(args.post_weights),
        floats(args.answer_weights),
        [tuple(int(n) for n in x.split("x")) for x in args.readings.split(",")],
        [bool(int(x)) for x in args.read_earlier.split(",")],
    )
    for w, pw, aw, (rp, rs), keep in grid:
        archive.cfg = cfg.with_changes(
            conversation={
                "context_weight": w,
                "post_weight": pw,
                "answer_weight": aw,
                "reader_posts": rp,
                "reader_sentences": rs,
                "read_earlier": keep,
                # Every margin below is scored from the two readings this run records.
                "decide": FollowupDecision.MARGIN,
                "margin": 0.0,
            }
        )
        print(f"reader_posts {rp} reader_sentences {rs} read_earlier {keep}:", flush=True)
        rows = run(archive, convs)
        if args.dump:
            dump(rows, args.dump.with_suffix(f".w{w}-p{pw}-a{aw}-r{rp}x{rs}-e{keep:d}.jsonl"))
        base = score(rows, None)
        print("alone: " + "  ".join(f"{k} {base.get(k, 0):.3f}" for k in kinds), flush=True)
        for m in [float(x) for x in args.margins.split(",")]:
            s = score(rows, m)
            results.append(((w, pw, aw, keep), m, s, base))
            print(
                f"context_weight {w} post_weight {pw} answer_weight {aw} read_earlier {keep} "
                f"margin {m}: " + "  ".join(f"{k} {s.get(k, 0):.3f}" for k in kinds),
                flush=True,
            )
            for floor in floats(args.floors) if args.floors else []:
                f = score(rows, m, floor)
                print(
                    f"    with context answering from {floor}: "
                    + "  ".join(f"{k} {f.get(k, 0):.3f}" for k in kinds),
                    flush=True,
                )
    fair = [
        r
        for r in results
        if r[2].get("switch", 1) >= r[3].get("switch", 1) - 0.01
        and r[2].get("offtopic", 1) >= r[3].get("offtopic", 1) - 0.01
    ]
    (w, pw, aw, keep), m, s, _ = max(fair or results, key=lambda r: r[2].get("followup", 0))
    print(
        f"chosen: context_weight {w} post_weight {pw} answer_weight {aw} read_earlier {keep} "
        f"margin {m}: {s}"
    )


if __name__ == "__main__":
    main()

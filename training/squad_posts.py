"""SQuAD v1.1 *train* as tipbot posts: the data every learned part of tipbot is fitted on.

    articles = load_squad(SQUAD_TRAIN)
    train, val = split_articles(articles, val_articles=40, seed=0)
    posts, questions = make_posts(val)

Each Wikipedia article becomes a run of posts of about ``post_chars`` characters (consecutive
paragraphs joined by blank lines), the archive's own shape: the seed posts are ~2,600
characters, ~20 sentences. So the other paragraphs of the same article sit in the same post or
next to it, the hard distractors a reader must learn to pass over. Sentences are cut by
tipbot's own splitter, so training sees the sentences that tipbot quotes.

A question's answer sentences are the sentences its answer span overlaps. The rebuilt file
(``../shared/data/squad-train/README.md``) places each answer at its first occurrence in the
paragraph, which is wrong for some answers that occur twice; questions whose answer text occurs
in more than one sentence of the paragraph are therefore left out (``ambiguous`` counts them).

Data: SQuAD v1.1 train (Rajpurkar et al., 2016), CC BY-SA 4.0; the rebuilt copy in
``../shared/data/squad-train/`` (SQuAD-explorer, commit 0b3c8e82) or the official
``train-v1.1.json``, which has the same shape.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from tipbot.sentences import split_sentences

ROOT = Path(__file__).resolve().parent.parent
SQUAD_TRAIN = ROOT.parent / "shared" / "data" / "squad-train" / "train-v1.1-rebuilt.json"


@dataclass(frozen=True)
class TrainPost:
    id: str
    title: str
    text: str
    sentences: tuple[tuple[int, int], ...]  # (start, end) in text
    article: int  # index of its article in the list make_posts was given

    def sentence(self, i: int) -> str:
        a, b = self.sentences[i]
        return self.text[a:b]


@dataclass(frozen=True)
class TrainQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    post: int  # index into the posts list
    positives: tuple[int, ...]  # sentences of the post that hold the answer span
    paragraph: tuple[int, int]  # the sentences [first, end) of the question's paragraph


def load_squad(path: Path = SQUAD_TRAIN) -> list[dict]:
    """The ``data`` list of a SQuAD v1.1 JSON file (official or rebuilt)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["data"]


def split_articles(
    articles: list[dict], val_articles: int, seed: int
) -> tuple[list[dict], list[dict]]:
    """(train, validation) by whole articles, so no paragraph is on both sides."""
    order = list(range(len(articles)))
    random.Random(seed).shuffle(order)
    val = sorted(order[:val_articles])
    chosen = set(val)
    return [a for i, a in enumerate(articles) if i not in chosen], [articles[i] for i in val]


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def make_posts(
    articles: list[dict], post_chars: int = 3000
) -> tuple[list[TrainPost], list[TrainQuestion], int]:
    """(posts, questions, ambiguous questions left out)."""
    posts: list[TrainPost] = []
    questions: list[TrainQuestion] = []
    ambiguous = 0
    for a, article in enumerate(articles):
        title = article["title"].replace("_", " ")
        groups: list[list[dict]] = [[]]
        size = 0
        for para in article["paragraphs"]:
            if groups[-1] and size + len(para["context"]) > post_chars:
                groups.append([])
                size = 0
            groups[-1].append(para)
            size += len(para["context"]) + 2
        for g, group in enumerate(groups):
            text = ""
            starts = []
            for para in group:
                if text:
                    text += "\n\n"
                starts.append(len(text))
                text += para["context"]
            sentences = tuple((s.start, s.end) for s in split_sentences(text))
            p = len(posts)
            posts.append(TrainPost(f"{_slug(title)}-{g:02d}", title, text, sentences, a))
            for para, offset in zip(group, starts, strict=True):
                end = offset + len(para["context"])
                in_para = [i for i, (s, e) in enumerate(sentences) if offset <= s < end]
                if not in_para:
                    continue
                span = (in_para[0], in_para[-1] + 1)
                for qa in para["qas"]:
                    q = _question(qa, text, offset, sentences, span, p)
                    if q is None:
                        ambiguous += 1
                    else:
                        questions.append(q)
    return posts, questions, ambiguous


def _question(qa, text, offset, sentences, span, post) -> TrainQuestion | None:
    answers = tuple(dict.fromkeys(x["text"].strip() for x in qa["answers"] if x["text"].strip()))
    first = qa["answers"][0]
    start = offset + int(first["answer_start"])
    end = start + len(first["text"])
    if first["answer_start"] < 0 or not answers:
        return None
    holding = [
        i
        for i in range(*span)
        if answers[0].lower() in text[sentences[i][0] : sentences[i][1]].lower()
    ]
    if len(holding) > 1:
        return None  # where the answer is cannot be told from its text
    positives = tuple(i for i in range(*span) if sentences[i][0] < end and start < sentences[i][1])
    if not positives:
        return None
    return TrainQuestion(qa["id"], qa["question"].strip(), answers, post, positives, span)


def write_archive(posts: list[TrainPost], questions: list[TrainQuestion], folder: Path) -> None:
    """posts as folder/corpus/posts.jsonl and questions as folder/questions.jsonl (tipbot eval's
    format), so the validation articles can be indexed and evaluated as an archive."""
    (folder / "corpus").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus" / "posts.jsonl", "w", encoding="utf-8") as f:
        for p in posts:
            row = {"id": p.id, "title": p.title, "url": f"https://example.org/{p.id}"}
            f.write(json.dumps({**row, "text": p.text}, ensure_ascii=False) + "\n")
    with open(folder / "questions.jsonl", "w", encoding="utf-8") as f:
        for q in questions:
            row = {"id": q.id, "question": q.question, "gold": [posts[q.post].id]}
            f.write(json.dumps({**row, "answers": list(q.answers)}, ensure_ascii=False) + "\n")

"""benchmarks/squad.py turns SQuAD-format data into an archive and a question set tipbot reads."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tipbot.evaluate_io import load_questions
from tipbot.parse import read_file

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("squad_bench", ROOT / "benchmarks" / "squad.py")
squad = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(squad)

# Two articles in SQuAD's layout, written for this test; one question asked twice, as happens
# in SQuAD, and answers repeated by several crowd workers.
TINY = {
    "version": "1.1",
    "data": [
        {
            "title": "Harbour_Town",
            "paragraphs": [
                {
                    "context": "Harbour Town was founded in 1802. Its port handled grain.",
                    "qas": [
                        {
                            "id": "a1",
                            "question": "When was Harbour Town founded?",
                            "answers": [
                                {"text": "1802", "answer_start": 28},
                                {"text": "1802", "answer_start": 28},
                                {"text": "in 1802", "answer_start": 25},
                            ],
                        },
                        {
                            "id": "a2",
                            "question": "What did the port handle?",
                            "answers": [{"text": "grain", "answer_start": 51}],
                        },
                    ],
                },
                {
                    "context": "The town hall burned in 1901 and was rebuilt in stone.",
                    "qas": [
                        {
                            "id": "a3",
                            "question": "What did the port handle?",
                            "answers": [{"text": "stone", "answer_start": 48}],
                        }
                    ],
                },
            ],
        },
        {
            "title": "Grey Fell",
            "paragraphs": [
                {
                    "context": "Grey Fell is a hill of 610 metres.",
                    "qas": [
                        {
                            "id": "b1",
                            "question": "How high is Grey Fell?",
                            "answers": [{"text": "610 metres", "answer_start": 23}],
                        }
                    ],
                }
            ],
        },
    ],
}


def test_paragraphs_become_posts_and_questions_point_at_them(tmp_path):
    src = tmp_path / "dev.json"
    src.write_text(json.dumps(TINY), encoding="utf-8")
    work = tmp_path / "work"
    assert squad.convert(src, work, 0, seed=0) == (3, 4)

    posts, issues = read_file(work / "corpus" / "squad.jsonl", "https://example.org")
    assert not issues
    assert [p.id for p in posts] == ["harbour-town-000", "harbour-town-001", "grey-fell-000"]
    assert posts[0].title == "Harbour Town" and posts[0].text.startswith("Harbour Town was")
    assert posts[2].url == "https://en.wikipedia.org/wiki/Grey_Fell"

    qs = load_questions(work / "questions.jsonl").questions
    by_id = {q.qid: q for q in qs}
    # A question asked of two paragraphs stays two questions, told apart by SQuAD's ids.
    assert set(by_id) == {"a1", "a2", "a3", "b1"}
    assert by_id["a1"].answers == ("1802", "in 1802")  # repeats of one answer kept once
    assert set(by_id["a3"].relevant) == {"harbour-town-001"}
    assert (work / "config.toml").read_text().count("paths") == 1


def test_a_sample_is_seeded_and_of_the_size_asked(tmp_path):
    src = tmp_path / "dev.json"
    src.write_text(json.dumps(TINY), encoding="utf-8")
    runs = []
    for _ in range(2):
        squad.convert(src, tmp_path / "w", 2, seed=7)
        runs.append((tmp_path / "w" / "questions.jsonl").read_text())
    assert runs[0] == runs[1] and len(runs[0].splitlines()) == 2

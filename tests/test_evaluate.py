"""`tipbot eval`: question-set readers, metrics checked against `ask --json`, and the CLI
(--json, --fail-under, --run-out, --plot, feedback-to-qrels) on the real seed archive."""

from __future__ import annotations

import json
import re
import struct
import tomllib
from pathlib import Path
from statistics import mean

import ir_measures
import pytest
from click.testing import CliRunner
from conftest import DATA, read_jsonl

from tipbot.errors import TipbotError
from tipbot.evaluate import METRICS, contains_answer, evaluate, normalise, parse_floor
from tipbot.evaluate_io import (
    detect_format,
    feedback_to_qrels,
    load_questions,
    question_id,
    read_qrels,
)

EVAL = DATA / "eval"
SMALL = EVAL / "small.jsonl"
FLOORS = tomllib.loads((DATA / "floors.toml").read_text(encoding="utf-8"))
TOP_KEYS = {"metrics", "modes", "abstention", "latency_ms", "questions", "pipeline_no_reader"}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """On a small machine, torch's OpenMP pool and faiss's (a second libgomp) spin against each
    other and one question's embedding takes about ten times as long. Nothing here measures
    speed, so one torch thread keeps the module quick; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- answer matching --------------------------------------------------------------------------


def test_normalise_drops_case_accents_and_punctuation():
    assert normalise("  $300,000 ") == "300000"
    assert normalise("Nassir Abdulaziz Al-Nasser") == "nassir abdulaziz al nasser"
    assert normalise("Zürich’s U.N. office") == "zurich s un office"


@pytest.mark.parametrize(
    "quote, answer, found",
    [
        ("The fund awarded $300,000 in grants.", "$300,000", True),
        ("awarded 300,000 dollars", "$300 000", False),  # "300 000" is two words, not 300000
        ("some 130 times more victims", "30 times", False),  # word boundaries
        ("said Yury Fedotov, head of UNODC", "yury fedotov", True),
        ("DynCorp's contract", "DynCorp", True),
        ("the Third most profitable crime", "third most profitable", True),
    ],
)
def test_contains_answer(quote, answer, found):
    assert contains_answer(quote, [answer]) is found


# ---- readers ----------------------------------------------------------------------------------


def _gold(qset):
    return [(q.text, dict(q.gold) if q.answerable else {}, q.answerable) for q in qset.questions]


def test_tipbot_reader():
    qs = load_questions(SMALL).questions
    rows = read_jsonl(SMALL)
    assert [q.text for q in qs] == [r["question"] for r in rows]
    assert [sorted(q.relevant) for q in qs] == [sorted(r["gold"]) for r in rows]
    assert [q.answerable for q in qs] == [bool(r["gold"]) for r in rows]
    assert qs[0].answers == ("$300,000",)
    assert qs[0].qid == question_id(rows[0]["question"])
    assert qs[2].source == f"{SMALL}:3"


def test_beir_and_trec_readers_give_the_same_questions():
    tipbot = load_questions(SMALL)
    beir = load_questions(EVAL / "beir")  # a folder: queries.jsonl + qrels/test.tsv
    assert _gold(beir) == _gold(tipbot)
    assert [q.answers for q in beir.questions] == [q.answers for q in tipbot.questions]
    assert [q.qid for q in beir.questions] == [f"s{i}" for i in range(1, 9)]
    assert any("1 queries have no judgments" in w for w in beir.warnings)  # s9 is left out
    same = load_questions(EVAL / "beir" / "queries.jsonl", "beir", EVAL / "beir/qrels/test.tsv")
    assert _gold(same) == _gold(tipbot)

    trec = load_questions(EVAL / "topics.txt", qrels=EVAL / "qrels.txt")
    assert _gold(trec) == _gold(tipbot)
    assert [q.qid for q in trec.questions] == [str(300 + i) for i in range(1, 9)]
    assert all(q.answers == () for q in trec.questions)
    assert trec.questions[1].source == f"{EVAL / 'topics.txt'}:12"


def test_detect_format():
    assert detect_format(SMALL) == "tipbot"
    assert detect_format(EVAL / "beir" / "queries.jsonl") == "beir"
    assert detect_format(EVAL / "topics.txt") == "trec"
    assert detect_format(EVAL / "beir") == "beir"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


GOOD = '{"question": "who?", "gold": ["a"], "answers": ["x"]}\n'


@pytest.mark.parametrize(
    "text, line, hint",
    [
        (GOOD + "{not json\n", 2, "not valid JSON"),
        (GOOD + '{"question": "why?"}\n', 2, '"gold": []'),
        (GOOD + '\n{"question": "why?", "gold": "a"}\n', 3, "list of non-empty strings"),
        ('{"question": "", "gold": []}\n', 1, "non-empty string"),
        (GOOD + '["question"]\n', 2, "expected a JSON object"),
        (GOOD + '{"question": "Who?", "gold": []}\n', 2, "repeats the question of"),
    ],
)
def test_tipbot_reader_names_file_line_and_fix(tmp_path, text, line, hint):
    path = _write(tmp_path, "qs.jsonl", text)
    with pytest.raises(TipbotError) as e:
        load_questions(path, "tipbot")
    assert f"{path}:{line}" in str(e.value)
    assert hint in str(e.value)


def test_qrels_reader(tmp_path):
    assert read_qrels(EVAL / "qrels.txt")["307"] == {"2009-11-02-human-trafficking-and-the-eu": 0}
    bad = _write(tmp_path, "q.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\tyes\n")
    with pytest.raises(TipbotError, match=rf"{re.escape(str(bad))}:3: relevance 'yes'"):
        read_qrels(bad)
    bad = _write(tmp_path, "q2.tsv", "q1 d1\n")
    with pytest.raises(TipbotError, match=rf"{re.escape(str(bad))}:1: .*got 2 columns"):
        read_qrels(bad)


def test_loader_asks_for_what_is_missing(tmp_path):
    with pytest.raises(TipbotError, match="pass --qrels"):
        load_questions(EVAL / "topics.txt")
    with pytest.raises(TipbotError, match="drop --qrels"):
        load_questions(SMALL, qrels=EVAL / "qrels.txt")
    with pytest.raises(TipbotError, match="cannot tell the format"):
        load_questions(_write(tmp_path, "x.txt", "hello\n"))
    with pytest.raises(TipbotError, match=r"topics.txt:1: topic 9 has no <title>"):
        load_questions(_write(tmp_path, "topics.txt", "<top><num> 9 </top>"), "trec", SMALL)
    with pytest.raises(TipbotError, match="none of its query ids match"):
        load_questions(EVAL / "topics.txt", qrels=EVAL / "beir" / "qrels" / "test.tsv")


def test_feedback_to_qrels_majority_and_skips():
    path = EVAL / "feedback.jsonl"
    fb = feedback_to_qrels(path)
    assert [s.split(": ")[0] for s in fb.skipped] == [f"{path}:6", f"{path}:7", f"{path}:8"]
    assert (fb.votes, fb.unlinked, fb.declined_down) == (10, 1, 1)  # lines 14 and 16
    assert len(fb.queries) == 5  # spacing and case differences are one question
    ids = {t.split()[1]: qid for qid, t in fb.queries}  # second word names each question
    assert fb.qrels[ids["much"]] == {
        "2011-10-18-new-un-fund-awards-300000-to-help": 1,  # 2 up
        "2009-04-01-ungift-expert-group-initiative-on": 0,  # 1 up, 1 down: latest (down) wins
    }
    assert fb.qrels[ids["heads"]] == {"2009-06-08-putting-a-price-on-the-cost-of-forced": 1}
    assert fb.qrels[ids["a"]] == {"2008-04-29-new-yorker-special-on-trafficking": 0}
    assert fb.qrels[ids["Oscar-winning"]] == {
        "2009-03-07-unodc-global-report-on-human-trafficking": 1,
        "2011-09-19-human-trafficking-on-the-silver-screen": 0,  # 1 up, 2 down
    }
    # 👍 on a declined answer: nothing answers, so the closest posts shown are judged 0.
    assert set(fb.qrels[ids["do"]].values()) == {0}
    assert fb.conflicts == 3


def test_parse_floor():
    assert parse_floor("recall@1=0.9") == ("recall@1", 0.9)
    assert parse_floor("dense.answer_in_quote@3=0.5") == ("dense.answer_in_quote@3", 0.5)
    for bad, why in [
        ("recall@1", "METRIC=VALUE"),
        ("recall@2=0.5", "unknown metric"),
        ("recall@1=high", "not a number"),
        ("declined_answerable=0.1", "answered_answerable"),
        ("quote_chars=300", "a length, not a score"),
        ("hybrid.quote_chars=300", "a length, not a score"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_floor(bad)


# ---- metrics against `ask --json` -------------------------------------------------------------


def _holds(quote: str, answer: str) -> bool:
    """An independent take on answer matching: strip punctuation, look for the whole words."""
    flat = lambda s: " ".join(re.sub(r"[^\w\s]", "", s.lower()).split())
    return re.search(rf"(?<!\w){re.escape(flat(answer))}(?!\w)", flat(quote)) is not None


def test_eval_numbers_match_ask_json(archive):
    from tipbot.render.json import answer_dict

    report = evaluate(archive, load_questions(SMALL).questions).to_json(per_question=True)
    recall1, success1, in_quote1, chars, declined = [], [], [], [], []
    for row, pq in zip(read_jsonl(SMALL), report["per_question"], strict=True):
        shown = answer_dict(archive.ask(row["question"]))  # what `tipbot ask --json` prints
        assert shown["answered"] == pq["answered"]
        if not row["gold"]:
            declined.append(float(not shown["answered"]))
        if shown["results"]:
            chars.append(len(shown["results"][0]["quote"]))
        if not row["gold"]:
            continue
        first = (shown["results"] or shown["closest"])[0]
        success1.append(float(first["post_id"] in row["gold"]))
        r1 = success1[-1] / len(row["gold"])
        aiq1 = float(
            shown["answered"]
            and first["post_id"] in row["gold"]
            and any(_holds(first["quote"], a) for a in row["answers"])
        )
        assert (pq["metrics"]["recall@1"], pq["metrics"]["answer_in_quote@1"]) == (r1, aiq1)
        recall1.append(r1)
        in_quote1.append(aiq1)
    assert 0 < mean(recall1) < 1 and 0 < mean(in_quote1) < 1  # the set has hits and misses
    assert report["metrics"]["recall@1"] == pytest.approx(mean(recall1))
    assert report["metrics"]["success@1"] == pytest.approx(mean(success1))
    assert report["metrics"]["quote_chars"] == pytest.approx(mean(chars), abs=0.05)
    assert report["metrics"]["answer_in_quote@1"] == pytest.approx(mean(in_quote1))
    assert report["abstention"]["declined_unanswerable"] == pytest.approx(mean(declined))


# ---- the command ------------------------------------------------------------------------------


@pytest.fixture
def tipbot(archive, embedder, seed_dir, tmp_path, monkeypatch):
    """Run `tipbot …` on the seed archive (index built by the fixture, model loaded once)."""
    from tipbot.cli import main

    monkeypatch.setattr("tipbot.archive.Embedder", lambda *a, **k: embedder)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f"[corpus]\npaths = [{json.dumps(str(seed_dir / 'corpus'))}]\n"
        f"[index]\ndir = {json.dumps(str(seed_dir / 'index'))}\n",
        encoding="utf-8",
    )

    def run(*args: str):
        return CliRunner().invoke(main, ["--config", str(cfg), *map(str, args)])

    return run


def test_json_run_file_and_plot(tipbot, tmp_path):
    run_file, png = tmp_path / "run.txt", tmp_path / "eval.png"
    r = tipbot("eval", SMALL, "--json", "--per-question", "--run-out", run_file, "--plot", png)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == TOP_KEYS | {"per_question"}
    assert list(data["metrics"]) == list(METRICS)
    # The retrieval modes, and the reader's ranking (the pipeline's) beside them.
    assert set(data["modes"]) == {"lexical", "dense", "hybrid", "reader"}
    assert all(list(m) == list(METRICS) for m in data["modes"].values())
    plain = data["pipeline_no_reader"]
    assert set(plain) >= {*METRICS, "declined_unanswerable", "answered_answerable"}
    assert data["questions"] == len(data["per_question"]) == 8
    assert set(data["latency_ms"]) >= {"p50", "p95", "p99"}
    assert data["abstention"]["unanswerable"] == 2

    # A valid TREC run, and trec_eval-style scoring of it gives the reported numbers.
    lines = run_file.read_text().splitlines()
    assert len(lines) == 8 * 10
    for line in lines:
        _qid, q0, _doc, rank, score, tag = line.split()
        assert q0 == "Q0" and tag == "tipbot" and int(rank) >= 1
        float(score)
    qrels = [
        ir_measures.Qrel(q.qid, d, rel)
        for q in load_questions(SMALL).questions
        if q.answerable
        for d, rel in q.gold.items()
    ]
    run = list(ir_measures.read_trec_run(str(run_file)))
    scored = ir_measures.calc_aggregate([ir_measures.R @ 1, ir_measures.nDCG @ 10], qrels, run)
    assert scored[ir_measures.R @ 1] == pytest.approx(data["metrics"]["recall@1"])
    assert scored[ir_measures.nDCG @ 10] == pytest.approx(data["metrics"]["ndcg@10"])

    blob = png.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n" and len(blob) > 20_000
    width, height = struct.unpack(">II", blob[16:24])
    assert width >= 1000 and height >= 500


def test_fail_under_exit_codes(tipbot):
    ok = tipbot("eval", "run", SMALL, "--fail-under", "recall@10=0.5", "--modes", "dense")
    assert ok.exit_code == 0, ok.output
    assert "recall@1" in ok.stdout and "dense" in ok.stdout and "lexical" not in ok.stdout
    assert "all 1 floors met" in ok.stderr

    bad = tipbot(
        "eval",
        SMALL,
        "--json",
        "--fail-under",
        "recall@1=1.01",
        "--fail-under",
        "recall@10=0.5",
        "--fail-under",
        "declined_unanswerable=0.1",
        "--fail-under",
        "lexical.mrr@10=1.01",
    )
    assert bad.exit_code == 3
    json.loads(bad.stdout)  # the report is still printed
    failed = [ln for ln in bad.stderr.splitlines() if "below its floor" in ln]
    assert len(failed) == 2
    assert "recall@1 = " in failed[0] and "lexical.mrr@10 = " in failed[1]

    usage = tipbot("eval", SMALL, "--fail-under", "recall@2=0.5")
    assert usage.exit_code == 2 and "unknown metric" in usage.output


def test_bad_question_file_is_one_error_line(tipbot, tmp_path):
    path = _write(tmp_path, "qs.jsonl", GOOD + '{"question": "why?", "gold": [1]}\n')
    r = tipbot("eval", path)
    assert r.exit_code == 1
    assert f"{path}:2" in r.stderr and "Traceback" not in r.output


def test_feedback_round_trip_through_eval(tipbot, tmp_path):
    out = tmp_path / "fb" / "qrels.tsv"
    r = tipbot("eval", "feedback-to-qrels", EVAL / "feedback.jsonl", "-o", out)
    assert r.exit_code == 0, r.output
    assert "feedback.jsonl:6" in r.stderr  # the broken line is named
    assert out.read_text().splitlines()[0] == "query-id\tcorpus-id\tscore"
    queries = out.parent / "queries.jsonl"
    assert len(read_jsonl(queries)) == 5

    r = tipbot("eval", queries, "--qrels", out, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["questions"] == 5
    assert data["abstention"]["unanswerable"] == 2  # no post judged relevant: should decline
    assert data["metrics"]["answer_in_quote@1"] is None  # feedback carries no answer strings
    assert data["metrics"]["recall@1"] is not None


def test_devset_floors(tipbot):
    """The CI gate, as .ci/run runs it: the [devset] table of tests/data/floors.toml."""
    r = tipbot(
        "eval",
        DATA / "devset.jsonl",
        "--json",
        "--modes",
        "hybrid",  # the reader's floors apply without naming it: it runs whenever it is on
        "--floors",
        DATA / "floors.toml",
    )
    assert r.exit_code == 0, r.stderr
    assert f"all {len(FLOORS['devset'])} floors met" in r.stderr

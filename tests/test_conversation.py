"""Conversations: the bounded memory, how a follow-up's retrieval is widened, and follow-ups
answered by the real archive, through the library, `ask -` JSON lines, `tipbot chat` on a
pseudo-terminal and `tipbot eval` on a conversation file."""

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import Clock

from tipbot.choice import CHOICE_FILE, COLUMNS, FollowupChoice, Side, design
from tipbot.cli import main
from tipbot.config import ConversationConfig, FollowupDecision, Rerank, parse_config
from tipbot.conversation import Memory, Turn
from tipbot.errors import ConfigError
from tipbot.followup import context_query, earlier_questions, quoted_vector

UKRAINE = "Who paid for the police training in Ukraine?"
OFFICERS = "How many officers took part?"
UKRAINE_POST = "2008-07-16-osce-project-co-ordinator-in-ukraine"


# ---- memory ------------------------------------------------------------------------------------


def test_memory_keeps_the_last_turns_of_each_conversation():
    memory = Memory(ConversationConfig(turns=2))
    for q in ("a?", "b?", "c?"):
        memory.add("x", Turn(q))
    memory.add("y", Turn("other?"))
    assert [t.question for t in memory.turns("x")] == ["b?", "c?"]
    assert [t.question for t in memory.turns("y")] == ["other?"]
    assert memory.turns("unknown") == ()


def test_memory_forgets_idle_conversations():
    clock = Clock()
    memory = Memory(ConversationConfig(idle="10m"), clock=clock)
    memory.add("old", Turn("a?"))
    clock.now = 400
    memory.add("recent", Turn("b?"))
    clock.now = 601  # "old" idle for 601 s, "recent" for 201 s
    assert memory.turns("old") == ()
    assert memory.turns("recent") == (Turn("b?"),)
    assert len(memory) == 1


def test_memory_drops_the_conversation_used_longest_ago_beyond_its_cap():
    clock = Clock()
    memory = Memory(ConversationConfig(max_conversations=2), clock=clock)
    memory.add("first", Turn("a?"))
    clock.now = 1
    memory.add("second", Turn("b?"))
    clock.now = 2
    memory.add("first", Turn("a2?"))  # used again: now "second" is the oldest
    clock.now = 3
    memory.add("third", Turn("c?"))
    assert "second" not in memory
    assert [t.question for t in memory.turns("first")] == ["a?", "a2?"]
    assert len(memory) == 2
    memory.forget("first")
    assert "first" not in memory


def test_conversation_settings_are_checked():
    with pytest.raises(ConfigError, match=r"\[conversation\] idle .*duration"):
        parse_config({"conversation": {"idle": "soon"}}, Path("."))
    with pytest.raises(ConfigError, match=r"\[conversation\] turns .*greater than 0"):
        parse_config({"conversation": {"turns": 0}}, Path("."))
    with pytest.raises(ConfigError, match=r"unknown key \[conversation\] turn "):
        parse_config({"conversation": {"turn": 2}}, Path("."))
    with pytest.raises(ConfigError, match=r"\[conversation\] decide .*one of model, margin"):
        parse_config({"conversation": {"decide": "vote"}}, Path("."))
    with pytest.raises(ConfigError, match=r"\[conversation\] min_answer .*between 0 and 1"):
        parse_config({"conversation": {"min_answer": 1.5}}, Path("."))


# ---- the learned choice between readings ---------------------------------------------------------


def test_the_shipped_choice_model_is_the_one_the_defaults_were_fitted_with():
    raw = json.loads(CHOICE_FILE.read_text(encoding="utf-8"))
    assert tuple(raw["columns"]) == COLUMNS
    # The bar to answer was chosen with the model: the config's default is that bar.
    assert ConversationConfig().min_answer == raw["min_answer"]
    assert ConversationConfig().decide == FollowupDecision.MODEL


def test_the_choice_keeps_the_likelier_reading_and_reports_its_chance():
    choice = FollowupChoice()
    strong = Side(0.9, np.array([4.0, 0.6, 0.6, 0.5, 0.0]))
    weak = Side(0.05, np.array([-6.0, 0.1, 0.1, 0.0, 0.0]))
    row = design(strong, weak, True)
    assert row.shape == (len(COLUMNS),) and row[COLUMNS.index("with_context")] == 1.0
    assert row[COLUMNS.index("belief")] == pytest.approx(np.log(0.9 / 0.1))
    with_context, chance = choice.choose(alone=weak, joint=strong)
    assert with_context and chance == pytest.approx(choice.probability(strong, weak, True))
    with_context, chance = choice.choose(alone=strong, joint=weak)
    assert not with_context and chance == pytest.approx(choice.probability(strong, weak, False))
    assert chance > 0.5 > choice.probability(weak, strong, True)


# ---- widening the search -------------------------------------------------------------------------


def test_a_chain_of_follow_ups_keeps_its_topic_and_a_question_that_stood_alone_ends_it():
    chained = (Turn(UKRAINE, ("p1",)), Turn(OFFICERS, ("p1",), context=(UKRAINE,)))
    assert earlier_questions(chained, 3) == (OFFICERS, UKRAINE)
    assert earlier_questions(chained, 1) == (OFFICERS,)
    ilo = "What does the ILO say about child labour?"
    switched = (*chained, Turn(ilo, ("p2",)))
    assert earlier_questions(switched, 3) == (ilo,)
    assert earlier_questions((), 3) == ()


def test_a_declined_turn_does_not_end_the_chain_nor_hide_the_latest_answer():
    first = Turn(UKRAINE, ("p1", "p2"), spans=((0, 5),))
    declined = Turn("And the rind?")  # declined: no posts
    assert earlier_questions((first, declined), 3) == ("And the rind?", UKRAINE)
    assert earlier_questions((first, declined), 1) == ("And the rind?",)
    vecs = {q: np.array([1.0, 0.0], np.float32) for q in ("q", UKRAINE, "And the rind?")}
    quote = np.array([0.0, 1.0])
    cfg = ConversationConfig(answer_weight=1.0)
    seen = []
    wq = context_query(
        "q", vecs["q"], (first, declined), vecs.__getitem__, cfg, lambda t: seen.append(t) or quote
    )
    # The posts and the first quote are the first answer's, the declined turn's being none.
    assert wq is not None and wq.posts == ("p1", "p2") and seen == [first]
    assert wq.used == ("And the rind?", UKRAINE)
    # A conversation that has had no answer yet widens by its questions only.
    wq = context_query("q", vecs["q"], (declined,), vecs.__getitem__, cfg, lambda t: quote)
    assert wq is not None and wq.posts == () and wq.used == ("And the rind?",)


def test_the_widened_query_adds_the_earlier_questions_to_both_retrievers():
    vecs = {"q": np.array([1.0, 0.0], np.float32), "earlier?": np.array([0.0, 1.0], np.float32)}
    turns = (Turn("earlier?", posts=("p1", "p2")),)
    cfg = ConversationConfig(context_weight=0.5)
    wq = context_query("q", vecs["q"], turns, vecs.__getitem__, cfg)
    assert wq.text == "q earlier?"
    assert wq.used == ("earlier?",)
    assert wq.posts == ("p1", "p2")
    np.testing.assert_allclose(wq.vector, np.array([1.0, 0.5]) / np.sqrt(1.25), rtol=1e-6)
    assert context_query("q", vecs["q"], (), vecs.__getitem__, cfg) is None
    # The previous answer's first quote joins in with answer_weight.
    quote = np.array([0.6, 0.8])
    cfg = ConversationConfig(context_weight=0.5, answer_weight=1.0)
    wq = context_query("q", vecs["q"], turns, vecs.__getitem__, cfg, lambda turn: quote)
    expected = np.array([1.0, 0.5]) + quote
    np.testing.assert_allclose(wq.vector, expected / np.linalg.norm(expected), rtol=1e-6)
    # Asking the same question again is not widened by itself.
    assert context_query("Q", vecs["q"], (Turn("q"),), vecs.__getitem__, cfg) is None


# ---- the archive ---------------------------------------------------------------------------------


def _with(archive, **changes):
    """The session's archive with other [conversation] settings, restored after."""

    class Patch:
        def __enter__(self):
            self.saved = archive.cfg
            archive.cfg = archive.cfg.with_changes(conversation=changes)
            return archive

        def __exit__(self, *exc):
            archive.cfg = self.saved

    return Patch()


def test_a_follow_up_is_found_with_the_question_it_continues(archive):
    first = archive.ask(UKRAINE)
    assert first.results[0].post_id == UKRAINE_POST
    alone = archive.ask(OFFICERS)
    follow = archive.ask(OFFICERS, context=(Turn.of(first),))
    assert follow.context == (UKRAINE,)
    assert follow.question == OFFICERS
    assert follow.results[0].post_id == UKRAINE_POST
    assert "1,800 police officers" in follow.results[0].text
    # Asked alone it stands alone. (Its own words now find the same sentence too: among the
    # posts read, the fitted ranking puts first the one whose sentence matches them best.)
    assert alone.context == ()


def test_only_a_question_asked_alone_ranks_posts_by_the_fitted_weights(archive, monkeypatch):
    # The fitted ranking was learned on questions asked alone; in a conversation both readings
    # rank their posts by the rule the choice between them was fitted with (README,
    # "Reranking the posts read").
    from tipbot import reading

    seen, original = [], reading.read

    def spy(*args, **kwargs):
        seen.append(args[7].rerank)  # the ReaderSettings the reading was made with
        return original(*args, **kwargs)

    monkeypatch.setattr(reading, "read", spy)
    first = archive.ask(UKRAINE)
    assert seen == [Rerank.MODEL]
    seen.clear()
    archive.ask(OFFICERS, context=(Turn.of(first),))
    assert seen == [Rerank.WEIGHT, Rerank.WEIGHT]


def test_an_off_topic_follow_up_is_still_declined(archive):
    first = archive.ask(UKRAINE)
    answer = archive.ask(
        "can you recommend a good pizza place near the station?", context=(Turn.of(first),)
    )
    assert not answer.answered


def test_margin_decides_between_the_two_readings(archive):
    first = Turn.of(archive.ask(UKRAINE))
    question = "What did the ILO say about forced labour?"
    margin = FollowupDecision.MARGIN
    with _with(archive, decide=margin, margin=100.0):  # the context must be far surer: never
        assert archive.ask(question, context=(first,)).context == ()
    with _with(archive, decide=margin, margin=-100.0):  # always, whenever there is a context
        assert archive.ask(question, context=(first,)).context == (UKRAINE,)
    with _with(archive, decide=FollowupDecision.MODEL, margin=-100.0):  # the model ignores it
        assert archive.ask(question, context=(first,)).context == ()


def _readings(archive, question, context):
    """(answer, [alone, joint] readings as Archive._answer made them)."""
    seen = []
    original = archive._answer

    def capture(*a, **kw):
        seen.append(original(*a, **kw))
        return seen[-1]

    archive._answer = capture
    try:
        answer = archive.ask(question, context=context)
    finally:
        del archive._answer
    return answer, seen


def test_the_learned_choice_gives_the_likelier_reading_from_its_bar(archive):
    first = (Turn.of(archive.ask(UKRAINE)),)
    answer, (alone, joint) = _readings(archive, OFFICERS, first)
    with_context, chance = archive.choice.choose(alone.side, joint.side)
    assert answer.context == ((UKRAINE,) if with_context else ())
    pick = joint if with_context else alone
    assert answer.answered == (chance >= archive.cfg.conversation.min_answer)
    assert with_context and answer.answered  # the officers are in the Ukraine post
    assert answer.results == pick.shown and answer.results[0].post_id == UKRAINE_POST
    # The bar is the model's, not the abstention model's: above every chance, nothing is
    # answered, and the closest passages are those of the reading kept.
    with _with(archive, min_answer=1.0):
        declined = archive.ask(OFFICERS, context=first)
    assert not declined.answered and declined.closest == pick.quotes
    assert declined.context == (UKRAINE,)
    # The evaluator's rankings (no abstention) follow the same choice and decline nothing.
    with _with(archive, min_answer=1.0):
        ranked = archive.ask(OFFICERS, context=first, abstain=False)
    assert ranked.answered and ranked.context == (UKRAINE,)
    assert ranked.results[0].post_id == UKRAINE_POST


def test_read_earlier_reads_the_previous_answers_posts_even_when_the_search_misses_them(archive):
    first = Turn.of(archive.ask(UKRAINE))
    assert len(first.posts) == 3
    question = "What did the ILO say about forced labour?"
    # The follow-up's own search (no vectors added), every earlier post ranked far higher:
    # whichever earlier posts the reader reads come first.
    same = {
        "post_weight": 100.0,
        "decide": FollowupDecision.MARGIN,
        "margin": -100.0,
        "context_weight": 0.0,
        "answer_weight": 0.0,
    }

    def first_three(read_earlier: bool) -> list[str]:
        with _with(archive, read_earlier=read_earlier, **same):
            answer = archive.ask(question, context=(first,))
        assert answer.context == (UKRAINE,)
        return [q.post_id for q in (answer.results or answer.closest)][:3]

    assert set(first_three(False)) != set(first.posts)  # the search alone misses some
    assert set(first_three(True)) == set(first.posts)


def test_a_turn_remembers_where_its_first_quote_lies(archive):
    answer = archive.ask(UKRAINE)
    turn = Turn.of(answer)
    assert turn.posts[0] == UKRAINE_POST and turn.spans == answer.results[0].spans
    vec = quoted_vector(archive.data, turn)
    # The quoted sentences' own vectors: close to the quote's embedding, a unit vector.
    assert vec is not None and abs(float(np.linalg.norm(vec)) - 1) < 1e-6
    assert float(vec @ archive.embed(answer.results[0].text)) > 0.8
    assert quoted_vector(archive.data, Turn("q", ("no-such-post",), spans=((0, 5),))) is None
    declined = Turn.of(archive.ask("what is a good recipe for banana bread?"))
    assert declined.posts == () and declined.spans == ()


def test_without_the_reader_the_hand_relevance_judges_the_two_readings(archive):
    first = Turn.of(archive.ask(UKRAINE, reader=False))
    follow = archive.ask(OFFICERS, context=(first,), reader=False)
    alone = archive.ask(OFFICERS, reader=False)
    assert follow.context == (UKRAINE,)
    assert follow.results[0].post_id == UKRAINE_POST
    assert alone.context == () and alone.results != follow.results


def test_no_context_answers_as_before(archive):
    a = archive.ask("Who runs the UN trust fund for victims?")
    b = archive.ask("Who runs the UN trust fund for victims?", context=())
    assert a == b
    assert a.context == ()


# ---- the command line ----------------------------------------------------------------------------


def test_earlier_questions_are_embedded_once_until_forgotten(archive, monkeypatch):
    calls = []
    encode = archive.embedder.encode_one
    monkeypatch.setattr(archive.embedder, "encode_one", lambda t: calls.append(t) or encode(t))
    archive.forget_vectors()
    first = archive.ask(UKRAINE)
    archive.ask(OFFICERS, context=(Turn.of(first),))
    assert calls.count(UKRAINE) == 1  # the follow-up's context reused the question's vector
    archive.forget_vectors()
    archive.ask(UKRAINE)
    assert calls.count(UKRAINE) == 2


def test_ask_reads_conversations_from_json_lines(seed_cfg):
    lines = [
        json.dumps({"conversation": "a", "question": UKRAINE}),
        json.dumps({"conversation": 7, "question": UKRAINE}),
        OFFICERS,  # plain text stands alone
        json.dumps({"conversation": "a", "question": OFFICERS}),
        json.dumps({"conversation": "b", "question": OFFICERS}),  # a new conversation
        json.dumps({"conversation": "a"}),
        "{not json",
    ]
    r = CliRunner().invoke(
        main, ["--config", str(seed_cfg), "ask", "--json", "-"], input="\n".join(lines) + "\n"
    )
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 7
    assert [row.get("conversation") for row in rows] == ["a", "7", None, "a", "b", "a", None]
    assert rows[0]["context"] == [] and rows[2]["context"] == [] and rows[4]["context"] == []
    assert rows[3]["context"] == [UKRAINE]
    assert rows[3]["results"][0]["post_id"] == UKRAINE_POST
    assert '"question" string' in rows[5]["error"]
    assert "not valid JSON" in rows[6]["error"]
    assert r.exit_code == 1  # two bad lines, reported in their places


def test_chat_on_a_terminal(seed_cfg):
    """`tipbot chat` driven through a pseudo-terminal, as a person types."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tipbot", "--config", str(seed_cfg), "chat"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        close_fds=True,
    )
    os.close(secondary)
    seen = b""

    def until(marker: bytes, timeout: float = 120) -> bytes:
        nonlocal seen
        end = time.monotonic() + timeout
        while marker not in seen:
            left = end - time.monotonic()
            assert left > 0, f"no {marker!r} in {seen[-2000:]!r}"
            ready, _, _ = select.select([primary], [], [], left)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:
                    chunk = b""
                assert chunk, f"chat ended before {marker!r}: {seen[-2000:]!r}"
                seen += chunk
        out, seen = seen, seen[seen.index(marker) + len(marker) :]
        return out

    try:
        until(b"you> ")
        os.write(primary, (UKRAINE + "\n").encode())
        first = until(b"you> ")
        assert b"1,800" in first and b"read with" not in first
        os.write(primary, (OFFICERS + "\n").encode())
        follow = until(b"you> ")
        assert b"read with: " + UKRAINE.encode() in follow
        os.write(primary, b"/new\n")
        until(b"a new conversation")
        until(b"you> ")
        os.write(primary, (OFFICERS + "\n").encode())
        assert b"read with" not in until(b"you> ")
        os.write(primary, b"/alone \n")
        assert b"the question is empty" in until(b"you> ")
        os.write(primary, b"/quit\n")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(primary)


# ---- evaluation ----------------------------------------------------------------------------------


def _conversation_file(tmp_path: Path) -> Path:
    turns = [
        {
            "conversation": "c1",
            "turn": 1,
            "question": UKRAINE,
            "gold": [UKRAINE_POST],
            "answers": ["1,800"],
        },
        {
            "conversation": "c1",
            "turn": 2,
            "question": OFFICERS,
            "gold": [UKRAINE_POST],
            "answers": ["1,800"],
        },
        {
            "conversation": "c1",
            "turn": 3,
            "question": "any good pizza near the station?",
            "gold": [],
        },
    ]
    path = tmp_path / "conv.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in turns), encoding="utf-8")
    return path


def test_eval_reports_conversations_by_kind_with_and_without_context(seed_cfg, tmp_path):
    path = _conversation_file(tmp_path)
    r = CliRunner().invoke(
        main,
        [
            "--config",
            str(seed_cfg),
            "eval",
            str(path),
            "--json",
            "--per-question",
            "--fail-under",
            "followup.answer_in_quote@1=1",
            "--fail-under",
            "offtopic.declined=1",
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["conversations"] == 1 and report["turns"] == 3
    assert set(report["context"]) == {"first", "followup", "offtopic", "later_turns"}
    assert report["context"]["followup"]["answer_in_quote@1"] == 1.0
    assert report["context"]["followup"]["with_context"] == 1.0
    assert report["alone"]["followup"]["with_context"] == 0.0
    assert report["context"]["offtopic"]["declined"] == 1.0
    assert [t["kind"] for t in report["per_turn"]] == ["first", "followup", "offtopic"]
    # The table names each kind of turn with context and alone.
    table = CliRunner().invoke(main, ["--config", str(seed_cfg), "eval", str(path)])
    lines = table.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.split()[:2] == ["followup", "context"])
    assert lines[row + 1].split()[:2] == ["alone", "1"]


def test_eval_names_a_bad_conversation_file_and_a_bad_floor(seed_cfg, tmp_path):
    bad = tmp_path / "gap.jsonl"
    bad.write_text(
        json.dumps({"conversation": "c", "turn": 1, "question": "a?", "gold": []})
        + "\n"
        + json.dumps({"conversation": "c", "turn": 3, "question": "b?", "gold": []})
        + "\n",
        encoding="utf-8",
    )
    r = CliRunner().invoke(main, ["--config", str(seed_cfg), "eval", str(bad)])
    assert r.exit_code == 1
    assert "conversation 'c' has turns [1, 3]: number them 1, 2, 3" in r.output
    path = _conversation_file(tmp_path)
    r = CliRunner().invoke(
        main, ["--config", str(seed_cfg), "eval", str(path), "--fail-under", "recall@1=0.9"]
    )
    assert r.exit_code == 2
    assert "KIND.METRIC=VALUE" in r.output
    r = CliRunner().invoke(
        main, ["--config", str(seed_cfg), "eval", str(path), "--run-out", str(tmp_path / "run")]
    )
    assert r.exit_code == 2
    assert "not conversations" in r.output

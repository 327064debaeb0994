"""Answers: verbatim quotes, links that land on them, filters, abstention, quality floors."""

import datetime as dt
import tomllib
from urllib.parse import unquote

import pytest
from conftest import DATA, read_jsonl

from tipbot import retrieve
from tipbot.errors import QuestionError
from tipbot.evaluate import contains_answer as holds_answer
from tipbot.extract import fragment_link
from tipbot.retrieve import Filters, Mode
from tipbot.types import ELLIPSIS

DEVSET = read_jsonl(DATA / "devset.jsonl")
HELDOUT = read_jsonl(DATA / "heldout.jsonl")
FLOORS = tomllib.loads((DATA / "floors.toml").read_text(encoding="utf-8"))


def contains_answer(quote, row) -> bool:
    """The evaluator's own test: a quote from a gold post holding a gold answer."""
    return quote.post_id in row["gold"] and holds_answer(quote.text, row["answers"])


def assert_verbatim(archive, quote):
    post = next(p for p in archive.data.posts if p.id == quote.post_id)
    parts = [post.text[a:b] for a, b in quote.spans]
    assert parts and all(parts)
    rebuilt = quote.text
    for part in parts:
        assert part in rebuilt
        rebuilt = rebuilt.replace(part, "", 1)
    # Only ellipses and spaces hold the verbatim parts together.
    assert set(rebuilt) <= {ELLIPSIS, " "}, rebuilt
    # Parts are in the post's order and do not overlap.
    ends = [b for _, b in quote.spans]
    starts = [a for a, _ in quote.spans]
    assert all(e < s for e, s in zip(ends, starts[1:], strict=False))


def fragment_directives(link: str) -> list[list[str]]:
    assert "#:~:" in link
    frag = link.split("#:~:", 1)[1]
    directives = frag.split("&")
    assert all(d.startswith("text=") for d in directives)
    return [[unquote(x) for x in d[len("text=") :].split(",")] for d in directives]


@pytest.mark.parametrize(
    "row", [r for r in DEVSET if r["gold"]][:12], ids=lambda r: r["question"][:40]
)
def test_quotes_are_verbatim_and_links_land_on_them(archive, row):
    answer = archive.ask(row["question"], abstain=False)  # every post read, none declined
    assert answer.answered and 1 <= len(answer.results) <= 3
    for q in answer.results:
        assert_verbatim(archive, q)
        assert q.link.startswith(q.url + "#:~:text=")
        for pieces in fragment_directives(q.link):
            assert 1 <= len(pieces) <= 2
            # Each piece of a directive is words of the quote, in the quote.
            for piece in pieces:
                assert piece and piece in " ".join(q.text.split())
        assert len(q.text) <= 400 * 2  # one long sentence may exceed the budget, never a chunk


def test_every_quote_of_both_question_sets_is_verbatim(archive):
    # All their questions, off-topic ones too (their closest quotes), every result: parts in
    # the post's order, none twice, at most max_sentences of them.
    limit = archive.cfg.answer.max_sentences
    for row in DEVSET + HELDOUT:
        for q in archive.ask(row["question"], abstain=False).results:
            assert_verbatim(archive, q)
            assert len(q.spans) <= limit, row["question"]


def test_a_long_companion_sentence_is_quoted_in_part(plain_archive):
    # The answer ("La Strada") ends a 364-character list sentence, the best sentence's
    # strongest companion by hand weights: whole, the two would pass max_quote_chars, so its
    # clauses that hold the question's words are quoted, cut visibly.
    archive = plain_archive
    question = next(r for r in DEVSET if "La Strada" in r["answers"])["question"]
    q = archive.ask(question).results[0]
    assert_verbatim(archive, q)
    assert "La Strada" in q.text
    budget = archive.cfg.answer.max_quote_chars
    assert sum(b - a for a, b in q.spans) <= budget
    data = archive.data
    p = next(i for i, post in enumerate(data.posts) if post.id == q.post_id)
    starts = set(data.sent_start[data.post_sent[p] : data.post_sent[p + 1]].tolist())
    cut = [a for a, b in q.spans if "La Strada" in data.posts[p].text[a:b]]
    assert cut and cut[0] not in starts  # it begins inside its sentence…
    assert f"{ELLIPSIS} {data.posts[p].text[cut[0] : cut[0] + 20]}" in q.text  # …and says so


def test_a_part_cut_after_a_semicolon_is_marked_as_cut(archive):
    from tipbot import extract
    from tipbot.lexical import analyze

    question = "what channel aired the Women on the Frontline docuseries?"
    qvec = archive.embedder.encode_one(question)
    data = archive.data
    hit = retrieve.search(data, qvec, question, 1, archive.cfg.retrieval, Mode.HYBRID, Filters())[0]
    ids, idf = extract.query_terms(data, analyze(question))
    s = archive.quote_settings
    sc = extract.hand_scored(extract.sentence_features(data, hit, qvec, question, ids, idf, s), s)
    text = data.posts[hit.post_index].text
    start = text.index("Turkey, where killing")  # after "; " inside the list sentence
    pos = next(i for i, r in enumerate(sc.rows) if data.sent_start[r] < start < data.sent_end[r])
    end = start + len("Turkey, where killing in the name of honour continues")
    quote = extract.make_quote(data, hit, sc, [(pos, start, end)], hit.score)
    assert (
        quote.text == f"{ELLIPSIS}Turkey, where killing in the name of honour continues{ELLIPSIS}"
    )
    assert quote.spans == ((start, end),)


def test_fragment_link_encodes_reserved_characters():
    link = fragment_link("https://b.example/p.html", ["UN-OSCE meeting, 18 & 19"])
    assert link == "https://b.example/p.html#:~:text=UN%2DOSCE%20meeting%2C%2018%20%26%2019"
    long = fragment_link(
        "https://b.example/p.html", ["one two three four five six seven eight nine ten"]
    )
    assert long.endswith("text=one%20two%20three%20four,ten")


def test_fragment_link_words_are_not_met_sooner_on_the_page():
    # A browser highlights the first match: opening words the title already holds are
    # lengthened, and closing words are the fewest not met earlier inside the part (fewer
    # words are less likely to straddle a line the page breaks with <br>).
    part = "Women on the Frontline is a series to watch. Critics say: a series to watch."
    link = fragment_link("https://b.example/p.html", [part], before=["Women on the Frontline\n"])
    start, end = [unquote(x) for x in link.split("text=", 1)[1].split(",")]
    assert start == "Women on the Frontline is"
    assert end == "say: a series to watch."


def test_names_numbers_and_rare_terms_are_found(archive):
    for question, post_start in [
        ("Galnaftogas", "2008-07-21"),
        ("$300,000", "2011-10-18"),
        ("AU.COMMIT", "2009-06-30"),
        ("Mira Sorvino", "2009-03-07"),
    ]:
        answer = archive.ask(question, abstain=False)
        assert answer.results[0].post_id.startswith(post_start), question


def test_filters_restrict_dates_and_labels(archive):
    q = "human trafficking campaign"
    answer = archive.ask(
        q, 5, since=dt.date(2009, 1, 1), until=dt.date(2009, 12, 31), abstain=False
    )
    assert answer.results and all(
        dt.date(2009, 1, 1) <= r.date <= dt.date(2009, 12, 31) for r in answer.results
    )
    assert not archive.ask(q, since=dt.date(2030, 1, 1), abstain=False).results
    labelled = archive.ask(q, label="intergovernmental organizations", abstain=False)
    assert labelled.results
    assert not archive.ask(q, label="No Such Label", abstain=False).results
    assert not archive.ask(q, label="No Such Label").answered


@pytest.mark.parametrize("rows", [DEVSET, HELDOUT], ids=["devset", "heldout"])
def test_hand_rules_decline_off_topic_and_answer_the_rest(plain_archive, rows):
    # Without the reader: the two hand rules, set on these very questions.
    for row in rows:
        answer = plain_archive.ask(row["question"])
        assert answer.answered == bool(row["gold"]), row["question"]
        if not answer.answered:
            assert not answer.results and answer.closest


@pytest.mark.parametrize(
    ("rows", "floors"),
    [(DEVSET, FLOORS["devset"]), (HELDOUT, FLOORS["heldout"])],
    ids=["devset", "heldout"],
)
def test_the_reader_declines_off_topic_and_answers_the_rest(archive, rows, floors):
    # Floors: tests/data/floors.toml; the figures: README, "The reader".
    declined, answered = [], []
    for row in rows:
        answer = archive.ask(row["question"])
        (answered if row["gold"] else declined).append(answer.answered == bool(row["gold"]))
        if not answer.answered:
            assert not answer.results and answer.closest
    measured = {
        "declined_unanswerable": sum(declined) / len(declined),
        "answered_answerable": sum(answered) / len(answered),
    }
    assert all(m >= floors[name] for name, m in measured.items()), measured


@pytest.mark.parametrize(
    ("rows", "floors"),
    [(DEVSET, FLOORS["devset"]), (HELDOUT, FLOORS["heldout"])],
    ids=["devset", "heldout"],
)
def test_quality_floors(archive, rows, floors):
    """Right post first, and the answer inside the quote: `tipbot eval`'s reader column, whose
    floors are in tests/data/floors.toml (the figures: README, "The reader")."""
    answerable = [r for r in rows if r["gold"]]
    r1 = aq1 = aq3 = 0
    lengths = []
    for row in answerable:
        results = archive.ask(row["question"], 3, abstain=False).results
        r1 += results[0].post_id in row["gold"]
        aq1 += contains_answer(results[0], row)
        aq3 += any(contains_answer(q, row) for q in results)
        lengths.append(len(results[0].text))
    n = len(answerable)
    measured = {
        "reader.success@1": r1 / n,
        "reader.answer_in_quote@1": aq1 / n,
        "reader.answer_in_quote@3": aq3 / n,
    }
    assert all(m >= floors[name] for name, m in measured.items()), (measured, floors)
    assert sum(lengths) / n <= 400


@pytest.mark.parametrize("bad", ["", "   ", "?!?!...", "\x00\x01\x02", "@@@ ###"])
def test_questions_without_words_are_refused_clearly(archive, bad):
    with pytest.raises(QuestionError, match="question"):
        archive.ask(bad)


def test_odd_questions_cost_bounded_work_and_still_answer(archive):
    long = "Who paid for the anti-trafficking billboards in Ukraine? " * 400  # ~20,000 chars
    answer = archive.ask(long, abstain=False)
    assert "shortened" in answer.note
    # The question repeated 400 times reads oddly to the reader, which puts a neighbouring
    # post about the same campaign first; the right post is still shown.
    assert any(r.post_id.startswith("2008-07-21") for r in answer.results)
    controlled = archive.ask(
        "Who paid\x00 for the\u200b billboards\x1b[31m in Ukraine?", abstain=False
    )
    assert controlled.results
    archive.ask(
        "Какая организация финансирует фонд? 誰が資金を出したのか"
    )  # other scripts: no crash
    marked = archive.ask(
        "@everyone **who** <@123> paid for `billboards` in Ukraine?", abstain=False
    )
    assert marked.results


def test_later_posts_the_reader_finds_no_answer_in_are_left_out(archive):
    # -k is a maximum: of the posts read, the first is always shown (or the question is
    # declined); a later one only when the reader gives it min_shown or more. A quote's score
    # is that probability.
    floor = archive.cfg.answer.min_shown
    left_out = 0
    for row in [r for r in DEVSET + HELDOUT if r["gold"]]:
        every = archive.ask(row["question"], 3, abstain=False).results
        shown = archive.ask(row["question"], 3)
        if not shown.answered:  # declined: nothing shown (the abstention tests' subject)
            continue
        expected = [every[0].post_id] + [q.post_id for q in every[1:] if q.score >= floor]
        assert [q.post_id for q in shown.results] == expected, row["question"]
        assert all(0.0 <= q.score <= 1.0 for q in every)
        left_out += len(every) - len(expected)
    assert left_out > 0  # the rule is exercised on these questions


def test_without_the_reader_tipbot_answers_as_it_did(plain_archive):
    # [answer] reader = false: hand-weighted quotes and hand rules of abstention, every
    # off-topic question declined; the floor is `tipbot eval`'s hybrid column's (floors.toml).
    answerable = [r for r in DEVSET if r["gold"]]
    found = sum(contains_answer(plain_archive.ask(r["question"]).results[0], r) for r in answerable)
    assert found / len(answerable) >= FLOORS["devset"]["hybrid.answer_in_quote@1"]
    assert not any(plain_archive.ask(r["question"]).answered for r in DEVSET if not r["gold"])
    assert plain_archive.reader is None


def test_quotes_say_whose_scores_build_the_quote(archive, seed_config, embedder):
    # [answer] quotes: "blend" (the default) adds the reader's logit to the hand weights;
    # "hand" quotes by the hand weights alone, which keep the sentence between the course's
    # sentence and the next ("The training sessions are funded by …"); the reader did not read
    # it, and in the blend it falls behind.
    from tipbot.archive import Archive
    from tipbot.config import QuoteSource

    assert archive.reader_settings.quotes == QuoteSource.BLEND
    hand = Archive(
        seed_config.with_changes(answer={"quotes": QuoteSource.HAND}), embedder, archive.data
    )
    question = "who is paying for the OSCE's anti-trafficking police courses in Ukraine?"
    by_hand = hand.ask(question, 1, abstain=False).results[0]
    blended = archive.ask(question, 1, abstain=False).results[0]
    assert by_hand.post_id == blended.post_id
    assert "Danish Foreign Ministry" in by_hand.text
    assert by_hand.text != blended.text

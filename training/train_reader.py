"""Train tipbot's reader: the first layers of all-MiniLM-L6-v2 as a question–sentence cross-encoder.

    .venv/bin/python training/train_reader.py --out src/tipbot/models/reader
    .venv/bin/python training/train_reader.py --layers 4 --questions 10000 --out /tmp/r4  # a pilot

Data: SQuAD v1.1 train (CC BY-SA 4.0; see ``squad_posts.py``), its articles grouped into posts
of ~3,000 characters. 40 articles (seed 0) are held out for validation and never trained on;
every choice (layers, context, steps, and in ``fit_pipeline.py`` every threshold and weight of
the pipeline) is made on them. SQuAD dev, tests/data and the seed archive are never read here.

Each training question brings a group of five sentences: the one holding its answer, the two
sentences of its post sharing most of its words without the answer (the distractors that word
overlap falls for), another sentence of its post at random, and the sentence most like the
question among 300 of other articles (a question the archive cannot answer). The loss is a
softmax over the group (which sentence answers) plus a binary cross-entropy on each pair (does
it answer at all), so the logit both ranks a post's sentences and, through sigmoid, says when
none answers.

The word-embedding table is frozen (what ships is only what changed, and the packaged model
supplies the rest). Fixed seed; CPU only. The defaults are the shipped model's: one layer,
60,000 questions (about 300,000 pairs, one pass), which on this 2-core machine trains at about
68 pairs a second, 74 minutes. Pilots on 20,000 pairs chose them on the validation articles: two
layers read as well as one (accuracy@1 0.7825 against 0.780) at half the speed, four a little
better (0.790) at a quarter; a head on the [CLS] vector alone reached 0.38 in a pilot, below the
0.70 that the head matching the question's pieces against the sentence's gives before any
training.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from squad_posts import (
    SQUAD_TRAIN,
    TrainPost,
    TrainQuestion,
    load_squad,
    make_posts,
    split_articles,
)

from tipbot.embed import packaged_model_path
from tipbot.reader import (
    CONFIG,
    WEIGHTS,
    PairEncoder,
    ReaderSpec,
    torch_model,
    torch_padded,
    trained_state,
)

_WORD = re.compile(r"\w+")
STOP = frozenset(
    "a an the of in on at to for by with from and or is are was were be been what which who whom "
    "whose when where why how did do does that this these those it its as into than".split()
)


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOP}


def make_groups(
    posts: list[TrainPost],
    questions: list[TrainQuestion],
    rng: random.Random,
    hard: int = 2,
    random_far: bool = False,
) -> list[tuple[TrainQuestion, list[tuple[int, int]]]]:
    """Per question: [(post, sentence)], the answer first, then the negatives:

    - the ``hard`` sentences of its post sharing most words with it: what the cheap scorer
      puts beside the answer, so what the reader must tell apart;
    - one more sentence of its post at random;
    - the sentence sharing most words with it among 300 of other articles (a question the
      archive cannot answer, asked of a passage that looks like an answer);
    - with ``random_far``, one sentence of another article at random.
    """
    sentence_words = [[words(p.sentence(i)) for i in range(len(p.sentences))] for p in posts]
    everywhere = [(p, i) for p in range(len(posts)) for i in range(len(posts[p].sentences))]
    groups = []
    for q in questions:
        post = posts[q.post]
        others = [i for i in range(len(post.sentences)) if i not in q.positives]
        if len(others) < hard + 1:
            continue
        qw = words(q.question)
        rng.shuffle(others)  # ties in overlap go to chance, not to the post's order
        by_overlap = sorted(others, key=lambda i: -len(qw & sentence_words[q.post][i]))
        far = []
        while len(far) < 300:
            p, i = everywhere[rng.randrange(len(everywhere))]
            if posts[p].article != post.article:
                far.append((p, i))
        far_hard = max(far[1:], key=lambda pi: len(qw & sentence_words[pi[0]][pi[1]]))
        group = [
            (q.post, q.positives[0]),
            *((q.post, i) for i in by_overlap[:hard]),
            (q.post, rng.choice(by_overlap[hard:])),
            far_hard,
        ]
        groups.append((q, [*group, far[0]] if random_far else group))
    return groups


def encode_groups(encoder: PairEncoder, posts, groups) -> list[list[tuple[list[int], int]]]:
    """Each group's pairs as (ids, first segment's length), through the reader's own encoder."""
    out = []
    step = 2000
    for g0 in range(0, len(groups), step):
        batch = groups[g0 : g0 + step]
        texts = [q.question for q, _ in batch]
        for _, members in batch:
            for p, s in members:
                texts += [posts[p].title, posts[p].sentence(s)]
        pieces = encoder.pieces(texts)
        k = len(batch)
        for j, (_, members) in enumerate(batch):
            qids = pieces[j]
            pairs = []
            for m in range(len(members)):
                t = k + 2 * (j * len(members) + m)
                pairs.append(encoder.pair(qids, pieces[t], pieces[t + 1]))
            out.append(pairs)
    return out


def batches(encoded, groups_per_batch: int, rng: random.Random):
    """Groups in batches of similar length (little padding), batches in random order."""
    order = list(range(len(encoded)))
    rng.shuffle(order)
    window = groups_per_batch * 50
    out = []
    for w0 in range(0, len(order), window):
        chunk = sorted(order[w0 : w0 + window], key=lambda i: max(len(p) for p, _ in encoded[i]))
        out += [chunk[b : b + groups_per_batch] for b in range(0, len(chunk), groups_per_batch)]
    rng.shuffle(out)
    return out


def score_pairs(bert, head, pairs, batch: int = 128) -> np.ndarray:
    import torch

    out = np.empty(len(pairs), dtype=np.float32)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    with torch.inference_mode():
        for b in range(0, len(order), batch):
            idx = order[b : b + batch]
            ids, types, mask = torch_padded([pairs[i] for i in idx])
            h = bert(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
            out[idx] = head(h, types, mask).float().numpy()
    return out


def validate(bert, head, encoder, posts, questions, rng: random.Random) -> dict:
    """On held-out articles: does the top sentence of the question's post hold the answer
    (accuracy@1, mrr), and does the best sentence of its own post outscore the best of a post
    from another article (auc_offtopic: the reader's evidence for declining)?"""
    bert.eval()
    pairs, owner = [], []
    far_of = []
    for qi, q in enumerate(questions):
        far = rng.randrange(len(posts))
        while posts[far].article == posts[q.post].article:
            far = rng.randrange(len(posts))
        far_of.append(far)
        for p in (q.post, far):
            for s in range(len(posts[p].sentences)):
                owner.append((qi, p, s))
    texts_q = encoder.pieces([q.question for q in questions])
    sent_cache: dict[tuple[int, int], list[int]] = {}
    title_cache: dict[int, list[int]] = {}
    need = sorted({(p, s) for _, p, s in owner})
    pieces = encoder.pieces([posts[p].sentence(s) for p, s in need])
    sent_cache = dict(zip(need, pieces, strict=True))
    tps = sorted({p for _, p, _ in owner})
    title_cache = dict(zip(tps, encoder.pieces([posts[p].title for p in tps]), strict=True))
    for qi, p, s in owner:
        pairs.append(encoder.pair(texts_q[qi], title_cache[p], sent_cache[(p, s)]))
    logits = score_pairs(bert, head, pairs)
    by_q: dict[int, dict[int, list[tuple[int, float]]]] = {}
    for (qi, p, s), z in zip(owner, logits, strict=True):
        by_q.setdefault(qi, {}).setdefault(p, []).append((s, float(z)))
    hits = rr = 0.0
    own_best, far_best = [], []
    for qi, q in enumerate(questions):
        own = by_q[qi][q.post]
        ranked = sorted(own, key=lambda x: -x[1])
        rank = next(r for r, (s, _) in enumerate(ranked) if s in q.positives)
        hits += rank == 0
        rr += 1.0 / (rank + 1)
        own_best.append(ranked[0][1])
        far_best.append(max(z for _, z in by_q[qi][far_of[qi]]))
    own_a, far_a = np.array(own_best), np.array(far_best)
    auc = float((own_a[:, None] > far_a[None, :]).mean())
    bert.train()
    n = len(questions)
    return {"accuracy@1": hits / n, "mrr": rr / n, "auc_offtopic": auc, "questions": n}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--squad", type=Path, default=SQUAD_TRAIN, help="SQuAD v1.1 train JSON")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--context", choices=("title", "none"), default="title")
    ap.add_argument("--activation", choices=("gelu_tanh", "gelu"), default="gelu_tanh")
    ap.add_argument(
        "--questions", type=int, default=60000, help="training questions (5 pairs each)"
    )
    ap.add_argument("--val-questions", type=int, default=400)
    ap.add_argument("--hard", type=int, default=2, help="negatives from the post by word overlap")
    ap.add_argument("--random-far", action=argparse.BooleanOptionalAction, default=False)
    ap.add_argument("--groups-per-batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=1000, help="steps between validations")
    args = ap.parse_args()

    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    articles = load_squad(args.squad)
    train_articles, val_articles = split_articles(articles, val_articles=40, seed=0)
    train_posts, train_qs, amb = make_posts(train_articles)
    val_posts, val_qs, _ = make_posts(val_articles)
    print(
        f"train: {len(train_articles)} articles, {len(train_posts)} posts, "
        f"{len(train_qs)} questions ({amb} ambiguous left out)",
        flush=True,
    )
    rng.shuffle(train_qs)
    train_qs = train_qs[: args.questions]
    val_qs = random.Random(1).sample(val_qs, min(args.val_questions, len(val_qs)))

    base = packaged_model_path()
    spec = ReaderSpec(layers=args.layers, context=args.context, activation=args.activation)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    encoder = PairEncoder(tok, spec)
    t0 = time.time()
    groups = make_groups(train_posts, train_qs, rng, args.hard, args.random_far)
    encoded = encode_groups(encoder, train_posts, groups)
    print(f"{len(encoded)} groups encoded in {time.time() - t0:.0f} s", flush=True)

    bert, head = torch_model(base, spec)
    bert.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in bert.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    plan = batches(encoded, args.groups_per_batch, rng)
    total = len(plan)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm))
    )
    log = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "spec": spec.__dict__,
        "validation": [],
    }
    print(f"{total} steps of {args.groups_per_batch} groups", flush=True)
    v = validate(bert, head, encoder, val_posts, val_qs, random.Random(2))
    print(f"step 0: {v}", flush=True)
    log["validation"].append({"step": 0, **v})
    bert.train()
    t0 = time.time()
    seen = 0
    for step, idx in enumerate(plan, 1):
        pairs = [pr for i in idx for pr in encoded[i]]
        ids, types, mask = torch_padded(pairs)
        h = bert(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
        z = head(h, types, mask).view(len(idx), -1)
        target = torch.zeros_like(z)
        target[:, 0] = 1.0
        loss = torch.nn.functional.cross_entropy(z, torch.zeros(len(idx), dtype=torch.long))
        loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(z, target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        seen += len(pairs)
        if step % 100 == 0:
            rate = seen / (time.time() - t0)
            print(f"step {step}/{total} loss {loss.item():.3f} {rate:.0f} pairs/s", flush=True)
        if step % args.eval_every == 0 or step == total:
            v = validate(bert, head, encoder, val_posts, val_qs, random.Random(2))
            print(f"step {step}: {v}", flush=True)
            log["validation"].append({"step": step, "pairs": seen, **v})
    log["train_seconds"] = round(time.time() - t0)
    log["train_pairs"] = seen

    args.out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    save_file(trained_state(bert, head), str(args.out / WEIGHTS))
    (args.out / CONFIG).write_text(json.dumps(spec.__dict__, indent=2) + "\n")
    (args.out / "training.json").write_text(json.dumps(log, indent=2) + "\n")
    print(f"saved to {args.out}; {math.ceil(log['train_seconds'] / 60)} min", flush=True)


if __name__ == "__main__":
    main()

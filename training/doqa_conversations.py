"""DoQA as a tipbot archive and a conversation file: people's own follow-ups.

    .venv/bin/python training/doqa_conversations.py --doqa doqa-cooking-dev-v2.1.json --out W
    .venv/bin/tipbot --config W/config.toml eval W/conversations.jsonl

DoQA v2.1 (Campos et al., ACL 2020; Ixa Taldea, UPV/EHU; CC BY-SA 4.0, texts from the
cooking, movies and travel Stack Exchange sites, CC BY-SA) holds dialogues in which a person
asks about a problem and follows up, answered from one Stack Exchange answer. Its cooking
*dev* split and its cooking, movies and travel *test* splits are the ones reachable here (the
official files, as vendored unchanged by github.com/Juliane2210/VacationChatbot at commit
63c2f574, code/paraphrase_nlp/final_dataset/; the train split is not there). The dev split's
follow-ups checked the settings chosen on the synthetic conversations of ``fit_followup.py``
and decided what those left open (README, "Conversations"): validation. The test splits chose
nothing: they are reported only (``--site movies`` or ``travel`` for their links).

Each answer becomes a post (titled by its Stack Exchange question; answers used by several
dialogues once, every dialogue's gold naming it). Each dialogue becomes a conversation: turn 1
``first``, the rest ``followup``; turns DoQA marks CANNOTANSWER are asked too (the conversation
goes on through them) with no gold, as ``offtopic``: the answer does not hold what they ask.
Answers are DoQA's spans (often several sentences: answer_in_quote is strict here; success@1,
the right post first, is the figure to read).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def write(doqa: Path, out: Path, site: str = "cooking") -> str:
    """The split ``doqa`` as an archive, a conversation file and a config.toml in ``out``;
    a line saying what was written."""
    data = json.loads(doqa.read_text(encoding="utf-8"))["data"]
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    post_of_text: dict[str, str] = {}
    posts, turns = [], []
    for item in data:
        for para in item["paragraphs"]:
            text = para["context"].removesuffix("CANNOTANSWER").strip()
            pid = post_of_text.setdefault(text, para["id"])
            if pid == para["id"]:
                posts.append(
                    {
                        "id": pid,
                        "title": item["title"],
                        "text": text,
                        "url": f"https://{site}.stackexchange.com/#{pid}",
                    }
                )
            for n, qa in enumerate(para["qas"], 1):
                answers = [a["text"].strip() for a in qa["answers"] if a["text"].strip()]
                answers = [a for a in dict.fromkeys(answers) if a != "CANNOTANSWER" and a in text]
                kind = "first" if n == 1 else "followup" if answers else "offtopic"
                gold = [pid] if answers else []
                if n == 1 and not answers:
                    kind, gold = "first", [pid]  # a first question is about its post even so
                turns.append(
                    {
                        "conversation": para["id"],
                        "turn": n,
                        "question": qa["question"].strip(),
                        "gold": gold,
                        "answers": answers,
                        "kind": kind,
                    }
                )
    with open(out / "corpus" / "posts.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in posts)
    with open(out / "conversations.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(t, ensure_ascii=False) + "\n" for t in turns)
    (out / "config.toml").write_text('[corpus]\npaths = ["corpus"]\n[index]\ndir = "index"\n')
    dialogues = len({t["conversation"] for t in turns})
    return f"{len(posts)} posts, {dialogues} dialogues, {len(turns)} turns"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doqa", type=Path, required=True, help="doqa-cooking-dev-v2.1.json")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--site", default="cooking", help="the split's Stack Exchange site: cooking, movies, travel"
    )
    args = ap.parse_args()
    print(write(args.doqa, args.out, args.site))


if __name__ == "__main__":
    main()

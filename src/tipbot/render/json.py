"""Answer → the JSON shape `tipbot ask --json` prints (a contract other tools rely on).

{"question": str, "answered": bool,
 "results": [{"post_id", "title", "date": "YYYY-MM-DD" | null, "url", "link", "quote",
              "score", "labels"}],
 "context": [earlier questions of the conversation it was found with; [] when it stood alone],
 "message"?: str, "closest"?: [...same as results], "note"?: str,
 "conversation"?: str (the id a JSON line gave, echoed)}
"""

from __future__ import annotations

from typing import Any

from tipbot.types import Answer, Quote

NOTHING = "The archive has nothing that answers this."


def quote_dict(q: Quote) -> dict[str, Any]:
    return {
        "post_id": q.post_id,
        "title": q.title,
        "date": q.date.isoformat() if q.date else None,
        "url": q.url,
        "link": q.link,
        "quote": q.text,
        "score": q.score,
        "labels": list(q.labels),
    }


def answer_dict(answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {
        "question": answer.question,
        "answered": answer.answered,
        "results": [quote_dict(q) for q in answer.results],
        "context": list(answer.context),
    }
    if not answer.answered:
        out["message"] = NOTHING
        out["closest"] = [quote_dict(q) for q in answer.closest]
    if answer.note:
        out["note"] = answer.note
    return out

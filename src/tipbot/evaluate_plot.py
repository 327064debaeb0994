"""`tipbot eval --plot`: recall@k per retrieval mode, and the pipeline's latency per question."""

from __future__ import annotations

import math
from pathlib import Path

from tipbot.evaluate import CURVE_DEPTH, Report
from tipbot.evaluate_io import EvalFileError

STYLE = {
    "lexical": ("#1f77b4", "s", "lexical (BM25)"),
    "dense": ("#ff7f0e", "^", "dense (embeddings)"),
    "hybrid": ("#2ca02c", "o", "hybrid (RRF) = pipeline"),
}


def plot_report(report: Report, path: str | Path, title: str = "") -> None:
    """Two panels side by side, written to ``path`` (PNG, or any format matplotlib knows)."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=120)
    ks = list(range(1, CURVE_DEPTH + 1))
    for mode, curve in report.curves.items():
        if all(v is None for v in curve):
            continue
        color, marker, label = STYLE.get(mode, (None, "o", mode))
        left.plot(ks, curve, marker=marker, color=color, label=label, linewidth=2, markersize=6)
    left.set_title(f"Recall@k over {report.answerable} answerable questions")
    left.set_xlabel("k (posts returned)")
    left.set_ylabel("recall@k (share of gold posts found)")
    left.set_xticks(ks)
    # Start the axis a little under the lowest point, so close modes stay apart.
    lowest = min((v for c in report.curves.values() for v in c if v is not None), default=0.0)
    left.set_ylim(max(0.0, math.floor((lowest - 0.05) * 10) / 10), 1.02)
    left.grid(True, alpha=0.3)
    if left.lines:
        left.legend(loc="lower right")
    else:
        left.text(0.5, 0.5, "no answerable questions", ha="center", transform=left.transAxes)

    lat = report.latencies
    if lat:
        bins = min(30, max(5, len(lat) // 4))
        right.hist(lat, bins=bins, color="#7f7f7f", edgecolor="white")
        styles = (("p50", "#2ca02c", "-"), ("p95", "#ff7f0e", "--"), ("p99", "#d62728", ":"))
        for name, color, ls in styles:
            v = report.latency_ms[name]
            right.axvline(v, color=color, linestyle=ls, linewidth=2, label=f"{name} = {v:.1f} ms")
        right.legend(loc="upper right")
    right.set_title(f"Pipeline latency, {len(lat)} questions (warm)")
    right.set_xlabel("time of archive.ask per question (ms)")
    right.set_ylabel("questions")
    right.grid(True, alpha=0.3)

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except (OSError, ValueError) as e:
        raise EvalFileError(f"{path}: cannot write the plot ({e})") from None
    finally:
        plt.close(fig)

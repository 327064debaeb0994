"""`tipbot eval`: measure the archive on a question set, and turn bot feedback into qrels.

`tipbot eval FILE …` is short for `tipbot eval run FILE …`: a first argument that is not a
subcommand name is taken as the question file (a file literally named `run` needs the long
form, `tipbot eval run run`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from tipbot.cli_common import err, open_archive, out, warn
from tipbot.errors import TipbotError
from tipbot.evaluate import parse_floor

if TYPE_CHECKING:
    from rich.progress import TaskID

    from tipbot.evaluate import Report

EXIT_BELOW_FLOOR = 3


class EvalGroup(click.Group):
    """A group whose default subcommand is `run`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(name="eval", cls=EvalGroup)
def eval_group() -> None:
    """Measure retrieval, quotes, abstention and latency on a question set.

    \b
    tipbot eval tests/data/devset.jsonl                  (same as: tipbot eval run …)
    tipbot eval tests/data/devset.jsonl --json --per-question > report.json
    tipbot eval devset.jsonl --fail-under recall@1=0.9 --fail-under answer_in_quote@3=0.75
    tipbot eval devset.jsonl --run-out run.txt --plot eval.png --modes lexical,hybrid
    tipbot eval queries.jsonl --qrels qrels/test.tsv     (BEIR)
    tipbot eval topics.txt --qrels qrels.txt             (TREC)
    tipbot eval feedback-to-qrels feedback.jsonl -o fb/qrels.tsv
    """


def _modes(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    from tipbot.evaluate import MODES

    modes = [m.strip() for m in value.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise click.BadParameter(
            f"{', '.join(bad) or 'nothing'}: choose from {','.join(MODES)}", ctx=ctx, param=param
        )
    return [m for m in MODES if m in modes]


@eval_group.command("run")
@click.argument("questions", type=click.Path(exists=True))
@click.option(
    "--qrels",
    type=click.Path(exists=True, dir_okay=False),
    help="Judgments for BEIR queries or TREC topics.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "tipbot", "beir", "trec"]),
    default="auto",
    show_default=True,
    help="Question file format.",
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(1, 100),
    default=10,
    show_default=True,
    help="Posts each mode ranks per question.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--per-question", is_flag=True, help="Add each question's outcome.")
@click.option(
    "--run-out",
    type=click.Path(dir_okay=False),
    help="Write the pipeline's ranking as a TREC run file.",
)
@click.option(
    "--plot", type=click.Path(dir_okay=False), help="Draw recall@k per mode and latency (PNG)."
)
@click.option(
    "--fail-under",
    "floors",
    multiple=True,
    metavar="METRIC=VALUE",
    help=(
        f"Exit {EXIT_BELOW_FLOOR} if METRIC is below VALUE (repeatable); e.g. recall@1=0.9, "
        "declined_unanswerable=0.8, dense.recall@3=0.8; for conversations "
        "followup.answer_in_quote@1=0.7, offtopic.declined=1."
    ),
)
@click.option(
    "--floors",
    "floors_file",
    type=click.Path(exists=True, dir_okay=False),
    help=(
        "TOML file of floors, one table per question file named by its stem ([devset] for "
        "devset.jsonl) of METRIC = VALUE; each is checked as --fail-under checks it."
    ),
)
@click.option(
    "--modes",
    default="lexical,dense,hybrid",
    show_default=True,
    callback=_modes,
    help="Retrieval modes to compare beside the pipeline.",
)
@click.pass_context
def run(
    ctx: click.Context,
    questions: str,
    qrels: str | None,
    fmt: str,
    k: int,
    as_json: bool,
    per_question: bool,
    run_out: str | None,
    plot: str | None,
    floors: tuple[str, ...],
    floors_file: str | None,
    modes: list[str],
) -> None:
    """Evaluate the archive on QUESTIONS, side by side for each retrieval mode.

    QUESTIONS is tipbot JSONL ({"question", "gold": [post ids], "answers": [...]}; empty gold
    marks an off-topic question), BEIR queries.jsonl or TREC topics with --qrels, or a BEIR
    folder (queries.jsonl + qrels/test.tsv). Ranking metrics are over answerable questions;
    the pipeline is `tipbot ask` as users get it (hybrid, quotes, abstention).

    A conversation file (the same JSONL with "conversation", "turn" and optionally "kind":
    first, followup, switch, offtopic) is asked conversation by conversation, each turn with
    the earlier ones and again alone, and reported per kind of turn side by side.

    \b
    tipbot eval run tests/data/devset.jsonl --fail-under recall@1=0.9 --json
    tipbot eval tests/data/conversations.jsonl --floors tests/data/floors.toml
    """
    from tipbot.evaluate import below_floors, evaluate
    from tipbot.evaluate_chat import is_conversation_file
    from tipbot.evaluate_io import load_questions, unknown_gold, write_run

    if (
        fmt in ("auto", "tipbot")
        and Path(questions).is_file()
        and is_conversation_file(Path(questions))
    ):
        if run_out or plot or qrels:
            raise click.UsageError(
                "--run-out, --plot and --qrels apply to question files, not conversations"
            )
        from tipbot.evaluate_chat import parse_conversation_floor

        turn_floors = _parse_floors(parse_conversation_floor, floors, floors_file, questions)
        _run_conversations(ctx, questions, as_json, per_question, [f for f, _ in turn_floors])
        return
    placed = _parse_floors(parse_floor, floors, floors_file, questions)
    # hybrid runs always, and the reader whenever the archive has one (tipbot.evaluate).
    reported = {*modes, "hybrid", "reader"}
    for (name, _), where in placed:
        if "." in name and name.split(".")[0] not in reported:
            raise click.UsageError(f"{where} {name}: add {name.split('.')[0]} to --modes")
    parsed = [f for f, _ in placed]
    qset = load_questions(questions, fmt, qrels)
    if not qset.questions:
        raise TipbotError(f"{questions} holds no questions: one JSON object a line")
    if k < 10:
        qset.warnings.append(
            f"-k {k} ranks fewer than 10 posts: recall@10 and @10 metrics see only {k}"
        )
    archive = open_archive(ctx, quiet=as_json)
    known = {p.id for p in archive.data.posts}
    warn([*qset.warnings, *unknown_gold(qset.questions, known)])
    with _progress(err) as progress:
        report = evaluate(archive, qset.questions, k=k, modes=modes, progress=progress)
    data = report.to_json(per_question)
    if run_out:
        write_run(run_out, report.run, "tipbot")
    if plot:
        from tipbot.evaluate_plot import plot_report

        plot_report(report, plot, title=f"tipbot eval: {Path(questions).name}")
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        out.print(render_report(report, per_question, out.width))
    _report_floors(ctx, below_floors(data, parsed), len(parsed))


def _parse_floors(
    parse: Callable[[str], tuple[str, float]],
    given: tuple[str, ...],
    floors_file: str | None,
    questions: str,
) -> list[tuple[tuple[str, float], str]]:
    """The floors of --fail-under and of the --floors file's table for QUESTIONS, each parsed
    with ``parse`` (question or conversation metrics) and paired with where it came from."""
    sources = [("--fail-under", v) for v in given]
    if floors_file:
        where = f"--floors {floors_file} [{Path(questions).stem}]"
        sources += [(where, v) for v in _floors_table(floors_file, questions)]
    parsed = []
    for where, text in sources:
        try:
            parsed.append((parse(text), where))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint=where) from None
    return parsed


def _floors_table(path: str, questions: str) -> list[str]:
    """The table of a floors file named by the question file's stem, as METRIC=VALUE lines."""
    import tomllib

    try:
        tables = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise click.BadParameter(f"{path} is not valid TOML: {e}", param_hint="--floors") from None
    except UnicodeDecodeError as e:
        raise click.BadParameter(
            f"{path} is not UTF-8 text ({e.reason}): save it as UTF-8", param_hint="--floors"
        ) from None
    stem = Path(questions).stem
    table = tables.get(stem)
    if not isinstance(table, dict):
        raise click.UsageError(
            f"--floors {path} has no [{stem}] table for {questions}: add one there, a line "
            f"METRIC = VALUE a floor (e.g. [{stem}] then recall@1 = 0.9), or leave --floors out"
        )
    floors = []
    for name, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise click.BadParameter(
                f"{name} = {value!r}: a floor is a number, e.g. {name} = 0.9",
                param_hint=f"--floors {path} [{stem}]",
            )
        floors.append(f"{name}={value}")
    return floors


def _run_conversations(
    ctx: click.Context, path: str, as_json: bool, per_turn: bool, parsed: list[tuple[str, float]]
) -> None:
    from tipbot.evaluate_chat import (
        below_conversation_floors,
        evaluate_conversations,
        load_conversations,
    )
    from tipbot.evaluate_io import unknown_gold

    convs = load_conversations(Path(path))
    if not convs:
        raise TipbotError(f"{path} holds no conversations: one JSON object a turn")
    archive = open_archive(ctx, quiet=as_json)
    known = {p.id for p in archive.data.posts}
    warn(unknown_gold([t.question for c in convs for t in c], known))
    with _progress(err) as progress:
        report = evaluate_conversations(archive, convs, progress=progress)
    if not per_turn:
        del report["per_turn"]
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        out.print(render_conversations(report))
    _report_floors(ctx, below_conversation_floors(report, parsed), len(parsed))


def _report_floors(ctx: click.Context, failures: list[str], floors: int) -> None:
    """One line per floor missed, and exit code EXIT_BELOW_FLOOR; or say all were met."""

    for line in failures:
        err.print(f"[bold red]below floor:[/] {line}", markup=True, highlight=False)
    if failures:
        ctx.exit(EXIT_BELOW_FLOOR)
    if floors:
        err.print(f"all {floors} floors met")


_SHORT = {
    "answer_in_quote@1": "quote@1",
    "answer_in_quote@3": "quote@3",
    "with_context": "read with",
}


def render_conversations(report: dict[str, Any]) -> Group:
    from tipbot.evaluate_chat import TURN_METRICS

    title = f"{report['conversations']} conversations, {report['turns']} turns"
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("turns", no_wrap=True)
    table.add_column("asked")
    table.add_column("n", justify="right")
    for metric in TURN_METRICS:
        table.add_column(_SHORT.get(metric, metric), justify="right")
    for kind, ctx_row in report["context"].items():
        alone = report["alone"][kind]
        for label, row in (("context", ctx_row), ("alone", alone)):
            table.add_row(
                kind if label != "alone" else "",
                label,
                str(row["turns"]),
                *(_fmt(row[m]) for m in TURN_METRICS),
                style="dim" if label == "alone" else None,
                end_section=label == "alone",
            )
    parts: list[RenderableType] = [table]
    if report.get("per_turn"):
        turns = Table(box=box.SIMPLE, title="per turn (with context)", title_justify="left")
        for col in ("conv", "turn", "kind", "aiq@1", "alone", "read with", "question"):
            turns.add_column(col, overflow="ellipsis", no_wrap=col != "question")
        for r in report["per_turn"]:
            turns.add_row(
                r["conversation"],
                str(r["turn"]),
                r["kind"],
                "yes" if r["answer_in_quote@1"] else "no",
                "yes" if r["answer_in_quote@1_alone"] else "no",
                (r["context"] or [""])[0][:40],
                r["question"],
            )
        parts.append(turns)
    parts.append(
        Text(
            "context: each turn read with the conversation so far, as the bot and `tipbot chat` "
            "read it; alone: each turn asked by itself. quote@n (answer_in_quote@n): one of the "
            "first n quotes shown is from a gold post and holds an answer; declined: the share "
            "declined (wanted only for off-topic turns); read with (with_context): the share "
            "answered with earlier turns.",
            style="dim",
        )
    )
    return Group(*parts)


class _progress:
    """A bar on stderr while questions are asked (invisible when stderr is not a terminal)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn("asking"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
            auto_refresh=False,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> Callable[[int, int], None]:
        self.bar.__enter__()
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.bar.add_task("asking", total=total)
        self.bar.update(self.task, completed=done, refresh=True)

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)


@eval_group.command("feedback-to-qrels")
@click.argument("feedback", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    default="qrels.tsv",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Qrels TSV to write.",
)
@click.option(
    "--queries-out",
    type=click.Path(dir_okay=False),
    help="Queries JSONL to write [default: queries.jsonl beside the qrels].",
)
def feedback_to_qrels_cmd(feedback: str, output: str, queries_out: str | None) -> None:
    """Turn the bot's 👍/👎 log (FEEDBACK, JSON lines) into BEIR qrels + queries.

    Each vote judges every post shown with it: up → relevance 1, down → 0. On a declined
    answer (only the closest posts shown), 👍 judges them 0 (nothing answers) and 👎 is left
    out (it says "answer this", not with which post). Disagreeing votes on one question and
    post: the majority wins, a tie goes to the latest vote. Questions get a stable id (a hash
    of their words). Unusable lines are skipped with a warning naming the line. A question with
    no post judged relevant is one `tipbot eval` expects the bot to decline; review those
    before relying on them.

    \b
    tipbot eval feedback-to-qrels feedback.jsonl -o fb/qrels.tsv
    tipbot eval fb/queries.jsonl --qrels fb/qrels.tsv
    """
    from tipbot.evaluate_io import feedback_to_qrels, write_beir

    fb = feedback_to_qrels(feedback)
    warn([f"skipped {line}" for line in fb.skipped])
    if not fb.queries:
        raise TipbotError(f"{feedback} holds no usable votes: nothing written")
    qrels_path = Path(output)
    queries_path = Path(queries_out) if queries_out else qrels_path.parent / "queries.jsonl"
    write_beir(fb.queries, fb.qrels, qrels_path, queries_path)
    judged = sum(len(d) for d in fb.qrels.values())
    relevant = sum(r > 0 for d in fb.qrels.values() for r in d.values())
    out.print(
        f"{fb.votes} votes → {len(fb.queries)} questions, {judged} judgments ({relevant} "
        f"relevant, {fb.conflicts} settled by majority); {len(fb.skipped)} lines skipped, "
        f"{fb.unlinked} votes without their question, {fb.declined_down} 👎 on declined "
        "answers left out\n"
        f"wrote {qrels_path} and {queries_path}\n"
        f"evaluate with: tipbot eval {queries_path} --qrels {qrels_path}"
    )


# ---- the terminal report ----------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def render_report(report: Report, per_question: bool = False, width: int = 100) -> Group:
    from tipbot.evaluate import LENGTHS, METRICS

    a = report.abstention
    n_off = a["unanswerable"]
    title = f"{report.questions} questions: {report.answerable} answerable, {n_off} off-topic"
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("metric")
    columns = {**report.modes, "pipeline": report.metrics}
    if report.plain is not None:
        columns["no reader"] = report.plain
    for name in columns:
        table.add_column(name, justify="right", style="bold" if name == "pipeline" else None)
    for metric in METRICS:
        values = [columns[c][metric] for c in columns]
        # A length is not better when larger: nothing is marked best.
        scored = [v for v in values if v is not None and metric not in LENGTHS]
        best = max(scored, default=None)
        shown = (lambda v: "n/a" if v is None else f"{v:.0f}") if metric in LENGTHS else _fmt
        cells = [
            Text(shown(v), style="green" if v is not None and v == best else "") for v in values
        ]
        table.add_row(metric, *cells)
    parts: list[RenderableType] = [table]
    lines = []
    if n_off:
        d = a["declined_unanswerable"]
        lines.append(f"declined {round(d * n_off)}/{n_off} off-topic questions ({d:.0%})")
    if a["answerable"]:
        w = a["declined_answerable"]
        n = a["answerable"]
        lines.append(f"wrongly declined {round(w * n)}/{n} answerable questions ({w:.0%})")
    lat = report.latency_ms
    if lat["p50"] is not None:
        lines.append(
            f"latency per question: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
            f"p99 {lat['p99']:.1f} ms (mean {lat['mean']:.1f}, max {lat['max']:.1f})"
        )
    parts.append(Text("pipeline: " + "; ".join(lines), style="bold") if lines else Text(""))
    if report.plain is not None:
        p = report.plain
        plain = []
        if n_off:
            plain.append(f"declined {round(p['declined_unanswerable'] * n_off)}/{n_off} off-topic")
        if p["answerable"]:
            plain.append(
                f"wrongly declined {round(p['declined_answerable'] * p['answerable'])}/"
                f"{p['answerable']} answerable"
            )
        parts.append(Text("pipeline without the reader: " + "; ".join(plain)))
    parts.append(
        Text(
            f"Ranking metrics over the {report.answerable} answerable questions (ir-measures). "
            f"answer_in_quote: a quote from a gold post holds a gold answer, over the "
            f"{report.with_answers} questions that list answers; quote_chars: the first quote's "
            "mean length. reader = hybrid ranking with the reader reranking the first posts, "
            "quotes as [answer] quotes builds them; pipeline = what `tipbot ask` shows, "
            "abstention included; "
            "no reader = the pipeline with [answer] reader = false.",
            style="dim",
        )
    )
    if per_question:
        parts.append(_question_table(report, width))
    return Group(*parts)


def _question_table(report: Report, width: int) -> Table:
    table = Table(box=box.SIMPLE, title="per question (pipeline)", title_justify="left")
    cols = {"id": 13, "recall@1": 8, "aiq@3": 5, "answered": 8, "ms": 5}
    for col, w in cols.items():
        table.add_column(col, justify="left" if col == "id" else "right", min_width=w, no_wrap=True)
    # The question gets the width left (2 spaces of padding a column) and is cut to one line.
    rest = max(20, width - sum(cols.values()) - 2 * (len(cols) + 1) - 6)
    table.add_column("question", no_wrap=True, overflow="ellipsis", max_width=rest)
    for row in report.per_question:
        m = row["metrics"]
        wrong = (
            row["answerable"] != row["answered"]
            or m["recall@1"] == 0
            or m["answer_in_quote@3"] == 0
        )
        table.add_row(
            row["id"],
            _fmt(m["recall@1"]),
            _fmt(m["answer_in_quote@3"]),
            "yes" if row["answered"] else "no",
            f"{row['latency_ms']:.0f}",
            row["question"],
            style="red" if wrong else None,
        )
    return table

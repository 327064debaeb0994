"""The `tipbot` command as users and scripts call it."""

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import SEED

from tipbot.cli import main


def run(*args, input=None):
    result = CliRunner().invoke(main, [str(a) for a in args], input=input)
    # Whatever happens, tipbot exits on purpose: no exception escapes to a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def test_ask_json_has_the_documented_shape(seed_cfg):
    r = run(
        "--config",
        seed_cfg,
        "ask",
        "--json",
        "How much cash did the new UN victims trust fund hand out in its first grant round?",
    )
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert (
        obj["question"]
        == "How much cash did the new UN victims trust fund hand out in its first grant round?"
    )
    # -k 3 is a maximum: later posts the reader finds no answer in are left out.
    assert obj["answered"] is True and 1 <= len(obj["results"]) <= 3
    first = obj["results"][0]
    assert set(first) >= {"post_id", "title", "date", "url", "link", "quote", "score"}
    assert first["date"] == "2011-10-18" and "$300,000" in first["quote"]
    assert first["link"].startswith(first["url"] + "#:~:text=")
    assert isinstance(first["score"], float)


def test_ask_json_stdin_answers_each_line_with_one_model_load(seed_cfg):
    questions = (
        "Who paid for billboards in Ukraine?\n\nbanana bread recipe\n...\n"
        "What does ALDE stand for?\n"
    )
    r = run("--config", seed_cfg, "ask", "--json", "-k", "2", "-", input=questions)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["question"] for x in lines] == [
        "Who paid for billboards in Ukraine?",
        "banana bread recipe",
        "...",
        "What does ALDE stand for?",
    ]
    assert lines[0]["answered"] and len(lines[0]["results"]) == 2
    assert lines[1]["answered"] is False and lines[1]["results"] == [] and lines[1]["message"]
    assert "error" in lines[2]
    assert lines[3]["answered"]
    assert r.exit_code == 1  # one line could not be asked


def test_ask_terminal_output_and_filters(seed_cfg):
    r = run(
        "--config",
        seed_cfg,
        "ask",
        "--since",
        "2009-01-01",
        "--until",
        "2009-12-31",
        "-k",
        "2",
        "ILO forced labour profits",
    )
    assert r.exit_code == 0
    assert "Putting a Price on the Cost of Forced Labor" in r.stdout
    assert "2009-06-08" in r.stdout and "Quoted word for word" in r.stdout
    bad = run("--config", seed_cfg, "ask", "--since", "last year", "x")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_index_info_json_reports_twenty_fresh_posts(seed_cfg):
    r = run("--config", seed_cfg, "index", "info", "--json")
    info = json.loads(r.stdout)
    assert info["posts"] == 20 and info["stale"] is False
    assert info["model"] == "all-MiniLM-L6-v2" and info["dims"] == 384 and info["chunks"] > 20


def test_known_failures_are_one_line_without_traceback(tmp_path, seed_cfg):
    bad = tmp_path / "config.toml"
    bad.write_text("[retrieval]\ntop_k = 3\n", encoding="utf-8")
    r = run("--config", bad, "ask", "anything")
    assert r.exit_code == 1
    assert "unknown key [retrieval] top_k" in r.stderr and "Traceback" not in r.output
    r = run("--config", tmp_path / "missing.toml", "index", "info")
    assert r.exit_code == 1 and "does not exist" in r.stderr
    r = run("--config", seed_cfg, "ask", "   ")
    assert r.exit_code == 1 and "question is empty" in r.stderr


def seed_corpus(tmp_path: Path, until: str) -> Path:
    """tmp_path/corpus with the seed's posts before the date line ``until``."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = SEED.read_text(encoding="utf-8")
    (corpus / "seed.txt").write_text(text[: text.index(until)], encoding="utf-8")
    return corpus


def test_first_ask_builds_the_index_then_build_and_update_report(tmp_path):
    seed_corpus(tmp_path, until="Thursday, December 03, 2009")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[corpus]\npaths = ["corpus"]\nbase_url = "https://b.example"\n', encoding="utf-8"
    )
    r = run("--config", cfg, "ask", "--json", "Who exposed the peacekeepers?")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)  # answered, or declined with the closest passages
    assert (shown["results"] or shown["closest"])[0]["url"].startswith("https://b.example/2011/09/")
    assert (tmp_path / "index" / "CURRENT").exists()
    r = run("--config", cfg, "index", "build")
    assert r.exit_code == 0
    assert "indexed 3 posts" in r.stdout and "chunks/s" in r.stdout
    r = run("--config", cfg, "index", "update")
    assert r.exit_code == 0 and "3 posts unchanged" in r.stdout


def test_broken_index_folders_and_corpus_files_are_one_line_errors(tmp_path):
    seed_corpus(tmp_path, until="Monday, September 19, 2011")
    (tmp_path / "corpus" / "gone.txt").symlink_to(tmp_path / "nowhere.txt")  # dangling
    cfg = tmp_path / "config.toml"
    cfg.write_text('[corpus]\npaths = ["corpus"]\n', encoding="utf-8")
    r = run("--config", cfg, "index", "build")
    assert r.exit_code == 0 and "gone.txt" in r.stderr and "indexed 2 posts" in r.stdout
    # CURRENT that is a folder: a damaged index, rebuilt by ask with a word about why.
    (tmp_path / "index" / "CURRENT").unlink()
    (tmp_path / "index" / "CURRENT").mkdir()
    r = run("--config", cfg, "index", "info")
    assert r.exit_code == 1 and "CURRENT" in r.stderr
    # An index "folder" that is a file.
    bad = tmp_path / "bad.toml"
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    bad.write_text('[corpus]\npaths = ["corpus"]\n[index]\ndir = "afile"\n', encoding="utf-8")
    r = run("--config", bad, "index", "build")
    assert r.exit_code == 1 and "afile" in r.stderr


def test_json_mode_says_on_stderr_why_it_builds_and_rebuilds_the_index(
    tmp_path, embedder, monkeypatch
):
    from tipbot.index.store import current_build_dir

    monkeypatch.setattr("tipbot.archive.Embedder", lambda *a, **k: embedder)
    seed_corpus(tmp_path, until="Thursday, December 03, 2009")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[corpus]\npaths = ["corpus"]\n', encoding="utf-8")
    question = "Who exposed the peacekeepers?"
    r = run("--config", cfg, "ask", "--json", question)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["question"] == question  # stdout: the JSON, nothing else
    # One whole line however long the path: stderr is never hard-wrapped for a log to split.
    assert f"tipbot: no index in {tmp_path / 'index'} yet: building it\n" in r.stderr
    # A damaged file in the build: rebuilt, and said so, as the terminal mode says it.
    (current_build_dir(tmp_path / "index") / "vocab.json").write_text("x", encoding="utf-8")
    for args, text in ((["--json", question], None), (["--json", "-"], question + "\n")):
        r = run("--config", cfg, "ask", *args, input=text)
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["question"] == question
        assert "the index cannot be used" in r.stderr and "rebuilding it" in r.stderr
        (current_build_dir(tmp_path / "index") / "vocab.json").write_text("x", encoding="utf-8")


def test_ask_stdin_reports_a_bad_line_as_text_without_json(seed_cfg):
    questions = "Who paid for billboards in Ukraine?\n\n...\n{not json\n"
    r = run("--config", seed_cfg, "ask", "-k", "1", "-", input=questions)
    assert r.exit_code == 1  # two lines could not be asked; the others were answered
    assert "Quoted word for word" in r.stdout and "{" not in r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, r.stderr
    assert errors[0].startswith("error: line 3: ") and "question" in errors[0]
    assert errors[1].startswith("error: line 4: the line is not valid JSON")
    # With --json the same lines are JSON rows in their places, stderr quiet.
    r = run("--config", seed_cfg, "ask", "--json", "-k", "1", "-", input=questions)
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.exit_code == 1 and len(rows) == 3 and "error" in rows[1] and "error" in rows[2]
    assert "error" not in r.stderr

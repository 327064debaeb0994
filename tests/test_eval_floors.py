"""`tipbot eval --floors FILE`: the floors of tests/data/floors.toml, one table per question
file, checked as --fail-under checks them."""

import json
import tomllib

import pytest
from click.testing import CliRunner
from conftest import DATA

from tipbot.cli import main
from tipbot.evaluate import parse_floor
from tipbot.evaluate_chat import parse_conversation_floor

FLOORS = DATA / "floors.toml"
SMALL = DATA / "eval" / "small.jsonl"


def test_every_floor_of_the_file_is_a_metric_eval_knows():
    tables = tomllib.loads(FLOORS.read_text(encoding="utf-8"))
    assert set(tables) == {"devset", "heldout", "conversations"}
    for stem, table in tables.items():
        assert (DATA / f"{stem}.jsonl").is_file()
        parse = parse_conversation_floor if stem == "conversations" else parse_floor
        for name, value in table.items():
            assert parse(f"{name}={value}") == (name, float(value))


@pytest.fixture
def tipbot(seed_cfg, embedder, monkeypatch):
    monkeypatch.setattr("tipbot.archive.Embedder", lambda *a, **k: embedder)

    def run(*args):
        return CliRunner().invoke(main, ["--config", str(seed_cfg), *map(str, args)])

    return run


def test_floors_met_missed_and_missing(tipbot, tmp_path):
    floors = tmp_path / "floors.toml"
    floors.write_text('[small]\n"recall@10" = 0.5\ndeclined_unanswerable = 0.1\n')
    ok = tipbot("eval", SMALL, "--json", "--modes", "hybrid", "--floors", floors)
    assert ok.exit_code == 0, ok.output
    json.loads(ok.stdout)
    assert "all 2 floors met" in ok.stderr

    # With --fail-under beside it, both apply; a floor missed is exit code 3 and one line.
    floors.write_text('[small]\n"recall@10" = 0.5\n"recall@1" = 1.01\n')
    bad = tipbot(
        "eval",
        SMALL,
        "--json",
        "--modes",
        "hybrid",
        "--floors",
        floors,
        "--fail-under",
        "mrr@10=0.1",
    )
    assert bad.exit_code == 3
    json.loads(bad.stdout)  # the report is still printed
    failed = [ln for ln in bad.stderr.splitlines() if "below its floor" in ln]
    assert len(failed) == 1 and "recall@1 = " in failed[0]


def test_a_floors_file_without_the_table_or_with_a_bad_floor_is_a_usage_error(tipbot, tmp_path):
    floors = tmp_path / "floors.toml"
    floors.write_text('[devset]\n"recall@1" = 0.9\n')
    r = tipbot("eval", SMALL, "--floors", floors)
    assert r.exit_code == 2
    said = " ".join(r.output.split())
    assert str(floors) in said and "no [small] table" in said and "add one" in said
    floors.write_text('[small]\n"recall@2" = 0.9\n')
    r = tipbot("eval", SMALL, "--floors", floors)
    assert r.exit_code == 2 and "unknown metric 'recall@2'" in r.output
    floors.write_text('[small]\n"recall@1" = "high"\n')
    r = tipbot("eval", SMALL, "--floors", floors)
    assert r.exit_code == 2 and "a floor is a number" in r.output
    floors.write_text('[small]\n"lexical.recall@1" = 0.5\n')
    r = tipbot("eval", SMALL, "--modes", "hybrid", "--floors", floors)
    assert r.exit_code == 2 and "add lexical to --modes" in r.output
    floors.write_bytes(b'[small]\n"recall@1" = 0.9 # \xe9t\xe9\n')  # Latin-1, not UTF-8
    r = tipbot("eval", SMALL, "--floors", floors)
    assert r.exit_code == 2 and "not UTF-8 text" in r.output

import dataclasses
import tomllib
from pathlib import Path

import pytest

from tipbot.config import Config, load_config, parse_config
from tipbot.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_and_relative_paths_resolve_against_the_config_folder(tmp_path):
    sub = tmp_path / "deploy"
    sub.mkdir()
    cfg = load_config(
        write(
            sub,
            '[corpus]\npaths = ["archive"]\nbase_url = "https://b.example"\n[index]\ndir = "idx"\n',
        )
    )
    assert cfg.corpus.paths == (sub / "archive",)
    assert cfg.index.dir == sub / "idx"
    assert cfg.corpus.base_url == "https://b.example"
    assert cfg.retrieval.k == 3 and cfg.chunking.tokenizer == "cl100k_base"


def test_the_shipped_config_writes_out_every_default():
    # The defaults live once, in config.py; config.toml documents each of them.
    root = Path(__file__).resolve().parent.parent
    shipped = load_config(root / "config.toml")
    defaults = parse_config({}, root, "defaults")
    raw = tomllib.loads((root / "config.toml").read_text(encoding="utf-8"))
    sections = [f.name for f in dataclasses.fields(Config) if f.name != "source"]
    for section in sections:
        assert getattr(shipped, section) == getattr(defaults, section), section
        keys = {f.name for f in dataclasses.fields(getattr(defaults, section))}
        assert keys == set(raw[section]), section


def test_unknown_key_names_key_file_and_valid_keys(tmp_path):
    p = write(tmp_path, "[retrieval]\ntop_k = 5\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert "[retrieval] top_k" in msg and str(p) in msg and "valid keys are" in msg and " k," in msg


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown section \[retreival\]"):
        load_config(write(tmp_path, "[retreival]\nk = 5\n"))


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[retrieval]\nk = "three"\n', r"\[retrieval\] k .* must be int, got 'three'"),
        ("[retrieval]\nk = 0\n", r"must be greater than 0, got 0"),
        ('[index]\nkind = "annoy"\n', r"must be one of auto, flat, hnsw, ivf, got 'annoy'"),
        ('[answer]\nrerank = "best"\n', r"\[answer\] rerank .* must be one of model, weight"),
        (
            '[retrieval]\nfusion = "max"\n',
            r"\[retrieval\] fusion .* must be one of zscore, rrf, weighted, got 'max'",
        ),
        (
            "[retrieval]\nsentence_weight = 1.5\n",
            r"\[retrieval\] sentence_weight .* must be between 0 and 1, got 1.5",
        ),
        ("[retrieval]\ndense_weight = -0.1\n", r"dense_weight .* between 0 and 1"),
        ("[retrieval]\noverlap_weight = 2\n", r"overlap_weight .* between 0 and 1, got 2"),
        (
            "[chunking]\nmax_tokens = 50\noverlap_tokens = 50\n",
            r"overlap_tokens .* less than max_tokens",
        ),
        ('[corpus]\npaths = "corpus"\n', r"\[corpus\] paths .* must be a list"),
        ("[answer]\nmin_score = true\n", r"must be float"),
        ("[bot]\nallowed_guilds = [1.5]\n", r"allowed_guilds\[0\] .* must be int"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(tmp_path, toml, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, toml))


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[corpus\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_tipbot_config_environment_variable(tmp_path, monkeypatch):
    p = write(tmp_path, "[retrieval]\nk = 7\n")
    monkeypatch.setenv("TIPBOT_CONFIG", str(p))
    assert load_config().retrieval.k == 7

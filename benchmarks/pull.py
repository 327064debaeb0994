"""What `tipbot corpus pull` costs: a blog of a few hundred posts, served by the tests' stand-in
blog on 127.0.0.1, pulled whole, pulled again unchanged, and pulled again after a few posts
were added, changed and deleted, for each source kind.

    .venv/bin/python benchmarks/pull.py                       # 300 posts, default delay (1 s)
    .venv/bin/python benchmarks/pull.py --posts 600 --delay 0 --out benchmarks/results/pull.json

The stand-in pages like the real services: Blogger's feed 150 posts a page (``--page-size``),
WordPress 100. Time is wall time, the ``delay`` between requests included; requests and bytes
are what went over the wire (gzip on, as blogs serve their feeds).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from blog_stub import Blog, BlogStub, make_posts  # noqa: E402

from tipbot.sources.http import HttpSettings  # noqa: E402
from tipbot.sources.pull import pull  # noqa: E402

KINDS = {"blogger": ("blogger", ""), "wordpress": ("wordpress", ""), "rss": ("rss", "/feed.xml")}


def run(kind: str, posts: int, delay: float, page_size: int, work: Path) -> dict:
    blog = Blog(make_posts(filler=max(0, posts - 20)))
    settings = HttpSettings(delay=delay)
    home, path = KINDS[kind]
    rows = {}
    with BlogStub(blog, kind=home, page_size=page_size) as stub:
        url = stub.base + path

        def measure(name: str) -> None:
            t0 = time.perf_counter()
            r = pull(url, work / kind, settings=settings)
            rows[name] = {
                "seconds": round(time.perf_counter() - t0, 2),
                "requests": r.requests,
                "bytes": r.bytes_read,
                "report": f"{r.new} new, {r.changed} changed, {r.removed} removed, "
                f"{r.unchanged} unchanged",
            }

        measure("first pull")
        measure("re-pull, nothing changed")
        old = blog.snapshot()
        for i in range(2):
            blog.add(f"Added post {i}", [f"Text of added post {i}."], ("Training",))
        blog.change(old[5].id, ["Corrected text."])
        blog.delete(old[6].id)
        measure("re-pull, 2 new 1 changed 1 deleted")
    return {"posts": len(make_posts(filler=max(0, posts - 20))), **rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--posts", type=int, default=300)
    ap.add_argument("--delay", type=float, default=1.0, help="seconds between requests")
    ap.add_argument("--page-size", type=int, default=150, help="the stand-in's largest page")
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    results = {"delay": args.delay, "page_size": args.page_size, "kinds": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in KINDS:
            results["kinds"][kind] = run(kind, args.posts, args.delay, args.page_size, Path(tmp))
    print(f"{args.posts} posts, delay {args.delay:g} s between requests")
    print(f"{'source':<10} {'pull':<36} {'time':>7} {'requests':>9} {'kB':>7}  report")
    for kind, rows in results["kinds"].items():
        for name, r in rows.items():
            if name == "posts":
                continue
            print(
                f"{kind:<10} {name:<36} {r['seconds']:>6.1f}s {r['requests']:>9} "
                f"{r['bytes'] / 1000:>7.0f}  {r['report']}"
            )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

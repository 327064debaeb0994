"""Pulled posts, end to end with the real model: `corpus pull --update` re-embeds only what
changed and answers about a post that was not there before; the bot's scheduled sync does the
same without a restart; and tipbot's links, opened in headless Chromium, highlight the words
quoted on the stand-in blog's own pages (``::target-text``).

One index of the stand-in blog (the seed archive's 20 posts and 45 more) is built per module;
each test works on a copy.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from blog_stub import Blog, BlogStub, make_posts
from click.testing import CliRunner
from conftest import DATA, make_config
from discord_stub.harness import bot_session, run

from tipbot.cli import main
from tipbot.config import BotConfig
from tipbot.render.discord import unquote_block
from tipbot.sources.http import HttpSettings
from tipbot.sources.pull import pull

POSTS = make_posts()
FACT = "the Zanzibar Lighthouse Authority trained 47 lighthouse keepers"
NEW_POST = (
    "Lighthouse keepers learn the signs",
    [
        f"In May {FACT} to recognise trafficked crew on passing fishing boats.",
        "The course ran for three weeks and ended with a drill at sea.",
    ],
)
NEW_QUESTION = "How many lighthouse keepers did the Zanzibar Lighthouse Authority train?"
CONFIG = '[corpus]\npaths = ["corpus"]\n[index]\ndir = "index"\n'


@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder):
    """The stand-in blog, served for the whole module, pulled and indexed once in ``root``."""
    from tipbot.archive import Archive

    root = tmp_path_factory.mktemp("pulled")
    with BlogStub(Blog(POSTS)) as stub:
        pull(stub.base, root / "corpus", settings=HttpSettings(delay=0.0))
        (root / "config.toml").write_text(CONFIG, encoding="utf-8")
        cfg = make_config(root, [root / "corpus"])
        archive = Archive.open(cfg, embedder=embedder)
        yield stub, root, archive


def working_copy(site, tmp_path: Path, sync: str = "") -> Path:
    """A copy of the pulled corpus and its index, and a fresh copy of the blog to change."""
    stub, root, _ = site
    stub.blog = Blog(POSTS)
    for name in ("corpus", "index"):
        shutil.copytree(root / name, tmp_path / name)
    (tmp_path / "config.toml").write_text(CONFIG + sync, encoding="utf-8")
    return tmp_path


def test_pull_update_then_ask_about_the_new_post(site, tmp_path):
    stub = site[0]
    work = working_copy(site, tmp_path)
    old = stub.blog.snapshot()
    stub.blog.change(old[40].id, ["The report was corrected: 61 shelters opened, not 16."])
    stub.blog.delete(old[41].id)
    stub.blog.add(*NEW_POST)
    runner = CliRunner()
    config = ["--config", str(work / "config.toml")]

    result = runner.invoke(main, [*config, "corpus", "pull", stub.base, "--update"])
    assert result.exit_code == 0, result.output
    assert "1 new, 1 changed, 1 removed, 63 unchanged" in result.output
    # Only the new and the changed post went through the model; 63 kept their vectors.
    assert re.search(r"indexed 65 posts, \d+ chunks .*63 posts unchanged", result.output)

    result = runner.invoke(main, [*config, "ask", "--json", NEW_QUESTION])
    assert result.exit_code == 0, result.output
    first = json.loads(result.output)["results"][0]
    assert first["title"] == NEW_POST[0] and "47 lighthouse keepers" in first["quote"]
    assert first["url"].startswith(stub.base)


def test_scheduled_sync_picks_up_a_new_post_without_restart(site, tmp_path, embedder):
    from tipbot.archive import Archive

    stub = site[0]
    sync = f'[sync]\nsources = ["{stub.base}"]\nevery = "1s"\ndelay_seconds = 0\n'
    work = working_copy(site, tmp_path, sync)
    cfg = make_config(
        work, [work / "corpus"], sync={"sources": [stub.base], "every": "1s", "delay_seconds": 0}
    )
    archive = Archive.open(cfg, embedder=embedder)
    settings = BotConfig(
        cooldown_questions=100, reload_check_seconds=0.1, feedback_file=tmp_path / "feedback.jsonl"
    )

    async def scenario():
        async with bot_session(archive, settings) as s:
            before = archive.data.build_id
            stub.blog.add(*NEW_POST)
            await s.until(lambda: archive.data.build_id != before, timeout=180)
            i = await s.stub.command("ask", question=NEW_QUESTION)
            follow = await s.stub.wait_request(
                lambda r: r.method == "POST" and i["token"] in r.path and "/webhooks/" in r.path
            )
            first = follow.body["embeds"][0]
            assert NEW_POST[0] in first["title"]
            assert "47 lighthouse keepers" in unquote_block(first["description"])
            about = await s.stub.command("about")
            cb = await s.stub.wait_request(lambda r: about["token"] in r.path)
            assert "Last synced with the blog" in cb.body["data"]["embeds"][0]["description"]

    run(scenario(), timeout=240)


# ---- the links, in a real browser ------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
MAGENTA = (255, 0, 255)

# The rectangles of each quoted part on the page, found apart from tipbot's own text: the
# post body's text nodes joined (a <br> or a block edge as a space), every run of white space,
# non-breaking ones included, read as one space.
FIND_RECTS = """
const parts = arguments[0];
const body = document.querySelector('.post-body');
const nodes = [], flat = [];
function space() { if (flat.length && flat[flat.length - 1].ch !== ' ') flat.push({ch: ' '}); }
(function walk(n) {
  for (const c of n.childNodes) {
    if (c.nodeType === 3) {
      for (let i = 0; i < c.data.length; i++) {
        if (/\\s/.test(c.data[i])) space(); else flat.push({ch: c.data[i], node: c, i});
      }
    } else if (c.nodeType === 1) {
      const block = c.tagName === 'BR' || getComputedStyle(c).display !== 'inline';
      if (block) space();
      walk(c);
      if (block) space();
    }
  }
})(body);
const text = flat.map(f => f.ch).join('');
return parts.map(part => {
  const needle = part.replace(/\\s+/g, ' ').trim();
  const at = text.indexOf(needle);
  if (at < 0) return null;
  let a = at, b = at + needle.length - 1;
  while (!flat[a].node) a++;
  while (!flat[b].node) b--;
  const r = document.createRange();
  r.setStart(flat[a].node, flat[a].i);
  r.setEnd(flat[b].node, flat[b].i + 1);
  return Array.from(r.getClientRects()).map(q => [q.left, q.top, q.right, q.bottom]);
});
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/setup.sh installs chromium chromium-driver")
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/setup.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,2600",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def highlighted(driver, link: str, parts: list[str]) -> list[str]:
    """Problems with how ``link`` highlights ``parts`` on its page; [] when every part is
    highlighted and nothing else is."""
    from PIL import Image

    driver.get("about:blank")  # a new document each time: a fragment is applied on load
    driver.get(link)
    driver.execute_script(
        "const s = document.createElement('style');"
        "s.textContent = '::target-text { background-color: #ff00ff; color: #000; }';"
        "document.head.append(s); window.scrollTo(0, 0);"
    )
    rects = driver.execute_script(FIND_RECTS, parts)
    shot = Image.open(io.BytesIO(base64.b64decode(driver.get_screenshot_as_base64()))).convert(
        "RGB"
    )
    px = shot.load()
    w, h = shot.size

    def magenta(x: int, y: int) -> bool:
        r, g, b = px[x, y]
        return r > 200 and g < 60 and b > 200

    problems = []
    inside = set()
    for part, boxes in zip(parts, rects, strict=True):
        if not boxes:
            problems.append(f"not on the page: {part[:60]!r}")
            continue
        area = lit = 0
        for left, top, right, bottom in boxes:
            for y in range(max(0, int(top)), min(h, int(bottom))):
                for x in range(max(0, int(left)), min(w, int(right))):
                    area += 1
                    lit += magenta(x, y)
            for y in range(max(0, int(top) - 3), min(h, int(bottom) + 3)):
                for x in range(max(0, int(left) - 3), min(w, int(right) + 3)):
                    inside.add((x, y))
        if not area or lit / area < 0.5:
            problems.append(f"not highlighted ({lit}/{area} px): {part[:60]!r}")
    stray = sum(
        magenta(x, y) for y in range(0, h, 2) for x in range(0, w, 2) if (x, y) not in inside
    )
    if stray > 20:
        problems.append(f"{stray} highlighted px (sampled) outside the quoted words")
    return problems


def test_links_highlight_the_quoted_words_in_a_browser(site, browser):
    stub, _, archive = site
    stub.blog = Blog(POSTS)
    rows = [json.loads(line) for line in (DATA / "devset.jsonl").read_text().splitlines()]
    questions = [
        *[r["question"] for r in rows if r["gold"]][:14],
        "How many nurses were trained in Kenya?",
        "What did the trainers get from local donors and businesses?",
    ]
    checked, problems = 0, []
    for q in questions:
        # abstain=False: every post read is quoted (the reader leaves out later posts and may
        # decline; that is test_ask's business), so the links of >= 30 quoted parts are opened.
        answer = archive.ask(q, abstain=False)
        for quote in answer.results:
            post = next(p for p in archive.data.posts if p.id == quote.post_id)
            parts = [post.text[a:b].split("\n")[0] for a, b in quote.spans]
            found = highlighted(browser, quote.link, parts)
            checked += len(parts)
            problems += [f"{q!r} → {quote.link}: {p}" for p in found]
    assert checked >= 30
    assert not problems, "\n".join(problems)

"""The polite HTTP client, against the stand-in blog on 127.0.0.1: User-Agent, one request at
a time, the delay, retries, Retry-After, timeouts, cut bodies and the size cap."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from blog_stub import Blog, BlogStub, make_posts

from tipbot.sources.http import Fetcher, FetchError, HttpSettings

FAST = HttpSettings(delay=0.0, backoff=0.01, read_timeout=2.0, connect_timeout=2.0)


@pytest.fixture(scope="module")
def blog():
    return Blog(make_posts(filler=10, seed=False))


@pytest.fixture
def stub(blog):
    with BlogStub(blog) as s:
        yield s


def feed(stub: BlogStub) -> str:
    return f"{stub.base}/feeds/posts/default?alt=json"


def test_user_agent_names_tipbot_and_contact(stub):
    settings = HttpSettings(delay=0.0, contact="https://example.org/bot-owner")
    page = Fetcher(settings).get(feed(stub))
    assert page.status == 200 and page.body.startswith(b"{")  # gzip was undone
    agent = stub.requests[0].headers["user-agent"]
    assert agent.startswith("tipbot/") and "+https://example.org/bot-owner" in agent
    assert stub.requests[0].headers["accept-encoding"] == "gzip"


def test_one_request_at_a_time_with_the_delay_between(stub):
    fetcher = Fetcher(HttpSettings(delay=0.3))
    threads = [threading.Thread(target=fetcher.get, args=(feed(stub),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(stub.requests) == 3 and stub.max_in_flight == 1
    reqs = sorted(stub.requests, key=lambda r: r.start)
    gaps = [b.start - a.end for a, b in itertools.pairwise(reqs)]
    assert all(g >= 0.29 for g in gaps), gaps


def test_a_500_is_retried_then_succeeds(stub):
    stub.fault("500", "/feeds/posts/default", times=1)
    fetcher = Fetcher(FAST)
    assert fetcher.get(feed(stub)).status == 200
    assert [r.status for r in stub.requests] == [500, 200]
    assert fetcher.requests == 2


def test_retries_run_out_with_the_url_and_status_named(stub):
    stub.fault("500", "/feeds/posts/default", times=-1)
    with pytest.raises(FetchError) as e:
        Fetcher(FAST).get(feed(stub))
    assert len(stub.requests) == FAST.retries + 1
    assert str(e.value).startswith(feed(stub) + ": the server answered 500")
    assert "tried 4 times" in str(e.value)


def test_backoff_doubles(stub):
    stub.fault("500", "/feeds/posts/default", times=2)
    Fetcher(HttpSettings(delay=0.0, backoff=0.2)).get(feed(stub))
    a, b, c = stub.requests
    assert 0.19 <= b.start - a.end < 0.6 and 0.39 <= c.start - b.end < 1.0


def test_429_retry_after_is_honoured(stub):
    stub.fault("429", "/feeds/posts/default", times=1, arg=1)
    Fetcher(FAST).get(feed(stub))
    first, second = stub.requests
    assert first.status == 429 and second.status == 200
    assert second.start - first.end >= 0.99


def test_a_retry_after_too_long_is_not_waited_for(stub):
    stub.fault("429", "/feeds/posts/default", times=1, arg=3600)
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="asks to wait 3600 s"):
        Fetcher(FAST).get(feed(stub))
    assert time.monotonic() - t0 < 2


def test_a_stalled_response_times_out(stub):
    stub.fault("stall", "/feeds/posts/default", times=-1, arg=10)
    settings = HttpSettings(delay=0.0, read_timeout=0.5, retries=1, backoff=0.01)
    t0 = time.monotonic()
    with pytest.raises(FetchError, match=r"sent nothing for 0.5 s \(timed out\) \(tried 2 times\)"):
        Fetcher(settings).get(feed(stub))
    assert 1.0 <= time.monotonic() - t0 < 3


def test_a_body_that_stalls_half_way_times_out(stub):
    stub.fault("stall-body", "/feeds/posts/default", times=-1, arg=10)
    settings = HttpSettings(delay=0.0, read_timeout=0.5, retries=0)
    with pytest.raises(FetchError, match="timed out"):
        Fetcher(settings).get(feed(stub))


def test_a_truncated_body_is_retried_and_then_refused(stub):
    stub.fault("truncate", "/feeds/posts/default", times=1)
    assert Fetcher(FAST).get(feed(stub)).status == 200  # the second try was whole
    stub.fault("truncate", "/feeds/posts/default", times=-1)
    with pytest.raises(FetchError, match="cut off"):
        Fetcher(FAST).get(feed(stub))


def test_size_cap(stub):
    # Small when compressed, over the cap once inflated: stopped while inflating.
    settings = HttpSettings(delay=0.0, max_bytes=5000)
    with pytest.raises(FetchError, match=r"^[^ ]+: the answer is over the 5000 byte limit"):
        Fetcher(settings).get(feed(stub))
    stub.gzip = False  # a declared length over the cap: refused before reading
    with pytest.raises(FetchError, match=r"answer is \d+ bytes, over the 5000 byte limit"):
        Fetcher(settings).get(feed(stub))


def test_a_404_is_not_retried(stub):
    with pytest.raises(FetchError, match="answered 404"):
        Fetcher(FAST).get(f"{stub.base}/no/such/page")
    assert len(stub.requests) == 1


def test_conditional_get_304(stub):
    fetcher = Fetcher(FAST)
    first = fetcher.get(f"{stub.base}/feed.xml")
    again = fetcher.get(f"{stub.base}/feed.xml", {"If-None-Match": first.header("etag")})
    assert again.status == 304 and again.body == b""


def test_connection_refused_is_named():
    with pytest.raises(FetchError, match="connection failed"):
        Fetcher(FAST).get("http://127.0.0.1:9/feed")  # the discard port: nothing listens

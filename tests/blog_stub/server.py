"""A local stand-in blog on 127.0.0.1: Blogger's feeds, WordPress's REST API, an RSS feed and
each post's page, with faults on demand.

    with BlogStub(Blog(make_posts()), kind="blogger") as stub:
        stub.base                                   # http://127.0.0.1:PORT
        stub.fault("500", path="/feeds/posts/default", times=1)
        ... pull from stub.base ...
        stub.requests                               # every request, in order, with times

Runs in threads of its own (http.server), so synchronous tests, CLI runs in a subprocess and
the bot's event loop can all reach it. A stalled answer waits on ``stub.release`` (set when the
stub stops), so no thread outlives its test.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .blog import (
    TZ,
    Blog,
    Query,
    blogger_atom,
    blogger_json,
    blogger_json_entry,
    home_page,
    post_page,
    rss,
    select,
    wp_post,
    wp_terms,
)

FAULTS = ("500", "429", "stall", "stall-body", "truncate", "html", "malformed", "hold")


@dataclass
class Req:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    start: float
    end: float = 0.0
    status: int = 0


@dataclass
class Fault:
    kind: str
    path: str  # a request whose path starts with this…
    query: dict[str, str]  # …and whose query holds these
    times: int  # how many requests it hits (-1: all)
    arg: float = 0.0
    hits: int = 0


@dataclass
class BlogStub:
    blog: Blog
    kind: str = "blogger"  # what the home page says: blogger | wordpress | rss
    page_size: int = 25  # Blogger and WordPress cap their pages; small here, to page often
    rss_limit: int | None = None  # the RSS feed's latest N posts (None: all)
    gzip: bool = True
    requests: list[Req] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)  # a "hold" was reached

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        stub = self

        class Handler(_Handler):
            server_stub = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> BlogStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def fault(self, kind: str, path: str = "/", times: int = 1, arg: float = 0.0, **query: str):
        assert kind in FAULTS, kind
        self.faults.append(Fault(kind, path, query, times, arg))

    def hits(self, prefix: str = "/") -> list[Req]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def _take_fault(self, path: str, query: dict[str, str]) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.times == 0 or not path.startswith(f.path):
                    continue
                if any(query.get(k) != v for k, v in f.query.items()):
                    continue
                f.times -= 1 if f.times > 0 else 0
                f.hits += 1
                return f
        return None


class _Handler(BaseHTTPRequestHandler):
    server_stub: BlogStub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        stub = self.server_stub
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        req = Req(
            parts.path, query, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()
        )
        with stub._lock:
            stub.requests.append(req)
            stub.in_flight += 1
            stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
        self._req = req
        try:
            self._serve(stub, parts.path, query)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self._finish()

    def _finish(self) -> None:
        """The answer is out (the client may already send its next request): count it done."""
        req, self._req = getattr(self, "_req", None), None
        if req is None:
            return
        req.end = time.monotonic()
        with self.server_stub._lock:
            self.server_stub.in_flight -= 1

    # ---- answering ---------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> int:
        stub = self.server_stub
        fault, self._pending = getattr(self, "_pending", None), None
        self._req.status = status  # before the answer goes out: the client may be quicker
        if fault is not None and fault.kind == "malformed":
            body = body[: len(body) // 2] + b"}]>}garbage"
        use_gzip = stub.gzip and "gzip" in self.headers.get("Accept-Encoding", "")
        if use_gzip and body:
            body = gzip.compress(body, mtime=0)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if use_gzip and body:
            self.send_header("Content-Encoding", "gzip")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if fault is not None and fault.kind in ("truncate", "stall-body"):
            # The whole length declared, half of it sent, then the connection stops.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if fault.kind == "stall-body":
                stub.release.wait(fault.arg or 30)
            self.close_connection = True
            return status
        # Counted done before its last byte: the client cannot send its next request sooner.
        self.wfile.write(body[:-1])
        self.wfile.flush()
        self._finish()
        self.wfile.write(body[-1:])
        return status

    def _serve(self, stub: BlogStub, path: str, query: dict[str, str]) -> int:
        self._pending = None
        f = stub._take_fault(path, query)
        if f is not None and f.kind in ("truncate", "stall-body", "malformed"):
            self._pending = f  # applied to the real answer by _send
        elif f is not None:
            done = self._fault(stub, f)
            if done:
                return done
        base = stub.base
        blog = stub.blog
        if path in ("", "/") or path.startswith("/search/label/"):
            return self._send(
                200, home_page(stub.kind, base, blog).encode(), "text/html; charset=UTF-8"
            )
        if path.startswith("/feeds/posts/"):
            return self._blogger(stub, path, query)
        if path.startswith("/wp-json"):
            return self._wordpress(stub, path, query)
        if path == "/feed.xml":
            body = rss(blog, base, stub.rss_limit)
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            if self.headers.get("If-None-Match") == etag:
                return self._send(304, b"", "application/rss+xml", {"ETag": etag})
            return self._send(200, body, "application/rss+xml; charset=UTF-8", {"ETag": etag})
        match = re.fullmatch(r"/\d{4}/\d{2}/[\w-]+\.html", path)
        post = next((p for p in blog.snapshot() if p.path() == path), None) if match else None
        if post is not None:
            return self._send(200, post_page(blog, base, post).encode(), "text/html; charset=UTF-8")
        return self._send(404, b"<html><body>Not found</body></html>", "text/html")

    def _fault(self, stub: BlogStub, f: Fault) -> int:
        """Serve the fault; 0 when the request should then be answered as usual."""
        if f.kind == "500":
            return self._send(500, b"<html><body>Internal error</body></html>", "text/html")
        if f.kind == "429":
            body = b"<html><body>Too many requests</body></html>"
            return self._send(429, body, "text/html", {"Retry-After": str(int(f.arg or 1))})
        if f.kind == "stall":  # nothing for arg seconds, then the answer (a slow server)
            stub.release.wait(f.arg or 30)
            return 0
        if f.kind == "hold":  # like stall, and tell the test it got here
            stub.arrived.set()
            stub.release.wait(f.arg or 30)
            return 599
        if f.kind == "html":
            page = b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>Sorry</h1></body></html>"  # noqa: E501
            return self._send(200, page, "text/html; charset=UTF-8")
        return 0

    def _blogger(self, stub: BlogStub, path: str, query: dict[str, str]) -> int:
        m = re.fullmatch(r"/feeds/posts/(default|summary)(?:/-/([^/]+))?(?:/(\d+))?/?", path)
        if not m:
            return self._send(404, b"<html>Not found</html>", "text/html")
        q = Query(kind=m.group(1), label=urllib.parse.unquote(m.group(2) or ""))
        q.alt = query.get("alt", "atom")
        q.start = max(1, int(query.get("start-index", "1")))
        q.max_results = min(stub.page_size, int(query.get("max-results", str(stub.page_size))))
        q.orderby = query.get("orderby", "published")
        for key in ("published-min", "updated-min"):
            if key in query:
                t = dt.datetime.fromisoformat(query[key].replace("Z", "+00:00"))
                setattr(q, key.replace("-", "_"), t if t.tzinfo else t.replace(tzinfo=TZ))
        params = {k: v for k, v in query.items() if k not in ("start-index", "max-results")}
        feed_path = path
        if m.group(3):
            post = next((p for p in stub.blog.snapshot() if p.id == int(m.group(3))), None)
            if post is None:
                return self._send(404, b"<html>Post not found</html>", "text/html")
            entry = blogger_json_entry(stub.base, post, q.kind, stub.blog.summaries_only)
            body = json.dumps({"version": "1.0", "encoding": "UTF-8", "entry": entry}).encode()
            return self._send(200, body, "application/json; charset=UTF-8")
        if q.alt == "json":
            data = blogger_json(stub.blog, stub.base, feed_path, params, q)
            body = json.dumps(data, ensure_ascii=False).encode()
            return self._send(200, body, "application/json; charset=UTF-8")
        body = blogger_atom(stub.blog, stub.base, feed_path, params, q)
        return self._send(200, body, "application/atom+xml; charset=UTF-8")

    def _wordpress(self, stub: BlogStub, path: str, query: dict[str, str]) -> int:
        ctype = "application/json; charset=UTF-8"
        terms = {t_name: t for t_name, t in _term_map(stub.blog).items()}
        if path.rstrip("/") == "/wp-json":
            return self._send(
                200, json.dumps({"name": stub.blog.title, "namespaces": ["wp/v2"]}).encode(), ctype
            )
        if path == "/wp-json/wp/v2/categories":
            word = query.get("search", "").lower()
            found = [t for t in wp_terms(stub.blog) if word in t["name"].lower()]
            return self._send(200, json.dumps(found).encode(), ctype)
        if path == "/wp-json/wp/v2/tags":
            return self._send(200, b"[]", ctype)
        if path != "/wp-json/wp/v2/posts":
            return self._send(404, json.dumps({"code": "rest_no_route"}).encode(), ctype)
        posts = select(stub.blog, Query())
        if "include" in query:
            wanted = {int(i) for i in query["include"].split(",") if i}
            posts = [p for p in posts if p.id in wanted]
        if "categories" in query:
            names = {t["id"]: n for n, t in terms.items()}
            want = names.get(int(query["categories"]))
            posts = [p for p in posts if want in p.labels]
        if "after" in query:
            after = dt.datetime.fromisoformat(query["after"]).replace(tzinfo=TZ)
            posts = [p for p in posts if p.published > after]
        per_page = min(100, int(query.get("per_page", "10")), stub.page_size * 4)
        page = int(query.get("page", "1"))
        pages = max(1, -(-len(posts) // per_page))
        if page > pages:
            body = json.dumps({"code": "rest_post_invalid_page_number"}).encode()
            return self._send(400, body, ctype)
        chosen = posts[(page - 1) * per_page : page * per_page]
        items = [wp_post(stub.base, p, terms, "_embed" in query) for p in chosen]
        if "_fields" in query:
            keep = query["_fields"].split(",")
            items = [{k: d[k] for k in keep if k in d} for d in items]
        head = {"X-WP-Total": str(len(posts)), "X-WP-TotalPages": str(pages)}
        return self._send(200, json.dumps(items).encode(), ctype, head)


def _term_map(blog: Blog) -> dict[str, dict]:
    import html as _html

    return {_html.unescape(t["name"]): t for t in wp_terms(blog)}

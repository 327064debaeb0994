"""A polite HTTP client for reading blogs: one request at a time, a pause between requests,
timeouts, retries with backoff, ``Retry-After`` honoured and a cap on what it will read.

    fetcher = Fetcher(HttpSettings(delay=1.0))
    page = fetcher.get("https://example.blogspot.com/feeds/posts/default?alt=json")
    page.body, page.status, page.header("etag"), fetcher.requests

Built on ``http.client`` so that each limit is explicit: the connect timeout, the timeout of
every read, a deadline for the whole response and the byte cap are all checked here. Every
failure is a FetchError naming the URL and the problem, fit for one ``error:`` line.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tipbot import __version__
from tipbot.errors import SourceError

USER_AGENT = f"tipbot/{__version__} (reads a blog's public feed to answer questions about it)"
REDIRECTS = 5
_RETRY_STATUS = {500, 502, 503, 504}


class FetchError(SourceError):
    """A request that did not give a usable answer, after the retries it was allowed."""


class _Transient(Exception):
    """A failure worth another try (5xx, a broken connection, a timeout, a cut body)."""

    def __init__(self, problem: str, wait: float | None = None) -> None:
        super().__init__(problem)
        self.wait = wait  # seconds the server asked for (Retry-After), if any


@dataclass(frozen=True)
class HttpSettings:
    # Seconds between the end of one request and the start of the next.
    delay: float = 1.0
    connect_timeout: float = 30.0
    read_timeout: float = 30.0  # for each read from the socket
    deadline: float = 300.0  # for one whole response, however slowly it trickles in
    retries: int = 3
    backoff: float = 2.0  # first wait after a failure; doubled each time
    max_bytes: int = 32 * 1024 * 1024  # no blog page is this big; a bigger answer is refused
    # A Retry-After asking for more than this is not waited for: the pull fails and says so.
    max_retry_after: float = 300.0
    contact: str = ""  # who runs this tipbot, for the blog's owner (User-Agent)

    @property
    def user_agent(self) -> str:
        return f"{USER_AGENT[:-1]}; +{self.contact})" if self.contact else USER_AGENT


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    status: int  # 200, or 304 for a conditional request whose page did not change
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";", 1)[0].strip().lower()

    def text(self) -> str:
        """The body decoded by its declared charset, UTF-8 when none is declared."""
        charset = "utf-8"
        for param in self.header("content-type").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip("\"'")
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")

    def json(self, url: str, what: str) -> object:
        """The body as JSON, or SourceError naming ``url`` and ``what`` was expected: an HTML
        page (a login wall, an error page served with 200) is named as such."""
        if self.body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")) or (
            self.content_type == "text/html"
        ):
            raise SourceError(url, f"answered an HTML page, not {what}")
        try:
            return json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise SourceError(url, f"not {what}: {e}") from None


class Fetcher:
    """GETs one URL at a time (a lock, so threads queue), pausing ``delay`` between requests.

    ``requests`` and ``bytes_read`` count everything sent and received, retries included.
    Setting ``stop`` ends waits at once and fails the next request (a bot shutting down).
    """

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or HttpSettings()
        self.requests = 0
        self.bytes_read = 0
        self._stop = stop
        self._sleep: Callable[[float], object] = stop.wait if stop is not None else time.sleep
        self._clock = clock
        self._last_end: float | None = None
        self._lock = threading.Lock()

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        """The page at ``url`` (status 200, or 304 when ``headers`` make it conditional).

        Redirects are followed; 5xx answers, broken connections, timeouts and cut bodies are
        tried again up to ``retries`` times; 429 waits for its Retry-After. Anything else is a
        FetchError naming the URL.
        """
        with self._lock:
            return self._get(url, dict(headers or {}))

    def _get(self, url: str, headers: dict[str, str]) -> Response:
        s = self.settings
        failures = 0
        seen = [url]
        while True:
            wait = 0.0
            try:
                response = self._once(seen[-1], headers)
            except _Transient as e:
                failures += 1
                if failures > s.retries:
                    tries = f" (tried {failures} times)" if failures > 1 else ""
                    raise FetchError(seen[-1], f"{e}{tries}") from None
                wait = e.wait if e.wait is not None else s.backoff * 2 ** (failures - 1)
                if wait > s.max_retry_after:
                    raise FetchError(
                        seen[-1],
                        f"{e}, and asks to wait {wait:.0f} s (Retry-After), more than "
                        f"{s.max_retry_after:.0f} s: try again later",
                    ) from None
                self._pause(wait)
                continue
            if response.status in (301, 302, 303, 307, 308):
                target = urllib.parse.urljoin(seen[-1], response.header("location"))
                if not response.header("location") or not _is_http(target):
                    raise FetchError(seen[-1], f"redirects ({response.status}) to nowhere usable")
                if len(seen) > REDIRECTS or target in seen:
                    raise FetchError(url, f"too many redirects ({' -> '.join(seen[:6])})")
                seen.append(target)
                continue
            return response

    def _pause(self, at_least: float = 0.0) -> None:
        """Wait until ``delay`` (or ``at_least``) seconds have passed since the last request."""
        if self._last_end is None and not at_least:
            return
        since = self._clock() - self._last_end if self._last_end is not None else 0.0
        wait = max(self.settings.delay - since, at_least - since, 0.0)
        if wait > 0:
            self._sleep(wait)

    def _once(self, url: str, headers: dict[str, str]) -> Response:
        s = self.settings
        parts = urllib.parse.urlsplit(url)
        if not _is_http(url) or not parts.hostname:
            raise FetchError(url, "not an http:// or https:// URL")
        self._pause()
        if self._stop is not None and self._stop.is_set():
            raise FetchError(url, "not requested: the pull was stopped (tipbot is shutting down)")
        self.requests += 1
        start = self._clock()
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=s.connect_timeout)
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        phase = "connect"
        try:
            conn.connect()
            phase = "read"
            conn.sock.settimeout(s.read_timeout)
            conn.request(
                "GET",
                path,
                headers={
                    "User-Agent": s.user_agent,
                    "Accept-Encoding": "gzip",
                    "Connection": "close",
                    **headers,
                },
            )
            resp = conn.getresponse()
            head = {k.lower(): v for k, v in resp.getheaders()}
            status = resp.status
            if status == 429 or status in _RETRY_STATUS:
                retry_after = _retry_after(head.get("retry-after", ""))
                raise _Transient(f"the server answered {status} {resp.reason}", retry_after)
            if status in (301, 302, 303, 307, 308, 304):
                return Response(url, status, head)
            if status != 200:
                raise FetchError(url, f"the server answered {status} {resp.reason}")
            body = self._read(resp, head, url, start)
        except TimeoutError:  # socket.timeout too
            raise _Transient(
                f"could not connect within {s.connect_timeout:g} s (timed out)"
                if phase == "connect"
                else f"the server sent nothing for {s.read_timeout:g} s (timed out)"
            ) from None
        except ssl.SSLError as e:
            raise FetchError(url, f"TLS failed: {e.reason or e}") from None
        except socket.gaierror as e:
            raise FetchError(url, f"cannot resolve {parts.hostname}: {e.strerror or e}") from None
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            if isinstance(e, http.client.IncompleteRead):
                raise _Transient(f"the answer was cut off after {len(e.partial)} bytes") from None
            raise _Transient(f"connection failed: {_reason(e)}") from None
        finally:
            conn.close()
            self._last_end = self._clock()
        return Response(url, 200, head, body)

    def _read(
        self, resp: http.client.HTTPResponse, head: dict[str, Any], url: str, start: float
    ) -> bytes:
        """The whole body, within the byte cap and the deadline; a cut body is transient."""
        s = self.settings
        declared = head.get("content-length", "").strip()
        length = int(declared) if declared.isdigit() else None
        if length is not None and length > s.max_bytes:
            raise FetchError(
                url, f"the answer is {length} bytes, over the {s.max_bytes} byte limit"
            )
        gzip = head.get("content-encoding", "").strip().lower() == "gzip"
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        raw = 0
        out = bytearray()
        while True:
            block = resp.read(64 * 1024)
            if not block:
                break
            raw += len(block)
            self.bytes_read += len(block)
            if inflate is not None:
                try:
                    # max_length bounds what a small compressed body may inflate to.
                    block = inflate.decompress(block, s.max_bytes + 1 - len(out))
                except zlib.error as e:
                    raise FetchError(url, f"the gzip body is damaged ({e})") from None
            out += block
            if len(out) > s.max_bytes or raw > s.max_bytes:
                raise FetchError(url, f"the answer is over the {s.max_bytes} byte limit")
            if self._clock() - start > s.deadline:
                raise _Transient(f"the answer took longer than {s.deadline:g} s")
        if length is not None and raw < length:
            raise _Transient(f"the answer was cut off after {raw} of {length} bytes")
        if inflate is not None and not inflate.eof:
            raise _Transient("the gzip body was cut off")
        return bytes(out)


def _is_http(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme.lower() in ("http", "https")


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _retry_after(value: str) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())

"""A local stand-in for Discord's REST API and gateway, on 127.0.0.1, for the real discord.py.

    stub = DiscordStub()
    base = await stub.start()                  # http://127.0.0.1:PORT/api/v10
    os.environ["DISCORD_API_BASE"] = base      # the bot reads it at login
    ... start the client with stub.token ...
    await stub.wait_ready()
    await stub.mention("@bot who funds victims?")
    req = await stub.wait_request(lambda r: r.path.endswith("/messages"))

Every REST call and every gateway frame from the client is recorded in order. Like Discord,
message bodies over the limits get 400, REST needs ``Authorization: Bot <token>`` (401
otherwise), JSON replies carry exactly ``Content-Type: application/json`` (discord.py parses
nothing else), and the gateway does HELLO → IDENTIFY → READY + GUILD_CREATE, heartbeats, and
RESUME (replaying events the client missed, then RESUMED).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from . import payloads as P
from .events import EventSender

API = "/api/v10"


@dataclass
class Request:
    n: int
    method: str
    path: str  # below the API base, e.g. /channels/1/messages
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    time: float = field(default_factory=time.monotonic)


def limit_problems(body: dict) -> list[str]:
    """Discord's documented message limits, counted in UTF-16 units; written apart from
    tipbot.render.discord on purpose, so the renderer is not checked against itself."""

    def n(s: Any) -> int:
        return len(str(s or "").encode("utf-16-le")) // 2

    out = []
    if n(body.get("content")) > 2000:
        out.append("content > 2000")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        out.append("more than 10 embeds")
    total = 0
    for e in embeds:
        sizes = {
            "title": (n(e.get("title")), 256),
            "description": (n(e.get("description")), 4096),
            "footer": (n((e.get("footer") or {}).get("text")), 2048),
            "author": (n((e.get("author") or {}).get("name")), 256),
        }
        for f in e.get("fields") or []:
            sizes["field name"] = (n(f.get("name")), 256)
            sizes["field value"] = (n(f.get("value")), 1024)
            total += n(f.get("name")) + n(f.get("value"))
        out += [f"embed {k} {v} > {lim}" for k, (v, lim) in sizes.items() if v > lim]
        total += sum(v for k, (v, _) in sizes.items() if not k.startswith("field"))
        url = e.get("url")
        if url is not None and not re.match(r"https?://\S+$", url):
            out.append(f"embed url {url!r} is not http(s)")
    if total > 6000:
        out.append(f"embeds total {total} > 6000")
    return out


class DiscordStub(EventSender):
    def __init__(self, token: str = "stub-token") -> None:
        self.token = token
        self.app_id = P.snowflake()
        self.bot = P.user(self.app_id, "tipbot", bot=True)
        self.bot_id = self.app_id
        self.guild_id = P.snowflake()
        self.channel_id = P.snowflake()
        self.other_channel_id = P.snowflake()
        self.dm_channel_id = P.snowflake()
        self.user = P.user(P.snowflake(), "asker")
        self.requests: list[Request] = []
        self.frames: list[dict] = []  # gateway frames the client sent
        self.messages: dict[int, dict] = {}
        self.commands: dict[str, dict] = {}  # name → command as synced
        self.threads: dict[int, dict] = {}  # thread id (= its starter message's) → channel
        self.interaction_channels: dict[str, int] = {}  # interaction token → its channel
        self.session_id = "stub-session-1"
        self.reject_identify = False  # close IDENTIFY with 4004, as for a revoked token
        self.replayed: list[int] = []  # seqs sent again after a RESUME
        self._open = asyncio.Event()  # cleared: new gateway connections wait (client "away")
        self._open.set()
        self.identified = asyncio.Event()
        self._ws: web.WebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._seq = itertools.count(1)
        self._events: list[dict] = []  # dispatched test events, for RESUME replay
        self._changed = asyncio.Condition()
        self._n = itertools.count()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the ephemeral port
        return self.base

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ---- waiting ---------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, check: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Wait until ``check()`` is truthy (re-checked on every request or frame)."""

        async def loop() -> Any:
            async with self._changed:
                while not (result := check()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(loop(), timeout)

    async def wait_request(
        self, pred: Callable[[Request], bool], count: int = 1, timeout: float = 15.0
    ) -> Request:
        """The ``count``-th recorded request matching ``pred``."""

        def check() -> Request | None:
            found = [r for r in self.requests if pred(r)]
            return found[count - 1] if len(found) >= count else None

        return await self.wait_until(check, timeout)

    async def wait_frame(self, op: int, count: int = 1, timeout: float = 15.0) -> dict:
        def check() -> dict | None:
            found = [f for f in self.frames if f.get("op") == op]
            return found[count - 1] if len(found) >= count else None

        return await self.wait_until(check, timeout)

    def sent_messages(self) -> list[Request]:
        """Every request that put a message (or an interaction reply) on Discord."""
        return [r for r in self.requests if is_message_request(r)]

    # ---- REST ------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        raw = await request.read()
        if raw and request.content_type == "application/json":
            body = json.loads(raw)
        elif raw:
            body = raw.decode("utf-8", "replace")
        rec = Request(
            next(self._n), request.method, path, dict(request.query), body, dict(request.headers)
        )
        self.requests.append(rec)
        try:
            return await self._route(rec)
        finally:
            await self._notify()

    def _authorized(self, rec: Request) -> bool:
        return rec.headers.get("Authorization") == f"Bot {self.token}"

    async def _route(self, rec: Request) -> web.StreamResponse:
        m, p = rec.method, rec.path
        # Interaction callbacks and webhooks are authorised by the token in their path.
        if p.startswith("/interactions/"):
            return self._interaction_callback(rec)
        if p.startswith("/webhooks/"):
            return self._webhook(rec)
        if not self._authorized(rec):
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        if m == "GET" and p == "/users/@me":
            return json_response(self.bot)
        if m == "GET" and p == "/oauth2/applications/@me":
            return json_response(P.application(self.app_id, self.bot))
        if m == "GET" and p == "/gateway/bot":
            limits = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            return json_response({"url": self.ws_url, "shards": 1, "session_start_limit": limits})
        if m == "PUT" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", p):
            return self._sync_commands(rec)
        if m == "POST" and re.fullmatch(r"/channels/\d+/typing", p):
            return web.Response(status=204)
        if m == "POST" and (cm := re.fullmatch(r"/channels/(\d+)/messages", p)):
            problems = limit_problems(rec.body or {})
            if problems:
                return json_response({"code": 50035, "message": "; ".join(problems)}, 400)
            channel_id = int(cm.group(1))
            guild_id = self.guild_id if channel_id != self.dm_channel_id else None
            return json_response(self._store(channel_id, rec.body, guild_id=guild_id))
        return json_response({"message": f"404: stub has no {m} {p}", "code": 0}, 404)

    def _sync_commands(self, rec: Request) -> web.Response:
        out = []
        gm = re.search(r"/guilds/(\d+)/", rec.path)
        for cmd in rec.body:
            synced = {
                **cmd,
                "id": str(P.snowflake()),
                "application_id": str(self.app_id),
                "version": "1",
                "type": cmd.get("type", 1),
            }
            if gm:
                synced["guild_id"] = gm.group(1)
            self.commands[cmd["name"]] = synced
            out.append(synced)
        return json_response(out)

    def _store(
        self, channel_id: int, body: dict, *, guild_id: int | None, app: bool = False
    ) -> dict:
        mid = P.snowflake()
        msg = P.message(
            mid,
            channel_id,
            self.bot,
            body or {},
            guild_id=guild_id,
            app_id=self.app_id if app else None,
        )
        self.messages[mid] = msg
        return msg

    def _interaction_callback(self, rec: Request) -> web.Response:
        m = re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", rec.path)
        if rec.method != "POST" or not m:
            return json_response({"message": "404: bad callback", "code": 0}, 404)
        kind = rec.body["type"]
        data = rec.body.get("data") or {}
        problems = limit_problems(data)
        if problems:
            return json_response({"code": 50035, "message": "; ".join(problems)}, 400)
        flags = data.get("flags") or 0
        interaction = {
            "id": m.group(1),
            "type": 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(flags & 64),
        }
        if kind not in (4, 5):  # autocomplete choices, updates: no new message
            return json_response({"interaction": interaction, "resource": {"type": kind}})
        channel_id = self.interaction_channels.get(m.group(2), self.channel_id)
        msg = self._store(
            channel_id,
            {**data, "flags": flags | (128 if kind == 5 else 0)},
            guild_id=self.guild_id,
            app=True,
        )
        interaction["response_message_id"] = msg["id"]
        return json_response(
            {"interaction": interaction, "resource": {"type": kind, "message": msg}}
        )

    def _webhook(self, rec: Request) -> web.Response:
        m = re.fullmatch(rf"/webhooks/{self.app_id}/([^/]+)(/messages/@original)?", rec.path)
        if not m:
            return json_response({"message": "404: Unknown Webhook", "code": 10015}, 404)
        problems = limit_problems(rec.body or {}) if rec.method in ("POST", "PATCH") else []
        if problems:
            return json_response({"code": 50035, "message": "; ".join(problems)}, 400)
        channel_id = self.interaction_channels.get(m.group(1), self.channel_id)
        return json_response(
            self._store(channel_id, rec.body or {}, guild_id=self.guild_id, app=True)
        )

    # ---- gateway ---------------------------------------------------------------------------

    async def _send(self, ws: web.WebSocketResponse, frame: dict) -> None:
        async with self._send_lock:
            if not ws.closed:
                await ws.send_str(json.dumps(frame))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        await self._open.wait()
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._ws = ws
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.frames.append(frame)
            await self._on_frame(ws, frame)
            await self._notify()
        if self._ws is ws:
            self._ws = None
        await self._notify()
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, frame: dict) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op == 1:
            await self._send(ws, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            if d.get("token") != self.token or self.reject_identify:
                await ws.close(code=4004, message=b"Authentication failed.")
                return
            await self._dispatch_to(ws, "READY", self._ready())
            guild = P.guild(
                self.guild_id,
                "Stub Guild",
                self.bot,
                [
                    P.text_channel(self.channel_id, self.guild_id, "general"),
                    P.text_channel(self.other_channel_id, self.guild_id, "elsewhere"),
                ],
            )
            await self._dispatch_to(ws, "GUILD_CREATE", guild)
            self.identified.set()
        elif op == 6:
            if d.get("session_id") != self.session_id or d.get("token") != self.token:
                await self._send(ws, {"op": 9, "d": False, "s": None, "t": None})
                return
            for event in self._events:  # what the client missed while away
                if event["s"] > (d.get("seq") or 0):
                    self.replayed.append(event["s"])
                    await self._send(ws, event)
            await self._dispatch_to(ws, "RESUMED", {})

    def _ready(self) -> dict:
        return {
            "v": 10,
            "user": self.bot,
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": self.session_id,
            "resume_gateway_url": self.ws_url,
            "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "shard": [0, 1],
        }

    async def _dispatch_to(self, ws: web.WebSocketResponse, t: str, d: dict) -> dict:
        frame = {"op": 0, "t": t, "s": next(self._seq), "d": d}
        await self._send(ws, frame)
        return frame

    async def dispatch(self, t: str, d: dict) -> int:
        """Send an event; if the client is away, it gets it on RESUME. Returns its seq."""
        frame = {"op": 0, "t": t, "s": next(self._seq), "d": d}
        self._events.append(frame)
        if self._ws is not None:
            await self._send(self._ws, frame)
        return frame["s"]

    async def drop(self, code: int = 4000, *, hold: bool = False) -> None:
        """Close the gateway socket (4000 "unknown error" is resumable). With ``hold``, the
        client cannot reconnect until ``reopen()``: events sent meanwhile are missed."""
        if hold:
            self._open.clear()
        ws = self._ws
        if ws is not None:
            self._ws = None
            await ws.close(code=code, message=b"stub says reconnect")

    def reopen(self) -> None:
        self._open.set()

    @property
    def last_seq(self) -> int:
        """The seq of the last event a test dispatched."""
        return self._events[-1]["s"] if self._events else 0

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed


def json_response(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def is_message_request(r: Request) -> bool:
    return (
        (r.method == "POST" and re.fullmatch(r"/channels/\d+/messages", r.path) is not None)
        or (r.method == "POST" and r.path.startswith("/webhooks/"))
        or (r.method == "PATCH" and r.path.endswith("/messages/@original"))
        or (r.method == "POST" and r.path.startswith("/interactions/"))
    )

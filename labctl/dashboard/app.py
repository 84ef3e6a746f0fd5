"""The web side: the page and its assets (package files, no CDN), the picture and state as
JSON, updates pushed as server-sent events, a finished run's report.html, and a token check
when the dashboard listens beyond loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from labctl.dashboard.hub import Hub

STATIC = Path(__file__).resolve().parent.parent / "static" / "dashboard"
ASSET = re.compile(r"^[a-z0-9][a-z0-9_.-]*\.(css|js|svg)$")
COOKIE = "labctl_dashboard"
KEEPALIVE = 15.0  # seconds between SSE comments, so proxies and browsers keep the stream open

HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)
TOKEN: web.AppKey[str | None] = web.AppKey("token", str)
RESULTS: web.AppKey[Path | None] = web.AppKey("results", Path)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(18)


@web.middleware
async def token_check(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Beyond loopback anyone on the network could watch (and learn the lab's layout): the
    token from the printed URL, or the cookie it leaves, is required on every request."""
    token = request.app[TOKEN]
    if token is None:
        return await handler(request)
    offered = request.query.get("token") or request.cookies.get(COOKIE) or ""
    if not hmac.compare_digest(offered.encode(), token.encode()):
        return web.Response(status=403, text="403: this dashboard needs the token from the URL labctl printed\n")
    response = await handler(request)
    if request.query.get("token") and not response.prepared:
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
    return response


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not ASSET.match(name) or not (STATIC / name).is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name)


async def hello(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[HUB].hello(), dumps=lambda d: json.dumps(d, default=str))


async def events(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    queue = hub.subscribe()
    try:
        await response.write(f"data: {json.dumps(hub.hello(), default=str)}\n\n".encode())
        while True:
            try:
                text = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            await response.write(f"data: {text}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(queue)
    return response


async def report(request: web.Request) -> web.StreamResponse:
    """report.html of a run under the lab's results folder, and nothing else of the disk."""
    results = request.app[RESULTS]
    if results is None:
        raise web.HTTPNotFound()
    wanted = (results / request.match_info["run"] / "report.html").resolve()
    if not wanted.is_relative_to(results.resolve()) or not wanted.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(wanted, headers={"Cache-Control": "no-store"})


def make_app(hub: Hub, results: Path | None, token: str | None = None) -> web.Application:
    app = web.Application(middlewares=[token_check])
    app[HUB] = hub
    app[TOKEN] = token
    app[RESULTS] = results
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", asset)
    app.router.add_get("/api/hello", hello)
    app.router.add_get("/events", events)
    app.router.add_get(r"/runs/{run:[A-Za-z0-9_.+-]+(/run-[0-9]+)?}/report.html", report)

    async def heartbeat(app: web.Application) -> AsyncIterator[None]:
        hub.poller.start()
        task = asyncio.create_task(hub.run_forever())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(hub.poller.stop)

    app.cleanup_ctx.append(heartbeat)
    return app

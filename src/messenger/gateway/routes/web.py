"""The web client (`gateway/web/`, package data): its page at `/` and at the landing
pages the emails link to, its assets under `/web/`.

The files are read once, when the app is built, into a fixed table: only a file that
ships in the package can be served, so a traversal attempt or an unknown name is simply
not in the table (404 in API.md's error shape). Content types come from that table
rather than from the host's mime database, because browsers refuse module scripts and
stylesheets served under a wrong type once `nosniff` is set.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from messenger.platform.errors import ErrorCode, MessengerError

ASSET_PREFIX = "/web"
PAGE = "index.html"
# The email links are MESSENGER_PUBLIC_URL/verify-email?token=... and .../reset-password.
PAGE_PATHS = ("/", "/verify-email", "/reset-password")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(root: Traversable) -> dict[str, Asset]:
    """Every servable file under `root`, keyed by its path relative to it."""
    found: dict[str, Asset] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
                continue
            suffix = "." + entry.name.rpartition(".")[2]
            if suffix in CONTENT_TYPES:
                body = entry.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                found[prefix + entry.name] = Asset(body, CONTENT_TYPES[suffix], etag)

    walk(root, "")
    return found


def content_security_policy(host: str | None) -> str:
    """Scripts, styles and connections from this origin only (no inline script, no
    eval); the WebSocket of the same host, which older browsers do not count as 'self';
    avatars are https images from anywhere."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.fullmatch(host) else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' https: data:; connect-src 'self'{sockets}; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def build() -> APIRouter:
    assets = load_assets(files("messenger.gateway") / "web")
    router = APIRouter(include_in_schema=False)

    def respond(asset: Asset, request: Request) -> Response:
        headers = {
            "ETag": asset.etag,
            "Cache-Control": "no-cache",
            "Content-Security-Policy": content_security_policy(request.headers.get("host")),
            "X-Content-Type-Options": "nosniff",
            # The landing pages carry a token in their URL: never pass it on.
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
        }
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.content_type, headers=headers)

    async def page(request: Request) -> Response:
        """The single page; it picks its screen from the path."""
        return respond(assets[PAGE], request)

    for path in PAGE_PATHS:
        router.add_api_route(path, page, methods=["GET"])

    @router.get(ASSET_PREFIX + "/{name:path}")
    async def asset(name: str, request: Request) -> Response:
        found = assets.get(name)
        if found is None:
            raise MessengerError(ErrorCode.NOT_FOUND, "No such path.")
        return respond(found, request)

    return router

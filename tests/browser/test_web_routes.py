"""The gateway serves the web client (no browser needed): its page at `/` and at the
email landing pages with a strict CSP, its files under `/web/` with the right types,
and nothing else: traversal attempts and unknown names stay API.md 404s, `/v1` is
untouched."""

from __future__ import annotations

import http.client
import json
import re
import struct
from html.parser import HTMLParser

import httpx
import pytest

from tests.browser.conftest import REPO
from tests.browser.driver import DESKTOP
from tests.e2e.harness import System

pytestmark = [pytest.mark.e2e, pytest.mark.backend_neutral]
PAGES = ["/", "/verify-email?token=abc_DEF-123", "/reset-password?token=abc"]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data.strip()


def directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for part in policy.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


def raw_get(system: System, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET with the path sent byte for byte (httpx would resolve `..` itself)."""
    connection = http.client.HTTPConnection("127.0.0.1", system.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def assert_api_404(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 404
    assert headers["content-type"].lower() == "application/json; charset=utf-8"
    error = json.loads(body)["error"]
    assert error["code"] == "not_found"
    assert error["message"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_html_with_a_strict_policy(system: System, path: str) -> None:
    response = httpx.get(system.url + path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval
    assert policy["style-src"] == ["'self'"]
    host = f"127.0.0.1:{system.port}"
    assert policy["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "x-request-id" in response.headers

    page = Tags()
    page.feed(response.text)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{"type": "module", "src": "/web/js/main.js"}]
    assert page.script_text == ""
    assert not [attrs for _, attrs in page.tags if any(name.startswith("on") for name in attrs)]


def test_every_module_and_asset_is_served_with_its_type(system: System) -> None:
    expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    page = Tags()
    page.feed(httpx.get(system.url + "/").text)
    links = [attrs.get("src") or attrs.get("href") for _, attrs in page.tags]
    queue = [path for path in links if path and path.startswith("/web/")]
    seen: set[str] = set()
    with httpx.Client(base_url=system.url) as client:
        while queue:
            path = queue.pop()
            if path in seen:
                continue
            seen.add(path)
            response = client.get(path)
            assert response.status_code == 200, path
            suffix = path[path.rindex(".") :]
            assert response.headers["content-type"].split(";")[0] == expected[suffix], path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["cache-control"] == "no-cache"
            again = client.get(path, headers={"If-None-Match": response.headers["etag"]})
            assert again.status_code == 304
            assert again.content == b""
            if suffix == ".js":
                folder = path.rsplit("/", 1)[0]
                for target in re.findall(r'from "(\.{1,2}/[^"]+)"', response.text):
                    queue.append(str(httpx.URL(f"http://x{folder}/").join(target).path))
    # main.js reaches every module: the api client, the socket, the screens.
    modules = {path.removeprefix("/web/js/") for path in seen if path.endswith(".js")}
    assert {"main.js", "api.js", "socket.js", "conversations.js", "screens/chat.js"} <= modules
    assert {"/web/app.css", "/web/icon.svg"} <= seen


@pytest.mark.parametrize(
    "path",
    [
        "/web/../routes/web.py",
        "/web/%2e%2e/routes/web.py",
        "/web/..%2f..%2fpyproject.toml",
        "/web/js/../../app.py",
        "/web//etc/passwd",
        "/web/",
        "/web",
        "/web/nope.js",
        "/web/js/main.js.map",
        "/web/index.html/x",
        "/nope",
        "/index.html",
        "/verify-email/x",
        "/v1/nope",
        "/v1/",
        "/v1/web/app.css",
    ],
)
def test_anything_else_is_an_api_404(system: System, path: str) -> None:
    assert_api_404(*raw_get(system, path))


def test_api_behaviour_is_unchanged(system: System) -> None:
    with httpx.Client(base_url=system.url) as client:
        wrong_method = client.post("/")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["code"] == "method_not_allowed"
        assert client.get("/v1/sessions").json()["error"]["code"] == "unauthenticated"
        assert client.get("/healthz").json() == {"status": "ok"}
        paths = client.get("/openapi.json").json()["paths"]
        assert "/" not in paths
        assert not [path for path in paths if path.startswith(("/web", "/verify", "/reset"))]


def test_readme_shows_a_screenshot_of_the_chat() -> None:
    """docs/screenshots/chat.png is test_web_client's desktop screenshot, copied."""
    assert "](docs/screenshots/chat.png)" in (REPO / "README.md").read_text()
    shot = (REPO / "docs" / "screenshots" / "chat.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", shot[16:24]) == (DESKTOP["width"], DESKTOP["height"])

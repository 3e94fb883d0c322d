"""Methods beyond each route's own: HEAD answers wherever GET does (same status and
headers, no body), and `/v1/ws` without an upgrade says how to ask for one."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.gateway.conftest import System
from tests.integration.gateway.test_gateway import assert_error, wait_for_profile

# Headers that may differ between two answers to the same request.
PER_ANSWER = {"date"}


def comparable(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name not in PER_ANSWER}


@pytest.mark.parametrize("path", ["/", "/web/app.css", "/healthz", "/v1/profiles/me"])
async def test_head_answers_like_get_without_a_body(system: System, path: str) -> None:
    user = await system.register()
    await wait_for_profile(system, user)
    # The same request id, so that X-Request-Id matches too.
    headers = {**user.auth, "X-Request-Id": "head-check"}
    got = await system.http.get(path, headers=headers)
    head = await system.http.head(path, headers=headers)
    assert got.status_code == 200, got.text
    assert got.content
    assert head.status_code == got.status_code
    assert comparable(head) == comparable(got)
    assert head.headers["content-length"] == str(len(got.content))
    assert head.content == b""


async def test_head_of_a_post_only_route_is_405(system: System) -> None:
    head = await system.http.head("/v1/auth/login")
    assert head.status_code == 405
    assert head.headers["allow"] == "POST"
    assert head.content == b""
    # A GET route's 405 offers HEAD with GET.
    wrong = await system.http.put("/healthz")
    assert_error(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET, HEAD"
    # A path served by several routes names the methods of all of them.
    for path, allowed in (
        ("/v1/profiles/me", "GET, PATCH, HEAD"),
        ("/v1/friends", "GET, POST, HEAD"),
    ):
        answer = await system.http.put(path)
        assert_error(answer, 405, "method_not_allowed")
        assert answer.headers["allow"] == allowed


async def test_ws_without_an_upgrade_is_426_and_other_methods_405(system: System) -> None:
    user = await system.register()
    plain = await system.http.get("/v1/ws", headers=user.auth)
    assert_error(plain, 426, "invalid_request")
    assert plain.headers["upgrade"] == "websocket"
    assert "x-request-id" in plain.headers
    with_query_token = await system.http.get("/v1/ws", params={"access_token": user.token})
    assert_error(with_query_token, 426, "invalid_request")
    head = await system.http.head("/v1/ws", headers=user.auth)
    assert head.status_code == 426
    assert head.content == b""
    # The token is checked first, as on an upgrade (API.md's order of errors).
    assert_error(await system.http.get("/v1/ws"), 401, "unauthenticated")

    posted = await system.http.post("/v1/ws", headers=user.auth)
    assert_error(posted, 405, "method_not_allowed")
    assert posted.headers["allow"] == "GET, HEAD"

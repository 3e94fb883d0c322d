"""Acceptance 6: bad input on every endpoint gets a 4xx in API.md's error shape, never a
5xx, and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.harness import System, User, send, signup, two_friends, unique

pytestmark = pytest.mark.e2e

OVERSIZED = b'{"text": "' + b"x" * (70 * 1024) + b'"}'
NOT_JSON = [b"{", b"not json", b"\xff\xfe\x00", b'{"a": NaN}', b"", b"[" * 5000]
SHAPES: list[Any] = [[], "string", 42, None, {"unknown": 1}]


def endpoints(a: User, b: User, cid: str) -> list[tuple[str, str, bool]]:
    """(method, path, needs a token) for every body-taking endpoint of API.md."""
    return [
        ("POST", "/v1/auth/register", False),
        ("POST", "/v1/auth/verify-email", False),
        ("POST", "/v1/auth/resend-verification", False),
        ("POST", "/v1/auth/login", False),
        ("POST", "/v1/auth/change-password", True),
        ("POST", "/v1/auth/forgot-password", False),
        ("POST", "/v1/auth/reset-password", False),
        ("POST", "/v1/auth/refresh", False),
        ("PATCH", "/v1/profiles/me", True),
        ("POST", "/v1/friends", True),
        ("POST", "/v1/conversations/direct", True),
        ("POST", f"/v1/conversations/{cid}/messages", True),
        ("POST", f"/v1/conversations/{cid}/seen", True),
    ]


WRONG_TYPES: dict[str, list[dict[str, Any]]] = {
    "/v1/auth/register": [
        {"email": 5, "username": "abc", "password": "pa55word!"},
        {"email": "a@b.co", "username": ["abc"], "password": "pa55word!"},
        {"email": "a@b.co", "username": "abc", "password": 12345678},
        {"email": "", "username": "", "password": ""},
        {"email": "a@b.co", "username": "ab", "password": "pa55word!"},
        {"email": "a@b.co", "username": "abc!", "password": "pa55word!"},
        {"email": "not-an-email", "username": "abcd", "password": "pa55word!"},
        {"email": "a@b.co", "username": "abcd", "password": "short"},
        {"email": "a@b.co", "username": "abcd", "password": "pa55word!", "display_name": "   "},
        {"email": "a\u0000@b.co", "username": "abcd", "password": "pa55word!"},
    ],
    "/v1/auth/login": [
        {"login": 1, "password": "x"},
        {"login": "x"},
        {"login": "", "password": ""},
    ],
    "/v1/auth/verify-email": [{"token": 1}, {"token": ""}, {"token": None}],
    "/v1/auth/refresh": [{"refresh_token": 1}, {"refresh_token": ""}],
    "/v1/profiles/me": [
        {"display_name": ""},
        {"display_name": " \t"},
        {"display_name": "x" * 65},
        {"display_name": None},
        {"bio": "x" * 501},
        {"bio": 5},
        {"avatar_url": "http://insecure.example/a.png"},
        {"avatar_url": "javascript:alert(1)"},
        {"avatar_url": "https://e.com/" + "a" * 2048},
    ],
    "/v1/friends": [{"user_id": 5}, {"user_id": None}, {}],
    "/v1/conversations/direct": [{"user_id": 5}, {}],
    "messages": [
        {"text": "", "client_message_id": "a"},
        {"text": " \n\t", "client_message_id": "a"},
        {"text": "x" * 4097, "client_message_id": "a"},
        {"text": "ok", "client_message_id": ""},
        {"text": "ok", "client_message_id": "has space"},
        {"text": "ok", "client_message_id": "x" * 65},
        {"text": 5, "client_message_id": "a"},
        {"text": "ok"},
        {"text": "nul\u0000", "client_message_id": "a"},
    ],
    "seen": [{"seq": -1}, {"seq": 1.5}, {"seq": "3"}, {"seq": True}, {}],
}
# A lone surrogate can only be sent as an escape in raw JSON (httpx will not encode one).
LONE_SURROGATE: dict[str, bytes] = {
    "/v1/auth/register": b'{"email": "a@b.co", "username": "abcd", "password": "pa55word!\\ud800"}',
    "messages": b'{"text": "x\\udc00", "client_message_id": "a"}',
    "/v1/profiles/me": b'{"bio": "\\ud83d"}',
}


def assert_client_error(response: httpx.Response, context: str) -> None:
    assert 400 <= response.status_code < 500, f"{context}: {response.status_code} {response.text}"
    if response.status_code == 304:
        return
    body = response.json()
    assert set(body) == {"error"}, context
    assert isinstance(body["error"]["code"], str), context
    assert body["error"]["message"], context


async def test_every_endpoint_refuses_bad_bodies(client: httpx.AsyncClient, system: System) -> None:
    ada, bob, cid = await two_friends(client, system)
    await send(client, ada, cid, "kept")

    for method, path, needs_token in endpoints(ada, bob, cid):
        headers = {**(ada.auth if needs_token else {}), "content-type": "application/json"}
        for raw in NOT_JSON:
            response = await client.request(method, path, content=raw, headers=headers)
            assert_client_error(response, f"{method} {path} {raw[:20]!r}")
            if raw and raw != b"[" * 5000:
                assert response.status_code == 400, f"{path} {raw!r}: {response.text}"
        big = await client.request(method, path, content=OVERSIZED, headers=headers)
        assert big.status_code == 413, f"{path}: {big.text}"
        for shape in SHAPES:
            response = await client.request(method, path, json=shape, headers=headers)
            if method == "PATCH" and shape == {"unknown": 1}:
                assert response.status_code == 200  # unknown fields are ignored: a no-op
                continue
            assert_client_error(response, f"{method} {path} {shape!r}")
        key = path.rsplit("/", 1)[-1] if cid in path else path
        for body in WRONG_TYPES.get(key, []):
            response = await client.request(method, path, json=body, headers=headers)
            assert_client_error(response, f"{method} {path} {body!r}"[:200])
            if path not in ("/v1/auth/login",):
                assert response.status_code == 422, f"{path} {body!r}"[:200]
        if key in LONE_SURROGATE:
            response = await client.request(
                method, path, content=LONE_SURROGATE[key], headers=headers
            )
            assert response.status_code == 422, f"{path} lone surrogate: {response.text}"

    # Nothing changed: the one message is still the only one, the profile is intact.
    history = await client.get(f"/v1/conversations/{cid}/messages", headers=ada.auth)
    assert [m["text"] for m in history.json()["messages"]] == ["kept"]
    profile = (await client.get("/v1/profiles/me", headers=ada.auth)).json()
    assert profile["display_name"] == ada.username
    assert profile["bio"] is None


async def test_bad_ids_queries_paths_and_methods(client: httpx.AsyncClient, system: System) -> None:
    ada, _, cid = await two_friends(client, system)
    for bad_id in ["x", "%00", "' OR 1=1 --", "0" * 32, "\u202e", "A" * 300]:
        for method, path in [
            ("GET", f"/v1/profiles/{bad_id}"),
            ("GET", f"/v1/conversations/{bad_id}/messages"),
            ("POST", f"/v1/friends/{bad_id}/accept"),
            ("POST", f"/v1/friends/{bad_id}/decline"),
            ("DELETE", f"/v1/friends/{bad_id}"),
            ("DELETE", f"/v1/sessions/{bad_id}"),
        ]:
            response = await client.request(method, path, headers=ada.auth)
            assert response.status_code == 404, f"{method} {path}: {response.text}"
            assert_client_error(response, path)
    for query in [
        "limit=abc",
        "limit=-1",
        "limit=0",
        "after=1.5",
        "before=-3",
        "after=x",
        "limit=99999999999999999999999",
        "after=%00",
    ]:
        response = await client.get(f"/v1/conversations/{cid}/messages?{query}", headers=ada.auth)
        assert response.status_code == 422, f"{query}: {response.text}"
    empty = await client.get(f"/v1/conversations/{cid}/messages?limit=&after=", headers=ada.auth)
    assert empty.status_code == 200
    lookups = ["", "a", "%00", "x" * 500]
    for name in lookups:
        response = await client.get(f"/v1/users?username={name}", headers=ada.auth)
        assert response.status_code in (404, 422), f"{name!r}: {response.text}"
        assert_client_error(response, name)

    unknown = await client.get("/v1/no/such/path", headers=ada.auth)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    for method, slashed in [("POST", "/v1/auth/logout/"), ("GET", "/v1/conversations/")]:
        response = await client.request(method, slashed, headers=ada.auth)
        assert response.status_code == 404, f"{slashed}: a redirect is not in API.md"
        assert_client_error(response, slashed)
    wrong_method = await client.put("/v1/friends", headers=ada.auth)
    assert wrong_method.status_code == 405
    assert_client_error(wrong_method, "PUT /v1/friends")
    for token in ["garbage", "a.b.c", "Bearer", "e30.e30.e30"]:
        response = await client.get("/v1/friends", headers={"Authorization": f"Bearer {token}"})
        assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthenticated")

    # Precedence: a bad token beats a bad body; a non-member's conversation (404) beats
    # an invalid body (422).
    stranger = await signup(client, system, "cy")
    no_auth = await client.post("/v1/friends", content=b"{")
    assert no_auth.status_code == 401
    hidden = await client.post(
        f"/v1/conversations/{cid}/messages", json={"text": ""}, headers=stranger.auth
    )
    assert hidden.status_code == 404
    request_id = unique("rid")
    echoed = await client.get("/healthz", headers={"X-Request-Id": request_id})
    assert echoed.headers["x-request-id"] == request_id
    replaced = await client.get("/healthz", headers={"X-Request-Id": "bad id!"})
    assert replaced.headers["x-request-id"] not in ("", "bad id!")

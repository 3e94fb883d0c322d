"""The gateway's own concerns with the real services behind it: the token check
(including revocations it only hears about over NATS), API.md's order of errors, bad
input, the error shape, request ids, and HTTP revalidation of profiles."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from messenger.pb.session.v1 import session_pb2 as session_pb
from messenger.pb.session.v1.session_pb2_grpc import SessionServiceStub
from messenger.platform.grpc import channel
from messenger.platform.ids import new_id
from tests.integration.gateway.conftest import System, User


def assert_error(response: object, status: int, code: str) -> None:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


async def wait_for_profile(system: System, user: User) -> dict[str, object]:
    async with asyncio.timeout(1):
        while True:
            response = await system.http.get("/v1/profiles/me", headers=user.auth)
            if response.status_code == 200:
                doc: dict[str, object] = response.json()
                return doc
            await asyncio.sleep(0.02)


async def test_token_check_and_revocations(system: System) -> None:
    http = system.http
    assert_error(await http.get("/v1/sessions"), 401, "unauthenticated")
    assert_error(
        await http.get("/v1/sessions", headers={"Authorization": "Bearer nope"}),
        401,
        "unauthenticated",
    )
    alice = await system.register()
    other = await system.login(alice.username)
    listed = await http.get("/v1/sessions", headers=alice.auth)
    assert listed.status_code == 200
    sessions = {s["session_id"]: s for s in listed.json()["sessions"]}
    assert sessions[alice.session_id]["current"] is True
    assert sessions[other.session_id]["current"] is False
    assert sessions[other.session_id]["device_name"] == "unknown"
    assert sessions[other.session_id]["created_at"].endswith("Z")

    # Revoked behind the gateway's back: it learns over NATS within a second.
    assert (await http.get("/v1/friends", headers=other.auth)).status_code == 200
    grpc_channel = channel(system.settings.session_addr)
    try:
        await SessionServiceStub(grpc_channel).RevokeSession(
            session_pb.RevokeSessionRequest(session_id=other.session_id)
        )
    finally:
        await grpc_channel.close()
    async with asyncio.timeout(1):
        while True:
            refused = await http.get("/v1/friends", headers=other.auth)
            if refused.status_code != 200:
                break
            await asyncio.sleep(0.02)
    assert_error(refused, 401, "session_revoked")

    assert (
        await http.delete(f"/v1/sessions/{other.session_id}", headers=alice.auth)
    ).status_code == 404
    assert_error(await http.delete("/v1/sessions/xyz", headers=alice.auth), 404, "not_found")
    assert (await http.post("/v1/auth/logout", headers=alice.auth)).status_code == 204
    assert_error(await http.get("/v1/friends", headers=alice.auth), 401, "session_revoked")

    refreshed = await http.post("/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert_error(refreshed, 401, "invalid_refresh_token")


async def test_error_order_and_bad_input(system: System) -> None:
    http = system.http
    alice, bob = await system.register(), await system.register()
    stranger = new_id()
    url = f"/v1/conversations/{stranger}/messages"
    assert_error(await http.post(url, content=b"{"), 401, "unauthenticated")
    assert_error(await http.post(url, content=b"{", headers=alice.auth), 400, "invalid_request")
    assert_error(await http.post(url, json={"text": 5}, headers=alice.auth), 404, "not_found")
    assert_error(
        await http.post("/v1/conversations/bad/messages", json={}, headers=alice.auth),
        404,
        "not_found",
    )
    assert_error(await http.get(f"{url}?limit=0", headers=alice.auth), 404, "not_found")

    friends = "/v1/friends"
    assert_error(
        await http.post(friends, json={"user_id": "bad"}, headers=alice.auth), 404, "not_found"
    )
    assert_error(
        await http.post(friends, json={"user_id": 5}, headers=alice.auth), 422, "validation_failed"
    )
    assert_error(await http.post(friends, json=[1], headers=alice.auth), 422, "validation_failed")
    assert_error(
        await http.post(friends, content=b"NaN", headers=alice.auth), 400, "invalid_request"
    )
    assert_error(
        await http.post(friends, content=b'{"user_id": "\\ud800"}', headers=alice.auth),
        422,
        "validation_failed",
    )
    assert_error(
        await http.post(friends, json={"user_id": "a\x00"}, headers=alice.auth),
        422,
        "validation_failed",
    )
    big = json.dumps({"user_id": bob.user_id, "pad": "x" * 70_000}).encode()
    assert_error(
        await http.post(friends, content=big, headers=alice.auth), 413, "payload_too_large"
    )

    assert_error(await http.get("/v1/nowhere"), 404, "not_found")
    assert_error(await http.put("/v1/friends", headers=alice.auth), 405, "method_not_allowed")

    # With a real conversation: 201 then 200 for the same pair, replays, and 422 for members.
    added = await http.post(friends, json={"user_id": bob.user_id}, headers=alice.auth)
    assert added.status_code == 201
    assert added.json() == {"user_id": bob.user_id, "status": "pending"}
    again = await http.post(friends, json={"user_id": bob.user_id}, headers=alice.auth)
    assert again.status_code == 200
    accepted = await http.post(f"/v1/friends/{alice.user_id}/accept", headers=bob.auth)
    assert accepted.json() == {"user_id": alice.user_id, "status": "accepted"}
    opened = await http.post(
        "/v1/conversations/direct", json={"user_id": bob.user_id}, headers=alice.auth
    )
    # 201 if this call created it, 200 if `friendship.accepted` already opened it.
    assert opened.status_code in (200, 201)
    conversation = opened.json()
    assert conversation["members"] == sorted([alice.user_id, bob.user_id])
    assert conversation["type"] == "direct"
    reopened = await http.post(
        "/v1/conversations/direct", json={"user_id": alice.user_id}, headers=bob.auth
    )
    assert reopened.status_code == 200
    assert reopened.json()["conversation_id"] == conversation["conversation_id"]

    url = f"/v1/conversations/{conversation['conversation_id']}/messages"
    sent = await http.post(url, json={"text": "hi", "client_message_id": "m1"}, headers=alice.auth)
    assert sent.status_code == 201
    assert sent.json()["seq"] == 1
    assert sent.json()["sent_at"].endswith("Z")
    replay = await http.post(
        url, json={"text": "hi", "client_message_id": "m1"}, headers=alice.auth
    )
    assert replay.status_code == 200
    assert replay.json() == sent.json()
    assert_error(
        await http.post(url, json={"text": " "}, headers=alice.auth), 422, "validation_failed"
    )
    assert_error(await http.get(f"{url}?limit=0", headers=bob.auth), 422, "validation_failed")
    assert_error(await http.get(f"{url}?after=-1", headers=bob.auth), 422, "validation_failed")
    page = await http.get(f"{url}?after=&limit=500", headers=bob.auth)
    assert page.json()["has_more"] is False
    assert [m["seq"] for m in page.json()["messages"]] == [1]
    seen_url = f"/v1/conversations/{conversation['conversation_id']}/seen"
    assert_error(
        await http.post(seen_url, json={"seq": 1.0}, headers=bob.auth), 422, "validation_failed"
    )
    seen = await http.post(seen_url, json={"seq": 1}, headers=bob.auth)
    assert seen.json() == {
        "conversation_id": conversation["conversation_id"],
        "last_seen_seq": 1,
        "unread_count": 0,
    }


async def test_conversations_carry_every_members_read_position(system: System) -> None:
    """`read_positions` (an addition to API.md): each member's last_seen_seq by user_id."""
    http = system.http
    alice, bob = await system.register(), await system.register()
    await http.post("/v1/friends", json={"user_id": bob.user_id}, headers=alice.auth)
    await http.post(f"/v1/friends/{alice.user_id}/accept", headers=bob.auth)
    opened = await http.post(
        "/v1/conversations/direct", json={"user_id": bob.user_id}, headers=alice.auth
    )
    cid = opened.json()["conversation_id"]
    assert opened.json()["read_positions"] == {alice.user_id: 0, bob.user_id: 0}
    url = f"/v1/conversations/{cid}"
    for key in ("a1", "a2", "a3"):
        sent = await http.post(
            f"{url}/messages", json={"text": key, "client_message_id": key}, headers=alice.auth
        )
        assert sent.status_code == 201, sent.text
    for seq in (2, 1):  # the second one would move back: a no-op
        seen = await http.post(f"{url}/seen", json={"seq": seq}, headers=bob.auth)
        assert seen.json()["last_seen_seq"] == 2

    async def listed(user: User) -> dict[str, Any]:
        answer = await http.get("/v1/conversations", headers=user.auth)
        assert answer.status_code == 200
        (conversation,) = answer.json()["conversations"]
        assert conversation["conversation_id"] == cid
        return dict(conversation)

    for user, mine, unread in ((alice, 3, 0), (bob, 2, 1)):
        conversation = await listed(user)
        assert conversation["read_positions"] == {alice.user_id: 3, bob.user_id: 2}
        assert list(conversation["read_positions"]) == sorted([alice.user_id, bob.user_id])
        assert (conversation["last_seen_seq"], conversation["unread_count"]) == (mine, unread)
    # Bob's send moves his position to his own message.
    replied = await http.post(
        f"{url}/messages", json={"text": "b1", "client_message_id": "b1"}, headers=bob.auth
    )
    assert replied.json()["seq"] == 4
    for user in (alice, bob):
        assert (await listed(user))["read_positions"] == {alice.user_id: 3, bob.user_id: 4}
    # Former friends: each sees only their own.
    removed = await http.delete(f"/v1/friends/{bob.user_id}", headers=alice.auth)
    assert removed.status_code == 204
    for user, mine in ((alice, 3), (bob, 4)):
        assert (await listed(user))["read_positions"] == {user.user_id: mine}


async def test_request_ids(system: System) -> None:
    echoed = await system.http.get("/healthz", headers={"X-Request-Id": "req-1.A_b"})
    assert echoed.headers["x-request-id"] == "req-1.A_b"
    for offered in ("bad id!", "x" * 129, ""):
        fresh = await system.http.get("/v1/nowhere", headers={"X-Request-Id": offered})
        assert fresh.headers["x-request-id"] not in ("", offered)
        assert len(fresh.headers["x-request-id"]) <= 128


async def test_sends_served_in_front_of_fastapi_keep_its_plumbing(system: System) -> None:
    """Sends skip FastAPI (conversations.SendFront): the request id, the metrics and the
    error shape must still be those of every other route, and other methods on the path
    still reach FastAPI's routes."""
    http = system.http
    alice = await system.register()
    url = f"/v1/conversations/{new_id()}/messages"
    refused = await http.post(url, json={"text": "x"}, headers={"X-Request-Id": "send-1"})
    assert_error(refused, 401, "unauthenticated")
    assert refused.headers["x-request-id"] == "send-1"
    assert_error(await http.post(url, json={"text": "x"}, headers=alice.auth), 404, "not_found")
    assert_error(await http.post(f"{url}/", json={}, headers=alice.auth), 404, "not_found")
    not_allowed = await http.put(url, json={}, headers=alice.auth)
    assert_error(not_allowed, 405, "method_not_allowed")
    assert not_allowed.headers["allow"] == "GET, POST, HEAD"
    metrics = (await http.get("/metrics")).text
    counted = (
        'messenger_http_requests_total{method="POST",'
        'route="/v1/conversations/{conversation_id}/messages",service="gateway",status="404"}'
    )
    assert counted in metrics


async def test_profiles_revalidate_and_update(system: System) -> None:
    http = system.http
    alice, bob = await system.register(), await system.register()
    mine = await wait_for_profile(system, alice)
    assert mine["display_name"] == alice.username
    assert mine["email_verified"] is False
    me = await http.get("/v1/profiles/me", headers=alice.auth)
    etag = me.headers["etag"]
    assert me.headers["cache-control"] == "private, no-cache"
    assert me.headers["vary"] == "Authorization"
    url = f"/v1/profiles/{alice.user_id}"
    seen_by_bob = await http.get(url, headers=bob.auth)
    assert seen_by_bob.json() == me.json()
    assert seen_by_bob.headers["etag"] == etag
    cached = await http.get(url, headers={**bob.auth, "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.headers["etag"] == etag

    updated = await http.patch(
        "/v1/profiles/me",
        json={"display_name": "Alice A", "bio": "hello"},
        headers={**alice.auth, "If-Match": etag},
    )
    assert updated.status_code == 200
    assert updated.json()["display_name"] == "Alice A"
    assert updated.headers["etag"] != etag
    assert (await http.get(url, headers={**bob.auth, "If-None-Match": etag})).status_code == 200
    stale = await http.patch(
        "/v1/profiles/me", json={"bio": "x"}, headers={**alice.auth, "If-Match": etag}
    )
    assert_error(stale, 412, "precondition_failed")
    assert_error(
        await http.patch(
            "/v1/profiles/me", json={"avatar_url": "http://x.example/a"}, headers=alice.auth
        ),
        422,
        "validation_failed",
    )
    assert_error(
        await http.patch("/v1/profiles/me", json={"bio": 1}, headers=alice.auth),
        422,
        "validation_failed",
    )

    found = await http.get(f"/v1/users?username={alice.username.upper()}", headers=bob.auth)
    assert found.json() == {
        "user_id": alice.user_id,
        "username": alice.username,
        "display_name": "Alice A",
    }
    assert_error(await http.get("/v1/users?username=", headers=bob.auth), 422, "validation_failed")
    assert_error(
        await http.get("/v1/users?username=nobody_here", headers=bob.auth), 404, "not_found"
    )
    assert_error(await http.get(f"/v1/profiles/{new_id()}", headers=bob.auth), 404, "not_found")
    assert_error(await http.get("/v1/profiles/nope", headers=bob.auth), 404, "not_found")


async def test_ops_and_docs(system: System) -> None:
    http = system.http
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).json() == {"status": "ok"}
    assert "messenger_http_requests_total" in (await http.get("/metrics")).text
    spec = (await http.get("/openapi.json")).json()
    send = spec["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]
    assert "client_message_id" in json.dumps(send["requestBody"])
    assert "read_positions" in spec["paths"]["/v1/conversations"]["get"]["description"]
    assert "/v1/friends/{user_id}/accept" in spec["paths"]
    assert "/v1/sessions/{session_id}" in spec["paths"]
    assert (await http.get("/docs")).status_code == 200

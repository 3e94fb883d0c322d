"""API.md driven end to end through `messenger up`, as a client would (acceptance 2, and 3
when MESSENGER_TEST_DATABASE_URL points at PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest

from tests.e2e.harness import (
    System,
    befriend,
    eventually,
    login,
    open_direct,
    register,
    send,
    signup,
    two_friends,
    unique,
)

pytestmark = pytest.mark.e2e

TEXTS = [
    "hello 👋🏽 👨‍👩‍👧‍👦",
    "שלום עולם — مرحبا بالعالم",
    "e\u0301 n\u0303 \u0915\u094d\u0937",
    "line one\nline two\r\n\ttabbed  ",
    "  leading and trailing spaces  ",
]


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    assert response.json()["error"]["message"]
    return code


async def test_register_verify_and_login(client: httpx.AsyncClient, system: System) -> None:
    ada = await register(client, "ada")
    again = await client.post(
        "/v1/auth/register",
        json={"email": ada.email.upper(), "username": unique("x"), "password": "pa55word!"},
    )
    assert (again.status_code, error_code(again)) == (409, "email_taken")
    taken = await client.post(
        "/v1/auth/register",
        json={
            "email": f"{unique('y')}@example.com",
            "username": ada.username.upper(),
            "password": "pa55word!",
        },
    )
    assert (taken.status_code, error_code(taken)) == (409, "username_taken")

    # Login is allowed before verification, by username or email in any case.
    await login(client, ada, by="email")
    token = system.token_from_mail(ada.email, "/verify-email")
    for _ in range(2):
        verified = await client.post("/v1/auth/verify-email", json={"token": token})
        assert verified.status_code == 200, verified.text
        assert verified.json() == {"user_id": ada.user_id, "email_verified": True}
    wrong = await client.post("/v1/auth/verify-email", json={"token": "A" * 43})
    assert (wrong.status_code, error_code(wrong)) == (400, "invalid_token")
    await login(client, ada, by="username")

    bad_password = await client.post(
        "/v1/auth/login", json={"login": ada.username, "password": "wrong-password"}
    )
    unknown_user = await client.post(
        "/v1/auth/login", json={"login": unique("nobody"), "password": "wrong-password"}
    )
    assert bad_password.status_code == unknown_user.status_code == 401
    assert bad_password.headers["content-type"] == "application/json; charset=utf-8"
    assert bad_password.json() == unknown_user.json()
    assert error_code(bad_password) == "invalid_credentials"

    resend = await client.post("/v1/auth/resend-verification", json={"email": "no@one.example"})
    assert resend.status_code == 202


async def test_profiles_etags_and_lookup(client: httpx.AsyncClient, system: System) -> None:
    ada = await signup(client, system, "ada")
    bob = await signup(client, system, "bob")

    async def verified_profile() -> httpx.Response | None:
        response = await client.get("/v1/profiles/me", headers=ada.auth)
        ok = response.status_code == 200 and response.json()["email_verified"]
        return response if ok else None

    me = await eventually(verified_profile)
    body = me.json()
    assert body["user_id"] == ada.user_id
    assert body["username"] == ada.username
    assert body["display_name"] == ada.username
    assert body["bio"] is None
    assert body["avatar_url"] is None
    assert body["updated_at"].endswith("Z")
    assert me.headers["cache-control"] == "private, no-cache"
    assert "authorization" in me.headers["vary"].lower()
    etag = me.headers["etag"]
    assert not etag.startswith("W/")

    cached = await client.get("/v1/profiles/me", headers={**ada.auth, "If-None-Match": etag})
    assert cached.status_code == 304

    patched = await client.patch(
        "/v1/profiles/me",
        json={
            "display_name": "Ada Lovelace",
            "bio": "analytical ✨",
            "avatar_url": "https://example.com/a.png",
        },
        headers={**ada.auth, "If-Match": etag},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["display_name"] == "Ada Lovelace"
    assert patched.headers["etag"] != etag
    stale = await client.patch(
        "/v1/profiles/me", json={"bio": "again"}, headers={**ada.auth, "If-Match": etag}
    )
    assert (stale.status_code, error_code(stale)) == (412, "precondition_failed")
    cleared = await client.patch("/v1/profiles/me", json={"bio": None}, headers=ada.auth)
    assert cleared.status_code == 200
    assert cleared.json()["bio"] is None

    async def bob_sees_update() -> bool:
        seen = await client.get(f"/v1/profiles/{ada.user_id}", headers=bob.auth)
        return seen.status_code == 200 and seen.json()["display_name"] == "Ada Lovelace"

    await eventually(bob_sees_update, timeout=1.5)
    found = await client.get(f"/v1/users?username={ada.username.upper()}", headers=bob.auth)
    assert found.status_code == 200
    assert found.json() == {
        "user_id": ada.user_id,
        "username": ada.username,
        "display_name": "Ada Lovelace",
    }
    missing = await client.get(f"/v1/users?username={unique('ghost')}", headers=bob.auth)
    assert missing.status_code == 404
    malformed = await client.get("/v1/profiles/not-an-id", headers=bob.auth)
    assert (malformed.status_code, error_code(malformed)) == (404, "not_found")


async def test_friend_requests(client: httpx.AsyncClient, system: System) -> None:
    ada = await signup(client, system, "ada")
    bob = await signup(client, system, "bob")
    cy = await signup(client, system, "cy")

    await befriend(client, ada, bob)
    again = await client.post("/v1/friends", json={"user_id": bob.user_id}, headers=ada.auth)
    assert (again.status_code, error_code(again)) == (409, "already_friends")
    oneself = await client.post("/v1/friends", json={"user_id": ada.user_id}, headers=ada.auth)
    assert oneself.status_code == 422

    asked = await client.post("/v1/friends", json={"user_id": cy.user_id}, headers=ada.auth)
    assert asked.status_code == 201
    assert asked.json() == {"user_id": cy.user_id, "status": "pending"}
    repeat = await client.post("/v1/friends", json={"user_id": cy.user_id}, headers=ada.auth)
    assert repeat.status_code == 200
    assert repeat.json() == {"user_id": cy.user_id, "status": "pending"}
    lists = (await client.get("/v1/friends", headers=cy.auth)).json()
    assert [r["user_id"] for r in lists["incoming"]] == [ada.user_id]
    declined = await client.post(f"/v1/friends/{ada.user_id}/decline", headers=cy.auth)
    assert declined.status_code == 204
    gone = await client.post(f"/v1/friends/{ada.user_id}/decline", headers=cy.auth)
    assert gone.status_code == 404

    # Asking again after a decline is allowed; the other side asking back accepts.
    assert (
        await client.post("/v1/friends", json={"user_id": cy.user_id}, headers=ada.auth)
    ).status_code == 201
    mutual = await client.post("/v1/friends", json={"user_id": ada.user_id}, headers=cy.auth)
    assert mutual.status_code == 200
    assert mutual.json() == {"user_id": ada.user_id, "status": "accepted"}
    friends = (await client.get("/v1/friends", headers=ada.auth)).json()
    assert sorted(f["user_id"] for f in friends["friends"]) == sorted([bob.user_id, cy.user_id])
    assert friends["incoming"] == friends["outgoing"] == []
    assert all(f["since"].endswith("Z") for f in friends["friends"])


async def test_conversation_messages_paging_and_read_positions(
    client: httpx.AsyncClient, system: System
) -> None:
    ada = await signup(client, system, "ada")
    bob = await signup(client, system, "bob")
    cy = await signup(client, system, "cy")
    await befriend(client, ada, bob)

    first = await client.post(
        "/v1/conversations/direct", json={"user_id": bob.user_id}, headers=ada.auth
    )
    assert first.status_code in (200, 201), first.text
    conversation = first.json()
    assert conversation["type"] == "direct"
    assert conversation["members"] == sorted([ada.user_id, bob.user_id])
    assert conversation["can_send"] is True
    assert await open_direct(client, bob, ada) == conversation["conversation_id"]
    cid = conversation["conversation_id"]
    stranger = await client.post(
        "/v1/conversations/direct", json={"user_id": bob.user_id}, headers=cy.auth
    )
    assert (stranger.status_code, error_code(stranger)) == (403, "not_friends")
    outsider = await client.get(f"/v1/conversations/{cid}/messages", headers=cy.auth)
    assert outsider.status_code == 404

    sent = []
    for index, text in enumerate(TEXTS):
        message = await send(client, ada if index % 2 == 0 else bob, cid, text)
        assert message["seq"] == index + 1
        assert message["text"] == text
        sent.append(message)
    history = await client.get(f"/v1/conversations/{cid}/messages", headers=bob.auth)
    assert history.status_code == 200
    assert [m["text"] for m in history.json()["messages"]] == TEXTS
    assert history.json()["has_more"] is False

    # Idempotent send: same id and text returns the original; another text conflicts.
    replay_body = {"text": TEXTS[0], "client_message_id": sent[0]["client_message_id"]}
    replay = await client.post(
        f"/v1/conversations/{cid}/messages", json=replay_body, headers=ada.auth
    )
    assert replay.status_code == 200
    assert replay.json() == sent[0]
    conflict = await client.post(
        f"/v1/conversations/{cid}/messages",
        json={**replay_body, "text": "something else"},
        headers=ada.auth,
    )
    assert (conflict.status_code, error_code(conflict)) == (409, "conflict")

    for index in range(15):
        await send(client, ada, cid, f"bulk {index}")
    total = len(TEXTS) + 15
    newest = (
        await client.get(f"/v1/conversations/{cid}/messages?limit=5", headers=ada.auth)
    ).json()
    assert [m["seq"] for m in newest["messages"]] == list(range(total - 4, total + 1))
    assert newest["has_more"] is True
    seen: list[int] = [m["seq"] for m in newest["messages"]]
    before = seen[0]
    while True:
        page = (
            await client.get(
                f"/v1/conversations/{cid}/messages?before={before}&limit=7", headers=ada.auth
            )
        ).json()
        seqs = [m["seq"] for m in page["messages"]]
        assert seqs == sorted(seqs)
        seen = seqs + seen
        if not page["has_more"]:
            break
        before = seqs[0]
    assert seen == list(range(1, total + 1))
    after = (
        await client.get(f"/v1/conversations/{cid}/messages?after=3&limit=4", headers=ada.auth)
    ).json()
    assert [m["seq"] for m in after["messages"]] == [4, 5, 6, 7]
    assert after["has_more"] is True
    between = (
        await client.get(f"/v1/conversations/{cid}/messages?after=3&before=6", headers=ada.auth)
    ).json()
    assert [m["seq"] for m in between["messages"]] == [4, 5]
    assert between["has_more"] is False
    bad_limit = await client.get(f"/v1/conversations/{cid}/messages?limit=0", headers=ada.auth)
    assert bad_limit.status_code == 422

    # Bob's unread: Ada's messages after his own last send (seq 4).
    listed = (await client.get("/v1/conversations", headers=bob.auth)).json()["conversations"]
    mine = next(c for c in listed if c["conversation_id"] == cid)
    assert mine["last_seen_seq"] == 4
    assert mine["unread_count"] == total - 4 - 0
    assert mine["can_send"] is True
    assert mine["last_message"]["seq"] == total

    marked = await client.post(
        f"/v1/conversations/{cid}/seen", json={"seq": total + 100}, headers=bob.auth
    )
    assert marked.status_code == 200
    assert marked.json() == {"conversation_id": cid, "last_seen_seq": total, "unread_count": 0}
    back = await client.post(f"/v1/conversations/{cid}/seen", json={"seq": 2}, headers=bob.auth)
    assert back.json() == {"conversation_id": cid, "last_seen_seq": total, "unread_count": 0}


async def test_sessions_refresh_and_logout(client: httpx.AsyncClient, system: System) -> None:
    ada = await signup(client, system, "ada")
    phone = await login(client, dataclasses.replace(ada))

    listed = await client.get("/v1/sessions", headers=ada.auth)
    assert listed.status_code == 200
    sessions = listed.json()["sessions"]
    assert {s["session_id"] for s in sessions} == {ada.session_id, phone.session_id}
    assert [s["current"] for s in sessions if s["session_id"] == ada.session_id] == [True]
    assert all(s["device_name"] == "unknown" for s in sessions)

    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["session_id"] == ada.session_id
    assert body["refresh_token"] != ada.refresh_token
    reused = await client.post("/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
    assert (reused.status_code, error_code(reused)) == (401, "invalid_refresh_token")

    async def refused() -> bool:
        response = await client.get(
            "/v1/profiles/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        return response.status_code == 401 and error_code(response) == "session_revoked"

    await eventually(refused, timeout=1.5)

    out = await client.post("/v1/auth/logout", headers=phone.auth)
    assert out.status_code == 204
    after_logout = await client.get("/v1/sessions", headers=phone.auth)
    assert (after_logout.status_code, error_code(after_logout)) == (401, "session_revoked")
    no_token = await client.get("/v1/sessions")
    assert (no_token.status_code, error_code(no_token)) == (401, "unauthenticated")


async def test_unfriend_closes_chat_but_keeps_history(
    client: httpx.AsyncClient, system: System
) -> None:
    ada, bob, cid = await two_friends(client, system)
    await send(client, ada, cid, "before")

    removed = await client.delete(f"/v1/friends/{bob.user_id}", headers=ada.auth)
    assert removed.status_code == 204
    refused = await client.post(
        f"/v1/conversations/{cid}/messages",
        json={"text": "after", "client_message_id": "after-1"},
        headers=bob.auth,
    )
    assert (refused.status_code, error_code(refused)) == (403, "not_friends")
    for user in (ada, bob):
        history = await client.get(f"/v1/conversations/{cid}/messages", headers=user.auth)
        assert [m["text"] for m in history.json()["messages"]] == ["before"]
        listed = (await client.get("/v1/conversations", headers=user.auth)).json()
        closed = next(c for c in listed["conversations"] if c["conversation_id"] == cid)
        assert closed["can_send"] is False
    nothing = await client.delete(f"/v1/friends/{bob.user_id}", headers=ada.auth)
    assert nothing.status_code == 404

    await befriend(client, bob, ada)
    assert await open_direct(client, ada, bob) == cid
    reopened = await send(client, bob, cid, "again")
    assert reopened["seq"] == 2


async def test_concurrent_sends_get_distinct_gap_free_seqs(
    client: httpx.AsyncClient, system: System
) -> None:
    ada, bob, cid = await two_friends(client, system)
    sent = await asyncio.gather(
        *(send(client, ada if i % 2 else bob, cid, f"c{i}") for i in range(32))
    )
    assert sorted(m["seq"] for m in sent) == list(range(1, 33))

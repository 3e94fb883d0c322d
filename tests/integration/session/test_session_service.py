"""session-service over real gRPC, a real database and a real NATS server."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import jwt
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import select, update

from messenger.pb.session.v1 import session_pb2 as pb
from messenger.pb.session.v1 import session_pb2_grpc as pb_grpc
from messenger.platform.config import Settings
from messenger.platform.db import create_engine, database_url, dispose_engine
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.grpc import channel, rpc
from messenger.platform.ids import new_id
from messenger.platform.migrations import upgrade
from messenger.platform.uow import UnitOfWorkFactory
from messenger.session import domain, service, store
from messenger.session.main import serve
from messenger.session.tokens import Keyring, Signer, generate_signing_key
from tests.integration.session.harness import EventLog, database_dump, execute, running

if TYPE_CHECKING:
    from messenger.pb.session.v1.session_pb2_grpc import SessionServiceAsyncStub as Stub


async def create(sessions: Stub, user_id: str, device: str = "") -> pb.TokenPair:
    request = pb.CreateSessionRequest(user_id=user_id, device_name=device)
    return await rpc(sessions.CreateSession, request, deadline=5)


async def refresh(sessions: Stub, token: str) -> pb.TokenPair:
    return await rpc(
        sessions.RefreshSession, pb.RefreshSessionRequest(refresh_token=token), deadline=5
    )


async def is_active(sessions: Stub, session_id: str) -> bool:
    answer = await rpc(
        sessions.ValidateSession, pb.ValidateSessionRequest(session_id=session_id), deadline=5
    )
    return bool(answer.active)


async def test_health_service_answers_serving(sessions: Stub, settings: Settings) -> None:
    async with channel(settings.session_addr) as chan:
        health = health_pb2_grpc.HealthStub(chan)
        for name in ("", "messenger.session.v1.SessionService"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_access_token_verifies_with_the_published_key(
    sessions: Stub, settings: Settings, events: EventLog
) -> None:
    user_id = new_id()
    pair = await create(sessions, user_id, "laptop")
    keys = await rpc(sessions.GetSigningKeys, pb.GetSigningKeysRequest(), deadline=5)
    assert (keys.issuer, keys.audience) == ("messenger", "messenger")
    header = jwt.get_unverified_header(pair.access_token)
    assert header["alg"] == "EdDSA"
    key = next(k for k in keys.keys if k.kid == header["kid"])
    assert key.algorithm == "EdDSA"
    claims = jwt.decode(
        pair.access_token,
        key.public_key_pem,
        algorithms=["EdDSA"],
        audience="messenger",
        issuer="messenger",
        options={"require": ["exp", "iat", "iss", "aud", "sub", "sid", "jti"]},
    )
    assert claims["sub"] == user_id
    assert claims["sid"] == pair.session_id
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds
    assert abs(claims["iat"] - time.time()) < 60
    assert pair.expires_in == settings.access_token_ttl_seconds
    assert pair.user_id == user_id
    forged = Signer(Keyring([generate_signing_key(1, 0)]), 900).access_token(
        user_id, pair.session_id, 0
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key.public_key_pem, algorithms=["EdDSA"], audience="messenger")

    (created,) = await events.wait_for("session.created", session_id=pair.session_id)
    assert created.data == {
        "session_id": pair.session_id,
        "user_id": user_id,
        "device_name": "laptop",
    }
    assert created.producer == "session"
    assert created.version == 1
    assert created.occurred_at.endswith("Z")
    assert events.events[0][0] == "messenger.session.created"


async def test_refresh_rotates_and_reuse_revokes_the_session(
    sessions: Stub, events: EventLog
) -> None:
    user_id = new_id()
    first = await create(sessions, user_id)
    second = await refresh(sessions, first.refresh_token)
    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    third = await refresh(sessions, second.refresh_token)
    assert await is_active(sessions, first.session_id)

    with pytest.raises(MessengerError) as reused:
        await refresh(sessions, first.refresh_token)
    assert reused.value.code is ErrorCode.INVALID_REFRESH_TOKEN
    assert not await is_active(sessions, first.session_id)
    (revoked,) = await events.wait_for("session.revoked", session_id=first.session_id)
    assert revoked.data == {
        "session_id": first.session_id,
        "user_id": user_id,
        "reason": "refresh_token_reused",
    }
    with pytest.raises(MessengerError) as current:
        await refresh(sessions, third.refresh_token)
    assert current.value.code is ErrorCode.INVALID_REFRESH_TOKEN
    with pytest.raises(MessengerError):
        await refresh(sessions, first.refresh_token)
    await asyncio.sleep(0.3)
    assert len(events.of_type("session.revoked")) == 1


async def test_unknown_malformed_and_expired_refresh_tokens_are_invalid(
    sessions: Stub, settings: Settings
) -> None:
    pair = await create(sessions, new_id())
    for token in ["", "x" * 43, "not a token!", "é" * 10, "a" * 5000]:
        with pytest.raises(MessengerError) as error:
            await refresh(sessions, token)
        assert error.value.code is ErrorCode.INVALID_REFRESH_TOKEN
    await execute(
        settings,
        "session",
        update(store.refresh_tokens).values(expires_at_ms=store.refresh_tokens.c.issued_at_ms),
    )
    with pytest.raises(MessengerError) as expired:
        await refresh(sessions, pair.refresh_token)
    assert expired.value.code is ErrorCode.INVALID_REFRESH_TOKEN
    assert await is_active(sessions, pair.session_id)


async def test_concurrent_refreshes_with_one_token_have_one_winner(sessions: Stub) -> None:
    pair = await create(sessions, new_id())
    results = await asyncio.gather(
        *(refresh(sessions, pair.refresh_token) for _ in range(6)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, pb.TokenPair)]
    losers = [r for r in results if isinstance(r, MessengerError)]
    assert len(winners) == 1
    assert len(losers) == 5
    assert all(e.code is ErrorCode.INVALID_REFRESH_TOKEN for e in losers)


async def test_revoke_session_checks_owner_and_liveness(sessions: Stub, events: EventLog) -> None:
    alice, bob = new_id(), new_id()
    pair = await create(sessions, alice)
    for session_id, owner in [(pair.session_id, bob), (new_id(), alice), ("../x", alice)]:
        with pytest.raises(MessengerError) as error:
            await rpc(
                sessions.RevokeSession,
                pb.RevokeSessionRequest(session_id=session_id, user_id=owner),
                deadline=5,
            )
        assert error.value.code is ErrorCode.NOT_FOUND
    assert await is_active(sessions, pair.session_id)

    request = pb.RevokeSessionRequest(session_id=pair.session_id, user_id=alice, reason="logout")
    assert (await rpc(sessions.RevokeSession, request, deadline=5)).count == 1
    assert not await is_active(sessions, pair.session_id)
    (revoked,) = await events.wait_for("session.revoked", session_id=pair.session_id)
    assert revoked.data == {"session_id": pair.session_id, "user_id": alice, "reason": "logout"}
    with pytest.raises(MessengerError) as again:
        await rpc(sessions.RevokeSession, request, deadline=5)
    assert again.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(MessengerError) as refreshed:
        await refresh(sessions, pair.refresh_token)
    assert refreshed.value.code is ErrorCode.INVALID_REFRESH_TOKEN


async def test_revoke_others_and_list_live_sessions(sessions: Stub, events: EventLog) -> None:
    alice, bob = new_id(), new_id()
    kept = await create(sessions, alice, "phone")
    others = [await create(sessions, alice) for _ in range(3)]
    bobs = await create(sessions, bob)

    listed = await rpc(sessions.ListSessions, pb.ListSessionsRequest(user_id=alice), deadline=5)
    assert [s.session_id for s in listed.sessions] == [kept.session_id] + [
        o.session_id for o in others
    ]
    assert listed.sessions[0].device_name == "phone"
    assert listed.sessions[1].device_name == "unknown"
    assert listed.sessions[0].created_at_ms <= listed.sessions[0].last_used_at_ms

    answer = await rpc(
        sessions.RevokeOtherSessions,
        pb.RevokeOtherSessionsRequest(user_id=alice, keep_session_id=kept.session_id),
        deadline=5,
    )
    assert answer.count == 3
    revoked = await events.wait_for("session.revoked", 3, user_id=alice)
    assert sorted(e.data["session_id"] for e in revoked) == sorted(o.session_id for o in others)
    assert {e.data["reason"] for e in revoked} == {"revoked"}
    listed = await rpc(sessions.ListSessions, pb.ListSessionsRequest(user_id=alice), deadline=5)
    assert [s.session_id for s in listed.sessions] == [kept.session_id]
    assert await is_active(sessions, bobs.session_id)

    everything = pb.RevokeOtherSessionsRequest(user_id=alice, reason="password_reset")
    assert (await rpc(sessions.RevokeOtherSessions, everything, deadline=5)).count == 1
    assert not await is_active(sessions, kept.session_id)
    validated = await rpc(
        sessions.ValidateSession, pb.ValidateSessionRequest(session_id=bobs.session_id), deadline=5
    )
    assert (validated.active, validated.user_id) == (True, bob)
    assert not await is_active(sessions, new_id())


async def test_refresh_moves_last_used_at(sessions: Stub) -> None:
    user_id = new_id()
    pair = await create(sessions, user_id)
    before = await rpc(sessions.ListSessions, pb.ListSessionsRequest(user_id=user_id), deadline=5)
    await asyncio.sleep(0.01)
    await refresh(sessions, pair.refresh_token)
    after = await rpc(sessions.ListSessions, pb.ListSessionsRequest(user_id=user_id), deadline=5)
    assert after.sessions[0].last_used_at_ms > before.sessions[0].last_used_at_ms


async def test_bad_input_is_a_validation_error(sessions: Stub) -> None:
    for user_id, device in [
        ("nope", ""),
        (new_id(), "x" * 65),
        (new_id(), "a\x00b"),
        (new_id(), "  "),
    ]:
        with pytest.raises(MessengerError) as error:
            await create(sessions, user_id, device)
        assert error.value.code is ErrorCode.VALIDATION_FAILED


async def test_database_holds_no_clear_refresh_token(sessions: Stub, settings: Settings) -> None:
    pair = await create(sessions, new_id())
    rotated = await refresh(sessions, pair.refresh_token)
    dump = await database_dump(settings, "session", store.metadata)
    assert domain.hash_token(rotated.refresh_token) in dump
    assert pair.refresh_token not in dump
    assert rotated.refresh_token not in dump


async def test_two_instances_starting_together_agree_on_one_signing_key(
    settings: Settings,
) -> None:
    url = database_url(settings, "session")
    await upgrade("session", url)
    engines = [create_engine(url) for _ in range(2)]
    try:
        keys = await asyncio.gather(
            *(
                service.load_signing_keys(UnitOfWorkFactory(e, store.outbox, "session"))
                for e in engines
            )
        )
        published = await service.public_keys(
            UnitOfWorkFactory(engines[0], store.outbox, "session"), 900_000
        )
    finally:
        for engine in engines:
            await dispose_engine(engine)
    assert [k.kid for k in keys[0]] == [k.kid for k in keys[1]]
    assert [k.kid for k in published] == [keys[0][0].kid]


async def test_sessions_end_after_the_idle_timeout_and_the_absolute_lifetime(
    sessions: Stub, settings: Settings
) -> None:
    idle_ms = settings.refresh_token_ttl_seconds * 1000
    max_ms = settings.session_max_lifetime_seconds * 1000
    idle, old = await create(sessions, new_id()), await create(sessions, new_id())
    alive = await create(sessions, new_id())
    now = int(time.time() * 1000)
    listed = await rpc(
        sessions.ListSessions, pb.ListSessionsRequest(user_id=alive.user_id), deadline=5
    )
    assert listed.sessions[0].last_used_at_ms <= now

    # Idle: last refreshed longer ago than the timeout (its refresh token died with it).
    await execute(
        settings,
        "session",
        update(store.sessions)
        .where(store.sessions.c.id == idle.session_id)
        .values(expires_at_ms=now - 1, last_used_at_ms=now - idle_ms - 1),
    )
    with pytest.raises(MessengerError) as stale:
        await refresh(sessions, idle.refresh_token)
    assert stale.value.code is ErrorCode.INVALID_REFRESH_TOKEN
    assert not await is_active(sessions, idle.session_id)

    # Absolute: in use all along, but created longer ago than the lifetime allows.
    await execute(
        settings,
        "session",
        update(store.sessions)
        .where(store.sessions.c.id == old.session_id)
        .values(created_at_ms=now - max_ms),
    )
    with pytest.raises(MessengerError) as ended:
        await refresh(sessions, old.refresh_token)
    assert ended.value.code is ErrorCode.INVALID_REFRESH_TOKEN

    # A refresh never extends a session past its absolute end.
    await execute(
        settings,
        "session",
        update(store.sessions)
        .where(store.sessions.c.id == alive.session_id)
        .values(created_at_ms=now - max_ms + 60_000),
    )
    await refresh(sessions, alive.refresh_token)
    engine = create_engine(database_url(settings, "session"))
    try:
        async with engine.connect() as conn:
            expires = await conn.scalar(
                select(store.sessions.c.expires_at_ms).where(
                    store.sessions.c.id == alive.session_id
                )
            )
            token_expiries = set(
                (
                    await conn.execute(
                        select(store.refresh_tokens.c.expires_at_ms).where(
                            store.refresh_tokens.c.session_id == alive.session_id,
                            store.refresh_tokens.c.rotated_at_ms.is_(None),
                        )
                    )
                ).scalars()
            )
    finally:
        await dispose_engine(engine)
    assert expires == now - max_ms + 60_000 + max_ms
    assert token_expiries == {expires}


async def test_rotated_keys_sign_after_their_delay_and_old_ones_stay_published(
    sessions: Stub, settings: Settings
) -> None:
    before = await create(sessions, new_id())
    old_kid = jwt.get_unverified_header(before.access_token)["kid"]
    uow = UnitOfWorkFactory(
        create_engine(database_url(settings, "session")), store.outbox, "session"
    )
    try:
        new_key = await service.rotate_signing_key(uow, 900_000)
        published = await rpc(sessions.GetSigningKeys, pb.GetSigningKeysRequest(), deadline=5)
        assert [k.kid for k in published.keys] == [new_key.kid, old_kid]
        during = await create(sessions, new_id())
        assert jwt.get_unverified_header(during.access_token)["kid"] == old_kid
        await asyncio.sleep(domain.KEY_ACTIVATION_DELAY_MS / 1000 + 1.2)
        after = await create(sessions, new_id())
        assert jwt.get_unverified_header(after.access_token)["kid"] == new_key.kid

        # Long after, a rotation forgets the keys no live token can need.
        await execute(
            settings,
            "session",
            update(store.signing_keys).values(
                created_at_ms=store.signing_keys.c.created_at_ms - 10**8
            ),
        )
        newest = await service.rotate_signing_key(uow, 900_000)
        published = await rpc(sessions.GetSigningKeys, pb.GetSigningKeysRequest(), deadline=5)
        assert [k.kid for k in published.keys] == [newest.kid, new_key.kid]
        async with uow.engine.connect() as conn:
            stored = set((await conn.execute(select(store.signing_keys.c.kid))).scalars())
        assert stored == {newest.kid, new_key.kid}
    finally:
        await dispose_engine(uow.engine)


async def test_keys_rotate_by_themselves_when_due(settings: Settings) -> None:
    tuned = settings.model_copy(update={"signing_key_rotation_seconds": 2})
    async with (
        running(tuned, "session", serve, tuned.session_addr),
        channel(tuned.session_addr) as chan,
    ):
        stub = pb_grpc.SessionServiceStub(chan)
        first = await rpc(stub.GetSigningKeys, pb.GetSigningKeysRequest(), deadline=5)
        await asyncio.sleep(3.5)
        later = await rpc(stub.GetSigningKeys, pb.GetSigningKeysRequest(), deadline=5)
    assert len(later.keys) > len(first.keys) == 1
    assert later.keys[-1].kid == first.keys[0].kid

"""session-service use-cases: each opens its unit of work, applies the rules, stages
its events, and commits."""

from __future__ import annotations

from messenger.platform.clock import now_ms
from messenger.platform.db import read_transaction
from messenger.platform.errors import ErrorCode, MessengerError, invalid, not_found
from messenger.platform.ids import is_valid_id, new_id
from messenger.platform.uow import UnitOfWork, UnitOfWorkFactory
from messenger.session import domain, events, store
from messenger.session.domain import (
    Lifetimes,
    PublicKey,
    RefreshToken,
    RefreshVerdict,
    Session,
    TokenPair,
)
from messenger.session.tokens import Keyring, Signer, SigningKey, generate_signing_key


def _invalid_refresh() -> MessengerError:
    return MessengerError(
        ErrorCode.INVALID_REFRESH_TOKEN, "The refresh token is invalid, expired or reused."
    )


async def load_signing_keys(uow_factory: UnitOfWorkFactory) -> list[SigningKey]:
    """Every stored key, newest first; the very first start creates one (two instances
    starting together agree on a single key through the unique generation)."""
    for _ in range(2):
        async with uow_factory() as uow:
            keys = await store.signing_keys_newest_first(uow.conn)
            if keys:
                return keys
            key = generate_signing_key(1, now_ms())
            if await store.insert_signing_key(uow.conn, key):
                return [key]
    raise RuntimeError("no signing key could be created or read")


async def rotate_signing_key(uow_factory: UnitOfWorkFactory, access_ttl_ms: int) -> SigningKey:
    """Add a new signing key (it signs after `KEY_ACTIVATION_DELAY_MS`; the older keys
    stay published until their tokens have expired) and forget keys whose tokens all
    have. Of two concurrent rotations, one adds the key and both return it."""
    for _ in range(3):
        async with uow_factory() as uow:
            keys = await store.signing_keys_newest_first(uow.conn)
            now = now_ms()
            generation = keys[0].generation + 1 if keys else 1
            key = generate_signing_key(generation, now)
            if await store.insert_signing_key(uow.conn, key):
                every = [key.times, *(k.times for k in keys)]
                await store.delete_signing_keys(
                    uow.conn, domain.expired_kids(every, now, access_ttl_ms)
                )
                return key
        async with read_transaction(uow_factory.engine) as conn:
            newest = await store.signing_keys_newest_first(conn)
        if newest and newest[0].generation == generation:
            return newest[0]
    raise RuntimeError("the signing key could not be rotated")


async def refresh_keyring(
    uow_factory: UnitOfWorkFactory, keyring: Keyring, rotation_ms: int, access_ttl_ms: int
) -> None:
    """Re-read the keys (another instance or `messenger rotate-keys` may have rotated),
    rotating first when automatic rotation is due."""
    async with read_transaction(uow_factory.engine) as conn:
        keys = await store.signing_keys_newest_first(conn)
    if domain.rotation_due([k.times for k in keys], now_ms(), rotation_ms):
        await rotate_signing_key(uow_factory, access_ttl_ms)
        async with read_transaction(uow_factory.engine) as conn:
            keys = await store.signing_keys_newest_first(conn)
    if keys:
        keyring.replace(keys)


async def public_keys(uow_factory: UnitOfWorkFactory, access_ttl_ms: int) -> list[PublicKey]:
    """The keys a verifier must trust now: current, pending, and retired ones whose
    tokens may not have expired yet."""
    async with read_transaction(uow_factory.engine) as conn:
        keys = await store.signing_keys_newest_first(conn)
    published = set(domain.published_kids([k.times for k in keys], now_ms(), access_ttl_ms))
    return [PublicKey(k.kid, domain.ALGORITHM, k.public_pem) for k in keys if k.kid in published]


async def _issue(uow: UnitOfWork, session: Session, now: int, expires_at_ms: int) -> str:
    """A new refresh token for the session, stored as its hash only; it expires with
    the session."""
    token = domain.new_refresh_token()
    await store.insert_refresh_token(
        uow.conn,
        RefreshToken(
            token_hash=domain.hash_token(token),
            session_id=session.id,
            issued_at_ms=now,
            rotated_at_ms=None,
            expires_at_ms=expires_at_ms,
        ),
    )
    return token


async def create_session(
    uow_factory: UnitOfWorkFactory,
    signer: Signer,
    lifetimes: Lifetimes,
    user_id: str,
    device_name: str,
) -> TokenPair:
    if not is_valid_id(user_id):
        raise invalid("user_id is not a valid id.", "user_id")
    device = domain.device_name(device_name)
    now = now_ms()
    session = Session(
        id=new_id(),
        user_id=user_id,
        device_name=device,
        created_at_ms=now,
        last_used_at_ms=now,
        expires_at_ms=lifetimes.expiry(now, now),
        revoked_at_ms=None,
    )
    async with uow_factory() as uow:
        await store.insert_session(uow.conn, session)
        refresh_token = await _issue(uow, session, now, session.expires_at_ms)
        uow.emit("session.created", events.session_created(session))
    return TokenPair(
        access_token=signer.access_token(user_id, session.id, now),
        expires_in=signer.ttl_seconds,
        refresh_token=refresh_token,
        session_id=session.id,
        user_id=user_id,
    )


async def refresh_session(
    uow_factory: UnitOfWorkFactory, signer: Signer, lifetimes: Lifetimes, refresh_token: str
) -> TokenPair:
    """Rotate the refresh token. A rotated one presented again revokes its session; that
    revocation commits before the error is raised."""
    if not domain.is_plausible_refresh_token(refresh_token):
        raise _invalid_refresh()
    token_hash = domain.hash_token(refresh_token)
    now = now_ms()
    new_token = ""
    session: Session | None = None
    async with uow_factory() as uow:
        found = await store.find_refresh_token(uow.conn, token_hash)
        verdict = RefreshVerdict.INVALID
        if found is not None:
            verdict = domain.judge_refresh(found[0], found[1], now)
            session = found[1]
            if verdict is RefreshVerdict.ROTATE and lifetimes.ended(session.created_at_ms, now):
                verdict = RefreshVerdict.INVALID
        if session is not None and verdict is RefreshVerdict.ROTATE:
            expires = lifetimes.expiry(session.created_at_ms, now)
            if not await store.mark_rotated(uow.conn, token_hash, now):
                # A concurrent refresh won with this very token: this one is a reuse.
                verdict = RefreshVerdict.REUSED
            elif await store.touch_live_session(uow.conn, session.id, now, expires):
                new_token = await _issue(uow, session, now, expires)
            else:
                verdict = RefreshVerdict.INVALID
        if session is not None and verdict is RefreshVerdict.REUSED:
            for session_id in await store.revoke_sessions(
                uow.conn, [session.id], now, domain.REUSE_REASON
            ):
                uow.emit(
                    "session.revoked",
                    events.session_revoked(session_id, session.user_id, domain.REUSE_REASON),
                )
    if session is None or verdict is not RefreshVerdict.ROTATE:
        raise _invalid_refresh()
    return TokenPair(
        access_token=signer.access_token(session.user_id, session.id, now),
        expires_in=signer.ttl_seconds,
        refresh_token=new_token,
        session_id=session.id,
        user_id=session.user_id,
    )


async def revoke_session(
    uow_factory: UnitOfWorkFactory, session_id: str, user_id: str, reason: str
) -> int:
    """Revoke one live session; NOT_FOUND when unknown, already revoked, or (when
    `user_id` is given) someone else's."""
    why = domain.revoke_reason(reason)
    if not is_valid_id(session_id):
        raise not_found("session")
    now = now_ms()
    async with uow_factory() as uow:
        session = await store.get_session(uow.conn, session_id)
        if session is None or not session.is_live(now) or user_id not in ("", session.user_id):
            raise not_found("session")
        if not await store.revoke_sessions(uow.conn, [session.id], now, why):
            raise not_found("session")
        uow.emit("session.revoked", events.session_revoked(session.id, session.user_id, why))
    return 1


async def revoke_other_sessions(
    uow_factory: UnitOfWorkFactory, user_id: str, keep_session_id: str, reason: str
) -> int:
    """Revoke every live session of the user but `keep_session_id` (all when empty)."""
    why = domain.revoke_reason(reason)
    if not is_valid_id(user_id):
        raise invalid("user_id is not a valid id.", "user_id")
    now = now_ms()
    async with uow_factory() as uow:
        live = await store.live_sessions(uow.conn, user_id, now)
        doomed = [s.id for s in live if s.id != keep_session_id]
        revoked = await store.revoke_sessions(uow.conn, doomed, now, why)
        for session_id in revoked:
            uow.emit("session.revoked", events.session_revoked(session_id, user_id, why))
    return len(revoked)


async def validate_session(uow_factory: UnitOfWorkFactory, session_id: str) -> Session | None:
    """The session when it is live, else None."""
    if not is_valid_id(session_id):
        return None
    async with read_transaction(uow_factory.engine) as conn:
        session = await store.get_session(conn, session_id)
    if session is None or not session.is_live(now_ms()):
        return None
    return session


async def list_sessions(uow_factory: UnitOfWorkFactory, user_id: str) -> list[Session]:
    if not is_valid_id(user_id):
        return []
    async with read_transaction(uow_factory.engine) as conn:
        return await store.live_sessions(conn, user_id, now_ms())

"""auth-service use-cases: each checks the rules, opens its unit of work, stages its
events and outgoing mail, and commits; argon2 runs outside the write transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from messenger.auth import domain, events, store
from messenger.auth.domain import Account, LoginTokens, TokenPurpose
from messenger.auth.passwords import Passwords
from messenger.auth.sealing import MailSealer
from messenger.platform.clock import now_ms
from messenger.platform.db import read_transaction
from messenger.platform.errors import ErrorCode, MessengerError, not_found
from messenger.platform.ids import is_valid_id, new_id
from messenger.platform.logging import log
from messenger.platform.uow import UnitOfWork, UnitOfWorkFactory


class SessionPort(Protocol):
    """What auth needs of session-service."""

    async def create_session(self, user_id: str, device_name: str) -> LoginTokens: ...

    async def revoke_other_sessions(
        self, user_id: str, keep_session_id: str, reason: str
    ) -> int: ...


MAILS_PER_HOUR = 5
HOUR_MS = 3600 * 1000


@dataclass(frozen=True)
class AuthDeps:
    """Everything the use-cases need, wired once in main.py."""

    uow: UnitOfWorkFactory
    passwords: Passwords
    sessions: SessionPort
    sealer: MailSealer
    wake_mailer: Callable[[], None]
    links_base_url: str
    max_login_failures: int
    max_login_failures_per_address: int
    login_failure_window_ms: int


def _invalid_token() -> MessengerError:
    return MessengerError(ErrorCode.INVALID_TOKEN, "The token is invalid, used or expired.")


def _invalid_credentials() -> MessengerError:
    return MessengerError(ErrorCode.INVALID_CREDENTIALS, "The login or password is incorrect.")


def _taken(field: str) -> MessengerError:
    if field == "username":
        return MessengerError(ErrorCode.USERNAME_TAKEN, "That username is taken.", field=field)
    return MessengerError(ErrorCode.EMAIL_TAKEN, "That email is already registered.", field=field)


async def _send_token(
    uow: UnitOfWork, deps: AuthDeps, account: Account, purpose: TokenPurpose, now: int
) -> None:
    """A fresh token (stored as its hash) and the mail carrying it (stored sealed), in
    one transaction."""
    token = domain.new_email_token()
    await store.insert_email_token(
        uow.conn,
        domain.EmailToken(
            token_hash=domain.hash_token(token),
            user_id=account.id,
            purpose=purpose,
            created_at_ms=now,
            expires_at_ms=now + purpose.ttl_ms,
            used_at_ms=None,
        ),
    )
    compose = domain.verification_mail if purpose is TokenPurpose.VERIFY else domain.reset_mail
    mail = compose(account.email, account.username, deps.links_base_url, token)
    mail_id = new_id()
    sealed = replace(mail, body=deps.sealer.seal(mail_id, mail.body))
    await store.insert_mail(uow.conn, mail_id, account.id, sealed, now)


async def _send_token_within_cap(
    uow: UnitOfWork, deps: AuthDeps, account: Account, purpose: TokenPurpose
) -> bool:
    """At most MAILS_PER_HOUR such mails per account: the endpoints answer 202 to anyone,
    so without a cap they would let a stranger flood someone's inbox."""
    now = now_ms()
    recent = await store.count_recent_email_tokens(uow.conn, account.id, purpose, now - HOUR_MS)
    if recent >= MAILS_PER_HOUR:
        return False
    await _send_token(uow, deps, account, purpose, now)
    return True


async def _reserve_password_attempt(deps: AuthDeps, limits: dict[str, int], now: int) -> list[int]:
    """Count a password attempt as a failure BEFORE its password is checked (the caller
    takes it back on success), under a lock on its throttle keys: however many attempts
    run at once, no more than the limit are ever checked in a window."""
    window_start = now - deps.login_failure_window_ms
    retry_after: int | None = None
    async with deps.uow() as uow:
        await store.lock_throttle_keys(uow.conn, list(limits))
        for key, limit in limits.items():
            times = await store.login_failure_times(uow.conn, key, window_start)
            wait = domain.retry_after_seconds(times, now, limit, deps.login_failure_window_ms)
            if wait is not None:
                retry_after = max(wait, retry_after or 0)
        if retry_after is None:
            return await store.record_login_failure(uow.conn, list(limits), now, window_start)
    raise MessengerError(
        ErrorCode.RATE_LIMITED,
        f"Too many failed password attempts; try again in {retry_after} seconds.",
        retry_after=retry_after,
    )


async def _with_sessions_revoked(
    deps: AuthDeps,
    user_id: str,
    keep_session_id: str,
    reason: str,
    commit: Callable[[], Awaitable[None]],
) -> None:
    """Revoke the sessions before the new password commits, so that a failure part-way
    leaves the old password without those sessions, never the new password with them
    alive; then once more, for a login with the old password that raced the change
    (best effort: the first pass has done the job unless such a login slipped in)."""
    await deps.sessions.revoke_other_sessions(user_id, keep_session_id, reason)
    await commit()
    try:
        await deps.sessions.revoke_other_sessions(user_id, keep_session_id, reason)
    except MessengerError as exc:
        log.warning("second revocation pass failed", user_id=user_id, error=exc.message)


async def register(
    deps: AuthDeps, email: str, username: str, password: str, display_name: str | None
) -> Account:
    registration = domain.check_registration(email, username, password, display_name)
    async with read_transaction(deps.uow.engine) as conn:
        taken = await store.taken_field(conn, registration.email_lower, registration.username)
    if taken is not None:
        raise _taken(taken)
    password_hash = await deps.passwords.hash(registration.password)
    now = now_ms()
    account = Account(
        id=new_id(),
        email=registration.email,
        email_lower=registration.email_lower,
        username=registration.username,
        password_hash=password_hash,
        email_verified=False,
        created_at_ms=now,
    )
    async with deps.uow() as uow:
        taken = await store.insert_account(uow.conn, account)
        if taken is not None:
            raise _taken(taken)
        await _send_token(uow, deps, account, TokenPurpose.VERIFY, now)
        uow.emit("user.created", events.user_created(account, registration.display_name))
    deps.wake_mailer()
    return account


async def verify_email(deps: AuthDeps, token: str) -> str:
    """The user id. The same token used again answers the same while the account is
    verified; `user.email_verified` is emitted only when the flag actually flips."""
    if not domain.is_plausible_email_token(token):
        raise _invalid_token()
    token_hash = domain.hash_token(token)
    now = now_ms()
    async with deps.uow() as uow:
        found = await store.find_email_token(uow.conn, token_hash, TokenPurpose.VERIFY)
        if found is None:
            raise _invalid_token()
        if found.used_at_ms is None and found.is_usable(now):
            if await store.use_email_token(uow.conn, token_hash, now):
                if await store.mark_verified(uow.conn, found.user_id):
                    uow.emit("user.email_verified", events.user_email_verified(found.user_id))
                return found.user_id
        elif found.used_at_ms is None:
            raise _invalid_token()
        # Used before (or by a concurrent call just now): fine while the account is verified.
        account = await store.get_account(uow.conn, found.user_id)
        if account is None or not account.email_verified:
            raise _invalid_token()
        return account.id


async def resend_verification(deps: AuthDeps, email: str) -> None:
    """Always succeeds (no account enumeration); mails a new token to an unverified account."""
    if not domain.is_valid_email(email):
        return
    sent = False
    async with deps.uow() as uow:
        account = await store.find_account_by_email(uow.conn, domain.email_key(email))
        if account is not None and not account.email_verified:
            sent = await _send_token_within_cap(uow, deps, account, TokenPurpose.VERIFY)
    if sent:
        deps.wake_mailer()


async def forgot_password(deps: AuthDeps, email: str) -> None:
    """Always succeeds (no account enumeration); mails a reset link when the account exists."""
    if not domain.is_valid_email(email):
        return
    sent = False
    async with deps.uow() as uow:
        account = await store.find_account_by_email(uow.conn, domain.email_key(email))
        if account is not None:
            sent = await _send_token_within_cap(uow, deps, account, TokenPurpose.RESET)
    if sent:
        deps.wake_mailer()


async def reset_password(deps: AuthDeps, token: str, new_password: str) -> None:
    """Set the password with a single-use reset token, then revoke every session."""
    password = domain.normalize_password(new_password, "new_password")
    if not domain.is_plausible_email_token(token):
        raise _invalid_token()
    token_hash = domain.hash_token(token)
    async with read_transaction(deps.uow.engine) as conn:
        found = await store.find_email_token(conn, token_hash, TokenPurpose.RESET)
    if found is None or not found.is_usable(now_ms()):
        raise _invalid_token()
    password_hash = await deps.passwords.hash(password)

    async def commit() -> None:
        async with deps.uow() as uow:
            now = now_ms()
            if not await store.use_email_token(uow.conn, token_hash, now):
                raise _invalid_token()
            await store.use_all_email_tokens(uow.conn, found.user_id, TokenPurpose.RESET, now)
            await store.set_password_hash(uow.conn, found.user_id, password_hash)
            account_key = domain.throttle_key("account", found.user_id)
            await store.clear_login_failures(uow.conn, account_key)

    await _with_sessions_revoked(deps, found.user_id, "", "password_reset", commit)


async def change_password(
    deps: AuthDeps, user_id: str, session_id: str, current_password: str, new_password: str
) -> None:
    """Set a new password after checking the current one; every other session is revoked."""
    password = domain.normalize_password(new_password, "new_password")
    if not is_valid_id(user_id):
        raise not_found("account")
    async with read_transaction(deps.uow.engine) as conn:
        account = await store.get_account(conn, user_id)
    if account is None:
        raise not_found("account")
    # Guesses here count with failed logins: a stolen access token must not be a way to
    # try passwords without limit. While throttled the answer is 429 whatever the
    # password, or 403-versus-429 would tell a guess right from wrong.
    account_key = domain.throttle_key("account", user_id)
    reserved = await _reserve_password_attempt(
        deps, {account_key: deps.max_login_failures}, now_ms()
    )
    current = domain.password_for_check(current_password)
    matched = await deps.passwords.verify(account.password_hash, current or "")
    if current is None or not matched:
        raise MessengerError(ErrorCode.WRONG_CURRENT_PASSWORD, "The current password is wrong.")
    password_hash = await deps.passwords.hash(password)

    async def commit() -> None:
        async with deps.uow() as uow:
            await store.set_password_hash(uow.conn, user_id, password_hash)
            await store.use_all_email_tokens(uow.conn, user_id, TokenPurpose.RESET, now_ms())
            await store.forget_login_failures(uow.conn, reserved)
            await store.clear_login_failures(uow.conn, account_key)

    await _with_sessions_revoked(deps, user_id, session_id, "password_changed", commit)


async def login(
    deps: AuthDeps, login: str, password: str, device_name: str | None, client_address: str
) -> LoginTokens:
    """Check the password and open a session. Unknown login and wrong password answer
    the same, in about the same time; failures are throttled per account and per address."""
    device = domain.check_device_name(device_name)
    login_lower = login.lower()
    now = now_ms()
    account: Account | None = None
    if 0 < len(login_lower) <= domain.MAX_LOGIN and "\x00" not in login_lower:
        async with read_transaction(deps.uow.engine) as conn:
            account = await store.find_account_by_login(conn, login_lower)
    account_key = (
        domain.throttle_key("account", account.id)
        if account is not None
        else domain.throttle_key("login", login_lower)
    )
    limits = {account_key: deps.max_login_failures}
    if client_address:
        limits[domain.throttle_key("address", client_address)] = deps.max_login_failures_per_address
    reserved = await _reserve_password_attempt(deps, limits, now)

    candidate = domain.password_for_check(password)
    stored_hash = account.password_hash if account is not None else None
    matched = await deps.passwords.verify(stored_hash, candidate or "")
    if account is None or candidate is None or not matched:
        raise _invalid_credentials()

    rehash = deps.passwords.needs_rehash(account.password_hash)
    new_hash = await deps.passwords.hash(candidate) if rehash else None
    async with deps.uow() as uow:
        if new_hash is not None:
            await store.set_password_hash(uow.conn, account.id, new_hash)
        await store.forget_login_failures(uow.conn, reserved)
        await store.clear_login_failures(uow.conn, account_key)
    return await deps.sessions.create_session(account.id, device)

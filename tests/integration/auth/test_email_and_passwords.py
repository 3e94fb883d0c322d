"""Email verification, password reset and change, the mail outbox, and what the
databases keep: over real gRPC with the real session-service."""

from __future__ import annotations

import asyncio

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from messenger.auth import store as auth_store
from messenger.auth.main import serve as serve_auth
from messenger.pb.auth.v1 import auth_pb2 as pb
from messenger.pb.auth.v1 import auth_pb2_grpc
from messenger.platform.config import Settings
from messenger.platform.db import create_engine, database_url, dispose_engine
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.grpc import channel, rpc
from messenger.platform.ids import new_id
from messenger.platform.process import free_port
from messenger.session import store as session_store
from tests.integration.auth.helpers import (
    PASSWORD,
    Services,
    is_active,
    login,
    mail_dir,
    read_mails,
    register,
    wait_for_mails,
)
from tests.integration.session.harness import database_dump, execute, running

NEW_PASSWORD = "a brand new passphrase"


async def verify(services: Services, token: str) -> pb.VerifyEmailResponse:
    return await rpc(services.auth.VerifyEmail, pb.VerifyEmailRequest(token=token), deadline=5)


async def all_mail_sent(settings: Settings) -> None:
    """Wait until the mailer has marked every queued mail as sent."""
    engine = create_engine(database_url(settings, "auth"))
    try:
        for _ in range(250):
            async with engine.connect() as conn:
                pending = await conn.scalar(
                    select(auth_store.mail_outbox.c.id).where(
                        auth_store.mail_outbox.c.sent_at_ms.is_(None)
                    )
                )
            if pending is None:
                return
            await asyncio.sleep(0.02)
    finally:
        await dispose_engine(engine)
    raise AssertionError("mail still pending")


async def test_verification_mail_is_a_complete_eml_with_the_link(services: Services) -> None:
    settings = services.settings
    account = await register(services, "Kim@Example.org", "kim")
    ((message, token),) = await wait_for_mails(settings, "Kim@Example.org", "verify-email")
    assert message["From"] == settings.mail_from
    assert message["Subject"]
    assert message["Date"]
    assert message["Message-ID"]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content_type() == "text/plain"
    assert f"{settings.links_base_url}/verify-email?token={token}" in body.get_content()
    assert len(token) == 43
    (path,) = mail_dir(settings).glob("*.eml")
    assert account.user_id in path.name
    assert not list(mail_dir(settings).glob(".*"))


async def test_verify_email_is_single_use_and_replays_while_verified(services: Services) -> None:
    settings, events = services.settings, services.events
    account = await register(services, "lee@example.org", "lee")
    ((_, token),) = await wait_for_mails(settings, "lee@example.org", "verify-email")

    answer = await verify(services, token)
    assert (answer.user_id, answer.email_verified) == (account.user_id, True)
    (verified,) = await events.wait_for("user.email_verified", user_id=account.user_id)
    assert verified.data == {"user_id": account.user_id}
    assert verified.producer == "auth"

    again = await verify(services, token)
    assert (again.user_id, again.email_verified) == (account.user_id, True)
    await asyncio.sleep(0.3)
    assert len(events.of_type("user.email_verified")) == 1

    for wrong in [token[:-1] + ("A" if token[-1] != "A" else "B"), "", "not a token", "x" * 500]:
        with pytest.raises(MessengerError) as error:
            await verify(services, wrong)
        assert error.value.code is ErrorCode.INVALID_TOKEN

    # A verified account gets no more verification mail.
    await rpc(
        services.auth.ResendVerification,
        pb.ResendVerificationRequest(email="LEE@example.org"),
        deadline=5,
    )
    await asyncio.sleep(0.3)
    assert len(read_mails(settings)) == 1


async def test_expired_and_superseded_verify_tokens(services: Services) -> None:
    settings = services.settings
    await register(services, "mia@example.org", "mia")
    ((_, first),) = await wait_for_mails(settings, "mia@example.org", "verify-email")
    await execute(
        settings,
        "auth",
        update(auth_store.email_tokens).values(
            expires_at_ms=auth_store.email_tokens.c.created_at_ms
        ),
    )
    with pytest.raises(MessengerError) as expired:
        await verify(services, first)
    assert expired.value.code is ErrorCode.INVALID_TOKEN

    for address in ["mia@example.org", "nobody@example.org", "not an email"]:
        await rpc(
            services.auth.ResendVerification,
            pb.ResendVerificationRequest(email=address),
            deadline=5,
        )
    mails = await wait_for_mails(settings, "mia@example.org", "verify-email", count=2)
    assert len(read_mails(settings)) == 2
    assert (await verify(services, mails[1][1])).email_verified


async def test_forgot_and_reset_password_revoke_every_session(services: Services) -> None:
    settings, events = services.settings, services.events
    account = await register(services, "nina@example.org", "nina")
    sessions = [await login(services, "nina") for _ in range(2)]

    for address in ["nobody@example.org", "bad address"]:
        await rpc(services.auth.ForgotPassword, pb.ForgotPasswordRequest(email=address), deadline=5)
    await rpc(
        services.auth.ForgotPassword, pb.ForgotPasswordRequest(email="NINA@example.org"), deadline=5
    )
    ((message, token),) = await wait_for_mails(settings, "nina@example.org", "reset-password")
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert f"{settings.links_base_url}/reset-password?token={token}" in body.get_content()

    with pytest.raises(MessengerError) as weak:
        await rpc(
            services.auth.ResetPassword,
            pb.ResetPasswordRequest(token=token, new_password="short"),
            deadline=5,
        )
    assert weak.value.code is ErrorCode.VALIDATION_FAILED
    with pytest.raises(MessengerError) as wrong:
        await rpc(
            services.auth.ResetPassword,
            pb.ResetPasswordRequest(token="A" * 43, new_password=NEW_PASSWORD),
            deadline=5,
        )
    assert wrong.value.code is ErrorCode.INVALID_TOKEN

    reset = pb.ResetPasswordRequest(token=token, new_password=NEW_PASSWORD)
    await rpc(services.auth.ResetPassword, reset, deadline=5)
    for pair in sessions:
        assert not await is_active(services, pair.session_id)
    revoked = await events.wait_for("session.revoked", 2, user_id=account.user_id)
    assert {e.data["reason"] for e in revoked} == {"password_reset"}

    with pytest.raises(MessengerError) as reused:
        await rpc(services.auth.ResetPassword, reset, deadline=5)
    assert reused.value.code is ErrorCode.INVALID_TOKEN
    with pytest.raises(MessengerError) as old:
        await login(services, "nina", PASSWORD)
    assert old.value.code is ErrorCode.INVALID_CREDENTIALS
    assert (await login(services, "nina", NEW_PASSWORD)).user_id == account.user_id


async def test_expired_reset_token_is_invalid(services: Services) -> None:
    settings = services.settings
    await register(services, "olga@example.org", "olga")
    await rpc(
        services.auth.ForgotPassword, pb.ForgotPasswordRequest(email="olga@example.org"), deadline=5
    )
    ((_, token),) = await wait_for_mails(settings, "olga@example.org", "reset-password")
    await execute(
        settings,
        "auth",
        update(auth_store.email_tokens).values(
            expires_at_ms=auth_store.email_tokens.c.created_at_ms
        ),
    )
    with pytest.raises(MessengerError) as expired:
        await rpc(
            services.auth.ResetPassword,
            pb.ResetPasswordRequest(token=token, new_password=NEW_PASSWORD),
            deadline=5,
        )
    assert expired.value.code is ErrorCode.INVALID_TOKEN


async def test_change_password_keeps_only_the_current_session(services: Services) -> None:
    events = services.events
    account = await register(services, "paul@example.org", "paul")
    current, other, third = [await login(services, "paul") for _ in range(3)]

    def change(current_password: str, new_password: str) -> pb.ChangePasswordRequest:
        return pb.ChangePasswordRequest(
            user_id=account.user_id,
            session_id=current.session_id,
            current_password=current_password,
            new_password=new_password,
        )

    with pytest.raises(MessengerError) as wrong:
        await rpc(services.auth.ChangePassword, change("wrong password", NEW_PASSWORD), deadline=5)
    assert wrong.value.code is ErrorCode.WRONG_CURRENT_PASSWORD
    with pytest.raises(MessengerError) as weak:
        await rpc(services.auth.ChangePassword, change(PASSWORD, "short"), deadline=5)
    assert weak.value.code is ErrorCode.VALIDATION_FAILED
    assert await is_active(services, other.session_id)

    await rpc(services.auth.ChangePassword, change(PASSWORD, NEW_PASSWORD), deadline=5)
    assert await is_active(services, current.session_id)
    assert not await is_active(services, other.session_id)
    assert not await is_active(services, third.session_id)
    revoked = await events.wait_for("session.revoked", 2, user_id=account.user_id)
    assert {e.data["session_id"] for e in revoked} == {other.session_id, third.session_id}
    assert {e.data["reason"] for e in revoked} == {"password_changed"}
    with pytest.raises(MessengerError):
        await login(services, "paul", PASSWORD)
    assert (await login(services, "paul", NEW_PASSWORD)).user_id == account.user_id


async def test_password_is_normalised_with_nfkc(services: Services) -> None:
    await register(services, "quinn@example.org", "quinn", password="ﬁﬁﬁﬁ")
    assert (await login(services, "quinn", "fifififi")).session_id


async def test_databases_hold_no_clear_password_or_token(services: Services) -> None:
    settings = services.settings
    await register(services, "rita@example.org", "rita")
    ((_, verify_token),) = await wait_for_mails(settings, "rita@example.org", "verify-email")
    await verify(services, verify_token)
    await rpc(
        services.auth.ForgotPassword, pb.ForgotPasswordRequest(email="rita@example.org"), deadline=5
    )
    ((_, reset_token),) = await wait_for_mails(settings, "rita@example.org", "reset-password")
    tokens = await login(services, "rita")
    await all_mail_sent(settings)

    auth_dump = await database_dump(settings, "auth", auth_store.metadata)
    session_dump = await database_dump(settings, "session", session_store.metadata)
    assert "rita@example.org" in auth_dump
    for secret in [PASSWORD, verify_token, reset_token]:
        assert secret not in auth_dump
    for secret in [PASSWORD, tokens.refresh_token, tokens.access_token]:
        assert secret not in session_dump


async def test_a_new_password_voids_every_outstanding_reset_link(services: Services) -> None:
    settings = services.settings
    await register(services, "olga@example.org", "olga")
    forgot = pb.ForgotPasswordRequest(email="olga@example.org")
    for _ in range(2):
        await rpc(services.auth.ForgotPassword, forgot, deadline=5)
    (_, first), (_, second) = await wait_for_mails(
        settings, "olga@example.org", "reset-password", count=2
    )
    await rpc(
        services.auth.ResetPassword,
        pb.ResetPasswordRequest(token=second, new_password=NEW_PASSWORD),
        deadline=5,
    )
    with pytest.raises(MessengerError) as voided:
        await rpc(
            services.auth.ResetPassword,
            pb.ResetPasswordRequest(token=first, new_password="an attacker's choice"),
            deadline=5,
        )
    assert voided.value.code is ErrorCode.INVALID_TOKEN

    # A password change voids them too.
    await rpc(services.auth.ForgotPassword, forgot, deadline=5)
    mails = await wait_for_mails(settings, "olga@example.org", "reset-password", count=3)
    third = next(token for _, token in mails if token not in (first, second))
    session = await login(services, "olga", NEW_PASSWORD)
    await rpc(
        services.auth.ChangePassword,
        pb.ChangePasswordRequest(
            user_id=session.user_id,
            session_id=session.session_id,
            current_password=NEW_PASSWORD,
            new_password="the third passphrase",
        ),
        deadline=10,
    )
    with pytest.raises(MessengerError) as changed:
        await rpc(
            services.auth.ResetPassword,
            pb.ResetPasswordRequest(token=third, new_password="an attacker's choice"),
            deadline=5,
        )
    assert changed.value.code is ErrorCode.INVALID_TOKEN


async def test_without_session_service_a_password_change_changes_nothing(
    settings: Settings,
) -> None:
    """Sessions are revoked before the new password commits: when that fails, the old
    password stays, rather than the new one with the old sessions still alive."""
    cut_off = settings.model_copy(
        update={"session_addr": f"127.0.0.1:{free_port()}", "rpc_timeout_seconds": 2.0}
    )
    async with (
        running(cut_off, "auth", serve_auth, cut_off.auth_addr),
        channel(cut_off.auth_addr) as chan,
    ):
        stub = auth_pb2_grpc.AuthServiceStub(chan)
        account = await rpc(
            stub.Register,
            pb.RegisterRequest(email="uma@example.org", username="uma", password=PASSWORD),
            deadline=10,
        )
        with pytest.raises(MessengerError) as failed:
            await rpc(
                stub.ChangePassword,
                pb.ChangePasswordRequest(
                    user_id=account.user_id,
                    session_id=new_id(),
                    current_password=PASSWORD,
                    new_password=NEW_PASSWORD,
                ),
                deadline=10,
            )
        assert failed.value.code is ErrorCode.UNAVAILABLE
        engine = create_engine(database_url(settings, "auth"))
        try:
            async with engine.connect() as conn:
                stored = await conn.scalar(
                    select(auth_store.accounts.c.password_hash).where(
                        auth_store.accounts.c.id == account.user_id
                    )
                )
        finally:
            await dispose_engine(engine)
        assert stored is not None
        assert PasswordHasher().verify(stored, PASSWORD)

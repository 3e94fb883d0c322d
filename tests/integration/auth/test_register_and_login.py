"""Registration, login and its throttling, over real gRPC with the real session-service."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime

import jwt
import pytest
from argon2 import PasswordHasher
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import select, update

from messenger.auth import store
from messenger.pb.auth.v1 import auth_pb2 as pb
from messenger.pb.session.v1 import session_pb2 as session_pb
from messenger.platform.config import Settings
from messenger.platform.db import create_engine, database_url, dispose_engine
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.grpc import channel, rpc
from tests.integration.auth.helpers import PASSWORD, Services, is_active, login, register
from tests.integration.session.harness import execute


async def stored_hash(settings: Settings, user_id: str) -> str:
    engine = create_engine(database_url(settings, "auth"))
    try:
        async with engine.connect() as conn:
            value = await conn.scalar(
                select(store.accounts.c.password_hash).where(store.accounts.c.id == user_id)
            )
    finally:
        await dispose_engine(engine)
    assert isinstance(value, str)
    return value


async def test_health_service_answers_serving(services: Services) -> None:
    async with channel(services.settings.auth_addr) as chan:
        health = health_pb2_grpc.HealthStub(chan)
        for name in ("", "messenger.auth.v1.AuthService"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_register_then_login_by_email_or_username_in_any_case(services: Services) -> None:
    account = await register(services, "Alice.Smith@Example.COM", "Alice_1")
    assert account.email == "Alice.Smith@Example.COM"
    assert account.username == "alice_1"
    assert not account.email_verified
    assert len(account.user_id) == 32

    (created,) = await services.events.wait_for("user.created", user_id=account.user_id)
    assert created.data["username"] == "alice_1"
    assert created.data["display_name"] == "alice_1"
    assert datetime.fromisoformat(created.data["created_at"]).tzinfo is not None
    assert created.data["created_at"].endswith("Z")
    assert (created.producer, created.version) == ("auth", 1)
    assert created.id
    assert created.occurred_at

    for name in ["alice.smith@example.com", "ALICE.SMITH@EXAMPLE.COM", "alice_1", "ALICE_1"]:
        tokens = await login(services, name, device="Pixel 9")
        assert tokens.user_id == account.user_id
        assert tokens.expires_in == services.settings.access_token_ttl_seconds
        assert tokens.refresh_token
        assert await is_active(services, tokens.session_id)
        claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
        assert (claims["sub"], claims["sid"]) == (account.user_id, tokens.session_id)
    created_sessions = await services.events.wait_for("session.created", 4, user_id=account.user_id)
    assert {e.data["device_name"] for e in created_sessions} == {"Pixel 9"}


async def test_display_name_is_carried_in_user_created(services: Services) -> None:
    account = await register(services, "b@example.org", "bob", display_name="Bob 🎸")
    (created,) = await services.events.wait_for("user.created", user_id=account.user_id)
    assert created.data["display_name"] == "Bob 🎸"


async def test_taken_email_and_username_are_conflicts(services: Services) -> None:
    await register(services, "carol@example.org", "carol")
    with pytest.raises(MessengerError) as email_taken:
        await register(services, "CAROL@example.org", "carol2")
    assert email_taken.value.code is ErrorCode.EMAIL_TAKEN
    with pytest.raises(MessengerError) as username_taken:
        await register(services, "carol2@example.org", "CaRoL")
    assert username_taken.value.code is ErrorCode.USERNAME_TAKEN


async def test_concurrent_registrations_of_one_username_have_one_winner(
    services: Services,
) -> None:
    results = await asyncio.gather(
        *(register(services, f"dave{i}@example.org", "dave") for i in range(4)),
        return_exceptions=True,
    )
    accounts = [r for r in results if isinstance(r, pb.Account)]
    errors = [r for r in results if isinstance(r, MessengerError)]
    assert len(accounts) == 1
    assert [e.code for e in errors] == [ErrorCode.USERNAME_TAKEN] * 3


@pytest.mark.parametrize(
    ("email", "username", "password", "display_name"),
    [
        ("no-at-sign", "erin", PASSWORD, None),
        ("erin@example", "erin", PASSWORD, None),
        ("erin@example.org", "er", PASSWORD, None),
        ("erin@example.org", "erin-x", PASSWORD, None),
        ("erin@example.org", "erin", "short", None),
        ("erin@example.org", "erin", "x" * 257, None),
        ("erin@example.org", "erin", PASSWORD, "   "),
        ("erin@example.org", "erin", PASSWORD, "x" * 65),
        ("erin\x00@example.org", "erin", PASSWORD, None),
    ],
)
async def test_invalid_registrations_are_validation_errors(
    services: Services, email: str, username: str, password: str, display_name: str | None
) -> None:
    with pytest.raises(MessengerError) as error:
        await register(services, email, username, password, display_name)
    assert error.value.code is ErrorCode.VALIDATION_FAILED


async def test_unknown_user_and_wrong_password_fail_identically(services: Services) -> None:
    for name in ("frank", "frank2", "frank3"):
        await register(services, f"{name}@example.org", name)
    # Each account sees 2 failures and each address 4: below the throttle.
    attempts = {
        "unknown": ("nobody@example.org", PASSWORD),
        "wrong": ("frank", "not the password"),
        "too short": ("frank2", "short"),
        "too long": ("frank3", "x" * 300),
    }
    timings: dict[str, list[float]] = {}
    messages = set()
    for label, (name, password) in attempts.items():
        for attempt in range(2):
            started = time.perf_counter()
            with pytest.raises(MessengerError) as error:
                await login(services, name, password, address=f"198.51.100.{attempt}")
            timings.setdefault(label, []).append(time.perf_counter() - started)
            assert error.value.code is ErrorCode.INVALID_CREDENTIALS
            messages.add(error.value.message)
    assert len(messages) == 1
    # The unknown user is checked against a dummy argon2 hash: no fast path to time.
    assert statistics.median(timings["unknown"]) > 0.3 * statistics.median(timings["wrong"])
    assert statistics.median(timings["too short"]) > 0.3 * statistics.median(timings["wrong"])


async def test_failed_logins_are_throttled_per_account(services: Services) -> None:
    settings = services.settings
    await register(services, "grace@example.org", "grace")
    for i in range(settings.login_max_failures):
        with pytest.raises(MessengerError) as failed:
            await login(services, "grace", "wrong password", address=f"203.0.113.{i}")
        assert failed.value.code is ErrorCode.INVALID_CREDENTIALS
    with pytest.raises(MessengerError) as limited:
        await login(services, "GRACE@example.org", PASSWORD, address="203.0.113.200")
    assert limited.value.code is ErrorCode.RATE_LIMITED
    assert limited.value.retry_after is not None
    assert 0 < limited.value.retry_after <= settings.login_failure_window_seconds

    # Once the failures leave the window, the right password works again.
    await execute(
        settings,
        "auth",
        update(store.login_failures).values(
            failed_at_ms=store.login_failures.c.failed_at_ms
            - settings.login_failure_window_seconds * 1000
        ),
    )
    assert (await login(services, "grace", address="203.0.113.200")).session_id


async def test_failed_logins_are_throttled_per_address(services: Services) -> None:
    settings = services.settings
    await register(services, "heidi@example.org", "heidi")
    assert settings.login_max_failures_per_address > settings.login_max_failures
    for i in range(settings.login_max_failures_per_address):
        with pytest.raises(MessengerError):
            await login(services, f"stranger{i}", "wrong password", address="192.0.2.66")
    with pytest.raises(MessengerError) as limited:
        await login(services, "heidi", PASSWORD, address="192.0.2.66")
    assert limited.value.code is ErrorCode.RATE_LIMITED
    assert limited.value.retry_after is not None
    assert (await login(services, "heidi", address="192.0.2.67")).session_id


async def test_unknown_logins_are_throttled_like_known_ones(services: Services) -> None:
    settings = services.settings
    for i in range(settings.login_max_failures):
        with pytest.raises(MessengerError):
            await login(services, "ghost", "wrong password", address=f"192.0.2.{i}")
    with pytest.raises(MessengerError) as limited:
        await login(services, "ghost", "wrong password", address="192.0.2.100")
    assert limited.value.code is ErrorCode.RATE_LIMITED


async def test_password_hash_is_argon2id_and_rehashed_when_weaker(services: Services) -> None:
    settings = services.settings
    account = await register(services, "ivan@example.org", "ivan")
    assert (await stored_hash(settings, account.user_id)).startswith(
        "$argon2id$v=19$m=19456,t=2,p=1$"
    )
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await execute(
        settings,
        "auth",
        update(store.accounts)
        .where(store.accounts.c.id == account.user_id)
        .values(password_hash=weak),
    )
    await login(services, "ivan")
    assert (await stored_hash(settings, account.user_id)).startswith(
        "$argon2id$v=19$m=19456,t=2,p=1$"
    )
    await login(services, "ivan")


async def test_login_checks_device_name(services: Services) -> None:
    await register(services, "judy@example.org", "judy")
    with pytest.raises(MessengerError) as error:
        await login(services, "judy", device="x" * 65)
    assert error.value.code is ErrorCode.VALIDATION_FAILED
    tokens = await login(services, "judy")
    listed = await rpc(
        services.sessions.ListSessions,
        session_pb.ListSessionsRequest(user_id=tokens.user_id),
        deadline=5,
    )
    assert [s.device_name for s in listed.sessions] == ["unknown"]

"""Acceptance 4 and 5: login gives nothing away about which accounts exist, and failed
logins are throttled per account across auth-service instances (counters in the
database), the right password included, until the window has passed."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from messenger.auth.service import MAILS_PER_HOUR
from tests.e2e.harness import plain_text, register, unique
from tests.security.cluster import MAX_FAILURES, WINDOW_SECONDS, Cluster

TRIES = 20


def comparable(response: httpx.Response) -> tuple[int, object, list[tuple[str, str]]]:
    """Status, body and headers, minus what differs on every response anyway."""
    varying = {"x-request-id", "date", "content-length"}
    headers = sorted((k, v) for k, v in response.headers.items() if k not in varying)
    return response.status_code, response.json(), headers


async def timed_login(
    client: httpx.AsyncClient, login: str, password: str
) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = await client.post("/v1/auth/login", json={"login": login, "password": password})
    return time.perf_counter() - started, response


async def test_unknown_user_and_wrong_password_look_the_same(gw1: httpx.AsyncClient) -> None:
    # One account per wrong-password try, so that the per-account throttle stays out of it.
    users = await asyncio.gather(*(register(gw1, "victim") for _ in range(TRIES)))
    timings: dict[str, list[float]] = {"unknown": [], "wrong": []}
    answers: dict[str, list[tuple[int, object, list[tuple[str, str]]]]] = {
        "unknown": [],
        "wrong": [],
    }
    for user in users:
        for kind, login in (("unknown", unique("nobody")), ("wrong", user.username)):
            took, response = await timed_login(gw1, login, "not the password")
            timings[kind].append(took)
            answers[kind].append(comparable(response))
    expected = answers["wrong"][0]
    assert expected[0] == 401
    assert expected[1] == {
        "error": {"code": "invalid_credentials", "message": expected[1]["error"]["message"]}  # type: ignore[index]
    }
    assert all(answer == expected for kind in answers for answer in answers[kind])
    # Lower quartiles: other work on the machine only ever adds time, in bursts that can
    # move a median; a real difference (say, a skipped hash) moves every try.
    unknown, wrong = (statistics.quantiles(timings[kind], n=4)[0] for kind in ("unknown", "wrong"))
    assert abs(unknown - wrong) < 0.25 * max(unknown, wrong), (unknown, wrong)


async def test_failed_logins_lock_the_account_across_auth_instances(
    gw1: httpx.AsyncClient, gw2: httpx.AsyncClient
) -> None:
    """Gateway 1 talks to auth-service 1, gateway 2 to auth-service 2."""
    ada = await register(gw1, "ada")
    for i in range(MAX_FAILURES):
        gateway = gw1 if i % 2 == 0 else gw2
        failed = await gateway.post(
            "/v1/auth/login", json={"login": ada.username, "password": "guess"}
        )
        assert failed.status_code == 401, failed.text
    locked_at = time.monotonic()
    for gateway in (gw2, gw1):
        limited = await gateway.post(
            "/v1/auth/login", json={"login": ada.email, "password": ada.password}
        )
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"]["code"] == "rate_limited"
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= WINDOW_SECONDS

    # Someone else is not affected (the per-address limit is far away).
    bob = await register(gw1, "bob")
    fine = await gw1.post("/v1/auth/login", json={"login": bob.username, "password": bob.password})
    assert fine.status_code == 200

    await asyncio.sleep(retry_after)
    while True:
        answer = await gw2.post(
            "/v1/auth/login", json={"login": ada.username, "password": ada.password}
        )
        if answer.status_code == 200:
            break
        assert answer.status_code == 429
        assert time.monotonic() - locked_at < WINDOW_SECONDS + 2
        await asyncio.sleep(0.2)
    assert time.monotonic() - locked_at >= WINDOW_SECONDS - 1


async def test_forgot_and_resend_answer_the_same_for_unknown_emails(
    gw1: httpx.AsyncClient,
) -> None:
    ada = await register(gw1, "ada")
    for path in ("/v1/auth/forgot-password", "/v1/auth/resend-verification"):
        known = await gw1.post(path, json={"email": ada.email})
        unknown = await gw1.post(path, json={"email": f"{unique('nobody')}@example.com"})
        assert known.status_code == 202
        assert comparable(known) == comparable(unknown)


async def test_concurrent_guesses_cannot_outrun_the_throttle(gw1: httpx.AsyncClient) -> None:
    """Each attempt is counted before its password is checked: a burst of guesses sent
    at once gets no more than the limit checked, the right password included."""
    ada = await register(gw1, "ada")
    guesses = [{"login": ada.username, "password": f"guess number {i}"} for i in range(11)]
    burst = [*guesses, {"login": ada.username, "password": ada.password}]
    answers = await asyncio.gather(*(gw1.post("/v1/auth/login", json=b) for b in burst))
    statuses = [a.status_code for a in answers]
    assert statuses.count(401) + statuses.count(200) <= MAX_FAILURES, statuses
    assert statuses.count(429) >= len(burst) - MAX_FAILURES, statuses


async def test_wrong_current_passwords_are_throttled_like_logins(gw1: httpx.AsyncClient) -> None:
    """A stolen access token must not be a way to try passwords without limit."""
    ada = await register(gw1, "ada")
    session = await gw1.post(
        "/v1/auth/login", json={"login": ada.username, "password": ada.password}
    )
    auth = {"Authorization": f"Bearer {session.json()['access_token']}"}
    for i in range(MAX_FAILURES):
        wrong = await gw1.post(
            "/v1/auth/change-password",
            json={"current_password": f"guess number {i}", "new_password": "a new passphrase"},
            headers=auth,
        )
        assert wrong.status_code == 403, wrong.text
    right = await gw1.post(
        "/v1/auth/change-password",
        json={"current_password": ada.password, "new_password": "a new passphrase"},
        headers=auth,
    )
    assert right.status_code == 429, right.text
    assert "Retry-After" in right.headers
    login = await gw1.post("/v1/auth/login", json={"login": ada.username, "password": ada.password})
    assert login.status_code == 429


async def test_reset_mails_to_one_account_are_capped(
    gw1: httpx.AsyncClient, cluster: Cluster
) -> None:
    ada = await register(gw1, "ada")
    for _ in range(MAILS_PER_HOUR + 3):
        answer = await gw1.post("/v1/auth/forgot-password", json={"email": ada.email})
        assert answer.status_code == 202
    await asyncio.sleep(1)
    resets = [m for m in cluster.mails_to(ada.email) if "reset-password?token=" in plain_text(m)]
    assert len(resets) == MAILS_PER_HOUR

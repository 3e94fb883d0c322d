"""Acceptance 6: change-password revokes the other sessions, reset revokes all of them,
old passwords stop working, and email tokens are single use."""

from __future__ import annotations

import dataclasses

import httpx

from tests.e2e.harness import User, eventually, login, signup
from tests.security.cluster import Cluster, dump_rows
from tests.security.helpers import accepted, check

NEW = "an entirely new passphrase"
NEWER = "yet another passphrase"


async def refused_everywhere(gateways: tuple[httpx.AsyncClient, ...], *users: User) -> bool:
    return all(
        [
            await check(g, u.access_token) == (401, "session_revoked")
            for g in gateways
            for u in users
        ]
    )


async def refresh_status(client: httpx.AsyncClient, user: User) -> int:
    answer = await client.post("/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    return answer.status_code


async def login_status(client: httpx.AsyncClient, user: User, password: str) -> int:
    answer = await client.post(
        "/v1/auth/login", json={"login": user.username, "password": password}
    )
    return answer.status_code


async def test_change_password_revokes_the_other_sessions(
    gw1: httpx.AsyncClient, gw2: httpx.AsyncClient, cluster: Cluster
) -> None:
    ada = await signup(gw1, cluster, "ada")
    phone = await login(gw2, dataclasses.replace(ada))
    tablet = await login(gw1, dataclasses.replace(ada))
    for gateway in (gw1, gw2):
        assert await accepted(gateway, phone)
        assert await accepted(gateway, tablet)

    wrong = await gw1.post(
        "/v1/auth/change-password",
        json={"current_password": "not my password", "new_password": NEW},
        headers=ada.auth,
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "invalid_credentials")
    changed = await gw1.post(
        "/v1/auth/change-password",
        json={"current_password": ada.password, "new_password": NEW},
        headers=ada.auth,
    )
    assert changed.status_code == 204

    async def others_refused() -> bool:
        return await refused_everywhere((gw1, gw2), phone, tablet)

    await eventually(others_refused, timeout=1.0)
    assert await accepted(gw1, ada)
    assert await accepted(gw2, ada)
    assert await refresh_status(gw1, phone) == 401
    assert await refresh_status(gw2, tablet) == 401
    assert await login_status(gw1, ada, ada.password) == 401
    assert await login_status(gw2, ada, NEW) == 200


async def test_reset_password_revokes_every_session_and_tokens_are_single_use(
    gw1: httpx.AsyncClient, gw2: httpx.AsyncClient, cluster: Cluster
) -> None:
    ada = await signup(gw1, cluster, "ada")
    verify_token = cluster.token_from_mail(ada.email, "/verify-email")
    phone = await login(gw2, dataclasses.replace(ada))

    asked = await gw1.post("/v1/auth/forgot-password", json={"email": ada.email.upper()})
    assert asked.status_code == 202
    token = cluster.token_from_mail(ada.email, "/reset-password")
    assert len(token) >= 43  # at least 256 random bits, base64url
    reset = await gw2.post("/v1/auth/reset-password", json={"token": token, "new_password": NEW})
    assert reset.status_code == 204

    async def all_refused() -> bool:
        return await refused_everywhere((gw1, gw2), ada, phone)

    await eventually(all_refused, timeout=1.0)
    assert await refresh_status(gw1, ada) == 401
    assert await login_status(gw1, ada, ada.password) == 401
    assert await login_status(gw1, ada, NEW) == 200

    for gateway in (gw1, gw2):
        again = await gateway.post(
            "/v1/auth/reset-password", json={"token": token, "new_password": NEWER}
        )
        assert (again.status_code, again.json()["error"]["code"]) == (400, "invalid_token")
    assert await login_status(gw1, ada, NEWER) == 401
    # A verification token is no reset token, and a made-up one is nothing.
    for forged in (verify_token, token[:-1] + ("A" if token[-1] != "A" else "B")):
        wrong = await gw1.post(
            "/v1/auth/reset-password", json={"token": forged, "new_password": NEWER}
        )
        assert wrong.status_code == 400


async def test_password_hashes_are_argon2id_with_owasp_parameters(
    gw1: httpx.AsyncClient, cluster: Cluster
) -> None:
    await signup(gw1, cluster, "ada")
    dump = await dump_rows(cluster.settings, "auth")
    assert "$argon2id$v=19$m=19456,t=2,p=1$" in dump

"""Acceptance 2 and 3: a revocation reaches every gateway within a second and survives a
gateway restart; reusing a rotated refresh token revokes the whole session."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx

from tests.e2e.harness import eventually, login, signup
from tests.security.cluster import Cluster
from tests.security.helpers import bearer, check


async def test_a_revocation_reaches_the_other_gateway_within_a_second_and_survives_its_restart(
    gw1: httpx.AsyncClient, gw2: httpx.AsyncClient, cluster: Cluster
) -> None:
    ada = await signup(gw1, cluster, "ada")
    phone = await login(gw1, dataclasses.replace(ada))
    # Both gateways have seen (and cached) the session as live.
    for gateway in (gw1, gw2):
        assert await check(gateway, ada.access_token) == (200, None)
        assert await check(gateway, phone.access_token) == (200, None)

    revoked = await gw1.post("/v1/auth/logout", headers=ada.auth)
    assert revoked.status_code == 204
    started = time.monotonic()
    while await check(gw2, ada.access_token) != (401, "session_revoked"):
        assert time.monotonic() - started < 1.0, "gateway 2 still accepts the revoked session"
        await asyncio.sleep(0.02)
    assert await check(gw1, ada.access_token) == (401, "session_revoked")

    cluster.second_gateway.stop()
    cluster.second_gateway.start()
    assert await check(gw2, ada.access_token) == (401, "session_revoked")
    assert await check(gw2, phone.access_token) == (200, None)

    # And the other way round: revoked through gateway 2, refused by gateway 1.
    gone = await gw2.delete(f"/v1/sessions/{phone.session_id}", headers=phone.auth)
    assert gone.status_code == 204

    async def refused_by_gw1() -> bool:
        return await check(gw1, phone.access_token) == (401, "session_revoked")

    await eventually(refused_by_gw1, timeout=1.0)


async def test_refresh_token_reuse_revokes_the_whole_session(
    gw1: httpx.AsyncClient, gw2: httpx.AsyncClient, cluster: Cluster
) -> None:
    ada = await signup(gw1, cluster, "ada")
    first = ada.refresh_token
    second = (await gw1.post("/v1/auth/refresh", json={"refresh_token": first})).json()
    third = (
        await gw2.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    ).json()
    assert len({first, second["refresh_token"], third["refresh_token"]}) == 3
    assert third["session_id"] == ada.session_id
    for gateway in (gw1, gw2):
        assert await check(gateway, third["access_token"]) == (200, None)

    # The thief replays the first (rotated) refresh token.
    replay = await gw2.post("/v1/auth/refresh", json={"refresh_token": first})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "invalid_refresh_token"

    async def newest_refused() -> bool:
        return all(
            [
                await check(gw1, third["access_token"]) == (401, "session_revoked"),
                await check(gw2, third["access_token"]) == (401, "session_revoked"),
            ]
        )

    await eventually(newest_refused, timeout=1.0)
    for token in (third["refresh_token"], second["refresh_token"], first):
        dead = await gw1.post("/v1/auth/refresh", json={"refresh_token": token})
        assert (dead.status_code, dead.json()["error"]["code"]) == (401, "invalid_refresh_token")
    listed = await gw1.get("/v1/sessions", headers=bearer(third["access_token"]))
    assert listed.status_code == 401


async def test_two_concurrent_refreshes_with_one_token_end_the_session(
    gw1: httpx.AsyncClient, gw2: httpx.AsyncClient, cluster: Cluster
) -> None:
    """No grace period (docs/security.md): of two uses of one refresh token, one rotates
    and the other is reuse, which revokes the session."""
    ada = await signup(gw1, cluster, "ada")
    answers = await asyncio.gather(
        gw1.post("/v1/auth/refresh", json={"refresh_token": ada.refresh_token}),
        gw2.post("/v1/auth/refresh", json={"refresh_token": ada.refresh_token}),
    )
    assert sorted(a.status_code for a in answers) == [200, 401]
    (winner,) = [a.json() for a in answers if a.status_code == 200]
    again = await gw1.post("/v1/auth/refresh", json={"refresh_token": winner["refresh_token"]})
    assert again.status_code == 401

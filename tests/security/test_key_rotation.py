"""Acceptance 7: `messenger rotate-keys` logs nobody out: tokens signed before keep
working until they expire, and new tokens carry the new kid."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx

from messenger.pb.session.v1 import session_pb2 as pb
from messenger.pb.session.v1 import session_pb2_grpc as pb_grpc
from messenger.platform.grpc import channel, rpc
from messenger.session.domain import KEY_ACTIVATION_DELAY_MS
from tests.e2e.harness import login, signup
from tests.security.cluster import Cluster, signing_keys
from tests.security.helpers import check, unverified


async def published_kids(cluster: Cluster) -> list[str]:
    addr = cluster.joined_environment()["MESSENGER_SESSION_ADDR"]
    async with channel(addr) as chan:
        stub = pb_grpc.SessionServiceStub(chan)
        answer = await rpc(stub.GetSigningKeys, pb.GetSigningKeysRequest(), deadline=5)
    return [k.kid for k in answer.keys]


async def test_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(
    gw1: httpx.AsyncClient, gw2: httpx.AsyncClient, cluster: Cluster
) -> None:
    ada = await signup(gw1, cluster, "ada")
    old_token = ada.access_token
    old_kid = unverified(old_token)[0]["kid"]

    new_kid = await asyncio.to_thread(cluster.rotate_keys)
    rotated_at = time.monotonic()
    assert new_kid != old_kid
    keys = await signing_keys(cluster.settings)
    assert keys[0]["kid"] == new_kid
    assert {old_kid, new_kid} <= set(await published_kids(cluster))

    while True:
        fresh = await login(gw2, dataclasses.replace(ada))
        if unverified(fresh.access_token)[0]["kid"] == new_kid:
            break
        assert time.monotonic() - rotated_at < KEY_ACTIVATION_DELAY_MS / 1000 + 5
        await asyncio.sleep(0.2)
    for gateway in (gw1, gw2):
        assert await check(gateway, fresh.access_token) == (200, None)
    refreshed = await gw1.post("/v1/auth/refresh", json={"refresh_token": fresh.refresh_token})
    assert unverified(refreshed.json()["access_token"])[0]["kid"] == new_kid

    # The token signed before the rotation is still good everywhere, and its key is
    # still published (until every token it signed has expired: see the unit tests).
    for gateway in (gw1, gw2):
        assert await check(gateway, old_token) == (200, None)
    assert old_kid in await published_kids(cluster)

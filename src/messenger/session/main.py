"""Composition root of session-service: settings -> runtime -> keyring -> gRPC server."""

from __future__ import annotations

import asyncio

from messenger.pb.session.v1 import session_pb2_grpc as pb_grpc
from messenger.platform.config import Settings
from messenger.platform.db import create_engine, database_url, dispose_engine
from messenger.platform.grpc import ServiceRegistration, start_grpc_server
from messenger.platform.logging import log
from messenger.platform.migrations import upgrade
from messenger.platform.runtime import service_runtime, wait_forever
from messenger.platform.uow import UnitOfWorkFactory
from messenger.session import service, store
from messenger.session.api import SERVICE_NAME, SessionServicer
from messenger.session.domain import Lifetimes
from messenger.session.tokens import Keyring, Signer

KEYRING_REFRESH_SECONDS = 1.0


async def keep_keyring_fresh(
    uow_factory: UnitOfWorkFactory, keyring: Keyring, settings: Settings
) -> None:
    """Pick up rotations made elsewhere, and rotate when automatic rotation is due."""
    while True:
        await asyncio.sleep(KEYRING_REFRESH_SECONDS)
        try:
            await service.refresh_keyring(
                uow_factory,
                keyring,
                settings.signing_key_rotation_seconds * 1000,
                settings.access_token_ttl_seconds * 1000,
            )
        except Exception:
            log.exception("could not re-read the signing keys; keeping the current ones")


async def serve(settings: Settings) -> None:
    async with service_runtime(settings, "session", store.outbox) as rt:
        keyring = Keyring(await service.load_signing_keys(rt.uow))
        rt.spawn("keyring", lambda: keep_keyring_fresh(rt.uow, keyring, settings))
        signer = Signer(keyring, settings.access_token_ttl_seconds)
        lifetimes = Lifetimes(
            idle_ms=settings.refresh_token_ttl_seconds * 1000,
            max_ms=settings.session_max_lifetime_seconds * 1000,
        )
        servicer = SessionServicer(rt.uow, signer, lifetimes)
        server = await start_grpc_server(
            settings.session_addr,
            [
                ServiceRegistration(
                    pb_grpc.add_SessionServiceServicer_to_server, servicer, SERVICE_NAME
                )
            ],
        )
        try:
            await wait_forever()
        finally:
            await server.stop(5)


async def rotate_keys(settings: Settings) -> str:
    """`messenger rotate-keys`: add a signing key straight in session-service's store;
    every running instance picks it up within a second. Returns the new kid."""
    url = database_url(settings, "session")
    await upgrade("session", url)
    engine = create_engine(url)
    try:
        key = await service.rotate_signing_key(
            UnitOfWorkFactory(engine, store.outbox, "session"),
            settings.access_token_ttl_seconds * 1000,
        )
    finally:
        await dispose_engine(engine)
    return key.kid

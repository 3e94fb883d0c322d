"""Composition root of auth-service: settings -> runtime -> mailer, session client ->
gRPC server."""

from __future__ import annotations

import asyncio

from messenger.auth import store
from messenger.auth.api import SERVICE_NAME, AuthServicer
from messenger.auth.mailer import Mailer
from messenger.auth.passwords import Passwords
from messenger.auth.sealing import MailSealer, mail_key_path
from messenger.auth.service import AuthDeps
from messenger.auth.sessions import SessionClient
from messenger.pb.auth.v1 import auth_pb2_grpc as pb_grpc
from messenger.platform.config import Settings
from messenger.platform.grpc import ServiceRegistration, channel, start_grpc_server
from messenger.platform.runtime import service_runtime, wait_forever


async def serve(settings: Settings) -> None:
    sealer = await asyncio.to_thread(
        MailSealer.from_file, mail_key_path(settings.data_dir, settings.mail_key_file)
    )
    async with service_runtime(settings, "auth", store.outbox) as rt:
        mailer = Mailer(
            rt.uow,
            sealer=sealer,
            sender=settings.mail_from,
            smtp_url=settings.smtp_url,
            mail_dir=settings.data_dir / "mail",
        )
        rt.spawn("mailer", mailer.run)
        session_channel = channel(settings.session_addr)
        try:
            deps = AuthDeps(
                uow=rt.uow,
                passwords=await Passwords.create(),
                sessions=SessionClient(session_channel, settings.rpc_timeout_seconds),
                sealer=sealer,
                wake_mailer=mailer.wake,
                links_base_url=settings.links_base_url,
                max_login_failures=settings.login_max_failures,
                max_login_failures_per_address=settings.login_max_failures_per_address,
                login_failure_window_ms=settings.login_failure_window_seconds * 1000,
            )
            server = await start_grpc_server(
                settings.auth_addr,
                [
                    ServiceRegistration(
                        pb_grpc.add_AuthServiceServicer_to_server, AuthServicer(deps), SERVICE_NAME
                    )
                ],
            )
            try:
                await wait_forever()
            finally:
                await server.stop(5)
        finally:
            await session_channel.close()

"""Acceptance 8: no database holds a password, refresh token or email token in clear,
not even an email still waiting to be delivered."""

from __future__ import annotations

import dataclasses
import hashlib

import httpx
from sqlalchemy import select

from messenger.auth import store as auth_store
from messenger.auth.main import serve as serve_auth
from messenger.auth.sealing import MailSealer, mail_key_path
from messenger.pb.auth.v1 import auth_pb2 as auth_pb
from messenger.pb.auth.v1 import auth_pb2_grpc
from messenger.platform.config import Settings
from messenger.platform.db import create_engine, database_url, dispose_engine
from messenger.platform.grpc import channel, rpc
from messenger.platform.migrations import DATABASE_SERVICES
from messenger.platform.process import free_port
from messenger.session.main import serve as serve_session
from tests.e2e.harness import login, signup
from tests.integration.session.harness import running
from tests.security.cluster import Cluster, dump_rows

NEW = "an entirely new passphrase"


async def every_database(settings: Settings) -> str:
    return "\n".join([await dump_rows(settings, service) for service in DATABASE_SERVICES])


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def test_the_databases_hold_no_secret_in_clear(
    gw1: httpx.AsyncClient, cluster: Cluster
) -> None:
    ada = await signup(gw1, cluster, "ada")
    secrets = [ada.password, ada.refresh_token, cluster.token_from_mail(ada.email, "/verify-email")]
    refreshed = await gw1.post("/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
    secrets.append(refreshed.json()["refresh_token"])
    await gw1.post("/v1/auth/forgot-password", json={"email": ada.email})
    reset_token = cluster.token_from_mail(ada.email, "/reset-password")
    secrets.append(reset_token)
    await gw1.post("/v1/auth/reset-password", json={"token": reset_token, "new_password": NEW})
    await gw1.post("/v1/auth/forgot-password", json={"email": ada.email})
    secrets.append(cluster.token_from_mail(ada.email, "/reset-password"))  # unused one
    again = await login(gw1, dataclasses.replace(ada, password=NEW))
    secrets += [NEW, again.refresh_token]

    dump = await every_database(cluster.settings)
    assert ada.email in dump  # the scan does see the data
    assert sha256(again.refresh_token) in dump  # refresh tokens are kept as digests
    for secret in secrets:
        assert secret not in dump


async def test_a_queued_email_holds_its_token_sealed(settings: Settings) -> None:
    """SMTP unreachable: the reset mail waits in the outbox, sealed under a key file
    outside the database; opened with that key, its token is real."""
    settings = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"})
    async with (
        running(settings, "session", serve_session, settings.session_addr),
        running(settings, "auth", serve_auth, settings.auth_addr),
        channel(settings.auth_addr) as chan,
    ):
        stub = auth_pb2_grpc.AuthServiceStub(chan)
        request = auth_pb.RegisterRequest(
            email="eve@example.org", username="eve", password="correct horse battery"
        )
        await rpc(stub.Register, request, deadline=10)
        await rpc(
            stub.ForgotPassword, auth_pb.ForgotPasswordRequest(email="eve@example.org"), deadline=5
        )

        engine = create_engine(database_url(settings, "auth"))
        try:
            async with engine.connect() as conn:
                queued = (await conn.execute(select(auth_store.mail_outbox))).all()
        finally:
            await dispose_engine(engine)
        assert len(queued) == 2
        assert all(row.sent_at_ms is None and row.body for row in queued)
        sealer = MailSealer.from_file(mail_key_path(settings.data_dir, settings.mail_key_file))
        reset = next(row for row in queued if "reset-password" in sealer.open(row.id, row.body))
        token = sealer.open(reset.id, reset.body).split("reset-password?token=")[1].split()[0]

        dump = "\n".join([await dump_rows(settings, svc) for svc in ("auth", "session")])
        assert sha256(token) in dump
        assert token not in dump
        assert "correct horse battery" not in dump
        await rpc(
            stub.ResetPassword,
            auth_pb.ResetPasswordRequest(token=token, new_password=NEW),
            deadline=10,
        )

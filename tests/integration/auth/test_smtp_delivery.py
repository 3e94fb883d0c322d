"""With MESSENGER_SMTP_URL set, mail goes out over SMTP (to a tiny in-test SMTP sink)."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from messenger.auth.main import serve
from messenger.pb.auth.v1 import auth_pb2 as pb
from messenger.pb.auth.v1 import auth_pb2_grpc
from messenger.platform.config import Settings
from messenger.platform.grpc import channel, rpc
from tests.integration.auth.helpers import PASSWORD, link_token, mail_dir
from tests.integration.session.harness import running


class SmtpSink:
    """Just enough of RFC 5321 for smtplib: every message lands in `received`."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[list[str], bytes]] = asyncio.Queue()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        recipients: list[str] = []
        writer.write(b"220 sink ready\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                data = await reader.readuntil(b"\r\n.\r\n")
                await self.received.put((recipients, data[:-5]))
                writer.write(b"250 queued\r\n")
            elif verb == b"RCPT":
                recipients.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                writer.write(b"250 ok\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()


@asynccontextmanager
async def smtp_sink() -> AsyncIterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    server = await asyncio.start_server(sink.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield sink, port


async def test_mail_is_delivered_over_smtp_when_configured(settings: Settings) -> None:
    async with smtp_sink() as (sink, port):
        smtp_settings = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
        async with (
            running(smtp_settings, "auth", serve, smtp_settings.auth_addr),
            channel(smtp_settings.auth_addr) as chan,
        ):
            stub = auth_pb2_grpc.AuthServiceStub(chan)
            request = pb.RegisterRequest(email="Sam@example.org", username="sam", password=PASSWORD)
            await rpc(stub.Register, request, deadline=10)
            recipients, data = await asyncio.wait_for(sink.received.get(), 5)
    assert recipients == ["Sam@example.org"]
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    assert message["From"] == settings.mail_from
    assert link_token(message, "verify-email")
    assert not mail_dir(settings).exists()

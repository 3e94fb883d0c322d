"""Calls and mailbox reading shared by the auth integration tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from messenger.pb.auth.v1 import auth_pb2 as pb
from messenger.pb.session.v1 import session_pb2 as session_pb
from messenger.platform.config import Settings
from messenger.platform.grpc import rpc
from tests.integration.session.harness import EventLog

if TYPE_CHECKING:
    from messenger.pb.auth.v1.auth_pb2_grpc import AuthServiceAsyncStub
    from messenger.pb.session.v1.session_pb2_grpc import SessionServiceAsyncStub

PASSWORD = "correct horse battery"


@dataclass
class Services:
    """The running services of one test, their stubs, and the events they published."""

    auth: AuthServiceAsyncStub
    sessions: SessionServiceAsyncStub
    events: EventLog
    settings: Settings


async def register(
    services: Services,
    email_address: str,
    username: str,
    password: str = PASSWORD,
    display_name: str | None = None,
) -> pb.Account:
    request = pb.RegisterRequest(email=email_address, username=username, password=password)
    if display_name is not None:
        request.display_name = display_name
    return await rpc(services.auth.Register, request, deadline=10)


async def login(
    services: Services,
    login_name: str,
    password: str = PASSWORD,
    address: str = "192.0.2.1",
    device: str | None = None,
) -> pb.LoginResponse:
    request = pb.LoginRequest(login=login_name, password=password, client_address=address)
    if device is not None:
        request.device_name = device
    return await rpc(services.auth.Login, request, deadline=10)


async def is_active(services: Services, session_id: str) -> bool:
    request = session_pb.ValidateSessionRequest(session_id=session_id)
    return bool((await rpc(services.sessions.ValidateSession, request, deadline=5)).active)


def mail_dir(settings: Settings) -> Path:
    return settings.data_dir / "mail"


def read_mails(settings: Settings) -> list[EmailMessage]:
    messages = []
    for path in sorted(mail_dir(settings).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def link_token(message: EmailMessage, page: str) -> str | None:
    """The token of the first `<page>?token=` link in the mail's text/plain part."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    for word in part.get_content().split():
        if f"/{page}?token=" in word:
            return parse_qs(urlsplit(str(word)).query)["token"][0]
    return None


async def wait_for_mails(
    settings: Settings, recipient: str, page: str, count: int = 1, timeout: float = 5.0
) -> list[tuple[EmailMessage, str]]:
    """The mails to `recipient` linking to `page`, with their tokens, once `count` exist."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for message in read_mails(settings):
            token = link_token(message, page)
            if message["To"] == recipient and token is not None:
                found.append((message, token))
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} {page} mails to {recipient}, got {found}")
        await asyncio.sleep(0.02)

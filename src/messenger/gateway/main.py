"""The gateway's composition root: NATS, clients of the five services, the HTTP server."""

from __future__ import annotations

import httpx
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from messenger.gateway.app import create_app
from messenger.gateway.auth import (
    SessionGuard,
    SessionState,
    SigningKeys,
    TokenVerifier,
    authenticator,
    signing_keys_from,
)
from messenger.gateway.cache import ProfileCache
from messenger.gateway.clients import (
    AuthClient,
    ContactClient,
    MessagingClient,
    ProfileClient,
    ServiceClients,
    SessionClient,
)
from messenger.gateway.deps import Gateway
from messenger.gateway.realtime import router as realtime
from messenger.gateway.realtime.hub import Hub
from messenger.platform import bus
from messenger.platform.config import Settings
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.events import Envelope
from messenger.platform.grpc import channel
from messenger.platform.http_server import serve_http
from messenger.platform.logging import log
from messenger.platform.runtime import require_nats_url

PROFILE_CACHE_ENTRIES = 10_000


def link_epoch(nc: NatsClient) -> int | None:
    """Reconnect count of the NATS link, None while it is down (see gateway.cache)."""
    if not nc.is_connected:
        return None
    reconnects: int = nc.stats["reconnects"]
    return reconnects


async def serve(settings: Settings) -> None:
    # The hub hands its own sockets the frames this instance routes (Hub.send_frame).
    nc = await bus.connect(require_nats_url(settings), name="gateway", no_echo=True)
    deadline = settings.rpc_timeout_seconds
    channels = [
        channel(addr)
        for addr in (
            settings.auth_addr,
            settings.session_addr,
            settings.contact_addr,
            settings.messaging_addr,
        )
    ]
    http = httpx.AsyncClient(base_url=settings.profile_url)
    try:
        clients = ServiceClients(
            auth=AuthClient(channels[0], deadline),
            session=SessionClient(channels[1], deadline),
            contact=ContactClient(channels[2], deadline),
            messaging=MessagingClient(channels[3], deadline),
            profile=ProfileClient(http, deadline),
        )
        gateway = await wire(clients, nc)
        async with realtime.running(nc, gateway.hub, clients.contact.is_friend):
            await serve_http(
                create_app(gateway),
                settings.gateway_host,
                settings.gateway_port,
                trusted_proxies=settings.trusted_proxies,
            )
    finally:
        await http.aclose()
        for ch in channels:
            await ch.close()
        await bus.close(nc)


async def wire(clients: ServiceClients, nc: NatsClient) -> Gateway:
    """Token check and caches, kept fresh by core-NATS subscriptions (JetStream-published
    events reach core subscribers too)."""

    async def fetch_keys() -> SigningKeys:
        return signing_keys_from(await clients.session.signing_keys())

    async def validate(session_id: str) -> SessionState:
        try:
            answer = await clients.session.validate(session_id)
        except MessengerError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:
                raise
            return SessionState(False, "")
        return SessionState(answer.active, answer.user_id)

    verifier = TokenVerifier(fetch_keys)
    try:
        await verifier.refresh()
    except MessengerError as exc:
        log.warning("signing keys not loaded yet; will retry on first use", error=exc.message)
    sessions = SessionGuard(validate, lambda: link_epoch(nc))
    profiles = ProfileCache(clients.profile, lambda: link_epoch(nc), PROFILE_CACHE_ENTRIES)
    hub = Hub(nc, sessions.check)

    async def on_session_revoked(msg: Msg) -> None:
        data = _event_data(msg)
        session_id, user_id = data.get("session_id"), data.get("user_id")
        if isinstance(session_id, str) and isinstance(user_id, str):
            sessions.revoked(session_id, user_id)
            hub.revoke_session(session_id)

    async def on_profile_updated(msg: Msg) -> None:
        user_id = _event_data(msg).get("user_id")
        if isinstance(user_id, str):
            profiles.drop(user_id)

    await nc.subscribe("messenger.session.revoked", cb=on_session_revoked)
    await nc.subscribe("messenger.profile.updated", cb=on_profile_updated)
    return Gateway(
        clients=clients,
        authenticate=authenticator(verifier, sessions),
        sessions=sessions,
        profiles=profiles,
        nats_connected=lambda: bool(nc.is_connected),
        hub=hub,
    )


def _event_data(msg: Msg) -> dict[str, object]:
    try:
        return Envelope.from_json(msg.data).data
    except ValueError as exc:
        log.warning("malformed event", subject=msg.subject, error=str(exc))
        return {}

"""What the gateway's routes are built from; assembled once in main.py (or a test)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from messenger.gateway.auth import Authenticate, SessionGuard
from messenger.gateway.cache import ProfileCache
from messenger.gateway.clients import ServiceClients
from messenger.gateway.realtime.hub import Hub


@dataclass(frozen=True)
class Gateway:
    clients: ServiceClients
    authenticate: Authenticate
    sessions: SessionGuard
    profiles: ProfileCache
    nats_connected: Callable[[], bool]
    hub: Hub

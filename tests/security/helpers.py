"""Requests and token forgery shared by the attack tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import jwt

from messenger.platform.ids import new_id
from tests.e2e.harness import User


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header: dict[str, Any] = jwt.get_unverified_header(token)
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return header, claims


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """By hand: PyJWT rightly refuses to use a PEM public key as an HMAC secret."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def check(client: httpx.AsyncClient, token: str) -> tuple[int, str | None]:
    """Status and error code of an authenticated call with this token."""
    response = await client.get("/v1/sessions", headers=bearer(token))
    if response.status_code == 200:
        return 200, None
    code: str = response.json()["error"]["code"]
    return response.status_code, code


async def accepted(client: httpx.AsyncClient, user: User) -> bool:
    return (await check(client, user.access_token))[0] == 200


def fresh_claims(user: User, **overrides: Any) -> dict[str, Any]:
    _, claims = unverified(user.access_token)
    claims["jti"] = new_id()
    claims.update(overrides)
    return claims

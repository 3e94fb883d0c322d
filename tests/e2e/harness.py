"""Runs `messenger up` as a real process tree and talks to it as a client would."""

from __future__ import annotations

import contextlib
import email
import email.policy
import fcntl
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from messenger.platform.process import free_port

MESSENGER = str(Path(sys.executable).parent / "messenger")
READY_SECONDS = 60.0


class System:
    """One `messenger up` with its own data dir, gateway port and databases."""

    def __init__(
        self,
        root: Path,
        *,
        database_url: str | None = None,
        nats_url: str | None = None,
        log_level: str = "warning",
    ) -> None:
        self.root = root
        self.data_dir = root / "var"
        self.port = free_port()
        self.database_url = database_url
        self.nats_url = nats_url
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "up.log"
        self.log_level = log_level

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESSENGER_")}
        env["MESSENGER_DATA_DIR"] = str(self.data_dir)
        env["MESSENGER_GATEWAY_PORT"] = str(self.port)
        env["MESSENGER_LOG_LEVEL"] = self.log_level
        if self.database_url:
            env["MESSENGER_DATABASE_URL"] = self.database_url
        if self.nats_url:
            env["MESSENGER_NATS_URL"] = self.nats_url
        return env

    def start(self, command: list[str] | None = None, cwd: Path | None = None) -> float:
        """Start and wait for /readyz 200; returns the seconds it took."""
        started = time.monotonic()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command or [MESSENGER, "up"],
            env=self.environment(),
            cwd=cwd or self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        while time.monotonic() - started < READY_SECONDS:
            if self.process.poll() is not None:
                raise RuntimeError(f"messenger up exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"not ready within {READY_SECONDS} s:\n{self.log_tail()}")

    def stop_gracefully(self) -> int | None:
        """SIGTERM to `up` alone, as Ctrl-C would; returns its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def stop(self) -> int | None:
        """Stop gracefully, then make sure nothing of the process tree is left."""
        code = self.stop_gracefully()
        self.kill()
        return code

    def kill(self) -> None:
        """SIGKILL to `up` and every process it started, at once: a power cut."""
        if self.process is None:
            return
        for pid in [self.process.pid, *children_of(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)
        assert self.wait_for_children_gone(), "children of `messenger up` outlived it"

    def wait_for_children_gone(self, seconds: float = 20) -> bool:
        """Every child holds `.children.lock` shared for its whole life (DataDirLock)."""
        path = self.data_dir / ".children.lock"
        if not path.exists():
            return True
        fd = os.open(path, os.O_RDWR)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    time.sleep(0.05)
                    continue
                fcntl.flock(fd, fcntl.LOCK_UN)
                return True
            return False
        finally:
            os.close(fd)

    def wait_for_log(self, text: str, seconds: float) -> bool:
        """`up` sees /readyz 200 on its own next poll, which can come after ours."""
        deadline = time.monotonic() + seconds
        while text not in self.log_path.read_text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def mails_to(self, address: str) -> list[email.message.EmailMessage]:
        folder = self.data_dir / "mail"
        found = []
        for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, email.message.EmailMessage)
            if str(message["To"]).lower() == address.lower():
                found.append(message)
        return found

    def token_from_mail(self, address: str, link: str, *, timeout: float = 10) -> str:
        """The token in the newest email to `address` holding `<link>?token=`."""
        pattern = re.compile(re.escape(link) + r"\?token=([A-Za-z0-9_-]+)")
        deadline = time.monotonic() + timeout
        while True:
            for message in reversed(self.mails_to(address)):
                match = pattern.search(plain_text(message))
                if match:
                    return match.group(1)
            if time.monotonic() > deadline:
                raise AssertionError(f"no {link} email to {address}")
            time.sleep(0.05)


def plain_text(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@dataclass
class User:
    username: str
    email: str
    password: str
    user_id: str = ""
    access_token: str = ""
    refresh_token: str = ""
    session_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def eventually(check: Any, *, timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Retry an async check until it returns a truthy value: API.md's "within 1 second"."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        await asyncio.sleep(interval)


async def register(client: httpx.AsyncClient, name: str, password: str = "pa55word!") -> User:
    username = unique(name)
    user = User(username=username, email=f"{username}@Example.COM", password=password)
    response = await client.post(
        "/v1/auth/register",
        json={"email": user.email, "username": username.upper(), "password": password},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "user_id": body["user_id"],
        "email": user.email,
        "username": username,
        "email_verified": False,
    }
    user.user_id = body["user_id"]
    return user


async def login(client: httpx.AsyncClient, user: User, *, by: str = "username") -> User:
    identifier = user.username.upper() if by == "username" else user.email.swapcase()
    response = await client.post(
        "/v1/auth/login", json={"login": identifier, "password": user.password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["user_id"] == user.user_id
    assert 0 < body["expires_in"] <= 900
    user.access_token = body["access_token"]
    user.refresh_token = body["refresh_token"]
    user.session_id = body["session_id"]
    return user


async def signup(client: httpx.AsyncClient, system: System, name: str) -> User:
    """Register, verify the email through the link in the .eml, log in."""
    user = await register(client, name)
    token = system.token_from_mail(user.email, "/verify-email")
    response = await client.post("/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text
    return await login(client, user)


async def befriend(client: httpx.AsyncClient, a: User, b: User) -> None:
    async def ask() -> httpx.Response | None:
        response = await client.post("/v1/friends", json={"user_id": b.user_id}, headers=a.auth)
        return None if response.status_code == 404 else response

    asked = await eventually(ask)
    assert asked.status_code == 201, asked.text
    accepted = await client.post(f"/v1/friends/{a.user_id}/accept", headers=b.auth)
    assert accepted.status_code == 200, accepted.text


async def open_direct(client: httpx.AsyncClient, a: User, b: User) -> str:
    response = await client.post(
        "/v1/conversations/direct", json={"user_id": b.user_id}, headers=a.auth
    )
    assert response.status_code in (200, 201), response.text
    conversation_id: str = response.json()["conversation_id"]
    return conversation_id


async def two_friends(client: httpx.AsyncClient, system: System) -> tuple[User, User, str]:
    """Ada and Bob, verified, signed in, friends, and the id of their conversation."""
    ada = await signup(client, system, "ada")
    bob = await signup(client, system, "bob")
    await befriend(client, ada, bob)
    return ada, bob, await open_direct(client, ada, bob)


async def send(
    client: httpx.AsyncClient, user: User, conversation_id: str, text: str
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"text": text, "client_message_id": unique("m")},
        headers=user.auth,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body

"""The web client against `messenger up` (tests/e2e/harness.py), driven by Playwright in
Debian's Chromium (installed by scripts/install_browser.sh; never Playwright's own
download). One system and one browser serve the whole package."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, ViewportSize, async_playwright, expect

from tests.browser.driver import Person
from tests.e2e.harness import System

OpenPerson = Callable[..., Awaitable[Person]]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
# The machine running the suite may be busy: wait up to 10 s for what a page should
# show (the tests that promise a time, like revocation's 2 s, say so themselves).
expect.set_options(timeout=10_000)


def artifacts_dir() -> Path:
    """Where screenshots go: $MESSENGER_ARTIFACTS_DIR, else build/artifacts/."""
    path = Path(os.environ.get("MESSENGER_ARTIFACTS_DIR") or REPO / "build" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="package")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """One `messenger up` on SQLite; each test makes its own users."""
    value = System(tmp_path_factory.mktemp("web"))
    value.start()
    try:
        yield value
    finally:
        value.stop()


@pytest.fixture(scope="package")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(scripts/install_browser.sh installs it when run as root or with sudo)"
        )
    return CHROMIUM


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """Headless Chromium; Playwright gives every launch a fresh temporary profile."""
    async with async_playwright() as playwright:
        value = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield value
        finally:
            await value.close()


@pytest_asyncio.fixture(loop_scope="module")
async def open_person(browser: Browser, system: System) -> AsyncIterator[OpenPerson]:
    """Opens people (browser contexts); afterwards none may have seen an uncaught
    script error, a CSP violation or a dialog."""
    opened: list[Person] = []

    async def open_one(viewport: ViewportSize | None = None) -> Person:
        person = await Person.open(browser, system.url, viewport=viewport)
        opened.append(person)
        return person

    yield open_one
    for person in opened:
        await person.close()
    assert not [problem for person in opened for problem in person.problems]
    assert not [dialog for person in opened for dialog in person.dialogs]


@pytest_asyncio.fixture(loop_scope="module")
async def client(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.url, timeout=15) as value:
        yield value


async def link_from_mail(system: System, address: str, path: str, *, timeout: float = 10) -> str:
    """The whole `…/<path>?token=…` link of the newest such email to `address`."""
    pattern = re.compile(r"https?://\S+" + re.escape(path) + r"\?token=[A-Za-z0-9_-]+")
    deadline = time.monotonic() + timeout
    while True:
        for message in reversed(system.mails_to(address)):
            part = message.get_body(preferencelist=("plain",))
            match = pattern.search(part.get_content() if part is not None else "")
            if match:
                return match.group(0)
        if time.monotonic() > deadline:
            raise AssertionError(f"no {path} email to {address}")
        await asyncio.sleep(0.05)

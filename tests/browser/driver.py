"""A person using the web client in one browser context, the way a person would: by
visible labels, roles and keys (so a control without a label cannot be driven)."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    ViewportSize,
    expect,
)

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
LIVE_SECONDS = 15

# Every form control and button needs a name a screen reader can say.
UNLABELLED_CONTROLS = """() => [...document.querySelectorAll("input, textarea, select, button")]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                  && !el.getAttribute("aria-labelledby") && !el.textContent.trim())
  .map((el) => el.outerHTML)"""


class Person:
    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.context = context
        self.page = page
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    @classmethod
    async def open(
        cls, browser: Browser, base_url: str, *, viewport: ViewportSize | None = None
    ) -> Person:
        context = await browser.new_context(base_url=base_url, viewport=viewport or DESKTOP)
        return cls(context, await context.new_page())

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"CSP violation: {message.text}")

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    # Signed out

    async def sign_up(self, email: str, username: str, password: str, display_name: str) -> None:
        await self.page.goto("/#/signup")
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Username").fill(username)
        await self.page.get_by_label("Display name").fill(display_name)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Create account").click()
        await expect(self.page.get_by_role("heading", name="Check your email")).to_be_visible()

    async def sign_in(self, login: str, password: str) -> None:
        if "#/" not in self.page.url or self.page.url.endswith("#/signup"):
            await self.page.goto("/")
        await self.page.get_by_label("Email or username").fill(login)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_label("Password").press("Enter")
        await expect(self.page.get_by_role("heading", name="Chats")).to_be_visible()
        await self.wait_live()

    async def wait_live(self, seconds: float = LIVE_SECONDS) -> None:
        await expect(self.connection).to_have_attribute(
            "data-state", "live", timeout=seconds * 1000
        )

    @property
    def connection(self) -> Locator:
        return self.page.locator(".topbar .connection")

    def sign_in_heading(self) -> Locator:
        return self.page.get_by_role("heading", name="Sign in")

    # Signed in

    async def go(self, screen: str) -> None:
        await (
            self.page.get_by_role("navigation", name="Main")
            .get_by_role("link", name=screen)
            .click()
        )

    async def open_chat_with(self, name: str) -> None:
        await self.go("Chats")
        await self.page.locator("a.conversation", has_text=name).click()
        await expect(self.page.get_by_role("textbox", name="Message")).to_be_focused()

    async def send(self, text: str) -> None:
        box = self.page.get_by_role("textbox", name="Message")
        await box.fill(text)
        await box.press("Enter")

    def messages(self, text: str | None = None) -> Locator:
        found = self.page.locator("ol.messages:not(.outbox) > li.message")
        return found.filter(has_text=text) if text is not None else found

    async def seqs(self) -> list[int]:
        values = await self.messages().evaluate_all("items => items.map(i => i.dataset.seq)")
        return [int(value) for value in values]

    async def tokens(self) -> dict[str, Any]:
        stored: dict[str, Any] = await self.page.evaluate(
            "JSON.parse(sessionStorage.getItem('messenger.session'))"
        )
        return stored

    async def tokens_after(self, previous: dict[str, Any], seconds: float = 5) -> dict[str, Any]:
        """The stored tokens once they differ from `previous` (a refresh answer is saved a
        moment after it arrives)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while (current := await self.tokens()) == previous:
            assert asyncio.get_running_loop().time() < deadline, "the tokens did not change"
            await asyncio.sleep(0.05)
        return current

    async def unlabelled_controls(self) -> list[str]:
        found: list[str] = await self.page.evaluate(UNLABELLED_CONTROLS)
        return found

    async def close(self) -> None:
        await self.context.close()

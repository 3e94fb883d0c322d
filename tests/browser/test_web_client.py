"""Issue 5's acceptance: the web client in a real browser against `messenger up`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import struct
import time
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Route, expect

from tests.browser.conftest import OpenPerson, artifacts_dir, link_from_mail
from tests.browser.driver import DESKTOP, PHONE, Person
from tests.e2e.harness import (
    System,
    User,
    befriend,
    children_of,
    open_direct,
    register,
    send,
    signup,
    two_friends,
    unique,
)

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.e2e,
    pytest.mark.backend_neutral,
]
PASSWORD = "correct horse battery"
# Whether an element's text sits on one line (a range has one box per line it spans).
ONE_LINE = """element => {
  const range = document.createRange();
  range.selectNodeContents(element);
  return new Set([...range.getClientRects()].map((box) => Math.round(box.top))).size === 1;
}"""


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def signed_up_in_browser(person: Person, system: System, name: str, display: str) -> str:
    """Sign up in the page, verify through the link in the .eml, sign in; the username."""
    username = unique(name)
    email = f"{username}@example.com"
    await person.sign_up(email, username, PASSWORD, display)
    link = await link_from_mail(system, email, "/verify-email")
    assert link.startswith(f"{system.url}/verify-email?token=")
    await person.page.goto(link)
    await expect(person.page.get_by_text("Your email address is verified.")).to_be_visible()
    assert "token" not in person.page.url  # taken out of the address bar and history
    await person.page.get_by_role("link", name="Continue to Messenger").click()
    await person.sign_in(username, PASSWORD)
    return username


async def test_two_people_sign_up_befriend_and_chat_live(
    open_person: OpenPerson, system: System
) -> None:
    ada, bob = await open_person(), await open_person()
    await signed_up_in_browser(ada, system, "ada", "Ada Lovelace")
    bob_username = await signed_up_in_browser(bob, system, "bob", "Bob Bernard")

    # Ada finds Bob by username (any case) and asks; Bob sees the request live.
    await ada.go("People")
    await ada.page.get_by_label("Username").fill(bob_username.upper())
    await ada.page.get_by_role("button", name="Find").click()
    await expect(ada.page.locator(".search-result")).to_contain_text("Bob Bernard")
    await ada.page.get_by_role("button", name="Add friend").click()
    await expect(ada.page.get_by_role("main").get_by_role("status")).to_contain_text(
        "Friend request sent"
    )
    await bob.go("People")
    incoming = bob.page.get_by_role("region", name="Requests for you")
    await expect(incoming).to_contain_text("Ada Lovelace")
    await incoming.get_by_role("button", name="Accept").click()
    await expect(bob.page.get_by_role("region", name="Friends")).to_contain_text("Ada Lovelace")
    assert await bob.unlabelled_controls() == []

    # Both open the chat from their friends list (Ada's updates live on acceptance).
    await (
        bob.page.get_by_role("region", name="Friends").get_by_role("button", name="Message").click()
    )
    friends = ada.page.get_by_role("region", name="Friends")
    await expect(friends).to_contain_text("Bob Bernard")
    await friends.get_by_role("button", name="Message").click()
    for person in (ada, bob):
        await expect(person.page.get_by_role("textbox", name="Message")).to_be_focused()

    # Messages appear live on the other side; Enter sends, Shift+Enter is a new line.
    await ada.send("Hello Bob!")
    await expect(bob.messages("Hello Bob!")).to_have_count(1)
    box = bob.page.get_by_role("textbox", name="Message")
    await box.type("Hi Ada!")
    await box.press("Shift+Enter")
    await box.type("Second line.")
    await box.press("Enter")
    await expect(ada.messages("Second line.")).to_have_count(1)
    # Each text sets its own direction (right to left for Hebrew or Arabic).
    for text in ("Hello Bob!", "Second line."):
        await expect(ada.messages(text).locator(".message-text")).to_have_attribute("dir", "auto")
    assert await ada.messages("Second line.").locator(".message-text").inner_text() == (
        "Hi Ada!\nSecond line."
    )
    # Bob has the chat open, so he reads Ada's next message at once: she sees "Seen".
    await ada.send("Shall we meet at the library at 4?")
    last = ada.messages("Shall we meet at the library at 4?")
    await expect(last.locator(".seen-mark")).to_have_text("Seen")
    await expect(ada.page.locator(".seen-mark")).to_have_count(1)
    assert await ada.unlabelled_controls() == []

    # Away from the chat, Bob gets an unread badge and a preview; reading clears it.
    await bob.go("People")
    await ada.send("Bring the notes, please.")
    await expect(bob.page.get_by_role("navigation", name="Main").locator(".badge")).to_have_text(
        "1"
    )
    await bob.go("Chats")
    entry = bob.page.locator("a.conversation", has_text="Ada Lovelace")
    await expect(entry.locator(".conversation-preview")).to_have_text("Bring the notes, please.")
    await expect(entry.get_by_label("1 unread")).to_be_visible()
    await entry.click()
    await expect(bob.messages("Bring the notes, please.")).to_have_count(1)
    await expect(entry.locator(".badge")).to_have_count(0)
    await bob.send("Will do. See you there!")
    await expect(ada.messages("Will do. See you there!")).to_have_count(1)

    # Screenshots of the chat view at desktop and phone width (README shows the first).
    artifacts = artifacts_dir()
    shots = {"chat-desktop.png": DESKTOP, "chat-phone.png": PHONE}
    for name, viewport in shots.items():
        await ada.page.set_viewport_size(viewport)
        await expect(ada.page.get_by_role("textbox", name="Message")).to_be_visible()
        assert await ada.page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        data = await ada.page.screenshot(path=artifacts / name)
        assert png_size(data) == (viewport["width"], viewport["height"])
    # On a phone the chat takes the screen; "Chats" goes back to the list.
    await expect(ada.page.locator(".conversations")).to_be_hidden()
    await ada.page.get_by_role("link", name="Back to chats").click()
    await expect(ada.page.locator("a.conversation", has_text="Bob Bernard")).to_be_visible()


async def friends_in_chat(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> tuple[User, User, str, Person]:
    """Ada and Bob, friends through the API; Ada signed in to the page, their chat open."""
    ada, bob, conversation_id = await two_friends(client, system)
    page = await open_person()
    await page.sign_in(ada.username, ada.password)
    await page.open_chat_with(bob.username)
    return ada, bob, conversation_id, page


async def test_markup_is_shown_as_literal_text(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    _, bob, conversation_id, ada = await friends_in_chat(client, system, open_person)
    typed = '<img src=x onerror="window.__pwned = 1; alert(1)"> and **bold** 👋'
    received = "<script>window.__pwned = 2</script><b>**bold**</b> & &amp;"
    await ada.send(typed)
    await send(client, bob, conversation_id, received)
    for text in (typed, received):
        await expect(ada.messages(text)).to_have_count(1)
        assert await ada.messages(text).locator(".message-text").inner_text() == text
    preview = ada.page.locator(".conversation-preview").first
    await expect(preview).to_have_text(received)
    scroller = ada.page.locator(".scroller")
    assert await scroller.locator("img, script, b, strong").count() == 0
    assert await ada.page.locator(".conversation-list").locator("img, script, b").count() == 0
    assert await ada.page.evaluate("window.__pwned") is None
    # What Bob gets from the API is exactly what Ada typed.
    history = await client.get(f"/v1/conversations/{conversation_id}/messages", headers=bob.auth)
    assert [m["text"] for m in history.json()["messages"]] == [typed, received]
    # The open_person fixture then checks that no dialog opened and no script failed.


async def test_right_to_left_text_and_a_long_name_at_phone_width(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    _, bob, conversation_id, ada = await friends_in_chat(client, system, open_person)
    name = "ברנרד בן אברהם מירושלים של זהב, מתל אביב יפו ומחיפה"
    renamed = await client.patch("/v1/profiles/me", json={"display_name": name}, headers=bob.auth)
    assert renamed.status_code == 200, renamed.text
    arabic = "مرحبا، كيف حالك اليوم؟"
    await send(client, bob, conversation_id, arabic)
    await ada.page.set_viewport_size(PHONE)
    await ada.page.reload()
    await ada.wait_live()
    title = ada.page.locator(".chat-title")
    await expect(title).to_have_text(name)
    back = ada.page.get_by_role("link", name="Back to chats")
    assert await back.evaluate(ONE_LINE), "the back link wraps"
    bubble = ada.messages(arabic).locator(".message-text")
    for element in (title, bubble):
        await expect(element).to_have_attribute("dir", "auto")
        assert await element.evaluate("e => getComputedStyle(e).direction") == "rtl"
    await expect(ada.page.get_by_role("textbox", name="Message")).to_have_attribute("dir", "auto")
    await ada.page.screenshot(path=artifacts_dir() / "chat-phone-rtl.png")


async def test_seen_mark_survives_a_reload(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    """After a reload no frame tells who read what: the mark comes from the list's
    `read_positions`, and stays under the newest of Ada's messages Bob has read."""
    _, bob, conversation_id, ada = await friends_in_chat(client, system, open_person)
    for text in ("first", "second", "third"):
        await ada.send(text)
        await expect(ada.messages(text)).to_have_count(1)
    seen = await client.post(
        f"/v1/conversations/{conversation_id}/seen", json={"seq": 2}, headers=bob.auth
    )
    assert seen.json()["last_seen_seq"] == 2
    marks = ada.page.locator(".seen-mark")
    await expect(ada.messages("second").locator(".seen-mark")).to_have_text("Seen")  # live
    await ada.page.reload()
    await ada.wait_live()
    await expect(ada.messages("third")).to_have_count(1)
    await expect(ada.messages("second").locator(".seen-mark")).to_have_text("Seen")
    await expect(marks).to_have_count(1)

    # Bob's reply moves his read position past all of Ada's messages, reload or not.
    await send(client, bob, conversation_id, "all read")
    await expect(ada.messages("third").locator(".seen-mark")).to_have_text("Seen")
    await ada.page.reload()
    await ada.wait_live()
    await expect(ada.messages("all read")).to_have_count(1)
    await expect(ada.messages("third").locator(".seen-mark")).to_have_text("Seen")
    await expect(marks).to_have_count(1)


def gateway_pid(system: System) -> int:
    assert system.process is not None
    for pid in children_of(system.process.pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-3:-1] == [
                b"serve",
                b"gateway",
            ]:
                return pid
    raise AssertionError("no gateway among the children of `messenger up`")


async def send_when_back(
    client: httpx.AsyncClient, user: User, conversation_id: str, text: str
) -> None:
    """Send through the API as soon as the restarted gateway answers."""
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.TransportError):
            response = await client.post(
                f"/v1/conversations/{conversation_id}/messages",
                json={"text": text, "client_message_id": unique("m")},
                headers=user.auth,
            )
            if response.status_code == 201:
                return
        assert time.monotonic() < deadline, "the gateway did not come back"
        await asyncio.sleep(0.05)


async def test_reconnects_after_gateway_restart_and_catches_up_exactly_once(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    _, bob, conversation_id, ada = await friends_in_chat(client, system, open_person)
    await send(client, bob, conversation_id, "before the restart")
    await expect(ada.messages("before the restart")).to_have_count(1)

    os.kill(gateway_pid(system), signal.SIGKILL)
    await expect(ada.connection).to_have_attribute("data-state", "offline")
    away = [f"sent while you were away {n}" for n in range(1, 4)]
    for text in away:
        await send_when_back(client, bob, conversation_id, text)
    await ada.wait_live(seconds=45)
    await send(client, bob, conversation_id, "after the restart")

    for text in [*away, "after the restart"]:
        await expect(ada.messages(text)).to_have_count(1)
    seqs = await ada.seqs()
    assert seqs == list(range(1, 6)), seqs
    await expect(ada.messages()).to_have_count(5)


async def test_revoked_session_lands_on_sign_in_within_two_seconds(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    ada = await register(client, "ada")  # not signed in anywhere yet
    first, second = await open_person(), await open_person()
    await first.sign_in(ada.username, ada.password)
    await second.sign_in(ada.email, ada.password)
    await second.go("Sessions")
    sessions = second.page.locator(".session-list > li")
    await expect(sessions).to_have_count(2)
    await expect(second.page.locator(".session.current")).to_contain_text("this tab")
    assert await second.unlabelled_controls() == []

    await second.page.get_by_role("button", name="Revoke").click()
    started = time.monotonic()
    await expect(first.sign_in_heading()).to_be_visible(timeout=2000)
    assert time.monotonic() - started < 2
    await expect(first.page.get_by_role("status")).to_contain_text("signed out from another")
    assert await first.page.evaluate("sessionStorage.getItem('messenger.session')") is None
    await expect(sessions).to_have_count(1)


async def test_a_copied_tab_never_refreshes_the_session_of_its_original(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    """Chromium copies sessionStorage into a duplicated tab or a window.open() of the
    page; were both tabs to refresh with the one refresh token, the server would take the
    second for theft and end the session in both."""
    ada, bob, conversation_id, original = await friends_in_chat(client, system, open_person)
    async with original.context.expect_page() as opened:
        await original.page.evaluate("window.open(location.href)")
    copy = Person(original.context, await opened.value)
    await expect(copy.sign_in_heading()).to_be_visible()
    await expect(copy.page.get_by_role("status")).to_contain_text("a copy of one")
    assert await copy.page.evaluate("sessionStorage.getItem('messenger.session')") is None

    # Both tabs hold the original's tokens again, due for a refresh in 2 s; the original
    # reloads first, and keeps its session through the reload.
    tokens = await original.tokens()
    due = """tokens => sessionStorage.setItem('messenger.session',
               JSON.stringify({...tokens, expires_at: Date.now() + 62_000}))"""
    for tab in (original, copy):
        await tab.page.evaluate(due, tokens)
    await original.page.reload()
    await original.wait_live()
    await copy.page.reload()
    await expect(copy.sign_in_heading()).to_be_visible()
    await expect(copy.page.get_by_role("status")).to_contain_text("a copy of one")
    refreshed = await original.tokens_after(tokens, seconds=10)
    assert refreshed["session_id"] == tokens["session_id"]

    # Past the refresh both tabs were due for, the session lives: the original sends.
    await asyncio.sleep(2)
    await original.send("still signed in")
    await expect(original.messages("still signed in")).to_have_count(1)
    sessions = await client.get(
        "/v1/sessions", headers={"Authorization": f"Bearer {refreshed['access_token']}"}
    )
    assert sessions.status_code == 200, sessions.text
    history = await client.get(f"/v1/conversations/{conversation_id}/messages", headers=bob.auth)
    assert [m["text"] for m in history.json()["messages"]] == ["still signed in"]
    await expect(copy.sign_in_heading()).to_be_visible()

    # Signed in anew, the copy has a session of its own, and the two live side by side.
    await copy.sign_in(bob.username, bob.password)
    await copy.open_chat_with(ada.username)
    await copy.send("a tab of my own")
    await expect(original.messages("a tab of my own")).to_have_count(1)
    assert copy.problems == []


async def test_access_token_refreshed_before_expiry_with_rotation(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    ada = await register(client, "ada")
    person = await open_person()
    await person.context.clock.install()  # the page's clock, fast-forwarded below
    await person.sign_in(ada.username, ada.password)
    seen = [await person.tokens()]
    assert seen[0]["expires_in"] == 900
    for _ in range(2):
        async with person.page.expect_response("**/v1/auth/refresh") as answer:
            await person.page.clock.fast_forward("14:10")  # the token lives 15:00
        assert (await answer.value).status == 200
        seen.append(await person.tokens_after(seen[-1]))
    assert len({tokens["refresh_token"] for tokens in seen}) == 3
    assert len({tokens["access_token"] for tokens in seen}) == 3
    # The rotated tokens are the ones in use: still signed in, the API answers.
    await person.go("People")
    await expect(person.page.get_by_role("heading", name="Friends")).to_be_visible()
    await expect(person.connection).to_have_attribute("data-state", "live")

    # Someone else uses the current refresh token first: the page's next refresh is
    # refused (401), and the page lands on the sign-in screen.
    stolen = await client.post(
        "/v1/auth/refresh", json={"refresh_token": seen[-1]["refresh_token"]}
    )
    assert stolen.status_code == 200
    async with person.page.expect_response("**/v1/auth/refresh") as answer:
        await person.page.clock.fast_forward("14:10")
    assert (await answer.value).status == 401
    await expect(person.sign_in_heading()).to_be_visible()


async def test_older_messages_load_when_scrolled_up(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    ada, bob, conversation_id = await two_friends(client, system)
    for n in range(1, 61):
        await send(client, bob if n % 2 else ada, conversation_id, f"message number {n}.")
    person = await open_person()
    await person.sign_in(ada.username, ada.password)
    await person.open_chat_with(bob.username)
    await expect(person.messages()).to_have_count(50)
    assert await person.seqs() == list(range(11, 61))
    newest = person.messages("message number 60.")
    assert await newest.is_visible()  # opened at the bottom

    async with person.page.expect_request("**/messages?before=11&limit=50"):
        await person.page.locator(".scroller").evaluate("el => el.scrollTop = 0")
    await expect(person.messages()).to_have_count(60)
    assert await person.seqs() == list(range(1, 61))
    await expect(person.page.get_by_role("button", name="Load older messages")).to_be_hidden()
    # The reader's place is kept: what was at the top is still in view, not the newest.
    assert await person.messages("message number 11.").is_visible()


async def test_conversation_list_is_newest_first_and_keyboard_usable(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    ada = await signup(client, system, "ada")
    bob, carol = await signup(client, system, "bob"), await signup(client, system, "carol")
    chats = {}
    for friend in (bob, carol):
        await befriend(client, ada, friend)
        chats[friend.username] = await open_direct(client, friend, ada)
    await send(client, bob, chats[bob.username], "from Bob, first")
    await send(client, carol, chats[carol.username], "from Carol, second")
    person = await open_person()
    await person.sign_in(ada.username, ada.password)
    names = person.page.locator(".conversation-list .conversation-name")
    await expect(names).to_have_text([carol.username, bob.username])
    await expect(person.page.locator(".conversation-list .badge")).to_have_text(["1", "1"])
    await expect(person.page.locator(".conversation-preview")).to_have_text(
        ["from Carol, second", "from Bob, first"]
    )
    await send(client, bob, chats[bob.username], "from Bob, third")  # live: moves up
    await expect(names).to_have_text([bob.username, carol.username])
    await expect(person.page.locator(".conversation-list .badge")).to_have_text(["2", "1"])

    # By keyboard alone: Enter on the first conversation opens it, typing goes to the
    # message box, Enter sends.
    await person.page.locator("a.conversation").first.focus()
    await person.page.keyboard.press("Enter")
    await expect(person.page.get_by_role("textbox", name="Message")).to_be_focused()
    await person.page.keyboard.type("typed without a mouse")
    await person.page.keyboard.press("Enter")
    await expect(person.messages("typed without a mouse")).to_have_count(1)
    await expect(person.page.locator(".conversation-preview").first).to_have_text(
        "You: typed without a mouse"
    )
    await expect(person.page.locator(".conversation-list .badge")).to_have_text(["1"])


async def test_send_retries_reuse_the_client_message_id(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    _, bob, conversation_id, ada = await friends_in_chat(client, system, open_person)
    posted: list[str] = []

    async def refuse(route: Route) -> None:
        body = route.request.post_data_json
        assert body is not None
        posted.append(body["client_message_id"])
        await route.abort("connectionrefused")

    pattern = f"**/v1/conversations/{conversation_id}/messages"
    await ada.page.route(pattern, refuse)
    await ada.send("through thick and thin")
    pending = ada.page.locator(".outbox > li")
    await expect(pending).to_contain_text("Not sent: Cannot reach the server", timeout=15000)
    assert len(posted) == 4, posted  # retried by itself...
    assert len(set(posted)) == 1, posted  # ...under one client_message_id

    await ada.page.unroute(pattern)
    async with ada.page.expect_request(pattern) as retried:
        await pending.get_by_role("button", name="Retry").click()
    retried_body = (await retried.value).post_data_json
    assert retried_body is not None
    assert retried_body["client_message_id"] == posted[0]
    await expect(ada.messages("through thick and thin")).to_have_count(1)
    await expect(pending).to_have_count(0)

    # Stored, but the answer lost on the way: the message shows once all the same.
    async def lose_answer(route: Route) -> None:
        await route.fetch()
        await route.abort("connectionreset")

    await ada.page.route(pattern, lose_answer)
    await ada.send("answer lost")
    await expect(ada.messages("answer lost")).to_have_count(1)
    await expect(pending).to_have_count(0)
    history = await client.get(f"/v1/conversations/{conversation_id}/messages", headers=bob.auth)
    assert [m["text"] for m in history.json()["messages"]] == [
        "through thick and thin",
        "answer lost",
    ]


async def test_password_reset_landing_and_errors_in_words(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    ada = await register(client, "ada")
    person = await open_person()
    page = person.page
    await page.goto("/")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.get_by_label("Email").fill(ada.email)
    await page.get_by_role("button", name="Send me a link").click()
    await expect(page.get_by_role("status")).to_contain_text("a link to reset its password")
    link = await link_from_mail(system, ada.email, "/reset-password")

    # A bad token is refused in words.
    await page.goto("/reset-password?token=not-a-real-token")
    await page.get_by_label("New password (at least 8 characters)").fill("brand new secret")
    await page.get_by_label("New password again").fill("brand new secret")
    await page.get_by_role("button", name="Set new password").click()
    await expect(page.get_by_role("alert")).to_have_text(re.compile(r"\w+.*token|link", re.I))

    await page.goto(link)
    assert "token" not in page.url
    await page.get_by_label("New password (at least 8 characters)").fill("brand new secret")
    await page.get_by_label("New password again").fill("not the same")
    await page.get_by_role("button", name="Set new password").click()
    await expect(page.get_by_role("alert")).to_have_text("The two passwords differ.")
    await page.get_by_label("New password again").fill("brand new secret")
    await page.get_by_role("button", name="Set new password").click()
    await expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    await page.get_by_role("link", name="Sign in").click()

    # The old password is refused with the API's own words; the new one works.
    await page.get_by_label("Email or username").fill(ada.username)
    await page.get_by_label("Password").fill(ada.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("The login or password is incorrect.")
    await person.sign_in(ada.username, "brand new secret")

    # A used verification link says so in words too.
    token = system.token_from_mail(ada.email, "/verify-email")
    await client.post("/v1/auth/verify-email", json={"token": token})
    await page.goto("/verify-email?token=used-or-wrong")
    await expect(page.get_by_role("alert")).to_be_visible()
    assert await page.get_by_role("alert").inner_text()


async def test_profile_edit_and_session_list(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    ada = await signup(client, system, "ada")  # one session through the API
    first, second = await open_person(), await open_person()
    await first.sign_in(ada.username, ada.password)
    await second.sign_in(ada.username, ada.password)

    page = second.page
    await second.go("Profile")
    await expect(page.get_by_label("Display name")).to_have_value(ada.username)
    await page.get_by_label("Display name").fill("Ada <b>Lovelace</b>")
    await page.get_by_label("Bio").fill("Analyst.\nFirst programmer.")
    await page.get_by_label("Avatar URL").fill("http://example.com/ada.png")
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.get_by_role("alert")).to_contain_text("avatar_url")  # https only
    await page.get_by_label("Avatar URL").fill("https://example.com/ada.png")
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.get_by_role("main").get_by_role("status")).to_have_text("Profile saved.")
    assert await second.unlabelled_controls() == []
    profile = (await client.get(f"/v1/profiles/{ada.user_id}", headers=ada.auth)).json()
    assert profile["display_name"] == "Ada <b>Lovelace</b>"
    assert profile["bio"] == "Analyst.\nFirst programmer."
    assert profile["avatar_url"] == "https://example.com/ada.png"
    await page.get_by_label("Avatar URL").fill("")
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.locator("img.avatar")).to_be_hidden()
    profile = (await client.get(f"/v1/profiles/{ada.user_id}", headers=ada.auth)).json()
    assert profile["avatar_url"] is None

    # Revoke every other session: the other tab and the API's one.
    await second.go("Sessions")
    await expect(page.locator(".session-list > li")).to_have_count(3)
    await page.get_by_role("button", name="Sign out all other sessions").click()
    await expect(page.locator(".session-list > li")).to_have_count(1)
    await expect(first.sign_in_heading()).to_be_visible(timeout=2000)
    refused = await client.get("/v1/sessions", headers=ada.auth)
    assert refused.status_code == 401
    # Log out from the top bar.
    second_tokens = await second.tokens()
    await page.get_by_role("banner").get_by_role("button", name="Log out").click()
    await expect(second.sign_in_heading()).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    gone = await client.get(
        "/v1/sessions", headers={"Authorization": f"Bearer {second_tokens['access_token']}"}
    )
    assert gone.json()["error"]["code"] == "session_revoked"


async def test_friend_requests_declined_cancelled_and_friends_removed(
    client: httpx.AsyncClient, system: System, open_person: OpenPerson
) -> None:
    ada = await signup(client, system, "ada")
    bob = await register(client, "bob")
    person = await open_person()
    await person.sign_in(bob.username, bob.password)
    page = person.page
    await person.go("People")
    incoming = page.get_by_role("region", name="Requests for you")
    outgoing = page.get_by_role("region", name="Your requests")
    friends = page.get_by_role("region", name="Friends")

    asked = await client.post("/v1/friends", json={"user_id": bob.user_id}, headers=ada.auth)
    assert asked.status_code == 201
    await expect(incoming).to_contain_text(ada.username)  # live: friendship frame
    await incoming.get_by_role("button", name="Decline").click()
    await expect(incoming.locator("li")).to_have_count(0)
    listed = (await client.get("/v1/friends", headers=ada.auth)).json()
    assert listed["outgoing"] == []

    await page.get_by_label("Username").fill(ada.username)
    await page.get_by_role("button", name="Find").click()
    await page.get_by_role("button", name="Add friend").click()
    await expect(outgoing).to_contain_text(ada.username)
    await outgoing.get_by_role("button", name="Cancel request").click()
    await expect(outgoing.locator("li")).to_have_count(0)
    assert (await client.get("/v1/friends", headers=ada.auth)).json()["incoming"] == []

    await page.get_by_role("button", name="Find").click()
    await page.get_by_role("button", name="Add friend").click()
    accepted = await client.post(f"/v1/friends/{bob.user_id}/accept", headers=ada.auth)
    assert accepted.status_code == 200
    await expect(friends).to_contain_text(ada.username)
    await friends.get_by_role("button", name="Remove").click()
    await expect(friends.locator("li")).to_have_count(0)
    assert (await client.get("/v1/friends", headers=ada.auth)).json()["friends"] == []

    # A name nobody has is answered in words.
    await page.get_by_label("Username").fill("nobody_by_this_name")
    await page.get_by_role("button", name="Find").click()
    await expect(page.locator(".search-result")).to_contain_text("No one is called")

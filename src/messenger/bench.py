"""`messenger bench`: load through the public API, measured as a client sees it.

It starts `messenger up` in a temporary directory (or targets a running system with
`--url`), makes `--pairs` pairs of friends, each user with an open WebSocket, then sends
`--messages` messages through the gateway, either closed-loop from `--senders`
concurrent senders or paced at `--rate` messages per second. It reports messages/s,
the delay from the start of a send to the frame on the recipient's socket (p50, p95,
p99), errors, the peak memory (RSS) of every process of the system, and what
`--idle-sockets` idle WebSockets cost the gateway. Every phase has a time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from messenger.platform.process import free_port

READY_SECONDS = 90.0
DRAIN_SECONDS = 10.0
SETUP_CONCURRENCY = 8
MAX_IN_FLIGHT = 256


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="a running gateway (default: start `messenger up`)")
    parser.add_argument("--pairs", type=int, default=32, help="pairs of friends (default 32)")
    parser.add_argument("--messages", type=int, default=5000, help="messages to send")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--senders", type=int, default=16, help="closed loop: concurrent senders")
    mode.add_argument("--rate", type=float, help="paced: messages per second")
    parser.add_argument(
        "--idle-sockets", type=int, default=1000, help="idle WebSockets to measure (0: skip)"
    )
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds for sending")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> None:
    _raise_file_limit()
    report = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))


def _raise_file_limit() -> None:
    """Thousands of sockets need thousands of descriptors, here and in the gateway."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the system under test ----------------------------------------------------------


@dataclass
class Target:
    url: str
    up: subprocess.Popen[bytes] | None = None

    def processes(self) -> dict[str, int]:
        """name -> pid of the system's processes: `up`'s children, or (with --url) the
        local processes whose MESSENGER_GATEWAY_PORT is the target's port."""
        port = f"MESSENGER_GATEWAY_PORT={urlsplit(self.url).port}".encode()
        found: dict[str, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                status = (entry / "status").read_text()
                ours = (
                    int(_status_field(status, "PPid") or 0) == self.up.pid
                    if self.up is not None
                    else port in (entry / "environ").read_bytes().split(b"\0")
                )
            except OSError:
                continue
            words = [a.decode(errors="replace") for a in argv if a]
            if not ours or not words:
                continue
            if "serve" in words and words.index("serve") + 1 < len(words):
                name = words[words.index("serve") + 1]
            elif words[0].endswith("nats-server"):
                name = "nats-server"
            else:
                continue
            found[name if name not in found else f"{name}-{entry.name}"] = int(entry.name)
        return found


def _status_field(status: str, name: str) -> str | None:
    for line in status.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def memory_kib(pid: int, field_name: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, in KiB; 0 when it is gone."""
    try:
        value = _status_field(Path(f"/proc/{pid}/status").read_text(), field_name)
    except OSError:
        return 0
    return int(value.split()[0]) if value else 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # utime and stime are the 14th and 15th fields; the split starts at the 3rd.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_message_ms(
    before: dict[str, float], after: dict[str, float], messages: int
) -> dict[str, float]:
    """Each process's CPU during the load, per message sent: unlike the rate, this
    hardly moves when other work shares the cores."""
    if not messages:
        return {}
    spent = {name: after.get(name, 0.0) - used for name, used in before.items()}
    return {
        name: round(seconds * 1000 / messages, 2)
        for name, seconds in sorted(spent.items(), key=lambda item: -item[1])
    }


def cpu_snapshot(processes: dict[str, int]) -> dict[str, float]:
    snapshot = {name: cpu_seconds(pid) for name, pid in processes.items()}
    snapshot["bench"] = time.process_time()
    return snapshot


@contextlib.asynccontextmanager
async def target(url: str | None) -> AsyncIterator[Target]:
    if url is not None:
        yield Target(url.rstrip("/"))
        return
    with tempfile.TemporaryDirectory(prefix="messenger-bench-") as root:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESSENGER_")}
        env |= {
            "MESSENGER_DATA_DIR": str(Path(root) / "var"),
            "MESSENGER_GATEWAY_PORT": str(port),
            "MESSENGER_LOG_LEVEL": "warning",
        }
        log = (Path(root) / "up.log").open("wb")
        up = subprocess.Popen(
            [sys.executable, "-m", "messenger", "up"],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        found = Target(f"http://127.0.0.1:{port}", up)
        try:
            progress(f"starting `messenger up` in {root} ...")
            await _wait_ready(found, Path(root) / "up.log")
            yield found
        finally:
            up.terminate()
            try:
                await asyncio.to_thread(up.wait, 30)
            except subprocess.TimeoutExpired:
                up.kill()
            log.close()


async def _wait_ready(found: Target, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if found.up is not None and found.up.poll() is not None:
                tail = await asyncio.to_thread(log.read_text, errors="replace")
                raise SystemExit(f"messenger up exited:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{found.url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SystemExit(f"the system was not ready within {READY_SECONDS:.0f} s")


# -- clients --------------------------------------------------------------------------


class RawHttp:
    """One keep-alive HTTP/1.1 connection with nothing in between: the load generator
    must cost as little CPU as possible, since it shares the machine it measures."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        """A reused connection that the server closed while idle (its keep-alive ran
        out) gets one retry on a new one; sends carry a client_message_id, so a retry
        never stores a message twice."""
        reused = self._writer is not None and not self._writer.is_closing()
        try:
            return await self._post_once(path, body, token)
        except (OSError, asyncio.IncompleteReadError):
            await self.close()
            if not reused:
                raise
        return await self._post_once(path, body, token)

    async def _post_once(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        keep = True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                keep = False
        answer = await self._reader.readexactly(length)
        if not keep:
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None


@dataclass
class User:
    user_id: str
    token: str
    conversation_id: str = ""
    friend: str = ""


@dataclass
class Stats:
    sent_at: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    sent: int = 0
    delivered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    all_delivered: asyncio.Event = field(default_factory=asyncio.Event)
    sending_done: bool = False

    def check_done(self) -> None:
        if self.sending_done and not self.sent_at:
            self.all_delivered.set()

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def limited(count: int, make: Callable[[int], Awaitable[Any]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(index: int) -> Any:
        async with gate:
            return await make(index)

    return await asyncio.gather(*(one(i) for i in range(count)))


async def make_pairs(client: httpx.AsyncClient, pairs: int) -> list[tuple[User, User]]:
    tag = os.urandom(3).hex()

    async def account(index: int) -> User:
        name = f"b{tag}_{index}"
        password = "bench password"
        created = await client.post(
            "/v1/auth/register",
            json={"email": f"{name}@bench.example", "username": name, "password": password},
        )
        created.raise_for_status()
        login = await client.post("/v1/auth/login", json={"login": name, "password": password})
        login.raise_for_status()
        body = login.json()
        return User(body["user_id"], body["access_token"])

    users: list[User] = await limited(2 * pairs, account, SETUP_CONCURRENCY)
    progress(f"{len(users)} users registered and logged in")

    async def befriend(index: int) -> tuple[User, User]:
        a, b = users[2 * index], users[2 * index + 1]
        for _ in range(100):
            asked = await client.post(
                "/v1/friends", json={"user_id": b.user_id}, headers=_auth(a.token)
            )
            if asked.status_code != 404:
                break
            await asyncio.sleep(0.05)
        asked.raise_for_status()
        accepted = await client.post(f"/v1/friends/{a.user_id}/accept", headers=_auth(b.token))
        accepted.raise_for_status()
        opened = await client.post(
            "/v1/conversations/direct", json={"user_id": b.user_id}, headers=_auth(a.token)
        )
        opened.raise_for_status()
        a.conversation_id = b.conversation_id = opened.json()["conversation_id"]
        a.friend, b.friend = b.user_id, a.user_id
        return a, b

    made: list[tuple[User, User]] = await limited(pairs, befriend, SETUP_CONCURRENCY)
    progress(f"{pairs} pairs of friends with a conversation each")
    return made


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/v1/ws"


async def open_ws(url: str, token: str) -> ClientConnection:
    connection = await connect(ws_url(url), additional_headers=_auth(token), max_size=2**20)
    ready = json.loads(await asyncio.wait_for(connection.recv(), 10))
    if ready != {"type": "ready"}:
        raise RuntimeError(f"unexpected first frame {ready}")
    return connection


async def listen(connection: ClientConnection, user: User, stats: Stats) -> None:
    """Record the arrival of each message on its recipient's socket."""
    with contextlib.suppress(ConnectionClosed):
        async for raw in connection:
            now = time.perf_counter()
            frame = json.loads(raw)
            if frame.get("type") != "message.sent":
                continue
            message = frame["message"]
            if message["sender_id"] == user.user_id:
                continue
            started = stats.sent_at.pop(message["client_message_id"], None)
            if started is not None:
                stats.latencies.append(now - started)
                stats.delivered += 1
                stats.check_done()


# -- the load ---------------------------------------------------------------------------


async def send_load(
    url: str, pairs: list[tuple[User, User]], args: argparse.Namespace, stats: Stats
) -> float:
    """Send every message (or until the time limit); returns the seconds it took."""
    users = [user for pair in pairs for user in pair]
    total = args.messages
    deadline = time.monotonic() + args.time_limit
    next_index = 0
    run_id = os.urandom(4).hex()

    async def send_one(http: RawHttp, index: int, due: float | None = None) -> None:
        """`due`: when a paced send was scheduled, which latency counts from (a late
        send must not hide the backlog that made it late)."""
        user = users[index % len(users)]
        client_id = f"{run_id}-{index}"
        body = json.dumps({"text": f"bench message {index}", "client_message_id": client_id})
        began = time.perf_counter()
        stats.sent_at[client_id] = due if due is not None else began
        try:
            status, _ = await http.post(
                f"/v1/conversations/{user.conversation_id}/messages", body.encode(), user.token
            )
            stats.answers.append(time.perf_counter() - began)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            stats.sent_at.pop(client_id, None)
            stats.error(type(exc).__name__)
            await http.close()
            return
        if status == 201:
            stats.sent += 1
        else:
            stats.sent_at.pop(client_id, None)
            stats.error(f"HTTP {status}")

    async def closed_loop_sender() -> None:
        nonlocal next_index
        http = RawHttp(url)
        try:
            while next_index < total and time.monotonic() < deadline:
                index = next_index
                next_index += 1
                await send_one(http, index)
        finally:
            await http.close()

    async def paced() -> None:
        pool = [RawHttp(url) for _ in range(MAX_IN_FLIGHT)]
        idle = list(pool)
        in_flight: set[asyncio.Task[None]] = set()
        started = time.perf_counter()

        async def one(index: int, due: float) -> None:
            http = idle.pop() if idle else RawHttp(url)
            try:
                await send_one(http, index, due)
            finally:
                idle.append(http)

        for index in range(total):
            due = started + index / args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > deadline:
                break
            if len(in_flight) >= MAX_IN_FLIGHT:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(one(index, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
        for http in idle:
            await http.close()

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(1)
            progress(
                f"  sent {stats.sent}/{total}, delivered {stats.delivered}, "
                f"errors {sum(stats.errors.values())}"
            )

    reporter = asyncio.create_task(report_progress())
    began = time.perf_counter()
    try:
        if args.rate:
            await paced()
        else:
            await asyncio.gather(*(closed_loop_sender() for _ in range(args.senders)))
    finally:
        elapsed = time.perf_counter() - began
        reporter.cancel()
    return elapsed


async def idle_socket_cost(
    url: str, users: list[User], count: int, gateway_pid: int
) -> dict[str, Any]:
    """Gateway RSS before and after `count` more WebSockets (spread over the users)."""
    await asyncio.sleep(1)
    before = memory_kib(gateway_pid, "VmRSS")
    opened: list[ClientConnection] = []
    try:
        for start in range(0, count, 100):
            opened += await asyncio.gather(
                *(
                    open_ws(url, users[i % len(users)].token)
                    for i in range(start, min(count, start + 100))
                )
            )
            progress(f"  {len(opened)} idle sockets open")
        await asyncio.sleep(2)
        after = memory_kib(gateway_pid, "VmRSS")
    finally:
        await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)
    return {
        "sockets": count,
        "gateway_rss_before_mib": before / 1024,
        "gateway_rss_after_mib": after / 1024,
        "cost_mib": (after - before) / 1024,
        "per_socket_kib": (after - before) / max(count, 1),
    }


@contextlib.contextmanager
def no_collector_pauses() -> Iterator[None]:
    """The bench times frames as they arrive, so its own full collections (up to 50 ms
    with the loop stopped, seen here) would be counted as delivery latency. Reference
    counting still frees the garbage of the bounded measuring phase."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    async with target(args.url) as system:
        async with httpx.AsyncClient(base_url=system.url, timeout=30) as client:
            pairs = await make_pairs(client, args.pairs)
        users = [user for pair in pairs for user in pair]
        stats = Stats()
        sockets = await asyncio.gather(*(open_ws(system.url, u.token) for u in users))
        listeners = [
            asyncio.create_task(listen(c, u, stats)) for c, u in zip(sockets, users, strict=True)
        ]
        mode = f"paced at {args.rate:g} msgs/s" if args.rate else f"{args.senders} senders"
        progress(f"{len(sockets)} sockets open; sending {args.messages} messages, {mode}")
        processes = system.processes()
        cpu_before = cpu_snapshot(processes)
        with no_collector_pauses():
            elapsed = await send_load(system.url, pairs, args, stats)
            stats.sending_done = True
            stats.check_done()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stats.all_delivered.wait(), DRAIN_SECONDS)
        cpu = cpu_per_message_ms(cpu_before, cpu_snapshot(processes), stats.sent)
        lost = len(stats.sent_at)
        for connection in sockets:
            await connection.close()
        await asyncio.gather(*listeners, return_exceptions=True)
        idle = None
        if args.idle_sockets and "gateway" in processes:
            progress(f"opening {args.idle_sockets} idle sockets")
            idle = await idle_socket_cost(
                system.url, users, args.idle_sockets, processes["gateway"]
            )
        peaks = {name: memory_kib(pid, "VmHWM") / 1024 for name, pid in sorted(processes.items())}
    latencies_ms = [x * 1000 for x in stats.latencies]
    answers_ms = [x * 1000 for x in stats.answers]
    return {
        "mode": "paced" if args.rate else "closed loop",
        "senders": None if args.rate else args.senders,
        "rate": args.rate,
        "pairs": args.pairs,
        "messages_requested": args.messages,
        "messages_sent": stats.sent,
        "seconds": round(elapsed, 2),
        "sent_per_second": round(stats.sent / elapsed, 1) if elapsed else 0.0,
        "delivered": stats.delivered,
        "not_delivered": lost,
        "errors": stats.errors,
        "latency_ms": {
            "p50": round(percentile(latencies_ms, 0.50), 1),
            "p95": round(percentile(latencies_ms, 0.95), 1),
            "p99": round(percentile(latencies_ms, 0.99), 1),
            "max": round(max(latencies_ms, default=float("nan")), 1),
        },
        "send_answer_ms": {
            "p50": round(percentile(answers_ms, 0.50), 1),
            "p99": round(percentile(answers_ms, 0.99), 1),
        },
        "cpu_ms_per_message": cpu,
        "peak_rss_mib": {name: round(value, 1) for name, value in peaks.items()},
        "idle_sockets": idle,
    }


def _cpu_lines(cpu: dict[str, float]) -> list[str]:
    if not cpu:
        return []
    total = sum(cpu.values())
    line = "  CPU/message  " + ", ".join(f"{name} {ms} ms" for name, ms in cpu.items())
    line += f" (total {total:.2f} ms"
    if total > 0:
        cores = os.cpu_count() or 1
        line += f": {cores} cores allow at most {cores * 1000 / total:.0f} msgs/s"
    return [line + ")"]


def render(report: dict[str, Any]) -> str:
    latency = report["latency_ms"]
    mode = (
        f"paced at {report['rate']:g} msgs/s"
        if report["rate"]
        else f"closed loop, {report['senders']} senders"
    )
    lines = [
        f"messenger bench: {report['pairs']} pairs, {mode}",
        f"  sent         {report['messages_sent']}/{report['messages_requested']} messages "
        f"in {report['seconds']} s = {report['sent_per_second']} msgs/s",
        f"  delivered    {report['delivered']} to the recipient's socket, "
        f"{report['not_delivered']} not within {DRAIN_SECONDS:.0f} s",
        f"  latency      send -> recipient socket: p50 {latency['p50']} ms, "
        f"p95 {latency['p95']} ms, p99 {latency['p99']} ms, max {latency['max']} ms",
        f"  send answer  POST answered in p50 {report['send_answer_ms']['p50']} ms, "
        f"p99 {report['send_answer_ms']['p99']} ms",
        f"  errors       {report['errors'] or 'none'}",
        *_cpu_lines(report["cpu_ms_per_message"]),
        "  peak RSS     "
        + ", ".join(f"{name} {mib} MiB" for name, mib in report["peak_rss_mib"].items()),
    ]
    idle = report["idle_sockets"]
    if idle:
        lines.append(
            f"  idle sockets {idle['sockets']} cost the gateway {idle['cost_mib']:.1f} MiB "
            f"({idle['per_socket_kib']:.1f} KiB each; RSS {idle['gateway_rss_before_mib']:.1f}"
            f" -> {idle['gateway_rss_after_mib']:.1f} MiB)"
        )
    return "\n".join(lines)

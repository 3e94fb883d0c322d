"""The fan-out: events from JetStream to per-user core-NATS subjects.

Every gateway instance joins the same durable push consumers as one queue group, so
each event is routed by exactly one instance whatever their number, and every frame
travels only to the instances that hold a socket of its user (they subscribe to
`rt.user.<id>`). Frames are real time, not storage: a consumer starts at new events,
a frame is given up after a few tries, and clients catch up by `seq`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from messenger.gateway.realtime.frames import Delivery, deliveries
from messenger.gateway.realtime.hub import Hub
from messenger.platform.bus import STREAM
from messenger.platform.events import SUBJECT_PREFIX, Envelope
from messenger.platform.logging import log

AreFriends = Callable[[str, str], Awaitable[bool]]

CONSUMERS = {
    "gateway-realtime-messages": SUBJECT_PREFIX + "message.>",
    "gateway-realtime-friendships": SUBJECT_PREFIX + "friendship.>",
}
ACK_WAIT_SECONDS = 10.0
MAX_ACK_PENDING = 20_000


class Router:
    def __init__(self, nc: NatsClient, hub: Hub, are_friends: AreFriends) -> None:
        self._hub = hub
        self._js: JetStreamContext = nc.jetstream()
        self._are_friends = are_friends
        self._checks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Join the consumers (retrying until JetStream answers), then route until
        cancelled."""
        subscriptions = [
            await self._join(durable, subject) for durable, subject in CONSUMERS.items()
        ]
        self._hub.routing.set()
        try:
            await asyncio.Event().wait()
        finally:
            for subscription in subscriptions:
                await subscription.unsubscribe()
            for task in list(self._checks):
                task.cancel()

    async def _join(self, durable: str, subject: str) -> JetStreamContext.PushSubscription:
        config = ConsumerConfig(
            durable_name=durable,
            deliver_group=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW,
            ack_wait=ACK_WAIT_SECONDS,
            max_deliver=3,
            max_ack_pending=MAX_ACK_PENDING,
            filter_subject=subject,
        )
        while True:
            try:
                return await self._js.subscribe(
                    subject,
                    queue=durable,
                    durable=durable,
                    stream=STREAM,
                    config=config,
                    cb=self._route,
                    manual_ack=True,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Also two instances creating the consumer at once: the next try binds.
                log.warning("realtime consumer not joined yet", consumer=durable, error=str(exc))
                await asyncio.sleep(0.5)

    async def _route(self, msg: Msg) -> None:
        try:
            envelope = Envelope.from_json(msg.data)
            planned = deliveries(envelope)
        except ValueError as exc:
            log.warning("event not routable", subject=msg.subject, error=str(exc))
            await msg.term()
            return
        checked = [d for d in planned if d.if_friends_with is not None]
        for delivery in planned:
            if delivery.if_friends_with is None:
                await self._hub.send_frame(delivery.user_id, delivery.frame, delivery.order)
        if not checked:
            await msg.ack()
            return
        # A friendship check is a gRPC call: run it beside the stream, not in front of it.
        task = asyncio.create_task(self._deliver_checked(msg, checked))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _deliver_checked(self, msg: Msg, checked: list[Delivery]) -> None:
        try:
            for delivery in checked:
                assert delivery.if_friends_with is not None
                if await self._are_friends(delivery.user_id, delivery.if_friends_with):
                    await self._hub.send_frame(delivery.user_id, delivery.frame, delivery.order)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Retrying would repeat the frames already sent; the reader catches up by seq.
            log.warning("friendship check failed; frame dropped", error=str(exc))
        await msg.ack()


@asynccontextmanager
async def running(nc: NatsClient, hub: Hub, are_friends: AreFriends) -> AsyncIterator[None]:
    """The router and the hub's session sweep, for as long as the gateway serves."""
    tasks = [
        asyncio.create_task(Router(nc, hub, are_friends).run(), name="realtime-router"),
        asyncio.create_task(hub.sweep_forever(), name="realtime-sweep"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

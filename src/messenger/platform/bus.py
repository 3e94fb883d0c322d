"""NATS JetStream: the stream every event lands in, and durable consumers of it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy import Table, select

from messenger.platform.clock import now_ms
from messenger.platform.events import SUBJECT_PREFIX, Envelope
from messenger.platform.logging import bind_request_id, log
from messenger.platform.uow import UnitOfWork, UnitOfWorkFactory

STREAM = "MESSENGER"
DEAD_LETTER_PREFIX = SUBJECT_PREFIX + "deadletter."

Handler = Callable[[UnitOfWork, Envelope], Awaitable[None]]


async def connect(url: str, name: str, *, no_echo: bool = False) -> NatsClient:
    """A connection that keeps reconnecting for as long as the service runs. With
    `no_echo` the server never hands the connection's own publishes back to it."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", error=str(exc))

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        error_cb=on_error,
        no_echo=no_echo,
    )


async def close(nc: NatsClient) -> None:
    """Close without draining: the background tasks that consume and publish are
    cancelled first, and drain would wait on a server that Ctrl-C may have stopped at
    the same moment (the embedded one gets the signal too)."""
    if not nc.is_closed:
        with contextlib.suppress(Exception):
            await nc.close()


async def ensure_stream(js: JetStreamContext) -> None:
    """One file-backed stream for `messenger.>`; duplicates dropped by `Nats-Msg-Id`."""
    config = StreamConfig(
        name=STREAM,
        subjects=[SUBJECT_PREFIX + ">"],
        storage=StorageType.FILE,
        duplicate_window=120.0,
    )
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        with contextlib.suppress(Exception):
            await js.add_stream(config)
        await js.stream_info(STREAM)


class EventConsumer:
    """A durable pull consumer whose handlers run in a unit of work with an inbox check.

    The event id is recorded in the service's `inbox` table in the same transaction as the
    handler's effects, and the message is acked only after that commit: a redelivery finds
    the id and changes nothing. A message that keeps failing goes to a dead-letter subject
    after `max_deliver` tries instead of blocking the consumer for ever.
    """

    def __init__(
        self,
        *,
        js: JetStreamContext,
        uow_factory: UnitOfWorkFactory,
        inbox: Table,
        durable: str,
        subject: str,
        handlers: Mapping[str, Handler],
        max_deliver: int = 5,
    ) -> None:
        self._js = js
        self._uow_factory = uow_factory
        self._inbox = inbox
        self._durable = durable
        self._subject = subject
        self._handlers = handlers
        self._max_deliver = max_deliver

    async def run(self) -> None:
        subscription = await self._subscribe()
        while True:
            try:
                msgs = await subscription.fetch(1, timeout=5)
            except (TimeoutError, NatsTimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer fetch failed", consumer=self._durable, error=str(exc))
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                await self._handle(msg)

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            durable_name=self._durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=30,
            max_deliver=self._max_deliver + 1,
            max_ack_pending=1,
            filter_subject=self._subject,
        )
        while True:
            try:
                return await self._js.pull_subscribe(
                    self._subject, durable=self._durable, stream=STREAM, config=config
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer subscribe failed", consumer=self._durable, error=str(exc))
                await asyncio.sleep(0.5)

    async def _handle(self, msg: Msg) -> None:
        try:
            envelope = Envelope.from_json(msg.data)
        except ValueError as exc:
            await self._dead_letter(msg, str(exc))
            return
        bind_request_id(envelope.request_id)
        handler = self._handlers.get(envelope.type)
        try:
            if handler is not None:
                await self._apply(handler, envelope)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            tries = msg.metadata.num_delivered
            log.exception("event handler failed", consumer=self._durable, event_id=envelope.id)
            if tries >= self._max_deliver:
                await self._dead_letter(msg, repr(exc))
            else:
                await msg.nak(delay=min(0.2 * 2**tries, 5.0))
            return
        finally:
            bind_request_id(None)
        await msg.ack()

    async def _apply(self, handler: Handler, envelope: Envelope) -> None:
        inbox = self._inbox
        async with self._uow_factory() as uow:
            seen = await uow.conn.scalar(
                select(inbox.c.event_id).where(
                    inbox.c.consumer == self._durable, inbox.c.event_id == envelope.id
                )
            )
            if seen is not None:
                return
            await uow.conn.execute(
                inbox.insert().values(
                    consumer=self._durable, event_id=envelope.id, processed_at_ms=now_ms()
                )
            )
            await handler(uow, envelope)

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        log.error("event dead-lettered", consumer=self._durable, reason=reason)
        await self._js.publish(
            DEAD_LETTER_PREFIX + self._durable,
            msg.data,
            headers={"Messenger-Dead-Reason": reason[:500]},
        )
        await msg.term()

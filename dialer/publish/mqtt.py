"""The MQTT publisher: engine events out to the broker, never in the way of a call.

Rules:
- `observe` (an engine observer, on the call path) only appends the event to a bounded queue
  and wakes the sender; it never awaits, encodes or touches the network. When the queue is full
  the oldest event is dropped and counted (`dropped`): fresh state matters more than old.
- Retained campaign statistics are not queued: the latest snapshot per campaign replaces the
  previous one, so a long broker outage costs one message per campaign, not a backlog.
- One sender task owns the connection and runs an explicit reconnect loop: connect, announce
  `online` on the retained status topic (the will says `offline` if we vanish), publish until
  the connection fails, then wait with exponential back-off (`reconnect_min_s` doubling up to
  `reconnect_max_s`, with jitter) and connect again. A message whose publish failed is sent
  again after the reconnect (at least once, with QoS >= 1). The daemon goes on dialing the
  whole time: nothing on the call path waits for the broker.
- `aclose` sends what is queued and the final statistics, says `offline`, disconnects; if the
  broker is down or slow it gives up after its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import aiomqtt

from dialer.core.observe import (
    AgentChanged,
    CallChanged,
    EngineEvent,
    LeadOffered,
    OfferEnded,
    TrunkBreakerChanged,
)
from dialer.metrics import EngineView, Metrics
from dialer.publish.messages import (
    Message,
    Topics,
    agent_message,
    breaker_message,
    call_message,
    campaign_stats,
    offer_message,
    stats_message,
    status_message,
)
from dialer.settings import MqttSettings

# What is published as it happens (the statistics are sampled apart).
Published = CallChanged | AgentChanged | LeadOffered | OfferEnded | TrunkBreakerChanged
_PUBLISHED = (CallChanged, AgentChanged, LeadOffered, OfferEnded, TrunkBreakerChanged)

logger = logging.getLogger(__name__)

StatsSource = Callable[[], Mapping[str, Mapping[str, Any]]]


class MqttPublisher:
    """Publishes call and agent changes and retained campaign statistics to one broker."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        owner: str,
        stats: StatsSource | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.owner = owner
        self.client_id = settings.client_id or f"dialer-{owner}"
        self._stats = stats
        self._timeout_s = timeout_s
        # Event times are loop (monotonic) times; payloads carry Unix times.
        self._wall_offset = time.time() - asyncio.get_running_loop().time()
        self._events: deque[Published] = deque()
        self._latest: dict[str, Message] = {}  # retained topic -> newest message not yet sent
        self._retry: Message | None = None  # the message whose publish failed
        self._wake = asyncio.Event()
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._sender: asyncio.Task[None] | None = None
        self._connected = False
        self.published = 0
        self.dropped = 0
        self.connects = 0  # successful connections (1 + reconnects)
        self.failures = 0  # failed connection attempts and lost connections

    # -- state -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    def closing(self) -> bool:
        """True once `aclose` started (a method: the flag changes across awaits)."""
        return self._closing

    @property
    def queued(self) -> int:
        return len(self._events) + len(self._latest) + (self._retry is not None)

    # -- the call path ---------------------------------------------------------------------

    def observe(self, event: EngineEvent) -> None:
        """Engine observer: queue a call, agent, preview offer or trunk breaker change (never
        blocks, never raises)."""
        if self._closing or not isinstance(event, _PUBLISHED):
            return
        if len(self._events) >= self.settings.queue_size:
            self._events.popleft()
            self.dropped += 1
            if self.dropped % 1000 == 1:  # the first drop, then every thousandth
                logger.warning(
                    "MQTT queue full (%d events): the oldest are dropped, %d so far",
                    self.settings.queue_size,
                    self.dropped,
                )
        self._events.append(event)
        self._wake.set()

    def publish_stats(self) -> None:
        """Queue the current campaign statistics (retained; replaces any unsent snapshot)."""
        if self._stats is None:
            return
        at = time.time()
        for campaign, stats in self._stats().items():
            msg = stats_message(self.topics, campaign, stats, at)
            self._latest[msg.topic] = msg
        self._wake.set()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sender (and the statistics timer, when there is a stats source)."""
        if self._sender is not None:
            return
        self._sender = self._spawn(self.run(), "mqtt-sender")
        if self._stats is not None:
            self._spawn(self._stats_loop(), "mqtt-stats")

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def aclose(self, timeout_s: float = 3.0) -> None:
        """Send what is queued and the final statistics, say offline, disconnect."""
        if self._closing:
            return
        with contextlib.suppress(Exception):
            self.publish_stats()
        self._closing = True
        self._wake.set()
        for task in list(self._tasks):
            if task is not self._sender:
                task.cancel()
        sender = self._sender
        if sender is not None and not sender.done():
            if self._connected:
                await asyncio.wait({sender}, timeout=timeout_s)
            if not sender.done():
                logger.warning(
                    "MQTT: %d messages not sent at stop (broker %s:%d)",
                    self.queued,
                    self.settings.host,
                    self.settings.port,
                )
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stats_loop(self) -> None:
        while True:
            try:
                self.publish_stats()
            except Exception:  # a stats bug must not stop the publisher
                logger.exception("MQTT: building campaign statistics failed")
            await asyncio.sleep(self.settings.stats_interval_s)

    # -- the sender -----------------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        offline = status_message(self.topics, False, self.owner, time.time())
        return aiomqtt.Client(
            s.host,
            s.port,
            identifier=self.client_id,
            username=s.username or None,
            password=s.password or None,
            tls_params=aiomqtt.TLSParameters(ca_certs=s.tls_ca) if s.tls_ca else None,
            will=aiomqtt.Will(offline.topic, offline.payload, qos=1, retain=True),
            timeout=self._timeout_s,
            keepalive=30,
        )

    async def run(self) -> None:
        """The reconnect loop (see the module docstring); returns once closed."""
        s = self.settings
        delay = s.reconnect_min_s
        outage = 0  # failed attempts since the last connection
        while not self.closing():
            try:
                async with self._client() as client:
                    self._connected = True
                    self.connects += 1
                    delay = s.reconnect_min_s
                    outage = 0
                    logger.info("MQTT connected to %s:%d as %s", s.host, s.port, self.client_id)
                    await self._send(
                        client, status_message(self.topics, True, self.owner, time.time())
                    )
                    await self._serve(client)
                    # Closing and everything sent: say so, then disconnect cleanly (no will).
                    await self._send(
                        client, status_message(self.topics, False, self.owner, time.time())
                    )
                    return
            except Exception as exc:  # MqttError, or a bug: either way retry, never die
                self.failures += 1
                if not isinstance(exc, aiomqtt.MqttError | OSError):
                    logger.error("MQTT publisher error; reconnecting", exc_info=exc)
                if self._connected:
                    outage = 0
                    logger.warning(
                        "MQTT connection to %s:%d lost (%s); reconnecting", s.host, s.port, exc
                    )
                elif outage % 10 == 0:  # the first failure of an outage, then every tenth
                    outage += 1
                    logger.warning(
                        "MQTT broker %s:%d unreachable (%s); retrying every %.1f-%.1f s",
                        s.host,
                        s.port,
                        exc,
                        s.reconnect_min_s,
                        s.reconnect_max_s,
                    )
                else:
                    outage += 1
                    logger.debug("MQTT broker %s:%d still unreachable (%s)", s.host, s.port, exc)
            finally:
                self._connected = False
            if self.closing():
                return
            # Jitter keeps many daemons from reconnecting in lock-step after a broker restart.
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, s.reconnect_max_s)

    def _next(self) -> Message | None:
        if self._retry is not None:
            return self._retry
        if self._latest:
            topic = next(iter(self._latest))
            return self._latest.pop(topic)
        if self._events:
            event = self._events.popleft()
            at = self._wall_offset + event.at
            if isinstance(event, CallChanged):
                return call_message(self.topics, event, at)
            if isinstance(event, AgentChanged):
                return agent_message(self.topics, event, at)
            if isinstance(event, TrunkBreakerChanged):
                return breaker_message(self.topics, event, at)
            return offer_message(self.topics, event, at)
        return None

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Publish until closed; raise MqttError as soon as the connection is lost, even
        while there is nothing to send (so `connected` is right during quiet times)."""
        pump = asyncio.create_task(self._pump(client), name="mqtt-pump")
        watch = asyncio.create_task(self._watch(client), name="mqtt-watch")
        try:
            await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pump.cancel()
            watch.cancel()
            # Wait for both and collect their errors (none is left unretrieved).
            pumped, watched = await asyncio.gather(pump, watch, return_exceptions=True)
        if not pump.cancelled():
            if isinstance(pumped, BaseException):
                raise pumped
            return  # closed, everything sent
        if isinstance(watched, Exception):
            raise watched
        raise aiomqtt.MqttError("the connection watcher stopped")

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        # We subscribe to nothing, so no message ever comes: aiomqtt's message iterator only
        # ends, with MqttError, when the connection drops (its public way to see a disconnect).
        async for _ in client.messages:
            pass
        raise aiomqtt.MqttError("MQTT message stream ended")

    async def _pump(self, client: aiomqtt.Client) -> None:
        """Publish until the queue is empty and we are closing (or the connection fails)."""
        while True:
            msg = self._next()
            if msg is None:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            self._retry = msg
            await self._send(client, msg)
            self._retry = None
            self.published += 1

    async def _send(self, client: aiomqtt.Client, msg: Message) -> None:
        await client.publish(
            msg.topic,
            msg.payload,
            qos=self.settings.qos,
            retain=msg.retain,
            timeout=self._timeout_s,
        )


def start_publisher(
    settings: MqttSettings, engine: EngineView, metrics: Metrics, owner: str
) -> MqttPublisher:
    """A publisher subscribed to the engine's events, with campaign statistics from the engine
    and the metrics' abandonment ledgers, its counters sampled into the metrics; started."""
    loop = asyncio.get_running_loop()
    publisher = MqttPublisher(
        settings,
        owner=owner,
        stats=lambda: campaign_stats(
            engine.stats(),
            lambda name: metrics.abandonment(name, loop.time()),
            metrics.dial_levels,
        ),
    )
    engine.add_observer(publisher.observe)
    metrics.watch_publisher(publisher)
    publisher.start()
    return publisher

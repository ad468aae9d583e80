"""The MQTT publisher against real Mosquitto brokers: the shared one on 127.0.0.1:1883 and
private ones on free loopback ports, started and stopped by PID, for outages.

Every test publishes under its own random topic prefix, so other sessions on the shared broker
neither see nor disturb it; retained messages are cleared at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from dialer.core.observe import AgentChanged, CallChanged
from dialer.publish.mqtt import MqttPublisher
from dialer.settings import MqttSettings

SHARED_HOST = "127.0.0.1"
SHARED_PORT = 1883


def unique_prefix() -> str:
    return f"dialer-test/{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    """A loopback TCP port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


BROKER_SECRET = "broker-secret-7d1e"


class PrivateBroker:
    """A Mosquitto of our own on 127.0.0.1:`port`, no persistence; stopped by its PID. With
    `secure`, it wants a login (user "dialer", SECRET) and speaks TLS only, with a certificate
    made for the test (`ca`)."""

    def __init__(self, port: int, *, secure: bool = False) -> None:
        self.port = port
        self._dir = Path(tempfile.mkdtemp(prefix="dialer-mqtt-"))
        self._conf = self._dir / "mosquitto.conf"
        self.ca = self._dir / "cert.pem"
        extra = ""
        if secure:
            key = self._dir / "key.pem"
            subprocess.run(
                [
                    "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(self.ca),
                ],
                check=True,
                capture_output=True,
            )  # fmt: skip
            passwords = self._dir / "passwords"
            subprocess.run(
                ["mosquitto_passwd", "-b", "-c", str(passwords), "dialer", BROKER_SECRET],
                check=True,
                capture_output=True,
            )
            # mosquitto started as root drops to its own user before it reads these
            self._dir.chmod(0o755)
            for path in (key, passwords):
                path.chmod(0o644)
            extra = f"certfile {self.ca}\nkeyfile {key}\npassword_file {passwords}\n"
        self._conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous {'false' if secure else 'true'}\n"
            f"{extra}persistence false\nlog_dest stderr\n",
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        log = (self._dir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(
            [binary, "-c", str(self._conf)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if listening(self.port):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)  # mosquitto listens within some 20 ms here
        self.stop()
        raise RuntimeError(f"private mosquitto did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # by PID: only the process we started
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def log(self) -> str:
        path = self._dir / "mosquitto.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture
def private_broker_port() -> Iterator[Callable[[], PrivateBroker]]:
    """A factory: each call gives an (unstarted) private broker on one free port."""
    port = free_port()
    brokers: list[PrivateBroker] = []

    def make() -> PrivateBroker:
        broker = PrivateBroker(port)
        brokers.append(broker)
        return broker

    yield make
    for b in brokers:
        b.cleanup()


class Subscriber:
    """A real aiomqtt client collecting every message under a topic filter."""

    def __init__(self, host: str, port: int, topic_filter: str, **login: Any) -> None:
        self.host, self.port, self.filter = host, port, topic_filter
        self.login = login  # username, password, tls_params for a secure broker
        self.messages: list[tuple[str, Any, bool]] = []  # (topic, decoded payload, retain)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        ready = asyncio.create_task(self._ready.wait())
        await asyncio.wait({ready, self._task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            ready.cancel()
            self._task.result()
        assert self._ready.is_set(), "subscriber did not connect"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        async with aiomqtt.Client(
            self.host, self.port, identifier=f"test-sub-{uuid.uuid4().hex[:8]}", **self.login
        ) as client:
            await client.subscribe(self.filter, qos=1)
            self._ready.set()
            async for message in client.messages:
                raw = message.payload
                body = json.loads(raw) if isinstance(raw, bytes | bytearray) and raw else None
                self.messages.append((str(message.topic), body, message.retain))

    def payloads(self, topic: str) -> list[Any]:
        return [body for t, body, _ in self.messages if t == topic]

    async def wait_for(self, check: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not check():
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"timed out waiting for {what}; got {self.messages[-10:]}")
            await asyncio.sleep(0.02)


async def clear_retained(host: str, port: int, topics: list[str]) -> None:
    """Remove our retained messages from the broker (an empty retained payload deletes)."""
    async with aiomqtt.Client(host, port) as client:
        for topic in topics:
            await client.publish(topic, b"", qos=1, retain=True)


@contextlib.asynccontextmanager
async def running(publisher: MqttPublisher) -> AsyncIterator[MqttPublisher]:
    publisher.start()
    try:
        yield publisher
    finally:
        await publisher.aclose()


def has_call(sub: Subscriber, topic: str, call_id: str) -> bool:
    return any(p["call_id"] == call_id for p in sub.payloads(topic))


def call(i: int, state: str, result: str | None = None) -> CallChanged:
    loop = asyncio.get_running_loop()
    return CallChanged("spring", f"call-{i}", 100 + i, state, result, None, loop.time())


async def test_events_status_and_retained_stats_on_the_shared_broker() -> None:
    prefix = unique_prefix()
    settings = MqttSettings(
        enabled=True, host=SHARED_HOST, port=SHARED_PORT, topic_prefix=prefix, qos=1
    )
    stats = {"spring": {"dialed": 1}}
    publisher = MqttPublisher(settings, owner="test-owner", stats=lambda: stats)
    t = publisher.topics
    try:
        async with Subscriber(SHARED_HOST, SHARED_PORT, t.all) as sub, running(publisher):
            await sub.wait_for(lambda: bool(sub.payloads(t.status)), 10, "online status")
            assert sub.payloads(t.status)[0]["online"] is True
            publisher.observe(call(1, "ringing"))
            publisher.observe(
                AgentChanged("spring", "7", "ready", asyncio.get_running_loop().time())
            )
            publisher.observe(call(1, "ended", "busy"))
            calls = t.calls("spring")
            await sub.wait_for(lambda: len(sub.payloads(calls)) == 2, 10, "two call events")
            first, last = sub.payloads(calls)
            assert (first["state"], last["state"], last["result"]) == ("ringing", "ended", "busy")
            assert first["call_id"] == "call-1" and first["lead_id"] == 101
            agent = sub.payloads(t.agent("spring", "7"))
            assert agent and agent[0]["state"] == "ready"
            await sub.wait_for(lambda: bool(sub.payloads(t.stats("spring"))), 10, "stats")
            stats["spring"] = {"dialed": 2}
        # Closed: the final statistics and an offline status were sent before the disconnect.
        assert sub.payloads(t.status)[-1]["online"] is False
        assert sub.payloads(t.stats("spring"))[-1]["dialed"] == 2
        # A late subscriber gets the retained statistics and status.
        async with Subscriber(SHARED_HOST, SHARED_PORT, t.all) as late:
            await late.wait_for(lambda: len(late.messages) >= 2, 10, "retained messages")
            retained = {topic: (body, r) for topic, body, r in late.messages}
            assert retained[t.stats("spring")][0]["dialed"] == 2
            assert retained[t.stats("spring")][1] is True
            assert retained[t.status][0]["online"] is False
            assert t.calls("spring") not in retained  # call events are not retained
        assert publisher.published >= 5
        assert publisher.dropped == 0
    finally:
        await clear_retained(SHARED_HOST, SHARED_PORT, [t.status, t.stats("spring")])


async def test_reconnects_after_broker_outages(
    private_broker_port: Callable[[], PrivateBroker],
) -> None:
    broker = private_broker_port()
    assert not listening(broker.port)
    settings = MqttSettings(
        enabled=True,
        port=broker.port,
        topic_prefix=unique_prefix(),
        reconnect_min_s=0.1,
        reconnect_max_s=0.4,
    )
    publisher = MqttPublisher(settings, owner="test-owner", timeout_s=2.0)
    t = publisher.topics
    calls = t.calls("spring")
    async with running(publisher):
        # 1. No broker: events queue up, nothing blocks, the loop keeps trying.
        for i in range(5):
            publisher.observe(call(i, "ringing"))
        await asyncio.sleep(0.5)
        assert not publisher.connected
        assert publisher.failures >= 2
        assert publisher.queued == 5

        # 2. The broker comes up: the publisher connects and sends what it queued (the broker
        # acknowledged each one: QoS 1), then new events as they come.
        broker.start()
        async with Subscriber("127.0.0.1", broker.port, t.all) as sub:
            await sub.wait_for(lambda: publisher.connected, 10, "a connection")
            await sub.wait_for(lambda: publisher.queued == 0, 10, "the queue sent")
            assert publisher.published == 5
            publisher.observe(call(5, "ringing"))
            await sub.wait_for(lambda: has_call(sub, calls, "call-5"), 10, "call-5")
            assert publisher.connects == 1

        # 3. The broker dies while nothing is being sent: the loss is seen at once (not at the
        # next publish), and events queue again.
        broker.stop()
        await sub.wait_for(lambda: not publisher.connected, 5, "the loss seen")
        for i in range(6, 9):
            publisher.observe(call(i, "ringing"))
        await asyncio.sleep(0.5)
        assert not publisher.connected
        assert publisher.queued == 3

        # 4. Back again (a fresh broker on the same port): reconnects and sends them all.
        published = publisher.published
        broker2 = private_broker_port()
        broker2.start()
        async with Subscriber("127.0.0.1", broker2.port, t.all) as sub2:
            await sub2.wait_for(lambda: publisher.connected, 10, "a reconnection")
            await sub2.wait_for(lambda: publisher.queued == 0, 10, "the queue sent")
            assert publisher.published - published == 3
            publisher.observe(call(9, "ringing"))
            await sub2.wait_for(lambda: has_call(sub2, calls, "call-9"), 10, "call-9")
            assert publisher.connects == 2
            assert publisher.dropped == 0


async def test_a_broker_with_a_login_over_tls() -> None:
    """The publisher logs in (mqtt.username, mqtt.password) over TLS, checking the broker's
    certificate against mqtt.tls_ca; without the CA or with a wrong password it never
    connects, and says so in its failures."""
    broker = PrivateBroker(free_port(), secure=True)
    try:
        broker.start()
        prefix = unique_prefix()
        good = MqttSettings(
            enabled=True,
            port=broker.port,
            topic_prefix=prefix,
            username="dialer",
            password=BROKER_SECRET,
            tls_ca=str(broker.ca),
            reconnect_min_s=0.1,
            reconnect_max_s=0.4,
        )
        assert BROKER_SECRET not in repr(good)
        login = {
            "username": "dialer",
            "password": BROKER_SECRET,
            "tls_params": aiomqtt.TLSParameters(ca_certs=str(broker.ca)),
        }
        publisher = MqttPublisher(good, owner="test-owner", timeout_s=2.0)
        async with (
            Subscriber("127.0.0.1", broker.port, f"{prefix}/#", **login) as sub,
            running(publisher),
        ):
            await sub.wait_for(lambda: publisher.connected, 10, "a TLS connection")
            publisher.observe(call(1, "ringing"))
            topic = publisher.topics.calls("spring")
            await sub.wait_for(lambda: bool(sub.payloads(topic)), 10, "the event")
        for wrong in (
            dataclasses.replace(good, password="not-the-password"),
            dataclasses.replace(good, tls_ca=""),  # plain MQTT to a TLS listener
        ):
            refused = MqttPublisher(wrong, owner="test-owner", timeout_s=1.0)
            async with running(refused):
                await asyncio.sleep(1.5)
                assert not refused.connected and refused.failures >= 1
    finally:
        broker.cleanup()

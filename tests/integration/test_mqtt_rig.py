"""MQTT events of real calls: the daemon's App on the Asterisk rig, publishing to Mosquitto.

1. A real aiomqtt subscriber on the shared broker (127.0.0.1:1883, a random topic prefix) sees
   each call's state changes, the agent's, and the retained campaign statistics.
2. The broker is down when the daemon starts (a closed port): the campaign is dialed all the
   same; a private Mosquitto is then started on that port (by PID) and the daemon reconnects
   and publishes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from dialer.app import App
from dialer.pacing.base import ProgressivePacer
from dialer.publish.messages import Topics
from dialer.settings import MqttSettings, Settings
from dialer.store.engine import Database
from rig.asterisk import Asterisk
from rig.campaign import seed
from rig.numbers import Behaviour, make_number
from tests.integration.test_campaign_rig import rig_settings, run_app
from tests.integration.test_mqtt_publisher import (
    SHARED_HOST,
    SHARED_PORT,
    PrivateBroker,
    Subscriber,
    clear_retained,
    listening,
    private_broker_port,
    unique_prefix,
)

pytestmark = [pytest.mark.rig, pytest.mark.slow]
__all__ = ["private_broker_port"]  # the fixture, shared with test_mqtt_publisher


def with_mqtt(settings: Settings, **mqtt: Any) -> Settings:
    values: dict[str, Any] = {"enabled": True, "stats_interval_s": 0.2}
    values.update(mqtt)
    return dataclasses.replace(settings, mqtt=MqttSettings(**values))


def states(payloads: list[Any], call_id: str) -> list[str]:
    return [p["state"] for p in payloads if p["call_id"] == call_id]


def is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(state in it for state in wanted)


def metric(app: App, name: str, **labels: str) -> float | None:
    return app.metrics.registry.get_sample_value(name, labels)


async def test_real_call_events_reach_the_broker(
    asterisk: Asterisk, sipp_trunk: Any, agent_headsets: Any, store_db: Database, store_db_url: str
) -> None:
    answer = make_number(Behaviour.ANSWER, 0.3, 1.0, 1)
    busy = make_number(Behaviour.BUSY, 0.2, 0.0, 2)
    seeded = await seed(store_db, name="mqtt rig/1", numbers=[answer, busy], agents=1, wrapup_s=0.2)
    prefix = unique_prefix()
    settings = with_mqtt(rig_settings(asterisk, store_db_url), topic_prefix=prefix)
    app = App(settings, lambda _c: ProgressivePacer())
    t = Topics(prefix)
    campaign = "mqtt rig/1"  # a space and a slash: the topic level is sanitised
    agent_id = str(seeded.agent_ids[0])
    try:
        async with Subscriber(SHARED_HOST, SHARED_PORT, t.all) as sub:
            code = await run_app(app, lambda e: len(e.finished) >= 2, timeout_s=60)
            assert code == 0

            def offline() -> bool:
                return any(p["online"] is False for p in sub.payloads(t.status))

            await sub.wait_for(offline, 10, "the offline status at stop")
        engine = app.engine
        assert engine is not None
        by_result = {c.result.value: c for c in engine.finished}
        assert set(by_result) == {"connected", "busy"}
        connected_id = by_result["connected"].call_id
        busy_id = by_result["busy"].call_id

        assert t.calls(campaign) == f"{prefix}/campaigns/mqtt_rig_1/calls"
        calls = sub.payloads(t.calls(campaign))
        seen = states(calls, connected_id)
        assert is_subsequence(
            ["originating", "ringing", "answered", "connecting", "connected", "ended"], seen
        ), seen
        ended = next(p for p in calls if p["call_id"] == connected_id and p["state"] == "ended")
        assert ended["result"] == "connected"
        assert ended["agent_id"] == agent_id
        assert ended["campaign"] == campaign
        assert 0 < ended["answer_to_agent_ms"] < 500
        assert ended["lead_id"] in seeded.lead_ids
        busy_states = states(calls, busy_id)
        assert busy_states[-1] == "ended" and "answered" not in busy_states, busy_states
        busy_end = [p for p in calls if p["call_id"] == busy_id][-1]
        assert busy_end["result"] == "busy" and busy_end["agent_id"] is None

        agent_states = [p["state"] for p in sub.payloads(t.agent(campaign, agent_id))]
        assert is_subsequence(["logging_in", "ready", "on_call", "wrapup", "ready"], agent_states)

        stats = sub.payloads(t.stats(campaign))
        assert stats, "no campaign statistics"
        final = stats[-1]
        assert final["results"]["connected"] == 1
        assert final["results"]["busy"] == 1
        assert final["dialed"] == 2 and final["answered"] == 1
        assert final["abandonment"]["24h"] == {"answered": 1, "abandoned": 0, "rate": 0.0}
        assert final["pbx_up"] is True
        # Retained: a subscriber that comes later still gets the last statistics (MQTT sets
        # the retain flag only on such a delivery, not to subscribers already there).
        async with Subscriber(SHARED_HOST, SHARED_PORT, t.stats(campaign)) as late:
            await late.wait_for(lambda: bool(late.messages), 10, "the retained statistics")
            _topic, body, retain = late.messages[0]
            assert retain and body == final

        raw = json.dumps([body for _, body, _ in sub.messages])
        for number in (answer, busy):
            assert number.lstrip("+") not in raw  # no phone number is ever published
        assert metric(app, "dialer_mqtt_messages_dropped_total") == 0
        published = metric(app, "dialer_mqtt_messages_published_total")
        assert published is not None and published >= len(calls)
        print(f"\nMQTT: {len(sub.messages)} messages received, {published:.0f} published")
    finally:
        await clear_retained(SHARED_HOST, SHARED_PORT, [t.status, t.stats(campaign)])


async def test_dialing_goes_on_while_the_broker_is_down(
    asterisk: Asterisk,
    sipp_trunk: Any,
    agent_headsets: Any,
    store_db: Database,
    store_db_url: str,
    private_broker_port: Callable[[], PrivateBroker],
) -> None:
    broker = private_broker_port()  # not started yet: its port is closed
    assert not listening(broker.port)
    # One agent, six answered calls of about a second each: they come one after the other.
    numbers = [make_number(Behaviour.ANSWER, 0.3, 1.0, i) for i in range(6)]
    await seed(store_db, name="mqtt-down", numbers=numbers, agents=1, wrapup_s=0.1)
    prefix = unique_prefix()
    settings = with_mqtt(
        rig_settings(asterisk, store_db_url),
        port=broker.port,
        topic_prefix=prefix,
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
    )
    app = App(settings, lambda _c: ProgressivePacer())
    app.metrics.interval_s = 0.1
    t = Topics(prefix)
    calls = t.calls("mqtt-down")
    serve = asyncio.create_task(app.serve(install_signals=False))
    try:
        await asyncio.wait_for(app.started.wait(), 30)
        engine = app.engine
        assert engine is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        # Phase 1: the broker is down, and the daemon dials on.
        while len(engine.finished) < 2:
            assert loop.time() < deadline and not serve.done(), engine.stats()
            await asyncio.sleep(0.05)
        finished_while_down = len(engine.finished)
        await asyncio.sleep(0.2)  # a sample or two
        assert metric(app, "dialer_mqtt_connected") == 0
        assert (metric(app, "dialer_mqtt_messages_published_total") or 0) == 0
        # Phase 2: the broker starts; the publisher reconnects on its own.
        broker.start()
        async with Subscriber("127.0.0.1", broker.port, t.all) as sub:
            while len(engine.finished) < 6:
                assert loop.time() < deadline and not serve.done(), engine.stats()
                await asyncio.sleep(0.1)
            assert metric(app, "dialer_mqtt_connected") == 1
            last = engine.finished[-1].call_id

            def last_call_ended() -> bool:
                return "ended" in states(sub.payloads(calls), last)

            await sub.wait_for(last_call_ended, 10, "the last call's end")
            app.request_stop()
            assert await asyncio.wait_for(serve, 60) == 0
    finally:
        if not serve.done():
            app.request_stop()
            app.request_stop()
            await asyncio.wait_for(serve, 30)
    assert finished_while_down >= 2
    assert [c.result.value for c in engine.finished] == ["connected"] * 6
    assert any(p["online"] is True for p in sub.payloads(t.status))
    final = sub.payloads(t.stats("mqtt-down"))[-1]
    assert final["results"]["connected"] == 6  # every call, those dialed while down included
    published = metric(app, "dialer_mqtt_messages_published_total")
    assert published is not None and published > 0
    assert metric(app, "dialer_mqtt_messages_dropped_total") == 0
    print(f"\n{finished_while_down} calls finished with the broker down; {published:.0f} published")

"""The MQTT topic scheme, the JSON payloads and the publisher's bounded queue (no broker)."""

from __future__ import annotations

import time

from dialer.core.observe import AgentChanged, CallChanged, PacingDecided
from dialer.domain.results import CallResult
from dialer.pacing.ledger import AbandonCount
from dialer.publish.messages import (
    SCHEMA,
    Topics,
    agent_message,
    call_message,
    campaign_stats,
    stats_message,
    status_message,
    topic_level,
    window_name,
)
from dialer.publish.mqtt import MqttPublisher
from dialer.settings import MqttSettings


def test_topic_levels_cannot_add_levels_or_wildcards() -> None:
    assert topic_level("spring-2030.v1") == "spring-2030.v1"
    assert topic_level("spring/sale #1+") == "spring_sale__1_"
    assert topic_level("Ünïcode") == "_n_code"
    assert topic_level("") == "_"
    t = Topics("site1/dialer")
    assert t.status == "site1/dialer/status"
    assert t.calls("a/b") == "site1/dialer/campaigns/a_b/calls"
    assert t.agent("spring", "17") == "site1/dialer/campaigns/spring/agents/17"
    assert t.stats("spring") == "site1/dialer/campaigns/spring/stats"
    assert t.all == "site1/dialer/#"


def test_window_names() -> None:
    assert window_name(86_400.0) == "24h"
    assert window_name(30 * 86_400.0) == "30d"
    assert window_name(None) == "life"
    assert window_name(3_600.0) == "1h"


def test_call_payload() -> None:
    t = Topics("d")
    event = CallChanged("spring/a", "uuid-1", 42, "ended", "connected", "7", 10.0, 12.345)
    msg = call_message(t, event, 1_800_000_000.12345)
    assert msg.topic == "d/campaigns/spring_a/calls"
    assert not msg.retain
    assert msg.json() == {
        "schema": SCHEMA,
        "type": "call",
        "campaign": "spring/a",
        "call_id": "uuid-1",
        "lead_id": 42,
        "state": "ended",
        "result": "connected",
        "agent_id": "7",
        "answer_to_agent_ms": 12.3,
        "at": 1_800_000_000.123,
    }


def test_agent_and_status_payloads() -> None:
    t = Topics("d")
    msg = agent_message(t, AgentChanged("spring", "7", "paused", 3.0), 1.0)
    assert msg.topic == "d/campaigns/spring/agents/7"
    assert msg.json() == {
        "schema": SCHEMA,
        "type": "agent",
        "campaign": "spring",
        "agent_id": "7",
        "state": "paused",
        "at": 1.0,
    }
    online = status_message(t, True, "host:12", 2.0)
    assert online.retain
    assert online.topic == "d/status"
    assert online.json()["online"] is True
    assert online.json()["owner"] == "host:12"


def test_campaign_stats_are_complete_and_retained() -> None:
    engine_stats = {
        "pbx_up": True,
        "cdr_pending": 0,
        "campaigns": {
            "spring": {
                "dialed": 10,
                "answered": 5,
                "in_flight": {"ringing": 2, "connected": 1},
                "results": {"connected": 3, "abandoned": 1, "busy": 3},
                "agents": {"1": "ready", "2": "on_call", "3": "on_call"},
                "leads_buffered": 40,
                "pacing": "x",
            }
        },
    }

    def abandonment(name: str) -> tuple[AbandonCount, ...]:
        assert name == "spring"
        return (
            AbandonCount(86_400.0, 4, 1),
            AbandonCount(30 * 86_400.0, 4, 1),
            AbandonCount(None, 4, 1),
        )

    stats = campaign_stats(engine_stats, abandonment, {"spring": 1.5})
    s = stats["spring"]
    assert s["results"] == {
        r.value: {"connected": 3, "abandoned": 1, "busy": 3}.get(r.value, 0) for r in CallResult
    }
    assert s["finished"] == 7
    assert s["contact_rate"] == round(4 / 7, 4)
    assert s["calls_in_flight"] == 3
    assert s["agents"]["on_call"] == 2
    assert s["agents"]["ready"] == 1
    assert s["agents"]["logged_out"] == 0
    assert s["abandonment"]["24h"] == {"answered": 4, "abandoned": 1, "rate": 0.25}
    assert set(s["abandonment"]) == {"24h", "30d", "life"}
    assert s["dial_level"] == 1.5
    assert s["pbx_up"] is True
    msg = stats_message(Topics("d"), "spring", s, 5.0)
    assert msg.retain
    assert msg.topic == "d/campaigns/spring/stats"
    body = msg.json()
    assert body["type"] == "campaign_stats"
    assert body["campaign"] == "spring"
    assert body["schema"] == SCHEMA


async def test_publisher_queue_is_bounded_and_never_blocks() -> None:
    # Not started (no broker): observe only queues. Past queue_size the oldest are dropped.
    publisher = MqttPublisher(MqttSettings(enabled=True, queue_size=100), owner="t")
    t0 = time.perf_counter()
    for i in range(10_000):
        publisher.observe(CallChanged("spring", f"c{i}", i, "ringing", None, None, 0.0))
    elapsed = time.perf_counter() - t0
    publisher.observe(PacingDecided("spring", 1, 1.0, "ignored", 0.0))
    assert publisher.queued == 100
    assert publisher.dropped == 9_900
    assert elapsed < 1.0, elapsed  # about 1 µs an event here; the call path never waits
    await publisher.aclose()
    publisher.observe(AgentChanged("spring", "1", "ready", 0.0))
    assert publisher.queued == 100  # nothing is taken after close


async def test_statistics_replace_the_unsent_snapshot() -> None:
    calls = 0

    def stats() -> dict[str, dict[str, int]]:
        nonlocal calls
        calls += 1
        return {"spring": {"dialed": calls}, "autumn": {"dialed": 0}}

    publisher = MqttPublisher(MqttSettings(enabled=True), owner="t", stats=stats)
    for _ in range(50):
        publisher.publish_stats()
    assert publisher.queued == 2  # one retained snapshot per campaign, not a backlog
    await publisher.aclose()

"""The metrics module fed with engine events and a fake engine view: counters, the
answer-to-agent histogram, abandonment windows, sampled gauges, the timed store, and the text
exposition (names, bounded labels)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dialer.core.campaign import CampaignRun
from dialer.core.observe import AgentChanged, CallChanged, EngineEvent, PacingDecided
from dialer.domain import agent as ag
from dialer.domain import call as cl
from dialer.metrics import Metrics, is_abandoned
from dialer.pacing.base import ProgressivePacer
from dialer.pacing.callrate import CallRateLimiter, CallRates
from dialer.store.records import Campaign, CampaignStatus, PacingMode, Trunk

HOUR = 3600.0
DAY = 86_400.0


def call(
    state: str,
    at: float,
    *,
    campaign: str = "spring",
    call_id: str = "c1",
    lead_id: int = 4711,
    result: str | None = None,
    ms: float | None = None,
) -> CallChanged:
    return CallChanged(campaign, call_id, lead_id, state, result, None, at, ms)


def lifecycle(m: Metrics, result: str, at: float, ms: float | None = None, **kw: Any) -> None:
    """Feed one call's state changes, ending with `result`."""
    m.observe(call("originating", at, **kw))
    m.observe(call("ringing", at + 1, **kw))
    if result in ("connected", "abandoned"):
        m.observe(call("answered", at + 2, **kw))
    if result == "connected":
        m.observe(call("connecting", at + 2, **kw))
        m.observe(call("connected", at + 2, ms=ms, **kw))
    m.observe(call("ended", at + 30, result=result, ms=ms, **kw))


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_counters_follow_call_events() -> None:
    m = Metrics()
    lifecycle(m, "connected", 0.0, ms=12.0)
    lifecycle(m, "abandoned", 10.0, call_id="c2")
    lifecycle(m, "busy", 20.0, call_id="c3")
    lifecycle(m, "busy", 21.0, call_id="c4")
    lifecycle(m, "no_answer", 22.0, call_id="c5", campaign="autumn")

    assert value(m, "dialer_calls_originated_total", campaign="spring") == 4
    assert value(m, "dialer_calls_answered_total", campaign="spring") == 2
    assert value(m, "dialer_calls_abandoned_total", campaign="spring") == 1
    assert value(m, "dialer_call_attempts_total", campaign="spring", result="connected") == 1
    assert value(m, "dialer_call_attempts_total", campaign="spring", result="busy") == 2
    assert value(m, "dialer_call_attempts_total", campaign="spring", result="failed") == 0
    assert value(m, "dialer_call_attempts_total", campaign="autumn", result="no_answer") == 1
    assert value(m, "dialer_calls_originated_total", campaign="autumn") == 1


def test_answer_to_agent_histogram_in_seconds() -> None:
    m = Metrics()
    lifecycle(m, "connected", 0.0, ms=12.0)
    lifecycle(m, "connected", 5.0, ms=180.0, call_id="c2")
    lifecycle(m, "connected", 9.0, ms=2400.0, call_id="c3")
    name = "dialer_answer_to_agent_seconds"
    assert value(m, f"{name}_count", campaign="spring") == 3
    assert value(m, f"{name}_sum", campaign="spring") == pytest.approx(2.592)
    assert value(m, f"{name}_bucket", campaign="spring", le="0.01") == 0
    assert value(m, f"{name}_bucket", campaign="spring", le="0.025") == 1
    assert value(m, f"{name}_bucket", campaign="spring", le="0.25") == 2
    assert value(m, f"{name}_bucket", campaign="spring", le="2.0") == 2
    assert value(m, f"{name}_bucket", campaign="spring", le="5.0") == 3


def test_late_connection_counts_as_abandoned_in_the_windows_only() -> None:
    # Connected 2.4 s after the answer: the result is "connected", but the regulators' rule
    # (the ledger's 2 s grace) counts it as abandoned in the abandonment rate.
    assert is_abandoned("connected", 2400.0)
    assert not is_abandoned("connected", 1999.0)
    assert is_abandoned("abandoned", None)
    m = Metrics()
    lifecycle(m, "connected", 0.0, ms=2400.0)
    lifecycle(m, "connected", 1.0, ms=100.0, call_id="c2")
    m.sample(now=100.0)
    assert value(m, "dialer_calls_abandoned_total", campaign="spring") == 0
    assert value(m, "dialer_abandonment_ratio", campaign="spring", window="24h") == 0.5


def test_abandonment_ratio_per_window() -> None:
    m = Metrics()
    # Day 0: 1 abandoned of 4 answered. Day 2: 1 abandoned of 2. An unanswered call never counts.
    for i in range(3):
        lifecycle(m, "connected", 100.0 + i, ms=50.0, call_id=f"a{i}")
    lifecycle(m, "abandoned", 200.0, call_id="a3")
    lifecycle(m, "busy", 300.0, call_id="a4")
    lifecycle(m, "connected", 2 * DAY, ms=50.0, call_id="b0")
    lifecycle(m, "abandoned", 2 * DAY + 10, call_id="b1")

    m.sample(now=2 * DAY + HOUR)
    ratio = "dialer_abandonment_ratio"
    assert value(m, ratio, campaign="spring", window="24h") == pytest.approx(1 / 2)
    assert value(m, ratio, campaign="spring", window="30d") == pytest.approx(2 / 6)
    assert value(m, ratio, campaign="spring", window="life") == pytest.approx(2 / 6)
    answered = "dialer_abandonment_window_answered_calls"
    assert value(m, answered, campaign="spring", window="24h") == 2
    assert value(m, answered, campaign="spring", window="30d") == 6
    assert (
        value(m, "dialer_abandonment_window_abandoned_calls", campaign="spring", window="30d") == 2
    )

    # 31 days on, the 30-day window has emptied; the life count stays.
    m.sample(now=33 * DAY)
    assert value(m, ratio, campaign="spring", window="24h") == 0
    assert value(m, answered, campaign="spring", window="30d") == 0
    assert value(m, ratio, campaign="spring", window="life") == pytest.approx(2 / 6)


def test_dial_level_from_pacing_decisions() -> None:
    m = Metrics()
    m.observe(PacingDecided("spring", 3, 1.5, "predictive", 1.0))
    m.observe(PacingDecided("spring", 1, 2.25, "predictive", 2.0))
    assert value(m, "dialer_dial_level", campaign="spring") == 2.25
    assert m.dial_levels == {"spring": 2.25}


# -- the sampler, on a fake engine view built from the engine's own CampaignRun -------------


def campaign_run(cid: int, name: str, trunk: Trunk, agents: int) -> CampaignRun:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    campaign = Campaign(
        cid,
        name,
        CampaignStatus.RUNNING,
        PacingMode.PROGRESSIVE,
        "+15550000000",
        trunk.id,
        15.0,
        1,
        1.0,
        1.0,
        now,
        now,
    )
    run = CampaignRun(
        campaign, trunk, ProgressivePacer(), CallRates(CallRateLimiter(trunk.max_cps))
    )
    for i in range(agents):
        run.agents[f"{cid}-{i}"] = ag.Agent(f"{cid}-{i}", f"agent{i}")
    return run


class FakeCdr:
    def __init__(self) -> None:
        self.last_write_ms = 0.0
        self.pending = 0
        self.spooled = 0
        self.dead_letters = 0


class FakeEngine:
    def __init__(self, runs: Sequence[CampaignRun], pbx_up: bool = True) -> None:
        self.campaigns: dict[int, CampaignRun] = {r.campaign.id: r for r in runs}
        self.cdr = FakeCdr()
        self.pbx_up = pbx_up
        self.observers: list[Any] = []

    def stats(self) -> dict[str, Any]:
        return {"pbx_up": self.pbx_up, "campaigns": {}, "cdr_pending": self.cdr.pending}

    def add_observer(self, observer: Any) -> None:
        self.observers.append(observer)


class FakePublisher:
    connected = True
    published = 0
    dropped = 0


async def test_sampler_sets_live_gauges() -> None:
    trunk = Trunk(1, "carrier-a", 30, 10.0, "", "trunk")
    spring = campaign_run(1, "spring", trunk, agents=3)
    autumn = campaign_run(2, "autumn", trunk, agents=1)
    # Agents: spring has 1 ready, 1 logging in, 1 logged out.
    a0, a1, _ = spring.agents.values()
    a0.handle(ag.Login("leg0", 0.0))
    a0.handle(ag.LegUp(0.1))
    a1.handle(ag.Login("leg1", 0.0))
    # Calls: spring has 2 ringing and 1 answered waiting for an agent; autumn 1 originating.
    for i in range(3):
        c = cl.CallAttempt(f"s{i}", 100 + i)
        c.handle(cl.Originate(0.0))
        spring.calls[c.channel_id] = c
    answered = cl.CallAttempt("s3", 103)
    answered.handle(cl.Originate(0.0))
    spring.calls["s3"] = answered
    spring.waiting.append("s3")
    autumn.calls["x"] = cl.CallAttempt("x", 7)
    autumn.calls["x"].handle(cl.Originate(0.0))

    engine = FakeEngine([spring, autumn], pbx_up=False)
    engine.cdr.last_write_ms = 3.5
    engine.cdr.pending = 7
    publisher = FakePublisher()
    m = Metrics(interval_s=0.01)
    m.watch(engine, publisher)
    assert engine.observers == [m.observe]
    publisher.published = 5
    await asyncio.sleep(0.05)  # the sampler task runs
    assert value(m, "dialer_pbx_up") == 0
    assert value(m, "dialer_calls_in_flight", campaign="spring") == 4
    assert value(m, "dialer_calls_ringing", campaign="spring") == 4
    assert value(m, "dialer_calls_waiting_for_agent", campaign="spring") == 1
    assert value(m, "dialer_calls_in_flight", campaign="autumn") == 1
    assert value(m, "dialer_agents", campaign="spring", state="ready") == 1
    assert value(m, "dialer_agents", campaign="spring", state="logging_in") == 1
    assert value(m, "dialer_agents", campaign="spring", state="logged_out") == 1
    assert value(m, "dialer_agents", campaign="spring", state="on_call") == 0
    assert value(m, "dialer_trunk_channels_in_use", trunk="carrier-a") == 5
    assert value(m, "dialer_trunk_channels_max", trunk="carrier-a") == 30
    assert value(m, "dialer_cdr_last_write_seconds") == pytest.approx(0.0035)
    assert value(m, "dialer_cdr_pending_records") == 7
    assert value(m, "dialer_mqtt_connected") == 1
    assert value(m, "dialer_mqtt_messages_published_total") == 5
    # A campaign's counters exist at zero before its first call (rate() works from the start).
    assert value(m, "dialer_call_attempts_total", campaign="autumn", result="abandoned") == 0

    engine.pbx_up = True
    publisher.published = 9
    publisher.dropped = 2
    await asyncio.sleep(0.05)
    await m.aclose()
    assert value(m, "dialer_pbx_up") == 1
    assert value(m, "dialer_mqtt_messages_published_total") == 9
    assert value(m, "dialer_mqtt_messages_dropped_total") == 2


# -- the timed store -----------------------------------------------------------------------


class SlowStore:
    def __init__(self) -> None:
        self.fail = False
        self.written: list[object] = []

    async def running_campaigns(self) -> list[Any]:
        return []

    async def lease(self, campaign_id: int, limit: int) -> list[Any]:
        return []

    async def release(self, lead_ids: Sequence[int]) -> None:
        return None

    async def skip(self, lead_id: int, delay_s: float) -> None:
        return None

    async def give_back(self, attempt_ids: Sequence[str]) -> int:
        return 0

    async def write_starts(self, starts: Sequence[Any]) -> None:
        await asyncio.sleep(0.02)
        if self.fail:
            raise ConnectionError("database went away")
        self.written.extend(starts)

    async def write_progress(self, updates: Sequence[Any]) -> None:
        return None

    async def write_dead_letters(self, letters: Sequence[Any]) -> None:
        return None

    async def write_ends(self, ends: Sequence[Any]) -> object:
        return len(ends)

    async def close_open(self) -> int:
        return 0

    async def renew(self) -> int:
        return 3

    async def take_over_expired(self) -> Any:
        return None


async def test_timed_store_measures_writes_and_counts_failures() -> None:
    m = Metrics()
    inner = SlowStore()
    store = m.timed_store(inner)
    await store.write_starts(["a", "b"])
    assert inner.written == ["a", "b"]
    assert await store.write_ends(["x"]) == 1
    assert await store.renew() == 3
    inner.fail = True
    with pytest.raises(ConnectionError):
        await store.write_starts(["c"])
    name = "dialer_db_write_duration_seconds"
    assert value(m, f"{name}_count", operation="write_starts") == 1
    assert value(m, f"{name}_sum", operation="write_starts") >= 0.02  # type: ignore[operator]
    assert value(m, f"{name}_bucket", operation="write_starts", le="0.01") == 0
    assert value(m, f"{name}_count", operation="write_ends") == 1
    assert value(m, f"{name}_count", operation="renew") == 1
    assert value(m, "dialer_db_write_errors_total", operation="write_starts") == 1


# -- the exposition ----------------------------------------------------------------------


def families(m: Metrics) -> Mapping[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(m.exposition().decode())}


def test_exposition_names_and_bounded_labels() -> None:
    m = Metrics()
    events: list[EngineEvent] = [AgentChanged("spring", "17", "ready", 0.0)]
    for e in events:
        m.observe(e)
    lifecycle(m, "connected", 0.0, ms=40.0, call_id="5f0c1d7e-call-uuid", lead_id=987654)
    lifecycle(m, "abandoned", 1.0, call_id="other-call", lead_id=123456789)
    m.sample(now=50.0)
    text = m.exposition().decode()
    fams = families(m)
    assert fams, "nothing exposed"
    for name, fam in fams.items():
        assert name.startswith("dialer_"), name
        assert fam.documentation, f"{name} has no help text"
        if fam.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in fam.samples)
        for sample in fam.samples:
            assert set(sample.labels) <= {
                "campaign",
                "trunk",
                "result",
                "state",
                "window",
                "operation",
                "le",
            }, sample
    # No call id, lead id or agent id ever became a label value.
    for secret in ("5f0c1d7e-call-uuid", "987654", "123456789", "other-call", '"17"'):
        assert secret not in text


def test_exported_names_include_every_suffix() -> None:
    names = Metrics().exported_names()
    for name in (
        "dialer_call_attempts_total",
        "dialer_calls_answered_total",
        "dialer_calls_abandoned_total",
        "dialer_abandonment_ratio",
        "dialer_agents",
        "dialer_answer_to_agent_seconds_bucket",
        "dialer_answer_to_agent_seconds_sum",
        "dialer_answer_to_agent_seconds_count",
        "dialer_dial_level",
        "dialer_calls_in_flight",
        "dialer_pbx_up",
        "dialer_db_write_duration_seconds_bucket",
        "dialer_cdr_last_write_seconds",
    ):
        assert name in names, name
    assert "dialer_call_attempts" not in names  # a counter's samples always carry _total
    assert all(n.startswith("dialer_") for n in names)


def test_each_instance_has_its_own_registry() -> None:
    # With prometheus-client's global registry, a second daemon in one process would raise
    # "Duplicated timeseries"; each Metrics owns its registry instead.
    a, b = Metrics(), Metrics()
    lifecycle(a, "busy", 0.0)
    assert value(a, "dialer_call_attempts_total", campaign="spring", result="busy") == 1
    assert value(b, "dialer_call_attempts_total", campaign="spring", result="busy") is None


async def test_the_event_loop_lag_is_measured_inside_the_loop() -> None:
    metrics = Metrics()
    probe = asyncio.create_task(metrics._lag_loop())
    await asyncio.sleep(0.05)
    time.sleep(0.12)  # noqa: ASYNC251 (a step that holds the loop: the probe fires late)
    await asyncio.sleep(0.05)
    probe.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await probe
    value = metrics.registry.get_sample_value
    count = value("dialer_event_loop_lag_seconds_count") or 0
    late = count - (value("dialer_event_loop_lag_seconds_bucket", {"le": "0.1"}) or 0)
    assert count >= 2 and late >= 1, (count, late)

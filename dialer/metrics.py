"""Every Prometheus metric of the daemon, in this one module.

Rules:
- Names follow the Prometheus conventions: prefixed `dialer_`, the unit in the name
  (`_seconds`, `_ratio`), counters end in `_total` (prometheus-client adds it to the samples).
- Labels are bounded: campaign, trunk, result, state, window, operation. Never a phone number,
  lead id, call id or agent id (a label value per call would grow the time-series set without
  bound).
- Counters and the answer-to-agent histogram are fed by engine events (`Engine.add_observer`).
  Observers run on the call path, so `observe` only bumps numbers. Gauges are set by a sampler
  task in the event loop every `interval_s` from the engine's live state, so a scrape never walks
  the engine's dictionaries while they change.
- Each `Metrics` owns its `CollectorRegistry` (no global registry): two daemons in one test
  process never collide, and `exposition()` returns only the dialer's metrics.
- Abandonment: one `AbandonLedger` (dialer/pacing/ledger.py) per campaign, fed with every
  live-answered call when it ends. A call is abandoned when it got no agent, or got one later
  than the ledger's 2 s grace after the answer (the regulators' definition). The windows and the
  `life` count (the campaign's whole life) are restored from the CDRs when the engine starts
  the campaign (`HistoryRestored`), so a restart does not reset them.
- UK abandonment (`dialer_abandonment_uk_ratio`): the 24-hour window plus an estimate
  of people that answering-machine detection took for machines (machine verdicts x the
  campaign's AMD false-positive rate, `dialer.rules.abandonment`). Machine verdicts, like the
  windows, are restored from the CDRs when a campaign starts, so the gauge and the HTTP API's
  campaign statistics (from the CDRs) agree; other daemons' calls on the campaign join both
  as their CDRs are written (`OthersCounted`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from dialer.core.campaign import PRE_ANSWER, CampaignRun
from dialer.core.observe import (
    AgentChanged,
    CallChanged,
    EngineEvent,
    HistoryRestored,
    OthersCounted,
    PacingDecided,
    TrunkBreakerChanged,
)
from dialer.domain.agent import AgentState
from dialer.domain.breaker import BreakerState
from dialer.domain.call import CallState
from dialer.domain.results import CallResult
from dialer.engine.ports import EngineStore
from dialer.pacing.history import restore_ledger
from dialer.pacing.ledger import GRACE_S, AbandonCount, AbandonLedger
from dialer.publish.messages import window_name
from dialer.rules.abandonment import (
    DEFAULT_AMD_FALSE_POSITIVE_RATE,
    AbandonFigures,
    Outcome,
    RollingCounts,
)
from dialer.store.records import (
    Agent,
    AttemptEnd,
    AttemptProgress,
    AttemptStart,
    Campaign,
    LeasedLead,
    LeftCall,
    Takeover,
    Trunk,
)

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
LOOP_LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 1.0)
LOOP_PROBE_S = 0.02  # how often the event loop's lag is measured
DB_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# The sample names a metric of each type exposes (prometheus-client's text format).
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}

T = TypeVar("T")
UK_WINDOW_S = 86_400.0  # Ofcom: any 24 hours


class CdrView(Protocol):
    @property
    def last_write_ms(self) -> float: ...

    @property
    def pending(self) -> int: ...

    @property
    def spooled(self) -> int: ...

    @property
    def dead_letters(self) -> int: ...


class EngineView(Protocol):
    """What the sampler reads from the engine (`dialer.engine.engine.Engine` has it)."""

    @property
    def campaigns(self) -> Mapping[int, CampaignRun]: ...

    @property
    def cdr(self) -> CdrView: ...

    def stats(self) -> dict[str, Any]: ...

    def add_observer(self, observer: Callable[[EngineEvent], None]) -> None: ...


class PublisherView(Protocol):
    """What the sampler reads from the MQTT publisher (dialer.publish.MqttPublisher)."""

    @property
    def connected(self) -> bool: ...

    @property
    def published(self) -> int: ...

    @property
    def dropped(self) -> int: ...


def is_abandoned(result: str, answer_to_agent_ms: float | None) -> bool:
    """An answered call counts as abandoned without an agent, or with one later than the grace."""
    if result == CallResult.ABANDONED.value:
        return True
    return answer_to_agent_ms is not None and answer_to_agent_ms > GRACE_S * 1000


_BREAKER_VALUE = {
    BreakerState.CLOSED.value: 0,
    BreakerState.OPEN.value: 1,
    BreakerState.HALF_OPEN.value: 2,
}


class Metrics:
    """The dialer's metrics and their feeders: `observe` (events), `sample` (gauges)."""

    def __init__(self, interval_s: float = 1.0) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # -- calls (events)
        self.calls_originated = Counter(
            "dialer_calls_originated",
            "Calls the dialer started (sent to the PBX).",
            ["campaign"],
            registry=r,
        )
        self.call_attempts = Counter(
            "dialer_call_attempts",
            "Finished call attempts, by final result.",
            ["campaign", "result"],
            registry=r,
        )
        self.calls_answered = Counter(
            "dialer_calls_answered",
            "Calls answered by the callee (before any agent).",
            ["campaign"],
            registry=r,
        )
        self.calls_abandoned = Counter(
            "dialer_calls_abandoned",
            "Answered calls that ended without an agent (heard the abandon message or hung up).",
            ["campaign"],
            registry=r,
        )
        self.answer_to_agent = Histogram(
            "dialer_answer_to_agent_seconds",
            "Time from the callee's answer to the bridge with an agent.",
            ["campaign"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        # -- trunks (events)
        self.trunk_breaker_open = Gauge(
            "dialer_trunk_breaker_state",
            "A trunk's circuit breaker: 0 closed (dialing), 1 open (no calls), 2 half-open "
            "(one probe call).",
            ["trunk"],
            registry=r,
        )
        self.trunk_breaker_trips = Counter(
            "dialer_trunk_breaker_openings",
            "Times a trunk's circuit breaker opened: most calls in a row failed on it, or its "
            "probe call failed.",
            ["trunk"],
            registry=r,
        )
        self.trunk_given_back = Counter(
            "dialer_trunk_breaker_given_back_calls",
            "Failed calls whose leads went back as they were when the breaker opened: the trunk "
            "failed them, not the numbers.",
            ["trunk"],
            registry=r,
        )
        # -- abandonment windows (sampled from the ledgers)
        self.abandonment_ratio = Gauge(
            "dialer_abandonment_ratio",
            "Abandoned / live-answered calls over the window (24h, 30d, life = the campaign's).",
            ["campaign", "window"],
            registry=r,
        )
        self.window_answered = Gauge(
            "dialer_abandonment_window_answered_calls",
            "Live-answered calls counted in the abandonment window.",
            ["campaign", "window"],
            registry=r,
        )
        self.window_abandoned = Gauge(
            "dialer_abandonment_window_abandoned_calls",
            "Abandoned calls counted in the abandonment window.",
            ["campaign", "window"],
            registry=r,
        )
        # UK (Ofcom) rate: abandoned calls plus an estimate of people answering-machine
        # detection took for machines, over live calls plus that estimate, last 24 hours.
        self.uk_abandonment_ratio = Gauge(
            "dialer_abandonment_uk_ratio",
            "(abandoned + estimated AMD false positives) / (live answered + estimated AMD false "
            "positives) over the last 24 hours (Ofcom).",
            ["campaign", "window"],
            registry=r,
        )
        self.window_machines = Gauge(
            "dialer_abandonment_window_machine_calls",
            "Calls answering-machine detection classed as machines in the window.",
            ["campaign", "window"],
            registry=r,
        )
        self.amd_false_positive = Gauge(
            "dialer_amd_false_positive_ratio",
            "The share of machine verdicts assumed to be people (the campaign's rules).",
            ["campaign"],
            registry=r,
        )
        # -- live state (sampled)
        self.agents = Gauge(
            "dialer_agents", "Agents of the campaign by state.", ["campaign", "state"], registry=r
        )
        self.dial_level = Gauge(
            "dialer_dial_level",
            "The pacer's last dial level (lines per available agent).",
            ["campaign"],
            registry=r,
        )
        self.calls_in_flight = Gauge(
            "dialer_calls_in_flight",
            "Calls started and not ended (ringing, answered, talking).",
            ["campaign"],
            registry=r,
        )
        self.calls_ringing = Gauge(
            "dialer_calls_ringing",
            "Calls not answered yet (originating or ringing).",
            ["campaign"],
            registry=r,
        )
        self.calls_waiting = Gauge(
            "dialer_calls_waiting_for_agent",
            "Answered calls waiting for a free agent.",
            ["campaign"],
            registry=r,
        )
        self.trunk_in_use = Gauge(
            "dialer_trunk_channels_in_use", "Calls in flight on the trunk.", ["trunk"], registry=r
        )
        self.trunk_max = Gauge(
            "dialer_trunk_channels_max", "The trunk's channel limit.", ["trunk"], registry=r
        )
        self.pbx_up = Gauge("dialer_pbx_up", "1 when the PBX link (AMI/ESL) is up.", registry=r)
        # -- database
        self.db_write = Histogram(
            "dialer_db_write_duration_seconds",
            "Duration of the engine's database writes (CDR batches, leases).",
            ["operation"],
            buckets=DB_BUCKETS_S,
            registry=r,
        )
        self.db_errors = Counter(
            "dialer_db_write_errors",
            "Engine database writes that failed (CDR batches are retried).",
            ["operation"],
            registry=r,
        )
        self.cdr_last_write = Gauge(
            "dialer_cdr_last_write_seconds",
            "Duration of the last CDR flush (starts and ends of one batch).",
            registry=r,
        )
        self.cdr_pending = Gauge(
            "dialer_cdr_pending_records", "CDR records waiting to be written.", registry=r
        )
        self.cdr_spooled = Gauge(
            "dialer_cdr_spooled_records",
            "CDR records in the local spool file, waiting for the database to come back.",
            registry=r,
        )
        self.cdr_dead_letters = Counter(
            "dialer_cdr_dead_letters",
            "CDR records the database refused, kept in cdr_dead_letters.",
            registry=r,
        )
        self._dead_letters_seen = 0
        # -- the daemon itself
        self.loop_lag = Histogram(
            "dialer_event_loop_lag_seconds",
            "How late a timer of the event loop fired (what a PBX event or a request waited "
            f"behind other work), measured every {LOOP_PROBE_S} s.",
            buckets=LOOP_LAG_BUCKETS_S,
            registry=r,
        )
        # -- MQTT publisher
        self.mqtt_connected = Gauge(
            "dialer_mqtt_connected", "1 when the MQTT publisher is connected.", registry=r
        )
        self.mqtt_published = Counter(
            "dialer_mqtt_messages_published", "MQTT messages published.", registry=r
        )
        self.mqtt_dropped = Counter(
            "dialer_mqtt_messages_dropped",
            "MQTT messages dropped because the queue was full (broker slow or down).",
            registry=r,
        )
        self.dial_levels: dict[str, float] = {}  # the last PacingDecided level per campaign
        self._ledgers: dict[str, AbandonLedger] = {}
        self._machines: dict[str, RollingCounts] = {}  # machine verdicts, last 24 h
        self._fp_rates: dict[int, float] = {}  # campaign id -> AMD false-positive rate
        self._campaign_ids: dict[str, int] = {}  # campaign name -> id (from the engine)
        self._seen: set[str] = set()
        self._mqtt_published = 0
        self._mqtt_dropped = 0
        self._engine: EngineView | None = None
        self._publisher: PublisherView | None = None
        self._task: asyncio.Task[None] | None = None
        self._lag_task: asyncio.Task[None] | None = None

    # -- exposition -------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text exposition of every metric (serve it with `CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def exported_names(self) -> set[str]:
        """Every sample name the registry can expose, with `_total`, `_bucket`... suffixes."""
        names: set[str] = set()
        for family in self.registry.collect():
            for suffix in _SUFFIXES.get(family.type, ("",)):
                names.add(family.name + suffix)
        return names

    # -- feeding ----------------------------------------------------------------------------

    def observe(self, event: EngineEvent) -> None:
        """Engine observer: count one event. Cheap and never raises on a well-formed event."""
        if isinstance(event, CallChanged):
            self._on_call(event)
        elif isinstance(event, PacingDecided):
            self._campaign_seen(event.campaign)
            self.dial_levels[event.campaign] = event.level
            self.dial_level.labels(event.campaign).set(event.level)
        elif isinstance(event, AgentChanged):
            self._campaign_seen(event.campaign)
        elif isinstance(event, HistoryRestored):
            self._campaign_seen(event.campaign)
            restore_ledger(self._ledger(event.campaign), event.history, event.at)
            h = event.history
            machines = self._machine_counts(event.campaign)
            for minute, n in h.machine_minutes:
                at = min(minute + 30.0, h.wall_now) + h.shift_to(event.at)
                machines.record(at, Outcome.MACHINE, n)
        elif isinstance(event, TrunkBreakerChanged):
            self.trunk_breaker_open.labels(event.trunk).set(_BREAKER_VALUE.get(event.state, 0))
            if event.state == "open":
                self.trunk_breaker_trips.labels(event.trunk).inc()
            if event.given_back:
                self.trunk_given_back.labels(event.trunk).inc(event.given_back)
        elif isinstance(event, OthersCounted):
            self._ledger(event.campaign).add(event.at, event.answered, event.abandoned)
            if event.machines:
                self._machine_counts(event.campaign).record(
                    event.at, Outcome.MACHINE, event.machines
                )

    def _on_call(self, event: CallChanged) -> None:
        c = event.campaign
        self._campaign_seen(c)
        state = event.state
        if state == CallState.ORIGINATING.value:
            self.calls_originated.labels(c).inc()
        elif state == CallState.ANSWERED.value:
            self.calls_answered.labels(c).inc()
        elif state == CallState.CONNECTED.value:
            if event.answer_to_agent_ms is not None:
                self.answer_to_agent.labels(c).observe(event.answer_to_agent_ms / 1000.0)
        elif state == CallState.ENDED.value:
            result = event.result or CallResult.FAILED.value
            self.call_attempts.labels(c, result).inc()
            if result == CallResult.ABANDONED.value:
                self.calls_abandoned.labels(c).inc()
            if result in (CallResult.CONNECTED.value, CallResult.ABANDONED.value):
                abandoned = is_abandoned(result, event.answer_to_agent_ms)
                self._ledger(c).record(event.at, abandoned)
            elif result == CallResult.MACHINE.value:
                self._machine_counts(c).record(event.at, Outcome.MACHINE)

    def _machine_counts(self, campaign: str) -> RollingCounts:
        counts = self._machines.get(campaign)
        if counts is None:
            counts = self._machines[campaign] = RollingCounts(UK_WINDOW_S)
        return counts

    def set_amd_false_positive_rate(self, campaign_id: int, rate: float) -> None:
        """The campaign's AMD false-positive rate for the UK gauge (from its rules)."""
        self._fp_rates[campaign_id] = rate

    def abandonment(self, campaign: str, now: float) -> tuple[AbandonCount, ...]:
        """The campaign's abandonment counts: one per window (24h, 30d), then the life count."""
        return self._ledger(campaign).counts(now)

    def _ledger(self, campaign: str) -> AbandonLedger:
        ledger = self._ledgers.get(campaign)
        if ledger is None:
            ledger = self._ledgers[campaign] = AbandonLedger()
        return ledger

    def _campaign_seen(self, campaign: str) -> None:
        """Create a campaign's series at zero, so `rate()` and absent states work from start."""
        if campaign in self._seen:
            return
        self._seen.add(campaign)
        for counter in (self.calls_originated, self.calls_answered, self.calls_abandoned):
            counter.labels(campaign)
        for result in CallResult:
            self.call_attempts.labels(campaign, result.value)
        self.answer_to_agent.labels(campaign)
        self._ledger(campaign)

    def sample(self, now: float) -> None:
        """Set the gauges from the engine's live state and the ledgers (`now`: loop time)."""
        engine = self._engine
        if engine is not None:
            self._sample_engine(engine)
        for campaign, ledger in self._ledgers.items():
            for count in ledger.counts(now):
                w = window_name(count.window_s)
                self.abandonment_ratio.labels(campaign, w).set(count.rate)
                self.window_answered.labels(campaign, w).set(count.answered)
                self.window_abandoned.labels(campaign, w).set(count.abandoned)
                if count.window_s == UK_WINDOW_S:
                    self._sample_uk(campaign, count, now)
        publisher = self._publisher
        if publisher is not None:
            self.mqtt_connected.set(1 if publisher.connected else 0)
            published, dropped = publisher.published, publisher.dropped
            if published > self._mqtt_published:
                self.mqtt_published.inc(published - self._mqtt_published)
            if dropped > self._mqtt_dropped:
                self.mqtt_dropped.inc(dropped - self._mqtt_dropped)
            self._mqtt_published, self._mqtt_dropped = published, dropped

    def _sample_uk(self, campaign: str, day: AbandonCount, now: float) -> None:
        cid = self._campaign_ids.get(campaign)
        fp = DEFAULT_AMD_FALSE_POSITIVE_RATE
        if cid is not None:
            fp = self._fp_rates.get(cid, fp)
        machines = self._machine_counts(campaign).figures(now).machines
        figures = AbandonFigures(day.answered - day.abandoned, day.abandoned, machines)
        w = window_name(UK_WINDOW_S)
        self.uk_abandonment_ratio.labels(campaign, w).set(figures.uk_rate(fp) or 0.0)
        self.window_machines.labels(campaign, w).set(machines)
        self.amd_false_positive.labels(campaign).set(fp)

    def _sample_engine(self, engine: EngineView) -> None:
        stats = engine.stats()
        self.pbx_up.set(1 if stats.get("pbx_up") else 0)
        self.cdr_pending.set(engine.cdr.pending)
        self.cdr_spooled.set(engine.cdr.spooled)
        dead = engine.cdr.dead_letters
        if dead > self._dead_letters_seen:
            self.cdr_dead_letters.inc(dead - self._dead_letters_seen)
            self._dead_letters_seen = dead
        self.cdr_last_write.set(engine.cdr.last_write_ms / 1000.0)
        trunk_use: dict[str, int] = {}
        for run in list(engine.campaigns.values()):
            name = run.campaign.name
            self._campaign_ids[name] = run.campaign.id
            self._campaign_seen(name)
            calls = list(run.calls.values())
            self.calls_in_flight.labels(name).set(len(calls))
            self.calls_ringing.labels(name).set(sum(1 for c in calls if c.state in PRE_ANSWER))
            self.calls_waiting.labels(name).set(len(run.waiting))
            by_state = run.agents_by_state()
            for state in AgentState:
                self.agents.labels(name, state.value).set(by_state.get(state.value, 0))
            trunk = run.trunk.name
            trunk_use[trunk] = trunk_use.get(trunk, 0) + len(calls)
            self.trunk_max.labels(trunk).set(run.trunk.max_channels)
        for trunk, used in trunk_use.items():
            self.trunk_in_use.labels(trunk).set(used)

    # -- lifecycle --------------------------------------------------------------------------

    def watch(self, engine: EngineView, publisher: PublisherView | None = None) -> None:
        """Subscribe to the engine's events and start the sampler (call inside the loop)."""
        self._engine = engine
        self._publisher = publisher
        engine.add_observer(self.observe)
        if self._task is None:
            self._task = asyncio.create_task(self._sample_loop(), name="metrics-sampler")
        if self._lag_task is None:
            self._lag_task = asyncio.create_task(self._lag_loop(), name="metrics-loop-lag")

    def watch_publisher(self, publisher: PublisherView) -> None:
        """Also sample the MQTT publisher's connection state and message counts."""
        self._publisher = publisher

    async def _sample_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                self.sample(loop.time())
            except Exception:  # a sampling bug must not stop the daemon; it shows in the log
                logger.exception("metrics sampling failed")
            await asyncio.sleep(self.interval_s)

    async def _lag_loop(self) -> None:
        """Sleep `LOOP_PROBE_S` and record how much later than that the loop woke us."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(LOOP_PROBE_S)
            self.loop_lag.observe(max(0.0, loop.time() - asked - LOOP_PROBE_S))

    async def aclose(self) -> None:
        """Stop the sampler after one last sample."""
        lag, self._lag_task = self._lag_task, None
        if lag is not None:
            lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(Exception):
            self.sample(asyncio.get_running_loop().time())

    def timed_store(self, store: EngineStore) -> EngineStore:
        """The engine's store, with the duration and failures of every write measured."""
        return TimedStore(store, self)


class TimedStore:
    """An `EngineStore` that times the writes of the one it wraps (`dialer_db_write_*`)."""

    def __init__(self, inner: EngineStore, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        t0 = time.perf_counter()
        try:
            result = await call
        except Exception:
            self._metrics.db_errors.labels(operation).inc()
            raise
        self._metrics.db_write.labels(operation).observe(time.perf_counter() - t0)
        return result

    async def running_campaigns(self) -> list[tuple[Campaign, Trunk, list[Agent]]]:
        return await self._inner.running_campaigns()

    async def lease(self, campaign_id: int, limit: int) -> list[LeasedLead]:
        return await self._timed("lease", self._inner.lease(campaign_id, limit))

    async def release(self, lead_ids: Sequence[int]) -> None:
        await self._timed("release", self._inner.release(lead_ids))

    async def skip(self, lead_id: int, delay_s: float) -> None:
        await self._timed("skip", self._inner.skip(lead_id, delay_s))

    async def write_starts(self, starts: Sequence[AttemptStart]) -> None:
        await self._timed("write_starts", self._inner.write_starts(starts))

    async def write_progress(self, updates: Sequence[AttemptProgress]) -> None:
        await self._timed("write_progress", self._inner.write_progress(updates))

    async def write_dead_letters(self, letters: Sequence[tuple[str, str, str]]) -> None:
        await self._timed("write_dead_letters", self._inner.write_dead_letters(letters))

    async def write_ends(self, ends: Sequence[AttemptEnd]) -> object:
        return await self._timed("write_ends", self._inner.write_ends(ends))

    async def give_back(self, attempt_ids: Sequence[str]) -> int:
        return await self._timed("give_back", self._inner.give_back(attempt_ids))

    async def close_open(self) -> int:
        return await self._timed("close_open", self._inner.close_open())

    async def take_over(self, agent_lease_s: float) -> Takeover:
        return await self._inner.take_over(agent_lease_s)

    async def close_gone(self, calls: Sequence[LeftCall]) -> int:
        return await self._timed("close_gone", self._inner.close_gone(calls))

    async def renew(self) -> int:
        return await self._timed("renew", self._inner.renew())

    async def take_over_expired(self) -> Takeover:
        return await self._timed("take_over_expired", self._inner.take_over_expired())

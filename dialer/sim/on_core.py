"""The simulator on the daemon's own core: a scenario's callees, trunk and agents played as a
simulated PBX and store around `dialer.core.Core`, on virtual time.

What the core decides is exactly what the daemon decides (pacing, hand-over to the agent who
waited longest, the hold before the abandon message, take-backs, wrap-up); only the world around
it is simulated:
- Each day the agents log in at the start (their headsets answer at once) and log out at the
  end, after their current call; the campaign is paused at the end of the day and the calls
  still ringing are hung up.
- A call's fate is drawn when the core dials it, with the contact rate of that moment: a person
  answers after an answer delay (shorter than the no-answer timeout), else it ends busy (busy
  share) or at the no-answer timeout. Calls ring at once.
- A call bridged to an agent talks for a drawn time, then the callee hangs up; the agent gives
  the result after a drawn wrap-up (the daemon's `EndWrapup`), then is ready again.
- The abandon message plays for `MESSAGE_S` and the call ends.
- Preview: a lead shown to an agent is dialed after `preview_s` (the campaign's preview timeout).
Call fates, talk and wrap-up times come from separate seeded streams, as in `dialer.sim.engine`.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from dialer import pbx
from dialer.core import commands as cmd
from dialer.core import inputs as ev
from dialer.core.machine import Core
from dialer.core.records import WallClock
from dialer.domain.results import CallResult
from dialer.pacing.base import AgentWork, CallOutcome, Pacer, PacingDecision, PacingSnapshot
from dialer.pacing.ledger import GRACE_S
from dialer.settings import DialerSettings
from dialer.sim.engine import DAY_S, RawResult, Trace
from dialer.sim.scenario import Scenario
from dialer.store.records import Campaign, CampaignStatus, LeasedLead, PacingMode, Trunk

MESSAGE_S = 8.0  # how long the abandon message plays before the call ends
_EPOCH = datetime(2030, 1, 1, tzinfo=UTC)
_MODES = {
    "preview": PacingMode.PREVIEW,
    "progressive": PacingMode.PROGRESSIVE,
    "power": PacingMode.POWER,
    "predictive": PacingMode.PREDICTIVE,
}


class _TimedPacer:
    """The scenario's pacer, its decisions timed for the report (by the monotonic clock: the
    thread's CPU clock is a system call that would cost more than many decisions)."""

    def __init__(self, inner: Pacer, times: list[float], phases: dict[str, int]) -> None:
        self.inner = inner
        self._times = times
        self._phases = phases
        self.last: PacingDecision | None = None

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        t0 = time.perf_counter()
        decision = self.inner.decide(snap)
        self._times.append(time.perf_counter() - t0)
        if decision.estimates is not None:
            phase = decision.estimates.phase
            self._phases[phase] = self._phases.get(phase, 0) + 1
        if decision.dial:
            self.last = decision
        return decision

    def observe_call(self, outcome: CallOutcome) -> None:
        self.inner.observe_call(outcome)

    def observe_work(self, work: AgentWork) -> None:
        self.inner.observe_work(work)


class CoreSimulation:
    """One run of a scenario with one pacer, through the daemon's core."""

    def __init__(self, scenario: Scenario, pacer: Pacer, *, bin_s: float = 300.0) -> None:
        self.sc = scenario
        self.bin_s = bin_s
        seed = scenario.seed
        self.rng_call = random.Random(f"{seed}/calls")
        self.answer_delay = scenario.answer_delay.sampler(self.rng_call)
        self.busy_delay = scenario.busy_delay.sampler(self.rng_call)
        self.talk = scenario.talk.sampler(random.Random(f"{seed}/talk"))
        self.wrap = scenario.wrapup.sampler(random.Random(f"{seed}/wrap"))
        self._times: list[float] = []
        self._phases: dict[str, int] = {}
        self.pacer = _TimedPacer(pacer, self._times, self._phases)
        self._pacer_name = type(pacer).__name__

    def run(self) -> RawResult:
        started = time.perf_counter()
        sc = self.sc
        res = RawResult(sc, self._pacer_name, Trace.empty(sc, self.bin_s))
        res.day_answered = [0] * sc.days
        res.day_abandoned = [0] * sc.days
        _World(self, res).run()
        res.decisions = len(self._times)
        res.decide_s = sum(self._times)
        res.decide_max_s = max(self._times, default=0.0)
        res.decide_times = self._times
        res.phases = self._phases
        res.last_decision = self.pacer.last
        res.wall_s = time.perf_counter() - started
        return res


class _World:
    """The simulated PBX, store and agents around the core, and the event heap of virtual time."""

    def __init__(self, sim: CoreSimulation, res: RawResult) -> None:
        self.sim = sim
        self.sc = sc = sim.sc
        self.res = res
        ids = itertools.count(1)
        settings = DialerSettings(
            owner="sim",
            tick_s=sc.tick_s,
            lease_batch=max(50, 4 * sc.agents),
            campaign_poll_s=0.0,
            abandonment_sync_s=0.0,
            take_back_over=sc.cancel_over,
        )
        self.core = Core(
            settings,
            WallClock(_EPOCH.timestamp()),
            capabilities=frozenset(pbx.Capability),  # the simulated PBX does everything
            pacer_factory=lambda _c: sim.pacer,
            owner="sim#0",
            new_id=lambda: str(uuid.UUID(int=next(ids))),
        )
        mode = _MODES.get(sc.mode, PacingMode.PREDICTIVE)
        self.campaign = Campaign(
            1, "sim", CampaignStatus.RUNNING, mode, "+15550000000", 1,
            max(15.0, sc.no_answer_timeout_s), 1_000_000, DAY_S, sc.grace_s, _EPOCH, _EPOCH,
            preview_timeout_s=sc.preview_s if mode is PacingMode.PREVIEW else 0.0,
        )  # fmt: skip
        self.trunk = Trunk(
            1, "sim", max_channels=min(sc.trunk_channels, sc.max_in_flight),
            max_cps=sc.calls_per_second, dial_prefix="", endpoint="sim",
        )  # fmt: skip
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        self.now = 0.0
        self.timers: dict[cmd.TimerKey, int] = {}  # key -> the live token
        self.alive: set[str] = set()  # channels up (calls and agent legs)
        self.ringing: set[str] = set()
        self.waiting: set[str] = set()
        self.agent_of_leg: dict[str, str] = {}
        self.free_at: dict[str, float] = {}  # agent -> when it last became free
        self.busy_since: dict[str, float] = {}
        self.leads = itertools.count(1)
        self.day = 0
        self.day_start = 0.0
        self.day_end = sc.day_s
        self.dialing = False
        self.last_t = 0.0
        self.batch: list[ev.Input] | None = None
        self.after: list[Callable[[], None]] = []  # to run once the instant's batch is taken

    # -- the heap -------------------------------------------------------------------------------

    def at(self, t: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.heap, (t, next(self.seq), action))

    def feed(self, event: ev.Input) -> None:
        if self.batch is not None:  # events of one instant go to the core together
            self.batch.append(event)
            return
        for c in self.core.handle(event, self.now):
            self.carry_out(c)

    def run(self) -> None:
        sc = self.sc
        for d in range(sc.days):
            self.at(d * DAY_S, partial(self.day_starts, d))
            self.at(d * DAY_S + sc.day_s, self.day_ends)
        team = [(i, f"a{i}") for i in range(1, sc.agents + 1)]
        self.feed(ev.LoadCampaign(self.campaign, self.trunk, team))
        self.feed(ev.StartDialing())
        heap = self.heap
        while heap:
            t, _, action = heapq.heappop(heap)
            if self.dialing:
                in_flight = len(self.ringing) + len(self.waiting)
                self.res.in_flight_area += in_flight * (t - self.last_t)
            self.last_t = t
            self.now = t
            # Everything that happens at this instant reaches the core as one batch (one
            # pacing decision after all of it), as a burst of PBX events does in the daemon.
            self.batch = []
            action()
            while heap and heap[0][0] == t:
                heapq.heappop(heap)[2]()
            batch, self.batch = self.batch, None
            if batch:
                for c in self.core.handle_all(batch, t):
                    self.carry_out(c)
            after, self.after = self.after, []
            for hook in after:
                hook()

    # -- days -----------------------------------------------------------------------------------

    def day_starts(self, d: int) -> None:
        self.day, self.day_start = d, d * DAY_S
        self.day_end = self.day_start + self.sc.day_s
        self.dialing = True
        self.feed(ev.ResumeCampaign(1))
        run = self.core.campaigns[1]
        for key, agent in run.agents.items():
            if agent.leg_id is None:
                self.feed(ev.LoginAgent(key))
            else:  # still busy from yesterday
                self.busy_since[key] = self.now
        self.tick()

    def tick(self) -> None:
        if not self.dialing:
            return
        self.feed(ev.Tick())
        self.at(self.now + self.sc.tick_s, self.tick)

    def day_ends(self) -> None:
        self.dialing = False
        self.feed(ev.PauseCampaign(1))
        for cid in list(self.ringing):
            self.hang_up(cid, 16, "the day ended")
        run = self.core.campaigns[1]
        for key in list(run.agents):
            self.accrue(key, self.now)
            self.feed(ev.LogoutAgent(key))
        sc, res, tr = self.sc, self.res, self.res.trace
        res.logged_s += sc.day_s * sc.agents
        bin_s = tr.bin_s
        for i in range(int(self.day_start // bin_s), int(self.day_end // bin_s) + 1):
            s, e = max(self.day_start, i * bin_s), min(self.day_end, (i + 1) * bin_s)
            if e > s:
                tr.logged[i] += (e - s) * sc.agents

    # -- what the core asks -----------------------------------------------------------------------

    def carry_out(self, c: cmd.Command) -> None:
        match c:
            case cmd.Dial(call, _lead):
                self.feed(ev.DialSent(call.channel_id))
                self.dial(call.channel_id)
            case cmd.CallAgent(agent_id, leg):
                self.alive.add(leg.channel_id)
                self.agent_of_leg[leg.channel_id] = agent_id
                self.at(self.now, lambda: self.event(pbx.Answered(leg.channel_id, self.now)))
                self.free_at[agent_id] = self.now
            case cmd.Bridge(call_id, leg_id, agent_id):
                self.bridge(call_id, leg_id, agent_id)
            case cmd.PlayAbandonMessage(call_id):
                self.waiting.discard(call_id)
                self.at(self.now, lambda: self.event(pbx.MessageStarted(call_id, self.now)))
                self.at(self.now + MESSAGE_S, lambda: self.hang_up(call_id, 16, "message"))
            case cmd.Hangup(channel_id):
                if channel_id in self.ringing:
                    self.res.cancelled += 1
                self.at(self.now, lambda: self.hang_up(channel_id, 16, "hung up"))
            case cmd.StartTimer(key, at):
                token = next(self.seq)
                self.timers[key] = token
                self.at(at, lambda: self.timer(key, token))
            case cmd.CancelTimer(key):
                self.timers.pop(key, None)
            case cmd.LeaseLeads(_campaign, limit):
                leads = [self.new_lead() for _ in range(limit)]
                self.at(self.now, lambda: self.feed(ev.LeadsLeased(1, leads)))
            case cmd.WriteEnd(record):
                self.count(record.result, record.answer_to_agent_ms)
            case _:
                pass  # starts, progress, releases, notices: nothing to simulate

    def timer(self, key: cmd.TimerKey, token: int) -> None:
        if self.timers.get(key) == token:
            del self.timers[key]
            self.feed(ev.TimerFired(key))

    def event(self, e: pbx.PbxEvent) -> None:
        if getattr(e, "channel_id", None) in self.alive:
            self.feed(e)

    def new_lead(self) -> LeasedLead:
        n = next(self.leads)
        return LeasedLead(n, 1, 1, f"+1555{n:07d}", "UTC", 0, 0, {}, _EPOCH)

    def dial(self, cid: str) -> None:
        sc, res = self.sc, self.res
        self.alive.add(cid)
        self.ringing.add(cid)
        res.dialed += 1
        res.trace.dialed[int(self.now // res.trace.bin_s)] += 1
        self.feed(pbx.Ringing(cid, self.now))
        rng = self.sim.rng_call.random
        timeout = sc.no_answer_timeout_s
        if rng() < sc.contact_rate_at(self.now - self.day_start):
            delay = self.sim.answer_delay()
            if delay < timeout:
                self.at(self.now + delay, lambda: self.answered(cid))
                return
        elif sc.busy_share > 0.0 and rng() < sc.busy_share:
            self.at(self.now + self.sim.busy_delay(), lambda: self.hang_up(cid, 17, "busy"))
            return
        self.at(self.now + timeout, lambda: self.hang_up(cid, 19, "no answer"))

    def answered(self, cid: str) -> None:
        if cid not in self.alive:
            return
        self.ringing.discard(cid)
        self.waiting.add(cid)
        self.feed(pbx.Answered(cid, self.now))

    def bridge(self, cid: str, leg: str, agent_id: str) -> None:
        self.waiting.discard(cid)
        self.res.connected += 1
        self.res.waits.append(self.now - self.free_at.get(agent_id, self.now))
        self.busy_since.setdefault(agent_id, self.now)
        talk = self.sim.talk()
        self.at(self.now, lambda: self.event(pbx.Bridged(cid, leg, self.now)))
        self.at(self.now + talk, lambda: self.talk_ends(cid, agent_id, talk))

    def talk_ends(self, cid: str, agent_id: str, talk: float) -> None:
        if cid not in self.alive:
            return
        s0 = max(self.now - talk, self.day_start)
        if self.now > s0:
            self.res.talk_s += min(self.now, self.day_end) - s0
        self.hang_up(cid, 16, "normal")
        self.at(self.now + self.sim.wrap(), lambda: self.wrapped(agent_id))

    def wrapped(self, agent_id: str) -> None:
        self.feed(ev.EndWrapup(agent_id))
        self.after.append(partial(self.free_again, agent_id))

    def free_again(self, agent_id: str) -> None:
        run = self.core.campaigns[1]
        agent = run.agents.get(agent_id)
        if agent is None or agent.call_id is None:  # free again (not straight into a call)
            self.accrue(agent_id, self.now)
            self.free_at[agent_id] = self.now

    def accrue(self, agent_id: str, end: float) -> None:
        since = self.busy_since.pop(agent_id, None)
        if since is None:
            return
        s, e = max(since, self.day_start), min(end, self.day_end)
        if e <= s:
            return
        self.res.busy_s += e - s
        bins, bin_s = self.res.trace.busy, self.res.trace.bin_s
        i = int(s // bin_s)
        while s < e:
            stop = min(e, (i + 1) * bin_s)
            bins[i] += stop - s
            s = stop
            i += 1

    def hang_up(self, cid: str, cause: int, text: str) -> None:
        if cid not in self.alive:
            return
        self.alive.discard(cid)
        self.ringing.discard(cid)
        self.waiting.discard(cid)
        self.feed(pbx.HungUp(cid, cause, text, self.now))

    def count(self, result: CallResult, answer_to_agent_ms: int | None) -> None:
        if not result.answered:
            return
        res, tr = self.res, self.res.trace
        abandoned = result is CallResult.ABANDONED or (
            answer_to_agent_ms is not None and answer_to_agent_ms > GRACE_S * 1000
        )
        res.answered += 1
        mi, bi = int(self.now // 60.0), int(self.now // tr.bin_s)
        if mi < len(tr.minute_answered):
            tr.minute_answered[mi] += 1
            tr.answered[bi] += 1
            if abandoned:
                tr.minute_abandoned[mi] += 1
                tr.abandoned[bi] += 1
        res.day_answered[self.day] += 1
        if abandoned:
            res.abandoned += 1
            res.day_abandoned[self.day] += 1

"""A discrete-event model of one campaign: agents, a trunk and callees, driven by a real pacer.

Rules of the model:
- Each day, the scenario's agents log in at the start and stop taking new calls at the end
  (calls already connected finish; calls still ringing are cancelled). Days start 24 hours apart.
  Waves of agents join, leave or pause during the day (dialer.sim.agents): one who leaves or
  pauses while busy does so after the call and its wrap-up; a paused agent is shown to the pacer
  as paused, one who left is not shown.
- Contact rate, talk and wrap-up times follow the scenario's schedules (dialer.sim.schedule).
- Answering machines: a share of the answers are machines, known after the detection time;
  they hold a channel until then, are not live answers (counted apart), and the pacer is told
  of them as calls no person answered, as the daemon does.
- A call's fate is drawn when it is dialed: with the contact rate of that moment a person answers
  after an answer delay (if it is shorter than the no-answer timeout); otherwise it ends busy
  (busy share) or at the no-answer timeout. Preview calls start `preview_s` after the decision.
- An answered call goes to the agent who has waited longest; with none ready it waits up to the
  grace time for one (first answered, first served), then it is abandoned.
- An agent talks, wraps up, then takes the oldest waiting call or becomes ready.
- The pacer decides after every event and at least once a second, exactly as the daemon does, with
  the same snapshot: agents and their time in state, calls ringing and their originate time,
  answered calls waiting, and the trunk's limits (channels in use, calls per second). Events at
  the same instant (calls dialed together ring out together) get one decision, after all of them.
  Outcomes are fed back when known (failure, connect, abandon), work when wrap-up ends.
- Call fates, talk and wrap-up times come from separate seeded streams, so two pacers run on the
  same seed face the same callees in the same order (common random numbers).
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections import deque
from dataclasses import dataclass, field

from dialer.pacing.base import (
    MIN_RING_S,
    AgentActivity,
    AgentView,
    AgentWork,
    CallOutcome,
    Pacer,
    PacingDecision,
    PacingLimits,
    PacingSnapshot,
)
from dialer.pacing.callrate import CallRateLimiter, CallRates
from dialer.sim.agents import AgentWave, WaveKind, pick
from dialer.sim.scenario import Scenario

DAY_S = 86_400.0

# event kinds
_ANSWER = 0
_NO_CONTACT = 1
_TALK_END = 2
_WRAP_END = 3
_GRACE_END = 4
_DAY_START = 5
_DAY_END = 6
_WAVE = 7
_RESUME = 8
_MACHINE = 9

_READY = AgentActivity.READY
_TALKING = AgentActivity.TALKING
_WRAPUP = AgentActivity.WRAPUP
_PAUSED = AgentActivity.PAUSED  # stands for "logged out" in the model's own bookkeeping


class PacerViolation(RuntimeError):
    """The pacer asked for more calls than the hard limits allow, or to hang up a call that had
    not rung long enough."""


class _Call:
    __slots__ = ("answered_at", "originated_at", "state")

    def __init__(self, originated_at: float) -> None:
        self.originated_at = originated_at
        self.answered_at = 0.0
        self.state = 0  # 0 ringing, 1 waiting, 2 done


def _changes_state(kind: int, obj: object) -> bool:
    """Whether an event will change what the pacer sees (a cancelled call's, or the grace end of a
    call connected in time, does not)."""
    if isinstance(obj, _Call):
        return obj.state == (1 if kind == _GRACE_END else 0)
    return True


class _Agent:
    __slots__ = (
        "activity",
        "after_call",
        "busy_since",
        "index",
        "login_at",
        "out",
        "pause_s",
        "ready_since",
        "since",
        "talk_s",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.activity = _PAUSED
        self.out = True  # logged out (then its activity is PAUSED, or busy finishing a call)
        self.login_at = 0.0
        self.since = 0.0
        self.ready_since = 0.0
        self.busy_since = 0.0
        self.talk_s = 0.0
        self.after_call: WaveKind | None = None  # leave or pause once this call is done
        self.pause_s = 0.0


@dataclass(slots=True)
class Trace:
    """What happened, in time bins (for the report and the plot) and per minute (for windows)."""

    bin_s: float
    busy: list[float] = field(default_factory=list)  # agent-seconds talking or in wrap-up
    logged: list[float] = field(default_factory=list)  # agent-seconds logged in
    answered: list[int] = field(default_factory=list)
    abandoned: list[int] = field(default_factory=list)
    dialed: list[int] = field(default_factory=list)
    minute_answered: list[int] = field(default_factory=list)
    minute_abandoned: list[int] = field(default_factory=list)
    minute_machines: list[int] = field(default_factory=list)

    @classmethod
    def empty(cls, sc: Scenario, bin_s: float) -> Trace:
        """A trace of zeros long enough for the scenario's days."""
        span = (sc.days - 1) * DAY_S + sc.day_s
        n_bins = math.ceil(span / bin_s) + 1
        n_min = math.ceil(span / 60.0) + 1
        return cls(
            bin_s,
            busy=[0.0] * n_bins,
            logged=[0.0] * n_bins,
            answered=[0] * n_bins,
            abandoned=[0] * n_bins,
            dialed=[0] * n_bins,
            minute_answered=[0] * n_min,
            minute_abandoned=[0] * n_min,
            minute_machines=[0] * n_min,
        )


@dataclass(slots=True)
class RawResult:
    scenario: Scenario
    pacer: str
    trace: Trace
    logged_s: float = 0.0
    busy_s: float = 0.0
    talk_s: float = 0.0
    dialed: int = 0
    cancelled: int = 0  # ringing calls the pacer hung up (each had rung MIN_RING_S)
    answered: int = 0
    abandoned: int = 0
    connected: int = 0
    machines: int = 0  # answers detection classed as machines (not live answers)
    waits: list[float] = field(default_factory=list)  # agent ready time before each call
    in_flight_area: float = 0.0  # integral of calls ringing or waiting over dialing time
    decisions: int = 0
    dial_times: list[float] = field(default_factory=list)  # each originate's time, ascending
    decide_s: float = 0.0  # CPU time inside decide() (this thread's)
    decide_max_s: float = 0.0
    decide_times: list[float] = field(default_factory=list)  # CPU seconds, one per decision
    wall_s: float = 0.0
    day_answered: list[int] = field(default_factory=list)
    day_abandoned: list[int] = field(default_factory=list)
    last_decision: PacingDecision | None = None
    phases: dict[str, int] = field(default_factory=dict)


class Simulation:
    """One run of a scenario with one pacer."""

    def __init__(self, scenario: Scenario, pacer: Pacer, *, bin_s: float = 300.0) -> None:
        self.sc = scenario
        self.pacer = pacer
        self.bin_s = bin_s
        seed = scenario.seed
        self._rng_call = random.Random(f"{seed}/calls")
        self._rng_talk = random.Random(f"{seed}/talk")
        self._rng_wrap = random.Random(f"{seed}/wrap")
        self._answer_delay = scenario.answer_delay.sampler(self._rng_call)
        self._busy_delay = scenario.busy_delay.sampler(self._rng_call)
        self._amd_delay = scenario.amd_delay.sampler(self._rng_call)
        self._talks = [d.sampler(self._rng_talk) for d in scenario.talk_schedule.values()]
        self._wraps = [d.sampler(self._rng_wrap) for d in scenario.wrapup_schedule.values()]
        self._preview = scenario.preview_s if scenario.mode == "preview" else 0.0

    def run(self) -> RawResult:
        sc = self.sc
        pacer = self.pacer
        started = time.perf_counter()
        trace = Trace.empty(sc, self.bin_s)
        res = RawResult(sc, type(pacer).__name__, trace)
        res.day_answered = [0] * sc.days
        res.day_abandoned = [0] * sc.days
        bin_s = self.bin_s

        agents = [_Agent(i) for i in range(sc.agents)]
        n_out = len(agents)  # agents logged out
        view_of = [AgentView(_PAUSED, 0.0) for _ in agents]
        ready_q: deque[_Agent] = deque()
        ringing: dict[_Call, float] = {}
        waiting: deque[_Call] = deque()
        heap: list[tuple[float, int, int, object]] = []
        seq = 0
        talking = 0
        trunk_rate = CallRateLimiter(sc.calls_per_second, sc.trunk_burst)
        limiter = (
            CallRates(trunk_rate)
            if sc.campaign_cps is None
            else CallRates(trunk_rate, CallRateLimiter(sc.campaign_cps))
        )
        dial_times = res.dial_times

        for d in range(sc.days):
            heap.append((d * DAY_S, seq, _DAY_START, d))
            seq += 1
            heap.append((d * DAY_S + sc.day_s, seq, _DAY_END, d))
            seq += 1
        for wave in sc.waves:
            for at in wave.times(sc.days, sc.day_s):
                heap.append((at, seq, _WAVE, wave))
                seq += 1
        heapq.heapify(heap)

        day = 0
        day_start = 0.0
        day_end = sc.day_s
        dialing = False
        agents_tuple: tuple[AgentView, ...] = ()
        agents_dirty = True
        ring_tuple: tuple[float, ...] = ()
        ring_dirty = True
        last_t = 0.0
        last_decide = -math.inf
        in_flight_area = 0.0

        tick = sc.tick_s
        contact = sc.contact_schedule
        contact_at = contact.at
        talk_sched = sc.talk_schedule
        wrap_sched = sc.wrapup_schedule
        talks = self._talks
        wraps = self._wraps
        machine_share = sc.machine_share
        amd_delay = self._amd_delay
        m_mach = trace.minute_machines
        timeout = sc.no_answer_timeout_s
        busy_share = sc.busy_share
        grace = sc.grace_s
        rng_call = self._rng_call.random
        answer_delay = self._answer_delay
        busy_delay = self._busy_delay
        preview = self._preview
        observe_call = pacer.observe_call
        observe_work = pacer.observe_work
        decide = pacer.decide
        # CPU, not wall clock: the machine may be busy with others, and a preempted decision
        # would show the others' time (the clock costs about 1.5 us a decision: 2% of a day)
        clock = time.thread_time
        limits = PacingLimits(max_in_flight=0, max_new_now=0)  # the last ones (often unchanged)
        waits = res.waits
        m_ans = trace.minute_answered
        m_ab = trace.minute_abandoned
        b_ans = trace.answered
        b_ab = trace.abandoned
        b_busy = trace.busy
        phases = res.phases
        decide_times = res.decide_times

        b_logged = trace.logged

        def talk_draw(t: float) -> float:
            return talks[0 if talk_sched.constant else talk_sched.index_at(t)]()  # type: ignore[no-any-return]

        def wrap_draw(t: float) -> float:
            return wraps[0 if wrap_sched.constant else wrap_sched.index_at(t)]()  # type: ignore[no-any-return]

        def set_view(a: _Agent, act: AgentActivity, t: float) -> None:
            nonlocal agents_dirty
            a.activity = act
            a.since = t
            view_of[a.index] = AgentView(act, t)
            agents_dirty = True

        def accrue(bins: list[float], start: float, end: float) -> float:
            # clip to the current day's logged-in period
            s = max(start, day_start)
            e = min(end, day_end)
            if e <= s:
                return 0.0
            total = e - s
            i = int(s // bin_s)
            while s < e:
                edge = (i + 1) * bin_s
                stop = e if e < edge else edge
                bins[i] += stop - s
                s = stop
                i += 1
            return total

        def accrue_busy(start: float, end: float) -> None:
            res.busy_s += accrue(b_busy, start, end)

        def log_in(a: _Agent, t: float) -> None:
            nonlocal n_out, agents_dirty
            if a.out:
                a.out = False
                n_out -= 1
                a.login_at = t
                agents_dirty = True

        def log_out(a: _Agent, t: float) -> None:
            nonlocal n_out, agents_dirty
            if not a.out:
                res.logged_s += accrue(b_logged, a.login_at, t)
                a.out = True
                n_out += 1
                agents_dirty = True
            a.after_call = None

        def become_ready(a: _Agent, t: float) -> None:
            set_view(a, _READY, t)
            a.ready_since = t
            ready_q.append(a)

        def wave_now(wave: AgentWave, t: float) -> None:
            nonlocal seq, n_out
            if wave.kind is WaveKind.JOIN:
                n = wave.size(len(agents) - n_out)
                for a in agents:
                    if n <= 0:
                        break
                    if a.out and a.activity is _PAUSED:
                        log_in(a, t)
                        a.busy_since = t
                        become_ready(a, t)
                        n -= 1
                for _ in range(n):
                    a = _Agent(len(agents))
                    agents.append(a)
                    view_of.append(AgentView(_PAUSED, t))
                    n_out += 1
                    log_in(a, t)
                    become_ready(a, t)
                return
            ready = [a.index for a in ready_q]
            busy = [
                (a.since, a.index)
                for a in agents
                if not a.out and a.after_call is None and a.activity in (_TALKING, _WRAPUP)
            ]
            logged_in = len(agents) - n_out
            for i in pick(ready, busy, wave.size(logged_in)):
                a = agents[i]
                if a.activity is _READY:
                    ready_q.remove(a)
                    if wave.kind is WaveKind.LEAVE:
                        set_view(a, _PAUSED, t)
                        log_out(a, t)
                    else:
                        set_view(a, _PAUSED, t)
                        heapq.heappush(heap, (t + wave.pause_s, seq, _RESUME, a))
                        seq += 1
                else:
                    a.after_call = wave.kind
                    a.pause_s = wave.pause_s

        def count_answer(t: float, abandoned: bool) -> None:
            res.answered += 1
            mi = int(t // 60.0)
            bi = int(t // bin_s)
            if mi < len(m_ans):
                m_ans[mi] += 1
                b_ans[bi] += 1
                if abandoned:
                    m_ab[mi] += 1
                    b_ab[bi] += 1
            res.day_answered[day] += 1
            if abandoned:
                res.abandoned += 1
                res.day_abandoned[day] += 1

        def connect(a: _Agent, c: _Call, t: float) -> None:
            nonlocal talking
            c.state = 2
            if a.activity is _READY:
                waits.append(t - a.ready_since)
                a.busy_since = t
            else:
                waits.append(0.0)
            set_view(a, _TALKING, t)
            talking += 1
            res.connected += 1
            count_answer(t, False)
            observe_call(CallOutcome(c.originated_at, c.answered_at, t, False))
            nonlocal seq
            heapq.heappush(heap, (t + talk_draw(t), seq, _TALK_END, a))
            seq += 1

        def cancel_oldest(n: int, t: float) -> None:
            """Hang up the `n` oldest ringing calls; each must have rung MIN_RING_S."""
            nonlocal ring_dirty
            oldest = heapq.nsmallest(n, ringing.items(), key=lambda item: item[1])
            if len(oldest) < n or t - oldest[-1][1] < MIN_RING_S:
                raise PacerViolation(
                    f"pacer asked at t={t:.1f} to hang up {n} ringing calls; "
                    f"not that many have rung {MIN_RING_S:g} s"
                )
            for c, _since in oldest:
                c.state = 2  # its answer or no-answer event is skipped; not fed back
                del ringing[c]
            res.cancelled += n
            ring_dirty = True

        while heap:
            t, _, kind, obj = heap[0]
            # The pacer runs at least once a second while dialing.
            if dialing and last_decide + tick < t and last_decide + tick < day_end:
                t = last_decide + tick
                kind = -1
            else:
                heapq.heappop(heap)
            if dialing:
                in_flight_area += (len(ringing) + len(waiting)) * (t - last_t)
            last_t = t

            if kind == _ANSWER:
                c = obj
                assert isinstance(c, _Call)
                if c.state != 0:
                    continue  # cancelled at the end of the day
                del ringing[c]
                ring_dirty = True
                c.answered_at = t
                if ready_q:
                    connect(ready_q.popleft(), c, t)
                else:
                    c.state = 1
                    waiting.append(c)
                    heapq.heappush(heap, (t + grace, seq, _GRACE_END, c))
                    seq += 1
            elif kind == _MACHINE:
                c = obj
                assert isinstance(c, _Call)
                if c.state != 0:
                    continue
                c.state = 2
                del ringing[c]
                ring_dirty = True
                res.machines += 1
                mi = int(t // 60.0)
                if mi < len(m_mach):
                    m_mach[mi] += 1
                # a machine is not an answer the pacer must find an agent for
                observe_call(CallOutcome(c.originated_at, None, t, False))
            elif kind == _WAVE:
                assert isinstance(obj, AgentWave)
                if not dialing:
                    continue
                wave_now(obj, t)
            elif kind == _RESUME:
                a = obj
                assert isinstance(a, _Agent)
                if not dialing or a.out or a.activity is not _PAUSED:
                    continue
                become_ready(a, t)
            elif kind == _NO_CONTACT:
                c = obj
                assert isinstance(c, _Call)
                if c.state != 0:
                    continue
                c.state = 2
                del ringing[c]
                ring_dirty = True
                observe_call(CallOutcome(c.originated_at, None, t, False))
            elif kind == _GRACE_END:
                c = obj
                assert isinstance(c, _Call)
                if c.state != 1:
                    continue  # connected in time
                c.state = 2
                waiting.remove(c)
                count_answer(t, True)
                observe_call(CallOutcome(c.originated_at, c.answered_at, t, True))
            elif kind == _TALK_END:
                a = obj
                assert isinstance(a, _Agent)
                a.talk_s = t - a.since
                s0 = max(a.since, day_start)
                if t > s0 and a.since < day_end:
                    res.talk_s += min(t, day_end) - s0
                talking -= 1
                set_view(a, _WRAPUP, t)
                heapq.heappush(heap, (t + wrap_draw(t), seq, _WRAP_END, a))
                seq += 1
            elif kind == _WRAP_END:
                a = obj
                assert isinstance(a, _Agent)
                observe_work(AgentWork(a.talk_s, t - a.since))
                after = a.after_call
                if waiting and after is None and dialing:
                    c = waiting.popleft()
                    connect(a, c, t)
                else:
                    accrue_busy(a.busy_since, t)
                    if not dialing or a.out:
                        set_view(a, _PAUSED, t)
                    elif after is WaveKind.LEAVE:
                        set_view(a, _PAUSED, t)
                        log_out(a, t)
                    elif after is WaveKind.PAUSE:
                        a.after_call = None
                        set_view(a, _PAUSED, t)
                        heapq.heappush(heap, (t + a.pause_s, seq, _RESUME, a))
                        seq += 1
                    else:
                        become_ready(a, t)
            elif kind == _DAY_START:
                assert isinstance(obj, int)
                day = obj
                day_start = day * DAY_S
                day_end = day_start + sc.day_s
                dialing = True
                for a in agents[: sc.agents]:
                    log_in(a, t)
                    if a.activity is _PAUSED:
                        become_ready(a, t)
                    else:  # still busy from yesterday (a very long call): counts from now
                        a.busy_since = t
                last_decide = -math.inf
            elif kind == _DAY_END:
                dialing = False
                for c in list(ringing):
                    c.state = 2  # cancelled: not fed back, the dialer stopped it
                ringing.clear()
                ring_dirty = True
                for a in agents:
                    if a.activity is _READY:
                        set_view(a, _PAUSED, t)
                    elif a.activity is _TALKING or a.activity is _WRAPUP:
                        accrue_busy(a.busy_since, t)
                        a.busy_since = t
                    log_out(a, t)  # the day's logged-in time ends here; a busy one finishes
                ready_q.clear()
                continue

            if not dialing:
                continue
            if heap:
                t_next, _, kind_next, obj_next = heap[0]
                if t_next == t and _changes_state(kind_next, obj_next):
                    continue  # another event at this instant: one decision after both

            # -- decide -------------------------------------------------------------------
            if agents_dirty:
                if n_out:
                    agents_tuple = tuple(
                        v for a, v in zip(agents, view_of, strict=True) if not a.out
                    )
                else:
                    agents_tuple = tuple(view_of)
                agents_dirty = False
            if ring_dirty:
                ring_tuple = tuple(ringing.values())
                ring_dirty = False
            max_new = limiter.available(t)
            max_in_flight = min(sc.max_in_flight, sc.trunk_channels - talking)
            if max_new != limits.max_new_now or max_in_flight != limits.max_in_flight:
                limits = PacingLimits(max_in_flight=max_in_flight, max_new_now=max_new)
            snap = PacingSnapshot(
                now=t,
                agents=agents_tuple,
                ringing_since=ring_tuple,
                answered_waiting=len(waiting),
                limits=limits,
            )
            t0 = clock()
            decision = decide(snap)
            dt = clock() - t0
            decide_times.append(dt)
            last_decide = t
            est = decision.estimates
            if est is not None:
                phases[est.phase] = phases.get(est.phase, 0) + 1
            if decision.cancel > 0:
                cancel_oldest(decision.cancel, t)
            n = decision.dial
            if n <= 0:
                continue
            if n > max_new or n + len(ringing) + len(waiting) > snap.limits.max_in_flight:
                raise PacerViolation(f"pacer broke a hard limit at t={t:.1f}: {decision}")
            res.last_decision = decision
            limiter.start(t, n)
            dial_times.extend([t] * n)
            res.dialed += n
            trace.dialed[int(t // bin_s)] += n
            p = contact_at(t)
            for _ in range(n):
                c = _Call(t)
                ringing[c] = t
                if rng_call() < p:
                    delay = answer_delay()
                    if delay < timeout:
                        if machine_share > 0.0 and rng_call() < machine_share:
                            end = t + preview + delay + amd_delay()
                            heapq.heappush(heap, (end, seq, _MACHINE, c))
                        else:
                            heapq.heappush(heap, (t + preview + delay, seq, _ANSWER, c))
                    else:
                        heapq.heappush(heap, (t + preview + timeout, seq, _NO_CONTACT, c))
                elif busy_share > 0.0 and rng_call() < busy_share:
                    heapq.heappush(heap, (t + preview + busy_delay(), seq, _NO_CONTACT, c))
                else:
                    heapq.heappush(heap, (t + preview + timeout, seq, _NO_CONTACT, c))
                seq += 1
            ring_dirty = True

        res.in_flight_area = in_flight_area
        res.decisions = len(decide_times)
        res.decide_s = sum(decide_times)
        res.decide_max_s = max(decide_times, default=0.0)
        res.wall_s = time.perf_counter() - started
        return res

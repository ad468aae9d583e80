"""Predictive pacing: dial each extra call only while the chance that it is answered with no agent
free stays under a threshold, and tune that threshold to hold the target abandonment.

Rules:
- Look-ahead, not a ratio. For a new call answered after `A` seconds (A drawn from the learned
  answer-time distribution, taken at a few quantiles), the call finds an agent if the agents free
  by `A + grace` outnumber the other calls answered by `A`:
    * agents free by then: the ready ones, plus each talking agent with the chance that the rest of
      its talk (given how long it has talked) and a wrap-up fit in, plus each agent in wrap-up with
      the chance its wrap-up (given its age) ends in time;
    * calls answered by then: those already waiting, each ringing call with the chance that it is
      answered in time (given how long it has rung: a call that has rung long is less likely a
      contact, and if it is, nearer its answer), and the other new calls of this decision.
  Both sides are sums of independent yes/no chances; their difference is taken as normal (mean and
  variance, with a continuity correction). The k-th extra call is dialed while
  P(no agent | answered) for it stays under the threshold.
- The threshold is a feedback loop on live answers: down after an abandonment, up a little after a
  connection, so that the share abandoned settles at the target (default 2.5%).
- Estimates are online: contact rate (decaying means, quick on a rise), and the last few hundred
  answer times, no-answer durations, talk and wrap-up times.
- Warm-up: progressive (one call per ready agent) until there are enough answers and finished
  calls to estimate from.
- The cap (default 3%) over every rolling window (24 hours, 30 days): above the target the
  threshold is scaled down towards zero as the window's rate nears the cap ("braking"); when one
  more abandonment would put a window over the cap, it falls back to progressive ("capped") until
  back under. A window with few answers counts as having `brake_min_answered`, so the first
  minutes of a campaign do not swing the brake.
- Hard limits (see `limits`) bound whatever the estimates say.
Cost: one pass over agents and calls in flight with table look-ups (tables rebuilt at most every
`refresh_s` seconds), then a few normal tail evaluations: tens of microseconds at 100 agents.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from dialer.pacing.base import (
    AgentActivity,
    AgentWork,
    CallOutcome,
    PacingDecision,
    PacingEstimates,
    PacingSnapshot,
)
from dialer.pacing.estimators import ContactRate, Durations, DurationView
from dialer.pacing.ledger import GRACE_S, WINDOWS_S, AbandonLedger
from dialer.pacing.limits import MAX_LINES_PER_AGENT, agent_counts, room

Row = tuple[float, ...]  # m chances, then their m variances p(1-p)

_READY = AgentActivity.READY
_TALKING = AgentActivity.TALKING
_WRAPUP = AgentActivity.WRAPUP


def _talk_buckets() -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Talk ages in buckets: 2 s wide to a minute, 5 s to 10 minutes, 20 s to an hour."""
    lut: list[int] = []
    mids: list[float] = []
    a = 0
    for stop, width in ((60, 2), (600, 5), (3600, 20)):
        while a < stop:
            lut.extend([len(mids)] * width)
            mids.append(a + width / 2)
            a += width
    mids.append(3600.0)  # everything longer: one bucket (the tail is memoryless there anyway)
    return tuple(lut), tuple(mids)


_TALK_LUT, _TALK_MID = _talk_buckets()
_TALK_LAST = len(_TALK_MID) - 1
_WRAP_BUCKETS = 900  # 1 s buckets for wrap-up ages
_CALL_ROWS = 4096  # ring ages (s) the call table may cover; older calls count as no-answers
_P_STEPS = 200.0  # call tables are cached per contact rate rounded to 1/_P_STEPS
_ROW_BUDGET = 8  # agent rows a decision may recompute after a rebuild (the rest wait)


def _talk_bucket(age: float) -> int:
    if age < 0.0:
        return 0
    return _TALK_LUT[int(age)] if age < len(_TALK_LUT) else _TALK_LAST


class _RowCache(dict[int, Row]):
    """Rows by bucket, computed on first use. After the tables are rebuilt (`renew`), a
    decision computes at most `budget` new rows and uses the previous ones for the rest, so no
    single decision pays for the whole rebuild."""

    def __init__(self, make: Callable[[int], Row]) -> None:
        super().__init__()
        self._make = make
        self._stale: dict[int, Row] = {}
        self.budget = 0

    def renew(self) -> None:
        self._stale = dict(self)
        self.clear()

    def __missing__(self, key: int) -> Row:
        old = self._stale.get(key)
        if old is not None and self.budget <= 0:
            return old
        self.budget -= 1
        row = self[key] = self._make(key)
        return row


@dataclass(frozen=True, slots=True)
class PredictiveSettings:
    target: float = 0.025  # abandonment the feedback loop aims for
    cap: float = 0.03  # abandonment no rolling window may exceed
    grace_s: float = GRACE_S  # an answered call waits this long for an agent
    windows_s: tuple[float, ...] = WINDOWS_S
    warmup_answers: int = 20  # live answers before leaving warm-up
    warmup_works: int = 10  # finished agent calls (talk + wrap-up) before leaving warm-up
    initial_threshold: float = 0.015
    threshold_gain: float = 0.05  # log step down after an abandonment
    min_threshold: float = 0.001
    max_threshold: float = 0.6
    brake_from: float = 0.5  # braking starts this far from the target towards the cap
    brake_min_answered: int = 300
    cap_margin: int = 1  # "capped" when this many more abandonments would break the cap
    # The cap is also checked on each window less its oldest `lookahead_s`: where the window's rate
    # is heading as old answers leave it (the first hours of a campaign, dialed progressively and
    # so never abandoned, leave the 24-hour window a day later and push its rate up).
    lookahead_s: float = 1800.0
    max_lines_per_agent: float = MAX_LINES_PER_AGENT
    points: int = 4  # answer-time quantiles the look-ahead evaluates
    wrap_points: int = 4  # wrap-up quantiles convolved with the rest of a talk
    refresh_s: float = 60.0  # tables are rebuilt at most this often...
    refresh_obs: int = 50  # ...once this many new call outcomes came in (or after 10 minutes)
    refresh_works: int = 100  # agent tables: once this many new finished calls came in
    history: int = 500  # durations remembered per distribution
    prior_contact_rate: float = 0.3
    flow_tau_s: float = 120.0  # memory of the dial-rate estimate
    future_calls: bool = False  # count calls the next decisions will dial (see decide)

    def __post_init__(self) -> None:
        if not 0.0 < self.target <= self.cap < 1.0:
            raise ValueError("need 0 < target <= cap < 1")
        if self.grace_s < 0:
            raise ValueError("grace_s must be >= 0")
        if not 0.0 < self.min_threshold <= self.initial_threshold <= self.max_threshold <= 1.0:
            raise ValueError("need 0 < min_threshold <= initial_threshold <= max_threshold <= 1")
        if self.points < 1 or self.wrap_points < 1 or self.history < 1:
            raise ValueError("points, wrap_points and history must be >= 1")
        if self.lookahead_s < 0:
            raise ValueError("lookahead_s must be >= 0")
        if self.cap_margin < 1:
            raise ValueError("cap_margin must be >= 1")
        if not 0.0 <= self.brake_from <= 1.0 or self.brake_min_answered < 1:
            raise ValueError("need 0 <= brake_from <= 1 and brake_min_answered >= 1")
        if self.max_lines_per_agent < 1:
            raise ValueError("max_lines_per_agent must be >= 1")


class PredictivePacer:
    """Look-ahead pacing with a feedback-tuned threshold. One instance per campaign."""

    def __init__(self, settings: PredictiveSettings | None = None) -> None:
        s = settings or PredictiveSettings()
        self.settings = s
        self.contact = ContactRate(prior=s.prior_contact_rate)
        self.answer_time = Durations(s.history)
        self.no_contact_time = Durations(s.history)
        self.talk_time = Durations(s.history)
        self.wrapup_time = Durations(s.history)
        ahead = tuple(w - s.lookahead_s for w in s.windows_s if w - s.lookahead_s >= 60.0)
        self.ledger = AbandonLedger(s.windows_s + ahead)
        self.threshold = s.initial_threshold
        self._down = math.exp(-s.threshold_gain)
        self._up = math.exp(s.threshold_gain * s.target / (1.0 - s.target))
        self._phase = "warm-up"
        self._agents_seen = 0
        self._m = s.points
        self._new_obs = 0  # call outcomes since the call tables were built
        self._new_works = 0  # finished agent calls since the agent tables were built
        self._refreshed_at = -math.inf
        self._agents_refreshed_at = -math.inf
        self._agent_pts: tuple[float, ...] = ()  # supply points the agent rows were built for
        self._totals: list[tuple[int, int]] = []  # ledger windows at the last decision
        self._means = (0.0, 0.0, 0.0)  # answer, talk, wrap-up (at the last refresh)
        self._fa: tuple[float, ...] = ()  # F_A at each answer point
        self._future_base: tuple[float, ...] = ()  # integral of F_A over [0, A_b]
        self._talk_view = DurationView([])
        self._wrap_view = DurationView([])
        # tables (rebuilt by _refresh)
        self._answer_pts: tuple[float, ...] = ()
        self._supply_pts: tuple[float, ...] = ()
        self._wrap_pts: tuple[float, ...] = ()
        self._pi: tuple[float, ...] = ()  # chance another new call is answered by each point
        self._pi_var: tuple[float, ...] = ()
        self._future: tuple[float, ...] = ()  # answers by each point per call/s dialed from now
        self._flow = 0.0  # decaying count of resolved calls (dial rate = flow / flow_tau_s)
        self._flow_at = 0.0
        self._talk_rows = _RowCache(lambda i: self._talk_row(_TALK_MID[i]))
        self._wrap_rows = _RowCache(lambda i: self._wrap_row(i + 0.5))
        self._call_base: list[tuple[float, float, tuple[float, ...]]] = []  # (S_A, S_N, c_b)
        self._call_rows_by_p: dict[int, list[Row]] = {}
        self._call_rows: list[Row] = []
        self._call_len = 0
        self._p_keys = (-1, -1)
        self._zero: Row = (0.0,) * (2 * self._m)

    # -- feedback ---------------------------------------------------------------------------

    def observe_call(self, outcome: CallOutcome) -> None:
        answered = outcome.answered_at is not None
        at = outcome.ended_at
        self.contact.add(answered, at)
        if at > self._flow_at:
            self._flow *= math.exp((self._flow_at - at) / self.settings.flow_tau_s)
            self._flow_at = at
        self._flow += 1.0
        if outcome.answered_at is not None:
            self.answer_time.add(outcome.answered_at - outcome.originated_at)
            self.ledger.record(outcome.ended_at, outcome.abandoned)
            # Progressive calls (warm-up, capped) say nothing about the threshold.
            if self._phase in ("predictive", "braking"):
                if outcome.abandoned:
                    self.threshold = max(self.settings.min_threshold, self.threshold * self._down)
                else:
                    self.threshold = min(self.settings.max_threshold, self.threshold * self._up)
        else:
            self.no_contact_time.add(outcome.ended_at - outcome.originated_at)
        self._new_obs += 1

    def observe_work(self, work: AgentWork) -> None:
        self.talk_time.add(work.talk_s)
        self.wrapup_time.add(work.wrapup_s)
        self._new_works += 1

    # -- decision ---------------------------------------------------------------------------

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        s = self.settings
        now = snap.now
        if len(snap.agents) > self._agents_seen:
            self._agents_seen = len(snap.agents)
        since = now - self._refreshed_at
        if self._new_obs and (
            (self._new_obs >= s.refresh_obs and since >= s.refresh_s) or since >= 600.0
        ):
            self._refresh(now)
        since = now - self._agents_refreshed_at
        if self._new_works and (
            (self._new_works >= s.refresh_works and since >= s.refresh_s) or since >= 600.0
        ):
            self._refresh_agents(now)
        phase, brake = self._phase_at(now)
        self._phase = phase
        if phase == "warm-up" or phase == "capped":
            return self._progressive(snap, phase)
        # A fall of the contact rate is followed at once for the calls about to be dialed, but
        # the calls already ringing were dialed before it: they keep the slower estimate.
        p = self.contact.value
        keys = (round(max(p, self.contact.slow) * _P_STEPS), round(p * _P_STEPS))
        if keys != self._p_keys:
            self._set_call_rows(*keys)

        # Supply: ready agents, and the chance each busy agent is free in time.
        ready, rows = self._supply(snap)
        available = ready + len(rows)
        n_room = room(snap, available, s.max_lines_per_agent)
        if available == 0:
            est = self._estimates("no agents", now)
            return PacingDecision(0, 0.0, "no agents: none ready or busy", est)
        if n_room == 0:
            est = self._estimates("limit", now)
            return PacingDecision(0, 0.0, "limit: no room (trunk, campaign maximum or cps)", est)

        # Demand: answered calls waiting, and the chance each ringing call is answered in time.
        call_rows = self._call_rows
        ring = snap.ringing_since
        try:
            crows = [call_rows[int(now - t)] for t in ring]
        except IndexError:
            last = len(call_rows) - 1
            crows = [call_rows[min(max(int(now - t), 0), last)] for t in ring]

        m = self._m
        sup = [sum(c) for c in zip(*rows, strict=True)] if rows else list(self._zero)
        dem = [sum(c) for c in zip(*crows, strict=True)] if crows else list(self._zero)
        base = ready - snap.answered_waiting
        # Calls the next decisions will dial (at the recent rate) and that are answered first.
        flow = self._flow * math.exp(min(0.0, self._flow_at - now) / s.flow_tau_s)
        rate = flow / s.flow_tau_s if s.future_calls else 0.0
        fut = [rate * g for g in self._future]
        mu = [base + sup[b] - dem[b] - fut[b] for b in range(m)]
        var = [sup[m + b] + dem[m + b] + fut[b] for b in range(m)]
        threshold = self.threshold * brake

        dial, last_chance = self._search_normal(mu, var, threshold, n_room)

        soon = ready + sup[m // 2]
        in_flight = len(ring) + snap.answered_waiting
        level = (in_flight + dial) / soon if soon > 1.0 else float(in_flight + dial)
        est = self._estimates(phase, now, threshold, last_chance, soon, p)
        reason = (
            f"{phase}: dial {dial}, {in_flight + dial} in flight for {soon:.1f} agents soon "
            f"({ready} ready); chance {last_chance:.1%} vs threshold {threshold:.1%}; "
            f"contact {p:.0%}"
        )
        return PacingDecision(dial=dial, level=level, reason=reason, estimates=est)

    # -- internals --------------------------------------------------------------------------

    def _supply(self, snap: PacingSnapshot) -> tuple[int, list[Row]]:
        """Ready agents, and a row of chances (free by each point) per busy agent."""
        now = snap.now
        agents = snap.agents
        acts = [a.activity for a in agents]
        ready = acts.count(_READY)
        talk_ages = [now - a.since for a in agents if a.activity is _TALKING]
        wrap_ages = [now - a.since for a in agents if a.activity is _WRAPUP]
        talk_rows = self._talk_rows
        talk_rows.budget = _ROW_BUDGET
        self._wrap_rows.budget = _ROW_BUDGET
        try:
            rows = [talk_rows[_TALK_LUT[int(x)]] for x in talk_ages]
        except IndexError:  # talking for over an hour (or a clock step back)
            rows = [talk_rows[_talk_bucket(x)] for x in talk_ages]
        if wrap_ages:
            wrap_rows = self._wrap_rows
            rows += [wrap_rows[min(max(int(x), 0), _WRAP_BUCKETS)] for x in wrap_ages]
        return ready, rows

    def _search_normal(
        self, mu: list[float], var: list[float], threshold: float, n_room: int
    ) -> tuple[int, float]:
        """The most new calls (<= n_room) whose last one's chance stays under the threshold,
        with S - D taken as normal; and that chance (or the first call's, if none)."""
        m = self._m
        pi = self._pi
        piv = self._pi_var
        erfc = math.erfc
        sqrt = math.sqrt
        inv = 0.5 / m

        def chance(k: int) -> float:
            """P(no agent free | answered) for the k-th new call of this decision."""
            j = k - 1
            t = 0.0
            for b in range(m):
                v = var[b] + j * piv[b]
                t += erfc((mu[b] - j * pi[b] - 0.5) / sqrt(2.0 * v + 1e-12))
            return t * inv

        first = chance(1)
        if first > threshold:
            return 0, first
        lo, lo_chance = 1, first  # lo is dialable
        hi = 2
        while hi <= n_room:
            c = chance(hi)
            if c > threshold:
                break
            lo, lo_chance = hi, c
            hi *= 2
        hi = min(hi, n_room + 1)  # hi is not dialable (or out of room)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            c = chance(mid)
            if c <= threshold:
                lo, lo_chance = mid, c
            else:
                hi = mid
        return lo, lo_chance

    def _phase_at(self, now: float) -> tuple[str, float]:
        """The pacing phase and the brake factor (1.0: none, 0.0: full) at `now`."""
        s = self.settings
        self._totals = self.ledger.window_totals(now)
        if self.contact.count == 0 or self.answer_time.count < s.warmup_answers:
            return "warm-up", 0.0
        if self.talk_time.count < max(s.warmup_works, 1.5 * self._agents_seen):
            # The first calls to finish are the short ones: wait until most agents have
            # finished one or two, or the talk-time estimate is biased low and over-dials.
            return "warm-up", 0.0
        floor = s.brake_min_answered
        worst = 0.0
        for ans, ab in self._totals:
            if (ab + s.cap_margin) / max(ans + s.cap_margin, floor) > s.cap:
                return "capped", 0.0
            r = ab / max(ans, floor)
            if r > worst:
                worst = r
        start = s.target + s.brake_from * (s.cap - s.target)
        if worst <= start:
            return "predictive", 1.0
        f = (s.cap - worst) / (s.cap - start) if s.cap > start else 0.0
        return "braking", min(1.0, max(0.0, f))

    def _progressive(self, snap: PacingSnapshot, phase: str) -> PacingDecision:
        ready, available = agent_counts(snap)
        n_room = room(snap, available, 1.0)
        dial = max(0, min(n_room, ready - snap.in_flight))
        why = "enough answers to estimate from" if phase == "warm-up" else "back under the cap"
        return PacingDecision(
            dial=dial,
            level=1.0,
            reason=f"{phase}: progressive until {why}; {ready} ready, {snap.in_flight} in flight",
            estimates=self._estimates(phase, snap.now, 0.0, 0.0, float(ready)),
        )

    def _estimates(
        self,
        phase: str,
        now: float,
        threshold: float = 0.0,
        chance: float = 0.0,
        soon: float = 0.0,
        p: float | None = None,
    ) -> PacingEstimates:
        n = len(self.settings.windows_s)
        rates = [ab / ans if ans else 0.0 for ans, ab in self._totals[:n]]
        life = self.ledger.life
        answer_s, talk_s, wrapup_s = self._means
        return PacingEstimates(
            phase=phase,
            contact_rate=self.contact.value if p is None else p,
            answer_s=answer_s,
            talk_s=talk_s,
            wrapup_s=wrapup_s,
            threshold=threshold,
            chance=chance,
            agents_soon=soon,
            abandon_24h=rates[0] if rates else 0.0,
            abandon_30d=rates[1] if len(rates) > 1 else 0.0,
            abandon_life=life.rate,
        )

    def _refresh(self, now: float) -> None:
        """Rebuild the call tables from the current answer and no-answer times."""
        s = self.settings
        m = self._m
        ans = self.answer_time.view()
        self._answer_pts = tuple(ans.quantile((b + 0.5) / m) for b in range(m))
        self._supply_pts = tuple(a + s.grace_s for a in self._answer_pts)
        nc = self.no_contact_time.view()
        have_nc = len(nc) > 0
        base: list[tuple[float, float, tuple[float, ...]]] = []
        r_max = min(_CALL_ROWS - 1, math.ceil(ans.max()))
        for r in range(r_max + 1):
            age = r + 0.5
            f = ans.cdf(age)
            sa = 1.0 - f
            sn = (1.0 - nc.cdf(age)) if have_nc else 1.0
            if sa <= 0.0:
                break
            cb = tuple((ans.cdf(age + a) - f) / sa for a in self._answer_pts)
            base.append((sa, sn, cb))
        self._call_base = base
        self._call_len = min(_CALL_ROWS, max(len(base), math.ceil(nc.max()) + 1) + 8)
        self._fa = tuple(ans.cdf(a) for a in self._answer_pts)
        fut = []
        for a in self._answer_pts:
            h = a / 20
            fut.append(sum(ans.cdf((i + 0.5) * h) for i in range(20)) * h)
        self._future_base = tuple(fut)
        self._means = (ans.mean, self._talk_view.mean, self._wrap_view.mean)
        self._call_rows_by_p = {}
        self._p_keys = (-1, -1)
        self._new_obs = 0
        self._refreshed_at = now
        old = self._agent_pts
        new = self._supply_pts
        if len(old) != m or max(abs(old[b] - new[b]) for b in range(m)) > 0.5:
            self._refresh_agents(now)

    def _refresh_agents(self, now: float) -> None:
        """Rebuild the agent tables (rows computed on first use) from talk and wrap-up times."""
        s = self.settings
        self._talk_view = self.talk_time.view()
        self._wrap_view = wrap = self.wrapup_time.view()
        self._wrap_pts = tuple(
            wrap.quantile((j + 0.5) / s.wrap_points) for j in range(s.wrap_points)
        )
        self._agent_pts = self._supply_pts
        self._talk_rows.renew()
        self._wrap_rows.renew()
        self._means = (self._means[0], self._talk_view.mean, wrap.mean)
        self._new_works = 0
        self._agents_refreshed_at = now

    def _set_call_rows(self, ring_key: int, new_key: int) -> None:
        """Call tables for a contact rate of ring_key / _P_STEPS for the calls ringing and of
        new_key / _P_STEPS for the calls about to be dialed."""
        rows = self._call_rows_by_p.get(ring_key)
        if rows is None:
            p = min(max(ring_key / _P_STEPS, 0.001), 0.999)
            rows = []
            for sa, sn, cb in self._call_base:
                num = p * sa
                den = num + (1.0 - p) * sn
                pr = num / den if den > 0.0 else 0.0
                ds = tuple(pr * c for c in cb)
                rows.append(ds + tuple(d * (1.0 - d) for d in ds))
            # zero rows past the longest answer, up to a little past the longest ring seen, so
            # the usual look-up needs no bounds check (older calls take the slow path)
            rows.extend([self._zero] * (self._call_len - len(rows)))
            self._call_rows_by_p[ring_key] = rows
        self._call_rows = rows
        p = min(max(new_key / _P_STEPS, 0.001), 0.999)
        pf = tuple(p * f for f in self._fa)
        self._pi = pf
        self._pi_var = tuple(x * (1.0 - x) for x in pf)
        # answers before each point per call/s dialed from now on
        self._future = tuple(p * f for f in self._future_base)
        self._p_keys = (ring_key, new_key)

    def _talk_row(self, age: float) -> Row:
        talk = self._talk_view
        wraps = self._wrap_pts
        nw = len(wraps)
        qs = tuple(sum(talk.done_within(age, x - w) for w in wraps) / nw for x in self._agent_pts)
        return qs + tuple(q * (1.0 - q) for q in qs)

    def _wrap_row(self, age: float) -> Row:
        wrap = self._wrap_view
        qs = tuple(wrap.done_within(age, x) for x in self._agent_pts)
        return qs + tuple(q * (1.0 - q) for q in qs)

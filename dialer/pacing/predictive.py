"""Predictive pacing: dial each extra call only while the chance that it is answered with no agent
free stays under a threshold, and tune that threshold to hold the target abandonment.

Rules:
- Look-ahead, not a ratio. For a new call answered after `A` seconds (A drawn from the learned
  answer-time distribution, taken at `points` quantiles), the call finds an agent if the agents
  free by `A + grace` outnumber the other calls answered by `A`:
    * agents free by then: the ready ones, plus each talking agent with the chance that the rest of
      its talk (given how long it has talked) and a wrap-up fit in, plus each agent in wrap-up with
      the chance its wrap-up (given its age) ends in time: nearly certain, wrap-ups vary little;
    * calls answered by then: those already waiting, each ringing call with the chance that it is
      answered in time (given how long it has rung: a call that has rung long is less likely a
      contact, and if it is, nearer its answer), and the other new calls of this decision.
  Both sides are sums of independent yes/no chances. With few of them (a small team) their
  difference is computed exactly, by convolution; with many, as normal (see `risk`). The k-th
  extra call is dialed while P(no agent | answered) for it stays under the threshold.
- The threshold is `calibration x aim / target`. The calibration is a feedback loop on live
  answers: down after an abandonment, up a little after a connection, so that the share abandoned
  settles at the rate aimed for. The aim is the target (default 2.5%), unless the rolling windows
  say otherwise:
  braking: for each window (24 hours, 30 days) and each look-ahead horizon `h` (5 minutes to 2
  hours), what the window will still hold at `now + h` is known (its oldest minutes leave), and
  the answers to come by then are estimated from the recent answer rate. The aim is cut to the
  rate at which the window would stay under the cap with `brake_z` standard deviations of the
  abandonments to come to spare. So the pacer slows down before the cap, smoothly and early: the
  first hours of a day, dialed progressively and so never abandoned, leave the 24-hour window a
  day later and push its rate up, and the pacer sees that coming. The same brake keeps the last
  hour under `burst_cap` (6%): a small team's abandonments come in clusters. The aim never rises
  above the target: a rate that swings (above target while there is room, below it after)
  abandons as many callees for fewer agent minutes than a steady one, so the loop holds one rate.
- Capped: when one more abandonment would put a window over the cap, at most one call per ready
  agent (progressive) until back under. A window with few answers counts as having
  `brake_min_answered`, so the first minutes of a campaign do not swing the brake.
- Taking a call back (`cancel_over`, 10 by default; 0 turns it off): when not even one more
  call may go and that call's chance is over `cancel_over` times the threshold, far too many
  calls ring for the agents to come; the oldest ringing call that has rung at least 15 s (the
  callee's minimum ring, `base.MIN_RING_S`) is hung up, one per decision. It has little chance
  left of being answered (none after the no-answer timeout) and none of it is abandoned.
- Estimates are online: contact rate (decaying means, quick on a rise), and the last few hundred
  answer times, no-answer durations, talk and wrap-up times. The contact rate paced with follows
  a level shift within seconds: the calls in flight and those dialed in the last minute give an
  estimate of it now (censored by how long each has rung, see `surge`), used when it is
  `shift_z` standard errors from the slower one.
- The surge guard (`surge`): were the contact rate back at its high of the last hour, the
  answers the calls in flight and the new ones would bring may exceed the agents free by then by
  at most `surge_excess` of the team. Without it a pacer that dialed ten lines per agent through
  an hour of dead numbers abandoned most answers of the minute the list recovered.
- Warm-up: progressive (one call per ready agent) until there are enough answers and finished
  calls to estimate from.
- Hard limits (see `limits`) bound whatever the estimates say.
Cost: one pass over agents and calls in flight with table look-ups (tables rebuilt at most every
`refresh_s` seconds), then a few tail evaluations: tens of microseconds at 100 agents, a little
more for the exact sums of a small team.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from dialer.pacing.base import (
    MIN_RING_S,
    TAKE_BACK_OVER,
    AgentActivity,
    AgentView,
    AgentWork,
    CallOutcome,
    PacingDecision,
    PacingEstimates,
    PacingSnapshot,
)
from dialer.pacing.cap import CAP_AHEAD_S, breaks_cap
from dialer.pacing.estimators import ContactRate, Durations, DurationView
from dialer.pacing.ledger import GRACE_S, WINDOWS_S, AbandonLedger
from dialer.pacing.limits import MAX_LINES_PER_AGENT, agent_counts, room
from dialer.pacing.packed import column_sums, pack
from dialer.pacing.risk import search_exact, search_normal
from dialer.pacing.surge import ContactNow, RecentHigh, censored_contact, surge_room

Row = tuple[float, ...]
# A table row: a tuple of chances (the exact method) or those chances and their variances packed
# into one integer (the normal method, which only needs their column sums: see `packed`).
R = TypeVar("R", Row, int)

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
_WRAP_STEP = 0.25  # wrap-up ages in quarter seconds: a wrap-up's end is nearly certain
_WRAP_BUCKETS = 3600  # 15 minutes of them
_PAD = 8  # table slots for ages just below zero
_CALL_ROWS = 4096  # ring ages (s) the call table may cover; older calls count as no-answers
_P_STEPS = 200.0  # call tables are cached per contact rate rounded to 1/_P_STEPS
_ROW_BUDGET = 8  # agent rows a decision may recompute after a rebuild (the rest wait)
_AIM_EVERY_S = 5.0  # the aim is worked out again this often (and after each abandonment)
_RATE_TAU_S = 1800.0  # memory of the answer-rate estimate, in dialing time
_RESOLVE_S = 30.0  # a ring timeout: calls dialed this long ago have ended (if no ring was longer)
_RATE_GAP_S = 10.0  # a longer gap between decisions is not dialing time (a night, a pause)


class _AgeTable(Generic[R]):
    """Rows of chances for busy agents by age: one row per age bucket (`lut` maps each age step,
    `step` seconds long, to its bucket; `mids` gives the age a bucket's row is worked out at),
    and the same rows by age step in `slots` (shifted by _PAD, so that an age a little below
    zero, a clock step, still finds bucket 0), so that the usual look-up is one list index per
    agent. A bucket's row is made the first time an agent is met in it (`at`, for a slot that is
    still None, or an age past the steps: the last bucket).
    After the tables are rebuilt (`renew`), a decision makes at most `budget` rows (`begin`):
    buckets met beyond that keep their previous row, in their slots too, until a later decision
    makes them again. So no single decision pays for the whole rebuild, and none pays twice."""

    def __init__(
        self, make: Callable[[float], R], lut: tuple[int, ...], mids: tuple[float, ...], step: float
    ) -> None:
        self._make: Callable[[float], R] = make
        self._lut = lut
        self._mids = mids
        self._step = step
        spans: dict[int, tuple[int, int]] = {}
        for i, bucket in enumerate(lut):
            lo, _ = spans.get(bucket, (i, i))
            spans[bucket] = (lo, i + 1)
        self._spans = spans
        self.slots: list[R | None] = [None] * (len(lut) + _PAD)
        self._rows: dict[int, R] = {}
        self._stale: dict[int, R] = {}  # rows from before the last rebuild
        self._redo: list[int] = []  # buckets whose stale row is in use
        self._budget = 0

    def renew(self) -> None:
        self._stale = self._rows
        self._rows = {}
        self._redo = []
        self.slots = [None] * len(self.slots)

    def begin(self, budget: int) -> None:
        """A decision starts: it may make `budget` rows, first those whose stale row is in use."""
        redo = self._redo
        while redo and budget > 0:
            bucket = redo.pop()
            if bucket not in self._rows:
                self._fill(bucket)
                budget -= 1
        self._budget = budget

    def at(self, age: float) -> R:
        i = int(age / self._step)
        bucket = self._lut[i] if 0 <= i < len(self._lut) else 0 if i < 0 else len(self._mids) - 1
        row = self._rows.get(bucket)
        if row is not None:
            return row
        old = self._stale.get(bucket)
        if old is None or self._budget > 0:
            self._budget -= 1
            return self._fill(bucket)
        self._redo.append(bucket)
        self._put(bucket, old)
        return old

    def _fill(self, bucket: int) -> R:
        row: R = self._make(self._mids[bucket])
        self._rows[bucket] = row
        self._put(bucket, row)
        return row

    def _put(self, bucket: int, row: R) -> None:
        span = self._spans.get(bucket)
        if span is not None:
            lo, hi = span
            self.slots[lo + _PAD : hi + _PAD] = [row] * (hi - lo)
            if lo == 0:
                self.slots[:_PAD] = [row] * _PAD


@dataclass(frozen=True, slots=True)
class PredictiveSettings:
    target: float = 0.025  # abandonment the feedback loop aims for
    cap: float = 0.03  # abandonment no rolling window may exceed
    grace_s: float = GRACE_S  # an answered call waits this long for an agent
    windows_s: tuple[float, ...] = WINDOWS_S
    warmup_answers: int = 20  # live answers before leaving warm-up
    warmup_works: int = 10  # finished agent calls (talk + wrap-up) before leaving warm-up
    initial_threshold: float = 0.012
    threshold_gain: float = 0.05  # log step down after an abandonment...
    early_gain: float = 0.25  # ...larger at first: early_gain / (1 + abandonments seen / 10)
    min_threshold: float = 0.001
    max_threshold: float = 0.6
    brake_min_answered: int = 300
    cap_margin: int = 1  # "capped" when this many more abandonments would break the cap
    # Braking looks this far ahead (ascending); the rate aimed for keeps every window under the
    # cap at each horizon with `brake_z` standard deviations of the abandonments to come to spare.
    brake_horizons_s: tuple[float, ...] = (300.0, 900.0, 1800.0, 3600.0, 7200.0)
    brake_z: float = 2.0
    # A burst window as well, braked for like the others (but never "capped"): no hour should go
    # over `burst_cap` (burst_s 0 turns it off). A small team's abandonments come in clusters,
    # and a day under the cap can hide a very bad hour, as after a jump of the contact rate.
    burst_s: float = 3600.0
    burst_cap: float = 0.06
    burst_min_answered: int = 50
    max_lines_per_agent: float = MAX_LINES_PER_AGENT
    # Taking a call back: when not even one more call may go and that call's chance is over
    # `cancel_over` times the threshold, the oldest ringing call that has rung `min_ring_s` is
    # hung up (one per decision). 0 never hangs up a ringing call. With 10 (seeds 1-12): 5 agents
    # +1.8 points, 25 agents +0.8, less abandoned.
    cancel_over: float = TAKE_BACK_OVER
    min_ring_s: float = MIN_RING_S
    points: int = 12  # answer-time quantiles the exact look-ahead evaluates
    normal_points: int = 4  # of those, how many the normal approximation evaluates
    exact_terms: int = 24  # exact sums while busy agents + ringing calls are at most this many
    wrap_points: int = 4  # wrap-up quantiles convolved with the rest of a talk
    refresh_s: float = 60.0  # tables are rebuilt at most this often...
    refresh_obs: int = 50  # ...once this many new call outcomes came in (or after 10 minutes)
    refresh_works: int = 100  # agent tables: once this many new finished calls came in...
    refresh_agents_s: float = 300.0  # ...at most this often (a big team finishes 100 in 2 min)
    history: int = 500  # durations remembered per distribution
    prior_contact_rate: float = 0.3
    # The contact rate now, from the calls in flight and those dialed in the last `now_window_s`
    # (dialer.pacing.surge), worked out every `now_every_s`; a level shift when it is
    # `shift_z` standard errors from the slower estimate (0: never).
    now_window_s: float = 60.0
    now_every_s: float = 0.5
    shift_z: float = 3.5
    # The surge guard: were the contact rate back at its high of the last `surge_memory_s`,
    # the answers expected by the longest usual answer time may exceed the agents free by
    # then by at most `surge_excess` of the team (surge_memory_s 0: off).
    surge_memory_s: float = 3600.0
    surge_excess: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.target <= self.cap < 1.0:
            raise ValueError("need 0 < target <= cap < 1")
        if self.grace_s < 0:
            raise ValueError("grace_s must be >= 0")
        if not 0.0 < self.min_threshold <= self.initial_threshold <= self.max_threshold <= 1.0:
            raise ValueError("need 0 < min_threshold <= initial_threshold <= max_threshold <= 1")
        if not 1 <= self.normal_points <= self.points or self.wrap_points < 1 or self.history < 1:
            raise ValueError("need 1 <= normal_points <= points, wrap_points and history >= 1")
        if self.exact_terms < 0:
            raise ValueError("exact_terms must be >= 0")
        h = self.brake_horizons_s
        if not h or any(x <= 0 for x in h) or list(h) != sorted(h):
            raise ValueError("brake_horizons_s must be ascending, each > 0")
        if self.threshold_gain <= 0 or self.early_gain < 0:
            raise ValueError("need threshold_gain > 0 and early_gain >= 0")
        if self.brake_z < 0:
            raise ValueError("brake_z must be >= 0")
        if self.cap_margin < 1 or self.brake_min_answered < 1 or self.burst_min_answered < 1:
            raise ValueError("cap_margin, brake_min_answered, burst_min_answered must be >= 1")
        if self.burst_s < 0 or not self.cap <= self.burst_cap < 1.0:
            raise ValueError("need burst_s >= 0 and cap <= burst_cap < 1")
        if self.max_lines_per_agent < 1:
            raise ValueError("max_lines_per_agent must be >= 1")
        if self.cancel_over != 0.0 and self.cancel_over < 1.0:
            raise ValueError("cancel_over must be 0 (off) or >= 1")
        if self.min_ring_s < MIN_RING_S:
            raise ValueError(f"min_ring_s must be >= {MIN_RING_S:g} (the callee's minimum ring)")
        if self.now_window_s <= 0 or self.now_every_s <= 0 or self.shift_z < 0:
            raise ValueError("need now_window_s > 0, now_every_s > 0 and shift_z >= 0")
        if self.surge_memory_s < 0 or self.surge_excess < 0:
            raise ValueError("need surge_memory_s >= 0 and surge_excess >= 0")


class _Grid(Generic[R]):
    """The look-ahead's tables at one set of answer-time points: per busy agent (by talk or
    wrap-up age) and per ringing call (by ring age, for a contact rate), the chances at each
    point, made into a row by `make_row`."""

    def __init__(
        self, pacer: PredictivePacer, cols: tuple[int, ...], make_row: Callable[[Row], R]
    ) -> None:
        self.cols = cols  # which of the pacer's answer points
        self.row: Callable[[Row], R] = make_row
        self.pts: tuple[float, ...] = ()  # supply points (answer point + grace) of the rows
        self.talk: _AgeTable[R] = _AgeTable(
            lambda age: self.row(pacer._talk_chances(age, self.pts)), _TALK_LUT, _TALK_MID, 1.0
        )
        self.wrap: _AgeTable[R] = _AgeTable(
            lambda age: self.row(pacer._wrap_chances(age, self.pts)),
            tuple(range(_WRAP_BUCKETS)),
            tuple((i + 0.5) * _WRAP_STEP for i in range(_WRAP_BUCKETS)),
            _WRAP_STEP,
        )
        self.calls_by_p: dict[int, list[R]] = {}
        self.calls: list[R] = []
        self.call_key = -1
        self.pi: tuple[float, ...] = ()  # chance another new call is answered by each point
        self.pi_var: tuple[float, ...] = ()

    def renew_agents(self, supply_pts: tuple[float, ...]) -> None:
        self.pts = tuple(supply_pts[b] for b in self.cols)
        self.talk.renew()
        self.wrap.renew()

    def set_calls(self, pacer: PredictivePacer, key: int) -> None:
        rows = self.calls_by_p.get(key)
        if rows is None:
            p = min(max(key / _P_STEPS, 0.001), 0.999)
            cols = self.cols
            rows = []
            for sa, sn, cb in pacer._call_base:
                num = p * sa
                den = num + (1.0 - p) * sn
                pr = num / den if den > 0.0 else 0.0
                rows.append(self.row(tuple(pr * cb[b] for b in cols)))
            # zero rows past the longest answer, up to a little past the longest ring seen, so
            # the usual look-up needs no bounds check (older calls take the slow path)
            rows.extend([self.row((0.0,) * len(cols))] * (pacer._call_len - len(rows)))
            self.calls_by_p[key] = rows
        self.calls = rows
        self.call_key = key

    def set_new(self, p: float, fa: tuple[float, ...]) -> None:
        self.pi = tuple(p * fa[b] for b in self.cols)
        self.pi_var = tuple(x * (1.0 - x) for x in self.pi)


def _packed_with_var(qs: Row) -> int:
    """A row of the normal method: the chances and their variances p(1-p), packed."""
    return pack((*qs, *(q * (1.0 - q) for q in qs)))


def _as_is(qs: Row) -> Row:
    return qs


class PredictivePacer:
    """Look-ahead pacing with a feedback-tuned threshold. One instance per campaign."""

    def __init__(self, settings: PredictiveSettings | None = None) -> None:
        s = settings or PredictiveSettings()
        self.settings = s
        self.contact = ContactRate(prior=s.prior_contact_rate)
        self.contact_now = ContactNow(s.now_window_s, max(4.0 * s.now_window_s, 240.0))
        self._high = RecentHigh(s.surge_memory_s)
        self._now_est = (s.prior_contact_rate, 1.0)  # (rate, standard error) now
        self._now_at = -math.inf
        self.shift = ""  # "up", "down" or "" (no level shift seen now)
        self.shifts_up = 0  # times a rise was seen in the calls in flight...
        self.shifts_down = 0  # ...and a fall
        self.guarded = 0  # decisions the surge guard cut
        self.answer_time = Durations(s.history)
        self.no_contact_time = Durations(s.history)
        self.talk_time = Durations(s.history)
        self.wrapup_time = Durations(s.history)
        # Replaceable (dialer/pacing/history.py rebuilds it after a restart): always read it here.
        self.ledger = AbandonLedger(s.windows_s + ((s.burst_s,) if s.burst_s > 0 else ()))
        self.threshold = s.initial_threshold  # the calibration: the threshold at the target
        self._abandons_seen = 0  # abandonments the calibration has learned from
        self._phase = "warm-up"
        self._agents_seen = 0
        self._m = s.points
        normal_cols = tuple(
            min(s.points - 1, int((j + 0.5) / s.normal_points * s.points))
            for j in range(s.normal_points)
        )
        self._exact = _Grid(self, tuple(range(s.points)), _as_is)
        self._normal = _Grid(self, normal_cols, _packed_with_var)
        self._new_obs = 0  # call outcomes since the call tables were built
        self._warm_tables = True  # tables not rebuilt since warm-up ended
        self._new_works = 0  # finished agent calls since the agent tables were built
        self._refreshed_at = -math.inf
        self._agents_refreshed_at = -math.inf
        self._agent_pts: tuple[float, ...] = ()  # supply points the agent rows were built for
        self._totals: list[tuple[int, int]] = []  # ledger windows at the last decision...
        self._rates = (0.0, 0.0, 0.0)  # ...their rates (24 hours, 30 days, life)...
        self._at_cap = False  # ...whether one more abandonment would break the cap...
        self._totals_key: tuple[object, int, int] | None = None  # ...and what they were for
        self._totals_recorded = -1
        self._means = (0.0, 0.0, 0.0)  # answer, talk, wrap-up (at the last refresh)
        self._fa: tuple[float, ...] = ()  # F_A at each answer point
        self._talk_view = DurationView([])
        self._wrap_view = DurationView([])
        # the aim (rate of abandonment the threshold is set for) and the answer rate behind it
        self.aim = s.target
        self._aim_at = -math.inf
        self._aim_dirty = True
        self._answers = 0.0  # decaying count of live answers...
        self._active_s = 0.0  # ...over decaying dialing time: the answer rate
        self._last_decide = -math.inf
        self._pending: list[tuple[float, int, bool]] = []  # outcomes not yet in the contact rate
        self._seq = 0
        self._resolve_s = _RESOLVE_S  # every call has ended by then (the longest ring seen)
        self._team_of: tuple[AgentView, ...] | None = None
        self._team_cache: tuple[int, list[float], list[float]] = (0, [], [])
        # tables (rebuilt by _refresh)
        self._answer_pts: tuple[float, ...] = ()
        self._supply_pts: tuple[float, ...] = ()
        self._wrap_pts: tuple[tuple[float, float], ...] = ()  # wrap-up quantiles, weights
        self._call_base: list[tuple[float, float, tuple[float, ...]]] = []  # (S_A, S_N, c_b)
        self._call_len = 0
        self._p_keys = (-1, -1)

    # -- calibration, kept across restarts (dialer/pacing/history.py) ------------------------

    @property
    def calibration(self) -> tuple[float, int]:
        """The threshold the feedback loop tuned (at the target) and the abandonments it
        learned from (which set how large its next steps are)."""
        return self.threshold, self._abandons_seen

    def restore_calibration(self, threshold: float, abandons_seen: int) -> None:
        """Go on from a calibration saved before a restart (clamped to the settings)."""
        s = self.settings
        self.threshold = min(s.max_threshold, max(s.min_threshold, threshold))
        self._abandons_seen = max(0, abandons_seen)

    # -- feedback ---------------------------------------------------------------------------

    def observe_call(self, outcome: CallOutcome) -> None:
        answered = outcome.answered_at is not None
        self.contact_now.add(outcome.originated_at, answered)
        # The contact rate learns from a call once every call dialed with it has had its chance
        # to end: answers come back within seconds, no-answers only at the ring timeout, so the
        # outcomes of a burst of calls (the start of a day) read as all answers, then as none.
        heapq.heappush(self._pending, (outcome.originated_at, self._seq, answered))
        self._seq += 1
        self._release(outcome.ended_at)
        if outcome.answered_at is not None:
            self.answer_time.add(outcome.answered_at - outcome.originated_at)
            self.ledger.record(outcome.ended_at, outcome.abandoned)
            self._answers += 1.0
            # Progressive calls (warm-up, capped) say nothing about the threshold.
            if self._phase in ("predictive", "braking"):
                s = self.settings
                gain = max(s.threshold_gain, s.early_gain / (1.0 + self._abandons_seen / 10.0))
                if outcome.abandoned:
                    step = -gain
                    self._abandons_seen += 1
                else:
                    r = min(max(self.aim, 1e-4), 0.5)
                    step = gain * r / (1.0 - r)
                self.threshold = min(
                    s.max_threshold, max(s.min_threshold, self.threshold * math.exp(step))
                )
            if outcome.abandoned:
                self._aim_dirty = True
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
        self._count_dialing_time(now)
        self._release(now)
        if len(snap.agents) > self._agents_seen:
            self._agents_seen = len(snap.agents)
        since = now - self._refreshed_at
        if self._new_obs and (
            (self._new_obs >= s.refresh_obs and since >= s.refresh_s) or since >= 600.0
        ):
            self._refresh(now)
        since = now - self._agents_refreshed_at
        if self._new_works and (
            (self._new_works >= s.refresh_works and since >= s.refresh_agents_s) or since >= 600.0
        ):
            self._refresh_agents(now)
        phase = self._phase_at(now)
        self._phase = phase
        if phase == "warm-up" or phase == "capped":
            return self._progressive(snap, phase)
        if self._warm_tables:
            # Leaving warm-up: the tables were built from the first few outcomes (maybe no
            # answer, no finished call yet); build them from what warm-up has learned.
            self._refresh(now)
            self._refresh_agents(now)
            self._warm_tables = False

        ring = snap.ringing_since
        ready, talking, wrapping = self._team(snap.agents)
        n_busy = len(talking) + len(wrapping)
        available = ready + n_busy
        n_room = room(snap, available, s.max_lines_per_agent)
        if available == 0:
            est = self._estimates("no agents", now)
            return PacingDecision(0, 0.0, "no agents: none ready or busy", est)
        if n_room == 0:
            est = self._estimates("limit", now)
            return PacingDecision(0, 0.0, "limit: no room (trunk, campaign maximum or cps)", est)

        # A fall of the contact rate is followed at once for the calls about to be dialed, but
        # the calls already ringing were dialed before it: they keep the slower estimate.
        hist = self._ring_ages(now, ring) if now - self._now_at >= s.now_every_s else None
        p = self._pacing_rate(now, hist, len(ring), snap.answered_waiting)
        keys = (round(max(p, self.contact.slow) * _P_STEPS), round(p * _P_STEPS))
        if keys != self._p_keys:
            self._p_keys = keys
            self._exact.call_key = -1  # built when next needed
            self._normal.set_calls(self, keys[0])
            pn = min(max(keys[1] / _P_STEPS, 0.001), 0.999)
            self._exact.set_new(pn, self._fa)
            self._normal.set_new(pn, self._fa)

        threshold = min(s.max_threshold, self.threshold * self.aim / s.target)
        base = ready - snap.answered_waiting
        exact = n_busy + len(ring) <= s.exact_terms
        if exact:
            g = self._exact
            if g.call_key != keys[0]:
                g.set_calls(self, keys[0])
            rows = self._supply(g, now, talking, wrapping)
            crows = self._demand(now, ring, g.calls)
            dial, last_chance = search_exact(rows, crows, base, g.pi, threshold, n_room)
            mid = self._m // 2
            soon = ready + sum(r[mid] for r in rows)
            free = ready + sum(r[-1] for r in rows)  # by the last answer point
        else:
            gn = self._normal
            n = len(gn.cols)
            sup = column_sums(self._supply(gn, now, talking, wrapping), 2 * n)
            dem = column_sums(self._demand(now, ring, gn.calls), 2 * n)
            mu = [base + sup[b] - dem[b] for b in range(n)]
            var = [sup[n + b] + dem[n + b] for b in range(n)]
            dial, last_chance = search_normal(mu, var, gn.pi, gn.pi_var, threshold, n_room)
            soon = ready + sup[n // 2]
            free = ready + sup[n - 1]

        guard = ""
        p_hi = self._high.value(p)
        if s.surge_memory_s > 0.0 and p_hi > 1.05 * p and self._call_base:
            g_cols = self._exact.cols if exact else self._normal.cols
            if hist is None:
                hist = self._ring_ages(now, ring)
            b = g_cols[-1]
            e_hi = snap.answered_waiting + self._answers_by(hist, p_hi, b)
            most = surge_room(e_hi, p_hi * self._fa[b], free, s.surge_excess * available)
            if most < dial:
                dial = most
                self.guarded += 1
                guard = (
                    f"; surge guard at contact {p_hi:.0%}: {e_hi:.1f} answers, {free:.1f} agents"
                )

        cancel = 0
        if (
            dial == 0
            and s.cancel_over > 0.0
            and last_chance > s.cancel_over * threshold
            and ring
            and now - min(ring) >= s.min_ring_s
        ):
            cancel = 1
        in_flight = len(ring) + snap.answered_waiting - cancel
        level = (in_flight + dial) / soon if soon > 1.0 else float(in_flight + dial)
        method = "exact" if exact else "normal"
        est = self._estimates(phase, now, threshold, last_chance, soon, p, method)
        reason = (
            f"{phase}: dial {dial}, {in_flight + dial} in flight for {soon:.1f} agents soon "
            f"({ready} ready); chance {last_chance:.1%} vs threshold {threshold:.1%} "
            f"({method}); aim {self.aim:.2%}, 24 h {est.abandon_24h:.2%}; contact {p:.0%}"
        )
        if self.shift:
            reason += f"; {self.shift} shift: contact now {self._now_est[0]:.0%}"
        reason += guard
        if cancel:
            reason += f"; hang up the oldest ringing call (chance over {s.cancel_over:g}x)"
        return PacingDecision(dial, level, reason, est, cancel)

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _ring_ages(now: float, ring: tuple[float, ...]) -> dict[int, int]:
        """Ringing calls by whole seconds rung."""
        hist: dict[int, int] = {}
        for t in ring:
            r = int(now - t)
            r = r if r > 0 else 0
            hist[r] = hist.get(r, 0) + 1
        return hist

    def _pacing_rate(
        self, now: float, hist: dict[int, int] | None, n_ring: int, waiting: int
    ) -> float:
        """The contact rate to pace with: the slower estimate, unless the calls in flight and
        those dialed in the last minute show a level shift (dialer.pacing.surge). `hist` is
        given when the estimate now is due."""
        s = self.settings
        v = self.contact.value
        self._high.add(now, self.contact.slow)
        if hist is not None:
            self._now_at = now
            base = self._call_base
            ringing: list[tuple[int, float, float]] = []
            past = 0
            for r, c in hist.items():
                if r < len(base):
                    sa, sn, _ = base[r]
                    ringing.append((c, sa, sn))
                else:
                    past += c  # rung longer than any answer came: not a contact
            ones, zeros = self.contact_now.counts(now, n_ring)
            self._now_est = censored_contact(ones + waiting, zeros + past, ringing)
        p_now, se = self._now_est
        z = s.shift_z
        if z > 0.0 and self._call_base and p_now - z * se > v:
            if self.shift != "up":
                self.shifts_up += 1
            self.shift = "up"
            return min(p_now, 0.999)
        if z > 0.0 and self._call_base and p_now + z * se < v:
            if self.shift != "down":
                self.shifts_down += 1
            self.shift = "down"
            return max(p_now + 2.0 * se, 0.001)
        self.shift = ""
        return v

    def _answers_by(self, hist: dict[int, int], p: float, b: int) -> float:
        """Answers expected by answer point `b` from the ringing calls, at contact rate `p`."""
        base = self._call_base
        total = 0.0
        for r, c in hist.items():
            if r < len(base):
                sa, sn, cb = base[r]
                num = p * sa
                den = num + (1.0 - p) * sn
                if den > 0.0:
                    total += c * num / den * cb[b]
        return total

    def _team(self, agents: tuple[AgentView, ...]) -> tuple[int, list[float], list[float]]:
        """Ready agents, and when each talking and each wrap-up agent started. Kept while the
        caller passes the same tuple again (the simulator does between agent events)."""
        if agents is self._team_of:
            return self._team_cache
        ready = 0
        talking: list[float] = []
        wrapping: list[float] = []
        for a in agents:
            act = a.activity
            if act is _TALKING:
                talking.append(a.since)
            elif act is _READY:
                ready += 1
            elif act is _WRAPUP:
                wrapping.append(a.since)
        self._team_of = agents
        self._team_cache = (ready, talking, wrapping)
        return self._team_cache

    def _supply(
        self, g: _Grid[R], now: float, talking: list[float], wrapping: list[float]
    ) -> list[R]:
        """A row of chances (free by each point) per busy agent: talking ones, then those in
        wrap-up (by the times they started)."""
        talk = g.talk
        talk.begin(_ROW_BUDGET)
        by_s = talk.slots
        pad = _PAD
        try:
            rows = [by_s[int(now - t) + pad] for t in talking]
        except IndexError:  # talking for over an hour
            rows = [talk.at(now - t) for t in talking]
        if None in rows:  # buckets not met since the tables were rebuilt
            rows = [
                talk.at(now - t) if r is None else r for r, t in zip(rows, talking, strict=True)
            ]
        if wrapping:
            wrap = g.wrap
            wrap.begin(_ROW_BUDGET)
            by_q = wrap.slots
            step = 1.0 / _WRAP_STEP
            try:
                more = [by_q[int((now - t) * step) + pad] for t in wrapping]
            except IndexError:
                more = [wrap.at(now - t) for t in wrapping]
            if None in more:
                more = [
                    wrap.at(now - t) if r is None else r
                    for r, t in zip(more, wrapping, strict=True)
                ]
            rows += more
        return rows  # type: ignore[return-value]  # no None left in either

    def _demand(self, now: float, ring: tuple[float, ...], call_rows: list[R]) -> list[R]:
        """A row of chances (answered by each point) per ringing call."""
        try:
            return [call_rows[int(now - t)] for t in ring]
        except IndexError:
            last = len(call_rows) - 1
            return [call_rows[min(max(int(now - t), 0), last)] for t in ring]

    def settle(self, now: float) -> None:
        """Learn from every outcome fed so far of a call dialed long enough before `now` (what
        the next decision would do first): after replaying stored outcomes on a restart."""
        self._release(now)

    def _release(self, now: float) -> None:
        """Outcomes of calls dialed at least `_resolve_s` ago go into the contact rate."""
        pending = self._pending
        edge = now - self._resolve_s
        if not pending or pending[0][0] > edge:
            return
        n = answered = 0
        while pending and pending[0][0] <= edge:
            answered += heapq.heappop(pending)[2]
            n += 1
        self.contact.add_batch(answered, n, now)

    def _count_dialing_time(self, now: float) -> None:
        """Dialing time for the answer rate: the time between decisions, gaps left out."""
        dt = now - self._last_decide
        if 0.0 < dt <= _RATE_GAP_S:
            decay = math.exp(-dt / _RATE_TAU_S)
            self._answers *= decay
            self._active_s = self._active_s * decay + dt
        if dt > 0.0:
            self._last_decide = now

    def _phase_at(self, now: float) -> str:
        """The pacing phase at `now`; works the aim out again when it is due."""
        s = self.settings
        ledger = self.ledger
        # Windows move by the minute, and with every answer recorded. A connected answer cannot
        # bring the cap nearer: "at the cap" is worked out again when the minute changes, after
        # an abandonment, or while at the cap; the rates after every answer.
        key = (ledger, int(now // 60.0), ledger.abandoned_recorded)
        recorded = ledger.recorded
        if key != self._totals_key or (recorded != self._totals_recorded and self._at_cap):
            self._totals_key = key
            cap_due = True
        else:
            cap_due = False
        if cap_due or recorded != self._totals_recorded:
            self._totals_recorded = recorded
            self._totals = totals = ledger.window_totals(now)
            n = len(s.windows_s)
            rates = [ab / ans if ans else 0.0 for ans, ab in totals[:n]]
            self._rates = (
                rates[0] if rates else 0.0,
                rates[1] if len(rates) > 1 else 0.0,
                ledger.life.rate,
            )
        if cap_due:
            totals = self._totals
            # At the cap: one more abandonment would break it, now or in a few minutes even if
            # no answer came meanwhile (the window's oldest answers leave: its rate creeps up).
            soon = ledger.ahead_totals(now, (CAP_AHEAD_S,))
            # the burst window is braked for, never capped
            kept = [
                (now_t, soon_t)
                for now_t, (soon_t,), span in zip(totals, soon, ledger.windows_s, strict=True)
                if not self._is_burst(span)
            ]
            self._at_cap = breaks_cap(
                [n for n, _ in kept],
                [x for _, x in kept],
                s.cap,
                s.cap_margin,
                s.brake_min_answered,
            )
        if self.contact.count == 0 or self.answer_time.count < s.warmup_answers:
            return "warm-up"
        if self.talk_time.count < max(s.warmup_works, 1.5 * self._agents_seen):
            # The first calls to finish are the short ones: wait until most agents have
            # finished one or two, or the talk-time estimate is biased low and over-dials.
            return "warm-up"
        if self._at_cap:
            return "capped"
        if self._aim_dirty or now - self._aim_at >= _AIM_EVERY_S:
            self.aim = self._work_out_aim(now)
            self._aim_at = now
            self._aim_dirty = False
        return "braking" if self.aim < s.target else "predictive"

    def _is_burst(self, span: float) -> bool:
        s = self.settings
        return span == s.burst_s and span not in s.windows_s

    def _work_out_aim(self, now: float) -> float:
        """The abandonment rate to aim for now: the target, or less if a window would otherwise
        come near the cap within the look-ahead."""
        s = self.settings
        if self._active_s < 60.0:
            return s.target  # no answer rate yet: nothing to look ahead with
        rate = self._answers / self._active_s
        z = s.brake_z
        aim = s.target
        horizons = s.brake_horizons_s
        ahead = self.ledger.ahead_totals(now, horizons)
        for per_window, span in zip(ahead, self.ledger.windows_s, strict=True):
            if self._is_burst(span):
                cap, floor = s.burst_cap, s.burst_min_answered
            else:
                cap, floor = s.cap, s.brake_min_answered
            for h, (ans, ab) in zip(horizons, per_window, strict=True):
                f = rate * h  # answers to come by now + h
                if f < 1.0 or h >= span:
                    continue
                # Room for abandonments, and the rate r with r.f + z.sqrt(r.f) <= room.
                # (less the abandonments that may come together beyond the first, as at the cap)
                spare = cap * max(ans + f, floor) - ab - (s.cap_margin - 1)
                if spare <= 0.0:
                    return 0.0
                y = 0.5 * (math.sqrt(z * z + 4.0 * spare) - z)
                aim = min(aim, y * y / f)
        return aim

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
        method: str = "",
    ) -> PacingEstimates:
        day, month, life = self._rates
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
            abandon_24h=day,
            abandon_30d=month,
            abandon_life=life,
            aim=self.aim if phase in ("predictive", "braking") else 0.0,
            method=method,
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
        # At least the usual ring timeout (the first few calls say little about the longest
        # ring), at most two minutes (one freak duration must not hold the contact rate back).
        self._resolve_s = min(max(nc.max() + 1.0, ans.max() + 1.0, _RESOLVE_S), 120.0)
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
        self._means = (ans.mean, self._talk_view.mean, self._wrap_view.mean)
        for g in (self._exact, self._normal):
            g.calls_by_p = {}
            g.call_key = -1
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
        # wrap-up quantiles, equal ones merged (a wrap-up of fixed length is one point)
        qs = [wrap.quantile((j + 0.5) / s.wrap_points) for j in range(s.wrap_points)]
        self._wrap_pts = tuple((w, qs.count(w) / len(qs)) for w in sorted(set(qs)))
        self._agent_pts = self._supply_pts
        self._exact.renew_agents(self._supply_pts)
        self._normal.renew_agents(self._supply_pts)
        self._means = (self._means[0], self._talk_view.mean, wrap.mean)
        self._new_works = 0
        self._agents_refreshed_at = now

    def _talk_chances(self, age: float, pts: tuple[float, ...]) -> tuple[float, ...]:
        """Chances that an agent talking for `age` seconds is free (talk and a wrap-up done)
        by each point: the rest of the talk, given its age, convolved with wrap-up quantiles."""
        done = self._talk_view.done_within
        wraps = self._wrap_pts
        return tuple(sum(f * done(age, x - w) for w, f in wraps) for x in pts)

    def _wrap_chances(self, age: float, pts: tuple[float, ...]) -> tuple[float, ...]:
        """Chances that an agent in wrap-up for `age` seconds is free by each point."""
        wrap = self._wrap_view
        return tuple(wrap.done_within(age, x) for x in pts)

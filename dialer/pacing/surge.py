"""The contact rate now, from the calls in flight, and the surge guard that bounds what they
could bring.

Rules:
- Finished outcomes alone tell a change of the contact rate late: a no-answer is known only at
  the ring timeout (25-30 s after the dial), so a pacer that waits for them learns a change half
  a minute after it, and one that does not is biased (answers come back first). Every call in
  flight already tells something: one that has rung `a` seconds without an answer is a contact
  with the chance `p S_A(a) / (p S_A(a) + (1 - p) S_N(a))` (`S_A`, `S_N`: the chances that an
  answer, a no-contact, takes longer than `a`). `censored_contact` is the maximum-likelihood
  contact rate of the calls dialed in the last minute: answered ones (`log p`), ended without a
  person (busy, rejected, rung out: `log(1 - p)`) and still ringing
  (`log(p S_A(a) + (1 - p) S_N(a))`, a censored observation, as in survival analysis). Answers
  arrive at once and push it up within seconds of a rise; calls that ring on without one pull
  it down within seconds of a fall.
- A level shift: that estimate is `shift_z` standard errors away from the slower one the pacer
  keeps (dialer.pacing.estimators.ContactRate). Up: the pacer paces with the estimate now (a
  rise is what abandons). Down: with the estimate plus two standard errors (a fall only costs
  agents' time).
- The surge guard: while the contact rate is low the pacer dials many lines per agent, all
  likely answers if the rate comes back. So whatever the estimate says, the answers the calls
  in flight and the new ones would bring by the longest usual answer time, were the contact rate
  back at its recent high (the highest slow estimate of the last `memory_s` seconds), must not
  outnumber the agents free by then by more than `excess` of the team. A surge then abandons a
  bounded number of calls; as soon as answers rise the estimate follows and lines per agent come
  down (and calls that rang long are taken back, see dialer.pacing.predictive).
Pure: times come in as arguments.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

PRIOR_HALF = 0.5  # half an answer and half a no-answer: an estimate exists with no answer yet


def censored_contact(
    answered: float, not_answered: float, ringing: Sequence[tuple[int, float, float]]
) -> tuple[float, float]:
    """The contact rate that best explains `answered` calls, `not_answered` ones and the calls
    still ringing, as `(count, S_A, S_N)` per ring age, and its standard error. The
    log-likelihood is concave in the rate, so its slope is found by bisection."""
    n1 = answered + PRIOR_HALF
    n0 = not_answered + PRIOR_HALF

    def slope(p: float) -> float:
        g = n1 / p - n0 / (1.0 - p)
        for c, sa, sn in ringing:
            g += c * (sa - sn) / (p * sa + (1.0 - p) * sn)
        return g

    lo, hi = 1e-4, 1.0 - 1e-4
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if slope(mid) > 0.0:
            lo = mid
        else:
            hi = mid
    p = 0.5 * (lo + hi)
    info = n1 / (p * p) + n0 / ((1.0 - p) * (1.0 - p))
    for c, sa, sn in ringing:
        d = p * sa + (1.0 - p) * sn
        info += c * (sa - sn) * (sa - sn) / (d * d)
    return p, 1.0 / math.sqrt(info)


class ContactNow:
    """The outcomes of the calls dialed lately (when each was dialed, whether a person answered),
    for `censored_contact` with the calls still ringing."""

    __slots__ = ("_recent", "min_calls", "wide_s", "window_s")

    def __init__(self, window_s: float = 60.0, wide_s: float = 240.0, min_calls: int = 40) -> None:
        if not 0.0 < window_s <= wide_s:
            raise ValueError("need 0 < window_s <= wide_s")
        self.window_s = window_s
        self.wide_s = wide_s  # the window widens to this for a team that dials few calls
        self.min_calls = min_calls
        self._recent: deque[tuple[float, bool]] = deque()

    def add(self, originated_at: float, answered: bool) -> None:
        self._recent.append((originated_at, answered))

    def counts(self, now: float, ringing: int) -> tuple[int, int]:
        """(answered, not answered) among the finished calls dialed in the window: the last
        `window_s` seconds, or `wide_s` when that holds fewer than `min_calls` calls with those
        still ringing."""
        recent = self._recent
        # Outcomes come in within a ring time or two of the dial: older ones can go.
        edge = now - self.wide_s - 120.0
        while recent and recent[0][0] < edge:
            recent.popleft()
        for span in (self.window_s, self.wide_s):
            start = now - span
            ones = zeros = 0
            for at, answered in recent:
                if at >= start:
                    if answered:
                        ones += 1
                    else:
                        zeros += 1
            if ones + zeros + ringing >= self.min_calls:
                break
        return ones, zeros


class RecentHigh:
    """The highest of a value over the last `memory_s` seconds, kept per minute."""

    __slots__ = ("_minutes", "memory_s")

    def __init__(self, memory_s: float) -> None:
        self.memory_s = memory_s
        self._minutes: deque[tuple[int, float]] = deque()

    def add(self, now: float, value: float) -> None:
        m = int(now // 60.0)
        q = self._minutes
        if q and q[-1][0] == m:
            if value > q[-1][1]:
                q[-1] = (m, value)
        else:
            q.append((m, value))
        oldest = int((now - self.memory_s) // 60.0)
        while q and q[0][0] < oldest:
            q.popleft()

    def value(self, default: float) -> float:
        return max((v for _, v in self._minutes), default=default)


def surge_room(expected_hi: float, per_call_hi: float, agents_free: float, allowance: float) -> int:
    """New calls the surge guard allows: while the answers expected at the recent high
    contact rate (`expected_hi` from the calls in flight, `per_call_hi` per new call) stay within
    the agents free by then plus `allowance`."""
    spare = agents_free + allowance - expected_hi
    if spare <= 0.0:
        return 0
    if per_call_hi <= 0.0:
        return 1 << 30
    return int(spare / per_call_hi)

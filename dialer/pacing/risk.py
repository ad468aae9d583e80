"""The chance that a new call, if a person answers it, finds no agent: the look-ahead's arithmetic.

For one answer time `A` of a new call (one quadrature point `b`), the call finds an agent when
`base + S - D > 0`, where `base` is ready agents less answered calls already waiting, `S` counts
busy agents free by `A + grace` (one yes/no chance each) and `D` counts calls answered before it
(ringing calls, one chance each, and the other new calls of the decision, `pi[b]` each). The chance
for the k-th new call is the mean over the points of `P(base + S - D <= 0)`.

Two ways to compute it, both pure and allocation-light:
- `search_exact`: the distribution of `S - D` by convolution (a Poisson-binomial), exact. Used
  when few chances are uncertain (small teams), where a normal approximation is poor: `S` is then
  a handful of lumpy terms (an agent whose wrap-up surely ends in time, four who are unlikely to
  finish talking), and its tail is nothing like a bell curve.
- `search_normal`: `S - D` as normal (mean and variance, continuity correction). Used for large
  teams, where it is accurate and where the exact convolution would cost too much.
Both return the most new calls (up to `n_room`) whose last one's chance stays under the threshold,
and that chance (or the first call's, if none may go).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

EPS = 1e-9  # chances this close to 0 or 1 are taken as certain


def search_normal(
    mu: Sequence[float],
    var: Sequence[float],
    pi: Sequence[float],
    pi_var: Sequence[float],
    threshold: float,
    n_room: int,
) -> tuple[int, float]:
    """`mu[b]`, `var[b]`: mean and variance of `base + S - D` at point `b` before any new call."""
    m = len(mu)
    erfc = math.erfc
    sqrt = math.sqrt
    inv = 0.5 / m
    rng = range(m)

    def chance(k: int) -> float:
        j = k - 1
        t = 0.0
        for b in rng:
            v = var[b] + j * pi_var[b]
            t += erfc((mu[b] - j * pi[b] - 0.5) / sqrt(2.0 * v + 1e-12))
        return t * inv

    return _search(chance, threshold, n_room)


def search_exact(
    supply: Sequence[Sequence[float]],
    demand: Sequence[Sequence[float]],
    base: int,
    pi: Sequence[float],
    threshold: float,
    n_room: int,
) -> tuple[int, float]:
    """`supply`: per busy agent, its chance to be free in time at each point; `demand`: per ringing
    call, its chance to be answered before each point. Rows may be longer than `pi` (extra
    columns are ignored)."""
    m = len(pi)
    # The chance for the k-th call needs P(S - D <= i - base) for i < k only; the search never
    # goes past n_room, so values of S - D from `lump` up are kept together in one last cell.
    lump = max(n_room, 1) - base
    cdfs: list[list[float]] = []
    los: list[int] = []
    for b in range(m):
        pmf = [1.0]
        lo = 0
        for row in demand:  # D first: its down-shifts never meet the lumped top cell
            q = row[b]
            if q <= EPS:
                continue
            if q >= 1.0 - EPS:
                lo -= 1
                continue
            r = 1.0 - q
            prev = 0.0
            out = []
            for x in pmf:
                out.append(prev * r + x * q)  # index i of out: value lo - 1 + i
                prev = x
            out.append(prev * r)
            pmf = out
            lo -= 1
        for row in supply:
            q = row[b]
            if q <= EPS:
                continue
            if q >= 1.0 - EPS:
                lo += 1
                continue
            cut = lump - lo  # index of the value `lump`: that cell holds everything from it up
            if cut < 1:
                pmf = [sum(pmf)]  # all of it at or above `lump`
            elif len(pmf) > cut + 1:
                pmf = [*pmf[:cut], sum(pmf[cut:])]
            r = 1.0 - q
            prev = 0.0
            out = []
            for x in pmf:
                out.append(x * r + prev * q)
                prev = x
            out.append(prev * q)
            pmf = out
        acc = 0.0
        cdf = []
        for x in pmf:
            acc += x
            cdf.append(acc)
        cdfs.append(cdf)
        los.append(lo)
    inv = 1.0 / m

    def chance(k: int) -> float:
        j = k - 1  # other new calls: D gains Binomial(j, pi[b]) at point b
        t = 0.0
        for b in range(m):
            cdf = cdfs[b]
            n = len(cdf)
            off = -base - los[b]  # P(S - D <= i - base) is cdf[i + off] (0 below, 1 above)
            s = 0.0
            for i, w in enumerate(_binomial(j, pi[b])):
                x = i + off
                if x >= 0:
                    s += w * (cdf[x] if x < n else 1.0)
            t += s
        return t * inv

    return _search(chance, threshold, n_room)


def _binomial(n: int, p: float) -> list[float]:
    """The probabilities of 0..n successes in n trials of chance p (0 < p < 1)."""
    q = 1.0 - p
    if n * math.log(q) > -700.0:
        w = q**n
        ratio = p / q
        out = [w]
        for i in range(n):
            w = w * ratio * (n - i) / (i + 1)
            out.append(w)
        return out
    # q**n would underflow: log-space (only with a contact rate near 1 and hundreds of calls)
    lg = math.lgamma
    lp, lq = math.log(p), math.log(q)
    c = lg(n + 1)
    return [math.exp(c - lg(i + 1) - lg(n - i + 1) + i * lp + (n - i) * lq) for i in range(n + 1)]


def _search(chance: Callable[[int], float], threshold: float, n_room: int) -> tuple[int, float]:
    """Chances grow with k: find the last k <= n_room with chance(k) <= threshold (doubling,
    then bisection), and its chance (the first call's when none may go)."""
    first = chance(1)
    if first > threshold or n_room <= 0:
        return 0, first
    lo, lo_chance = 1, first  # lo may go
    hi = 2
    while hi <= n_room:
        c = chance(hi)
        if c > threshold:
            break
        lo, lo_chance = hi, c
        hi *= 2
    hi = min(hi, n_room + 1)  # hi may not go (or is out of room)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        c = chance(mid)
        if c <= threshold:
            lo, lo_chance = mid, c
        else:
            hi = mid
    return lo, lo_chance

"""Figures of a simulation run: the summary (printed and JSON) and the plot over the day.

Definitions:
- utilisation: share of logged-in agent time spent talking or in wrap-up;
- abandonment: abandoned / live answered, overall, per day (the 8-hour day window), in the worst
  24-hour window (sliding by the minute; with less than 24 hours simulated, the whole run), in
  the worst rolling hour (sliding by the minute within a day's dialing), in the first 30
  minutes of each day, and per clock hour of each day;
- the regulators' two readings: US-style (abandoned / live answered over 30 days: the worst
  rolling 30 days, the whole run when shorter) and UK-style (any 24 hours, with the estimate of
  people that detection took for machines, `dialer.rules.abandonment`);
- machines: answers detection classed as machines, counted apart from live answers;
- agent wait: time an agent is ready before each call reaches them;
- talk minutes per agent-hour; calls dialed (and connected) per hour of the campaign;
- lines per agent: calls ringing or waiting for an agent, per logged-in agent, averaged over time;
- calls per second: the most originates in any sliding second (what a trunk's provider counts).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dialer.pacing.base import PacingDecision
from dialer.pacing.callrate import max_in_any_window
from dialer.rules.abandonment import DEFAULT_AMD_FALSE_POSITIVE_RATE
from dialer.sim.engine import DAY_S, RawResult


def _rate(ab: int, ans: int) -> float:
    return ab / ans if ans else 0.0


def _quantile(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def worst_window(answered: list[int], abandoned: list[int], minutes: int) -> tuple[float, int]:
    """The highest abandonment over any complete window of `minutes` (or the whole run if it is
    shorter), and the minute the worst window ends."""
    n = len(answered)
    if n <= minutes:
        return _rate(sum(abandoned), sum(answered)), n
    ans = sum(answered[:minutes])
    ab = sum(abandoned[:minutes])
    best, end = _rate(ab, ans), minutes
    for e in range(minutes, n):
        ans += answered[e] - answered[e - minutes]
        ab += abandoned[e] - abandoned[e - minutes]
        r = _rate(ab, ans)
        if r > best:
            best, end = r, e + 1
    return best, end


def worst_window_in_days(
    answered: list[int], abandoned: list[int], minutes: int, days: int, day_minutes: int
) -> tuple[float, int]:
    """As `worst_window`, over the windows that lie within a day's dialing (the first
    `day_minutes` of each day): a window that is mostly night would be a few minutes' rate."""
    day_min = int(DAY_S // 60)
    best, end = 0.0, 0
    for d in range(days):
        lo = d * day_min
        r, e = worst_window(
            answered[lo : lo + day_minutes], abandoned[lo : lo + day_minutes], minutes
        )
        if r > best:
            best, end = r, lo + e
    return best, end


def worst_uk_window(
    answered: list[int],
    abandoned: list[int],
    machines: list[int],
    minutes: int,
    false_positive: float = DEFAULT_AMD_FALSE_POSITIVE_RATE,
) -> float:
    """The UK-style rate's worst window: (abandoned + estimate) / (answered + estimate), the
    estimate being the machine verdicts times the detection's false-positive rate."""
    n = len(answered)
    span = min(minutes, n)
    ans = sum(answered[:span])
    ab = sum(abandoned[:span])
    ma = sum(machines[:span])

    def uk(ans: int, ab: int, ma: int) -> float:
        est = ma * false_positive
        return (ab + est) / (ans + est) if ans + est > 0 else 0.0

    best = uk(ans, ab, ma)
    for e in range(span, n):
        ans += answered[e] - answered[e - span]
        ab += abandoned[e] - abandoned[e - span]
        ma += machines[e] - machines[e - span]
        best = max(best, uk(ans, ab, ma))
    return best


def first_minutes(raw: RawResult, minutes: int = 30) -> dict[str, float]:
    """Abandonment (worst day, and all days together) and utilisation over the first
    `minutes` of each day: the estimates start from yesterday's, the team from nothing."""
    tr = raw.trace
    day_min = int(DAY_S // 60)
    worst = 0.0
    ans_all = ab_all = 0
    busy = logged = 0.0
    per_bin = max(1, round(minutes * 60.0 / tr.bin_s))
    for d in range(raw.scenario.days):
        lo = d * day_min
        ans = sum(tr.minute_answered[lo : lo + minutes])
        ab = sum(tr.minute_abandoned[lo : lo + minutes])
        ans_all += ans
        ab_all += ab
        if ans:
            worst = max(worst, ab / ans)
        b0 = int(d * DAY_S // tr.bin_s)
        busy += sum(tr.busy[b0 : b0 + per_bin])
        logged += sum(tr.logged[b0 : b0 + per_bin])
    return {
        "abandonment_worst_day": round(worst, 5),
        "abandonment": round(_rate(ab_all, ans_all), 5),
        "utilisation": round(busy / logged, 5) if logged else 0.0,
    }


def summarize(raw: RawResult) -> dict[str, Any]:
    sc = raw.scenario
    tr = raw.trace
    day_min = int(DAY_S // 60)
    hours_per_day = math.ceil(sc.day_hours)
    hourly: list[list[float | None]] = []
    worst_hour = 0.0
    for d in range(sc.days):
        row: list[float | None] = []
        for h in range(hours_per_day):
            lo = d * day_min + h * 60
            ans = sum(tr.minute_answered[lo : lo + 60])
            ab = sum(tr.minute_abandoned[lo : lo + 60])
            r = _rate(ab, ans) if ans else None
            row.append(None if r is None else round(r, 5))
            if r is not None and r > worst_hour:
                worst_hour = r
        hourly.append(row)
    w24, w24_end = worst_window(tr.minute_answered, tr.minute_abandoned, day_min)
    max_second, max_second_at = max_in_any_window(raw.dial_times, 1.0)
    w1h, w1h_end = worst_window_in_days(
        tr.minute_answered, tr.minute_abandoned, 60, sc.days, math.ceil(sc.day_hours * 60)
    )
    us30, _ = worst_window(tr.minute_answered, tr.minute_abandoned, 30 * day_min)
    machines = tr.minute_machines or [0] * len(tr.minute_answered)
    uk24 = worst_uk_window(tr.minute_answered, tr.minute_abandoned, machines, day_min)
    days = [_rate(ab, ans) for ab, ans in zip(raw.day_abandoned, raw.day_answered, strict=True)]
    agent_hours = raw.logged_s / 3600.0
    campaign_hours = sc.days * sc.day_hours
    return {
        "scenario": sc.name,
        "pacer": raw.pacer,
        "mode": sc.mode,
        "agents": sc.agents,
        "days": sc.days,
        "day_hours": sc.day_hours,
        "seed": sc.seed,
        "utilisation": round(raw.busy_s / raw.logged_s, 5) if raw.logged_s else 0.0,
        "abandonment": {
            "overall": round(_rate(raw.abandoned, raw.answered), 5),
            "worst_24h": round(w24, 5),
            "worst_24h_ends_at_h": round(w24_end / 60.0, 2),
            "worst_day": round(max(days), 5) if days else 0.0,
            "per_day": [round(r, 5) for r in days],
            "worst_hour": round(worst_hour, 5),  # of the clock hours
            "worst_rolling_hour": round(w1h, 5),
            "worst_rolling_hour_ends_at_h": round(w1h_end / 60.0, 2),
            "us_30d": round(us30, 5),
            "uk_24h": round(uk24, 5),
            "first_30min": first_minutes(raw, 30),
            "hourly": hourly,
        },
        "answered": raw.answered,
        "abandoned": raw.abandoned,
        "connected": raw.connected,
        "machines": raw.machines,
        "dialed": raw.dialed,
        "cancelled": raw.cancelled,
        # the most originates in any sliding second [s, s + 1), and when that second started
        "max_calls_any_second": max_second,
        "max_calls_second_at_h": round(max_second_at / 3600.0, 4),
        "agent_wait_s": {
            "mean": round(sum(raw.waits) / len(raw.waits), 2) if raw.waits else 0.0,
            "median": round(_quantile(raw.waits, 0.5), 2),
            "p90": round(_quantile(raw.waits, 0.9), 2),
        },
        "talk_min_per_agent_hour": round(raw.talk_s / 60.0 / agent_hours, 2)
        if agent_hours
        else 0.0,
        "calls_per_hour": round(raw.dialed / campaign_hours, 1),
        "connects_per_hour": round(raw.connected / campaign_hours, 1),
        "lines_per_agent": round(raw.in_flight_area / raw.logged_s, 3) if raw.logged_s else 0.0,
        "decisions": raw.decisions,
        "decision_us_mean": round(raw.decide_s / raw.decisions * 1e6, 1) if raw.decisions else 0.0,
        "decision_us_p99": round(_quantile(raw.decide_times, 0.99) * 1e6, 1),
        "decision_us_max": round(raw.decide_max_s * 1e6, 1),
        "phases": dict(sorted(raw.phases.items())),
        "last_dial": _decision_dict(raw.last_decision),
        "wall_s": round(raw.wall_s, 3),
        "speed_x": round(campaign_hours * 3600.0 / raw.wall_s) if raw.wall_s > 0 else None,
    }


def _decision_dict(d: PacingDecision | None) -> dict[str, Any] | None:
    if d is None:
        return None
    out: dict[str, Any] = {"dial": d.dial, "level": round(d.level, 3), "reason": d.reason}
    if d.estimates is not None:
        out["estimates"] = {
            k: (round(v, 5) if isinstance(v, float) else v)
            for k, v in d.estimates._asdict().items()
        }
    return out


def format_summary(s: dict[str, Any]) -> str:
    ab = s["abandonment"]
    w = s["agent_wait_s"]
    lines = [
        f"scenario {s['scenario']}: {s['mode']} ({s['pacer']}), {s['agents']} agents, "
        f"{s['days']} day(s) of {s['day_hours']:g} h, seed {s['seed']}",
        f"  utilisation            {s['utilisation']:.1%}",
        f"  abandonment            {ab['overall']:.2%} overall, worst 24 h {ab['worst_24h']:.2%}, "
        f"worst day {ab['worst_day']:.2%}, worst hour {ab['worst_hour']:.2%}",
        f"  worst rolling hour     {ab['worst_rolling_hour']:.2%}; first 30 min of a day "
        f"{ab['first_30min']['abandonment']:.2%} (worst day "
        f"{ab['first_30min']['abandonment_worst_day']:.2%}), utilisation "
        f"{ab['first_30min']['utilisation']:.1%}",
        f"  regulators' readings   US 30 days {ab['us_30d']:.2%}, UK any 24 h {ab['uk_24h']:.2%}"
        + (f" ({s['machines']} machines)" if s["machines"] else ""),
        f"  answered / abandoned   {s['answered']} / {s['abandoned']} ({s['dialed']} dialed"
        + (f", {s['cancelled']} hung up while ringing)" if s["cancelled"] else ")"),
        f"  agent wait             {w['mean']:.1f} s mean, {w['median']:.1f} s median, "
        f"{w['p90']:.1f} s p90",
        f"  talk                   {s['talk_min_per_agent_hour']:.1f} min per agent-hour",
        f"  calls                  {s['calls_per_hour']:.0f} dialed, "
        f"{s['connects_per_hour']:.0f} connected per hour",
        f"  lines per agent        {s['lines_per_agent']:.2f}",
        f"  calls per second       {s['max_calls_any_second']} at most in any sliding second",
        f"  pacing                 {s['decisions']} decisions, "
        f"{s['decision_us_mean']:.0f} us mean, {s['decision_us_p99']:.0f} us p99, "
        f"{s['decision_us_max']:.0f} us max (CPU)",
        f"  run                    {s['wall_s']:.2f} s wall, {s['speed_x']}x real time",
    ]
    if s["phases"]:
        ph = ", ".join(f"{k} {v}" for k, v in s["phases"].items())
        lines.append(f"  phases (decisions)     {ph}")
    if s["last_dial"] is not None:
        lines.append(f"  last decision to dial  {s['last_dial']['reason']}")
    return "\n".join(lines)


def plot(raw: RawResult, path: Path) -> None:
    """Utilisation and abandonment over time, to a PNG. Needs matplotlib (the `plot` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("plotting needs matplotlib: pip install 'dialer[plot]'") from e
    tr = raw.trace
    sc = raw.scenario
    hours: list[float] = []
    util: list[float] = []
    aband: list[float] = []
    prev = -2
    for i, logged in enumerate(tr.logged):
        if logged <= 0:
            continue
        if i != prev + 1 and hours:  # a night: break the lines instead of drawing across it
            hours.append(math.nan)
            util.append(math.nan)
            aband.append(math.nan)
        prev = i
        hours.append((i + 0.5) * tr.bin_s / 3600.0)
        util.append(100.0 * tr.busy[i] / logged)
        # the last hour's abandonment, ending at this bin
        k = max(1, round(3600.0 / tr.bin_s))
        ans = sum(tr.answered[max(0, i - k + 1) : i + 1])
        ab = sum(tr.abandoned[max(0, i - k + 1) : i + 1])
        aband.append(100.0 * ab / ans if ans else 0.0)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ax1.plot(hours, util, drawstyle="steps-mid")
    ax1.set_ylabel("utilisation %")
    ax1.set_ylim(0, 100)
    ax1.set_title(f"{sc.name}: {sc.mode}, {sc.agents} agents")
    ax2.plot(hours, aband, color="tab:red", drawstyle="steps-mid", label="last hour")
    ax2.axhline(100.0 * sc.cap, color="black", linestyle="--", linewidth=0.8, label="cap")
    ax2.set_ylabel("abandonment %")
    ax2.set_xlabel("hours since start")
    ax2.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

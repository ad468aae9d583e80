"""A campaign's live statistics, from the engine's state and the stored attempts. Pure.

- answered = connected + abandoned (a person picked up); abandonment rate = abandoned /
  answered, the figure the regulators cap (per window: the caller picks the window).
- contact rate = answered / finished attempts, cancelled attempts left out (the dialer gave
  those up itself; they say nothing about the list).
- "live" figures are the daemon's own since it started, but for `abandonment` (the rolling
  windows and life count that pacing and /metrics use), which starts from the CDRs when the
  daemon starts the campaign; "window" and "total" come from the CDRs in Postgres and so
  include other daemons and earlier runs.
- "compliance": both regulators' rates from the CDRs (`dialer.rules.abandonment`): the US
  rate over the campaign's life and the last 30 days, the UK rate (with the estimate of people
  that answering-machine detection took for machines) over the last 24 hours and its worst
  24 hours.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from dialer.core.campaign import CampaignRun
from dialer.domain.results import CallResult
from dialer.publish.messages import window_name
from dialer.rules.abandonment import DAY_MINUTES, MONTH_MINUTES, AbandonFigures, AbandonmentReport
from dialer.store.abandonment import minute_start
from dialer.store.summary import CampaignSummary


def figures(summary: CampaignSummary) -> dict[str, Any]:
    by_result = {r.value: n for r, n in summary.by_result.items()}
    finished = sum(n for r, n in summary.by_result.items() if r is not CallResult.CANCELLED)
    return {
        "attempts": summary.attempts,
        "in_progress": summary.in_progress,
        "by_result": by_result,
        "answered": summary.answered,
        "connected": summary.connected,
        "abandoned": summary.abandoned,
        "abandonment_rate": summary.abandonment_rate,
        "contact_rate": summary.answered / finished if finished else None,
        "latency_p50_ms": summary.latency.p50_ms,
        "latency_p99_ms": summary.latency.p99_ms,
    }


def live(
    run: CampaignRun | None, dial_level: float | None, now: float | None = None
) -> dict[str, Any]:
    """The engine's figures for the campaign; `now` is the loop's clock (asyncio's default
    clock, `time.monotonic`, when not given) for the abandonment windows."""
    if run is None:
        return {
            "loaded": False,
            "paused": False,
            "calls_in_flight": 0,
            "calls_by_state": {},
            "waiting_for_agent": 0,
            "dialed": 0,
            "answered": 0,
            "results": {},
            "agents_by_state": {},
            "dial_level": dial_level,
            "pacing": "",
            "leads_buffered": 0,
        }
    return {
        "loaded": True,
        "paused": run.paused,
        "calls_in_flight": len(run.calls),
        "calls_by_state": dict(Counter(c.state.value for c in run.calls.values())),
        "waiting_for_agent": len(run.waiting),
        "dialed": run.dialed,
        "answered": run.answered,
        "results": dict(run.results),
        "agents_by_state": dict(run.agents_by_state()),
        "dial_level": dial_level,
        "pacing": run.last_reason,
        "leads_buffered": len(run.leads),
        "abandonment": {
            window_name(c.window_s): {
                "answered": c.answered,
                "abandoned": c.abandoned,
                "rate": c.rate,
            }
            for c in run.abandonment.counts(time.monotonic() if now is None else now)
        },
    }


def _window(
    f: AbandonFigures, fp_rate: float, start: int | None = None, end: int | None = None
) -> dict[str, Any]:
    return {
        "connected": f.connected,
        "abandoned": f.abandoned,
        "machines": f.machines,
        "us_rate": f.us_rate,
        "estimated_false_positives": f.estimated_false_positives(fp_rate),
        "uk_rate": f.uk_rate(fp_rate),
        "start": minute_start(start) if start is not None else None,
        "end": minute_start(end) if end is not None else None,
    }


def compliance(r: AbandonmentReport) -> dict[str, Any]:
    """The body of `StatsOut.compliance`."""
    fp = r.fp_rate
    end = r.now_minute + 1
    worst = r.worst_24h
    return {
        "amd_false_positive_rate": fp,
        "amd_false_positive_rate_is_default": r.fp_rate_is_default,
        "life": _window(r.life, fp, None, end),
        "last_30d": _window(r.last_30d, fp, end - MONTH_MINUTES, end),
        "last_24h": _window(r.last_24h, fp, end - DAY_MINUTES, end),
        "worst_24h": None
        if worst is None
        else _window(
            worst.figures, fp, worst.start_minute, worst.start_minute + worst.span_minutes
        ),
    }

"""A campaign's live statistics, from the engine's state and the stored attempts. Pure.

- answered = connected + abandoned (a person picked up); abandonment rate = abandoned /
  answered, the figure the regulators cap (per window: the caller picks the window).
- contact rate = answered / finished attempts, cancelled attempts left out (the dialer gave
  those up itself; they say nothing about the list).
- "live" figures are the daemon's own since it started; "window" and "total" come from the
  CDRs in Postgres and so include other daemons and earlier runs.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dialer.domain.results import CallResult
from dialer.engine.campaign import CampaignRun
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


def live(run: CampaignRun | None, dial_level: float | None) -> dict[str, Any]:
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
    }

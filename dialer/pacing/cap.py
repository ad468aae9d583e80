"""The abandonment cap, one rule for every pacer that can abandon.

- At the cap: one more abandonment (`cap_margin` more) would take a rolling window over `cap`,
  now or within `CAP_AHEAD_S` even if no answer came meanwhile (a window's oldest answers leave
  it, so its rate creeps up). A window with fewer than `min_answered` answers counts as having
  that many: the first minutes of a campaign do not stop it. A pacer at the cap dials one call
  per ready agent (progressive), which abandons only when an agent goes away while its call
  rings.
- Near it: a window's rate has reached the pacer's target. Predictive works out a lower aim
  (dialer.pacing.predictive); a fixed ratio (power) halves its lines beyond one per agent.

Pure, on an `AbandonLedger` of the campaign's live answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from dialer.pacing.ledger import AbandonLedger

CAP_AHEAD_S = 300.0  # "capped" also when the cap would be reached this soon with no new answer


def breaks_cap(
    now_totals: Sequence[tuple[int, int]],
    soon_totals: Sequence[tuple[int, int]],
    cap: float,
    cap_margin: int,
    min_answered: int,
) -> bool:
    """Whether `cap_margin` more abandonments would break `cap` in any window, now or soon:
    (answered, abandoned) per window, now and at `CAP_AHEAD_S` from now."""
    return any(
        (ab + cap_margin) / max(ans + cap_margin, min_answered) > cap
        for ans, ab in (*now_totals, *soon_totals)
    )


def cap_phase(
    ledger: AbandonLedger,
    now: float,
    *,
    cap: float,
    target: float,
    cap_margin: int = 1,
    min_answered: int = 300,
) -> str | None:
    """ "capped", "braking" (a window at or over `target`), or None."""
    totals = ledger.window_totals(now)
    soon = [t for (t,) in ledger.ahead_totals(now, (CAP_AHEAD_S,))]
    if breaks_cap(totals, soon, cap, cap_margin, min_answered):
        return "capped"
    if any(ans and ab / max(ans, min_answered) >= target for ans, ab in totals):
        return "braking"
    return None

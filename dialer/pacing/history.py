"""A campaign's stored history, put back into its abandonment ledgers and its pacer after a
restart, so the rolling windows, the life figure and the pacer's estimates go on where they were.

Rules:
- The history is read from the CDRs in one aggregated query (per-minute counts of live answers
  and abandonments over the longest window, and the campaign's life totals) plus the last few
  hundred finished attempts for the estimates (see dialer/store/history.py). Times are wall-clock
  seconds (epoch); `shift_to` moves them onto the daemon's loop clock, `at = now - age`.
- A live answer counts as abandoned as in the ledger: no agent, or an agent later than the grace.
- Windows: each stored minute goes in at its middle, so a window is exact to the minute.
- Estimates: the recent outcomes are fed to the pacer's own `observe_call` / `observe_work` in
  the order they happened, as if they had just been seen; a pacer that learns nothing (progressive,
  preview, power) ignores them. A pacer with its own ledger (predictive) then gets that ledger
  rebuilt from the minute counts, so the replayed calls are not counted twice.
Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialer.pacing.base import AgentWork, CallOutcome, Pacer
from dialer.pacing.ledger import AbandonLedger
from dialer.pacing.others import OthersTally
from dialer.pacing.predictive import PredictivePacer
from dialer.pacing.ratio import PowerPacer

MINUTE_S = 60.0


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """One finished attempt, as the pacer would have seen it (wall-clock seconds)."""

    originated_at: float
    answered_at: float | None  # a person answered (connected or abandoned); None otherwise
    known_at: float  # when its outcome was known: connect, abandon, answer (machine) or hang-up
    abandoned: bool
    talk_s: float | None  # connected: from the agent's connect to the hang-up
    ended_at: float  # hang-up


@dataclass(frozen=True, slots=True)
class CampaignHistory:
    wall_now: float  # when it was read (epoch seconds)
    minutes: tuple[tuple[float, int, int], ...]  # (minute start, answered, abandoned), oldest first
    life_answered: int
    life_abandoned: int
    recent: tuple[StoredOutcome, ...]  # oldest first
    wrapup_s: float  # the campaign's wrap-up time (what the engine reports as agent work)
    # (minute start, calls answering-machine detection classed as machines), oldest first
    machine_minutes: tuple[tuple[float, int], ...] = ()
    # the predictive pacer's (threshold, abandonments learned from) as last saved; None: never
    calibration: tuple[float, int] | None = None
    # Other daemons' calls in these counts from `others_since` (a minute start) on,
    # (minute start, answered, abandoned, machines): what later reads of theirs start from
    # (dialer/pacing/others.py). None: not read (no daemon name given).
    others_since: float | None = None
    others: tuple[tuple[float, int, int, int], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.life_abandoned <= self.life_answered:
            raise ValueError("need 0 <= life_abandoned <= life_answered")

    @property
    def empty(self) -> bool:
        return self.life_answered == 0 and not self.recent

    def shift_to(self, now: float) -> float:
        """What to add to a wall time to get the loop time (`now` is the loop's now)."""
        return now - self.wall_now


def restore_ledger(ledger: AbandonLedger, history: CampaignHistory, now: float) -> None:
    """Put the stored minutes and life totals into `ledger` (loop clock `now`)."""
    shift = history.shift_to(now)
    ledger.restore(
        ((min(t + MINUTE_S / 2, history.wall_now) + shift, n, ab) for t, n, ab in history.minutes),
        history.life_answered,
        history.life_abandoned,
    )


def restore_pacer(pacer: Pacer, history: CampaignHistory, now: float) -> None:
    """Feed the recent outcomes to a fresh pacer, then rebuild its ledger if it has one."""
    shift = history.shift_to(now)
    events: list[tuple[float, int, CallOutcome | AgentWork]] = []
    for o in history.recent:
        events.append(
            (
                o.known_at,
                0,
                CallOutcome(
                    o.originated_at + shift,
                    o.answered_at + shift if o.answered_at is not None else None,
                    o.known_at + shift,
                    o.abandoned,
                ),
            )
        )
        if o.talk_s is not None:
            events.append((o.ended_at, 1, AgentWork(o.talk_s, history.wrapup_s)))
    events.sort(key=lambda e: (e[0], e[1]))
    for _, _, value in events:
        if isinstance(value, CallOutcome):
            pacer.observe_call(value)
        else:
            pacer.observe_work(value)
    if isinstance(pacer, PredictivePacer):
        if history.calibration is not None:
            pacer.restore_calibration(*history.calibration)
        pacer.settle(now)  # the replayed calls have all ended by now
    if isinstance(pacer, PredictivePacer | PowerPacer):
        ledger = AbandonLedger(pacer.ledger.windows_s)
        restore_ledger(ledger, history, now)
        pacer.ledger = ledger


def others_tally(history: CampaignHistory) -> OthersTally:
    """What the restored windows hold of other daemons' calls, for later reads to add what is
    new (dialer/pacing/others.py). A history read without them: from the next minute on."""
    if history.others_since is not None:
        return OthersTally(history.others_since, history.others)
    return OthersTally(-(-history.wall_now // MINUTE_S) * MINUTE_S)

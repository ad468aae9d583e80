"""Is a lead dialable now, and if not, why: every reason, and when each one ends.

`evaluate(facts, rules, now)` is the one function the lease path, the check right before the
originate and `dialer leads why` share. The facts are plain values the store gathered.

Reasons (each a `Blocker`; `until` is when it passes by itself, None if it never does):
- campaign not running / paused (until a supervisor acts);
- on a do-not-call list (one blocker per list entry that applies); a lead the lease found on a
  list is set aside (status ``blocked``) and, if its number has left every list since, waits
  for the store to give it back;
- done (no more calls), lifetime attempt cap reached;
- being dialed (leased to a daemon);
- next call not before T (the retry schedule, or a deferral to an opening calling window);
- 72-hour lock after an abandoned call to this number (any campaign), unless a callback to a
  named agent is scheduled: that agent is reserved for the call (the engine dials it only while
  the agent is ready, keeps the agent free for it and hands the answered call to that agent),
  so the lock does not hold for that callback;
- outside calling hours in the lead's zone(s) until the window opens; no common window at all;
- a cap per local day / rolling 24 h / local week / local month reached;
- a callback is scheduled for later.
A callback that is due overrides "done", the lifetime cap and the retry schedule (an agent or
supervisor asked for it), but never a do-not-call list, calling hours or the caps; it overrides
the 72-hour lock only when it names its agent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dialer.rules.caps import CapKind, cap_hits
from dialer.rules.dnc import DncHit
from dialer.rules.hours import closes_in_all, next_open_in_all, open_in_all
from dialer.rules.policy import CampaignRules, Preset
from dialer.rules.retry import ABANDON_LOCK
from dialer.rules.zones import ZoneChoice, choose_zones

DIALABLE_STATUSES = ("new", "retry")
BLOCKED_STATUS = "blocked"  # dialer.store.records.LeadStatus.BLOCKED


class Reason(enum.StrEnum):
    CAMPAIGN_NOT_RUNNING = "campaign_not_running"
    CAMPAIGN_PAUSED = "campaign_paused"
    DNC = "dnc"
    DONE = "done"
    ATTEMPT_CAP = "attempt_cap"
    BEING_DIALED = "being_dialed"
    RETRY_DUE = "retry_due"
    ABANDON_LOCK = "abandon_lock"
    OUTSIDE_HOURS = "outside_hours"
    NO_CALLING_WINDOW = "no_calling_window"
    CAP_PER_DAY = "cap_per_day"
    CAP_ROLLING_24H = "cap_rolling_24h"
    CAP_PER_WEEK = "cap_per_week"
    CAP_PER_MONTH = "cap_per_month"
    CALLBACK_LATER = "callback_later"
    BLOCKED = "blocked"  # set aside as on a do-not-call list, on none now: given back soon


_CAP_REASON = {
    CapKind.PER_DAY: Reason.CAP_PER_DAY,
    CapKind.ROLLING_24H: Reason.CAP_ROLLING_24H,
    CapKind.PER_WEEK: Reason.CAP_PER_WEEK,
    CapKind.PER_MONTH: Reason.CAP_PER_MONTH,
}
_CAP_TEXT = {
    CapKind.PER_DAY: "today (local day)",
    CapKind.ROLLING_24H: "in the last 24 hours",
    CapKind.PER_WEEK: "this week (local, Monday to Sunday)",
    CapKind.PER_MONTH: "this month (local)",
}


@dataclass(frozen=True, slots=True)
class Blocker:
    reason: Reason
    detail: str
    until: datetime | None = None  # UTC; None: does not pass with time alone


@dataclass(frozen=True, slots=True)
class CallbackFact:
    id: int
    due_at: datetime
    agent_id: int | None
    agent_name: str | None = None

    @property
    def for_whom(self) -> str:
        if self.agent_id is None:
            return "any agent"
        return f"agent {self.agent_name or self.agent_id}"

    @property
    def reserves_agent(self) -> bool:
        """A callback to a named agent: the engine keeps that agent for the call."""
        return self.agent_id is not None


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What the store knows about a lead, for `evaluate`."""

    lead_id: int
    campaign_id: int
    phone: str
    time_zone: str
    status: str = "new"  # dialer.store.records.LeadStatus value
    attempts: int = 0
    next_call_at: datetime | None = None
    leased_until: datetime | None = None
    lease_owner: str | None = None
    campaign_status: str = "running"
    max_attempts: int = 1
    dnc: tuple[DncHit, ...] = ()
    last_abandoned_at: datetime | None = None  # the latest abandoned call to this number
    recent_calls: tuple[datetime, ...] = ()  # this campaign's counted calls to this number
    callback: CallbackFact | None = None  # the pending callback, if any


@dataclass(frozen=True, slots=True)
class Verdict:
    at: datetime
    zones: ZoneChoice
    blockers: tuple[Blocker, ...]
    window_closes_at: datetime | None  # when the open calling window closes (if open)
    callback_due: CallbackFact | None  # a due callback makes this a callback call
    notes: tuple[str, ...] = ()

    @property
    def dialable(self) -> bool:
        return not self.blockers

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zones.primary)


def _hhmm(instant: datetime, zone: ZoneChoice) -> str:
    local = instant.astimezone(zone.primary)
    return local.strftime("%a %Y-%m-%d %H:%M %Z")


def evaluate(
    facts: LeadFacts, rules: CampaignRules, now: datetime, *, time_only: bool = False
) -> Verdict:
    """Every reason `facts`' lead may not be dialed at `now` under `rules`.

    `time_only`: leave out what the lease query's SQL has checked already (campaign status,
    lead status and lease, the lifetime cap, the retry schedule, callbacks); the facts' DNC
    entries, the 72-hour lock, calling hours and the caps are always evaluated. Its verdict's
    `window_closes_at` is None: the lease and the check before each originate only ask
    whether the lead is dialable, and the closing time is the costliest part to work out.
    """
    now = now.astimezone(UTC)
    zones = choose_zones(facts.time_zone, facts.phone, rules.default_zone)
    blockers: list[Blocker] = []
    notes: list[str] = []
    cb = facts.callback
    callback_due = cb if cb is not None and cb.due_at <= now else None

    if not time_only:
        if facts.campaign_status == "paused":
            blockers.append(Blocker(Reason.CAMPAIGN_PAUSED, "the campaign is paused"))
        elif facts.campaign_status != "running":
            blockers.append(
                Blocker(Reason.CAMPAIGN_NOT_RUNNING, f"the campaign is {facts.campaign_status}")
            )
        leased = (
            facts.status == "dialing"
            and facts.leased_until is not None
            and facts.leased_until > now
        )
        if leased:
            assert facts.leased_until is not None
            blockers.append(
                Blocker(
                    Reason.BEING_DIALED,
                    f"leased to {facts.lease_owner or 'a dialer'} until "
                    f"{facts.leased_until:%H:%M:%S} UTC (queued or on a call)",
                )
            )
        if facts.status == BLOCKED_STATUS and not facts.dnc:
            blockers.append(
                Blocker(
                    Reason.BLOCKED,
                    "set aside at a lease when its number was on a do-not-call list; no list "
                    "has it now, so the dialer gives it back at its next check (within "
                    "minutes)",
                )
            )
        if callback_due is None:
            # A pending callback lifts these when it comes due.
            lifted = "" if cb is None else " (until the callback)"
            lifted_at = None if cb is None else cb.due_at
            if facts.status == "done":
                blockers.append(Blocker(Reason.DONE, f"done: no more calls{lifted}", lifted_at))
            if facts.attempts >= facts.max_attempts:
                blockers.append(
                    Blocker(
                        Reason.ATTEMPT_CAP,
                        f"lifetime attempt cap reached ({facts.attempts} of {facts.max_attempts})"
                        + lifted,
                        lifted_at,
                    )
                )
            if cb is not None:
                blockers.append(
                    Blocker(
                        Reason.CALLBACK_LATER,
                        f"callback scheduled for {_hhmm(cb.due_at, zones)} ({cb.for_whom})",
                        cb.due_at,
                    )
                )
            elif (
                facts.status in DIALABLE_STATUSES
                and facts.next_call_at is not None
                and facts.next_call_at > now
            ):
                blockers.append(
                    Blocker(
                        Reason.RETRY_DUE,
                        f"next call not before {_hhmm(facts.next_call_at, zones)} (retry "
                        "schedule, or deferred to its calling window)",
                        facts.next_call_at,
                    )
                )
        elif callback_due.agent_id is not None:
            notes.append(f"callback due: dialed when {callback_due.for_whom} is ready")

    # Never skipped: the lease path passes no entries (its SQL filtered them), the check
    # right before the originate passes what it found.
    for entry in facts.dnc:
        blockers.append(
            Blocker(
                Reason.DNC,
                f"on do-not-call list {entry.list_name!r} ({entry.scope}, source {entry.source}, "
                f"since {entry.added_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)",
            )
        )
    if facts.last_abandoned_at is not None and facts.last_abandoned_at + ABANDON_LOCK > now:
        until = facts.last_abandoned_at + ABANDON_LOCK
        lock = (
            f"72-hour lock after an abandoned call at "
            f"{facts.last_abandoned_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, until "
            f"{_hhmm(until, zones)}"
        )
        if cb is not None and cb.reserves_agent:
            # "not dialed again within 72 hours unless an agent is reserved for it first"
            notes.append(
                f"{lock}: lifted for the callback, {cb.for_whom} is reserved for it (dialed only "
                "while that agent is ready, and connected to that agent)"
            )
        else:
            blockers.append(Blocker(Reason.ABANDON_LOCK, lock, until))

    infos = zones.infos
    closes = None
    if open_in_all(rules.hours, infos, now):
        if not time_only:
            closes = closes_in_all(rules.hours, infos, now)
    else:
        opens = next_open_in_all(rules.hours, infos, now)
        local = _hhmm(now, zones)
        if opens is None:
            blockers.append(
                Blocker(
                    Reason.NO_CALLING_WINDOW,
                    f"no calling window ({rules.preset} hours) opens in {zones.describe()}",
                )
            )
        else:
            holiday = (
                " (a holiday)"
                if now.astimezone(zones.primary).date() in rules.hours.holidays
                else ""
            )
            blockers.append(
                Blocker(
                    Reason.OUTSIDE_HOURS,
                    f"outside calling hours ({rules.preset}) in {zones.describe()}: local time "
                    f"{local}{holiday}; opens {_hhmm(opens, zones)}",
                    opens,
                )
            )

    for hit in cap_hits(rules.caps, facts.recent_calls, zones.primary, now):
        blockers.append(
            Blocker(
                _CAP_REASON[hit.kind],
                f"{hit.counted} call(s) {_CAP_TEXT[hit.kind]}, cap {hit.cap}; again from "
                f"{_hhmm(hit.until, zones)}",
                hit.until,
            )
        )
    if rules.preset is Preset.NONE and not time_only:
        notes.append("the campaign has no calling-hours policy (preset none)")
    return Verdict(now, zones, tuple(blockers), closes, callback_due, tuple(notes))


def dialable_at(
    facts: LeadFacts, rules: CampaignRules, now: datetime, *, time_only: bool = False
) -> datetime | None:
    """The first instant at or after `now` at which the lead is dialable, if nothing but the
    clock changes; None if a reason does not pass with time (a DNC list, done, ...)."""
    t = now.astimezone(UTC)
    limit = t + timedelta(days=400)
    for _ in range(100):
        verdict = evaluate(facts, rules, t, time_only=time_only)
        if verdict.dialable:
            return t
        untils = [b.until for b in verdict.blockers]
        if any(u is None for u in untils):
            return None
        t = max(u for u in untils if u is not None)
        if t > limit:
            return None
    return None

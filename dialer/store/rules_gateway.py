"""`RulesStore`: the engine's store (`PgEngineStore`) with the dialing rules applied, and the
engine's `DialGuard`.

- `lease`: the lease query already skips done leads, capped leads, numbers locked after an
  abandoned call and leads with an open callback, and sets aside leads whose number is on a
  do-not-call list (SQL, `leads.lease_leads`). What needs the lead's time zone is checked here,
  in the same transaction: calling hours and the caps per day / 24 h / week / month. A lead
  that may not be called now is given back at once with its next call time moved to when it
  may be (it waits until its window opens), so it is never handed to the engine. Every
  `UNLIST_CHECK_S` per campaign, set-aside leads whose number left every list are given back
  (`dnc.release_unlisted`; `dnc.remove_number` does it at once).
- `refuse_reason`: the check right before the originate (DNC, the 72-hour lock, calling
  hours), one indexed statement; any error refuses (fail closed). The lock does not hold for
  a callback to a named agent: that agent is reserved for the call.
- `lease_callbacks`: due callbacks, for anyone or for a ready named agent; a callback for
  anyone waits out the 72-hour lock, one for a named agent does not.
- Ends, releases and stops keep callbacks in step (`callbacks.finish_taken`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.domain.results import CallResult
from dialer.rules.policy import CampaignRules
from dialer.rules.verdict import CallbackFact, LeadFacts, dialable_at, evaluate
from dialer.store import callbacks as callback_repo
from dialer.store import dnc, rules_config
from dialer.store.cdrs import end_attempts
from dialer.store.engine import Database
from dialer.store.gateway import PgEngineStore, refused_as_store_error, utc_now
from dialer.store.leads import lease_leads, release_leads
from dialer.store.records import (
    AttemptEnd,
    EndedAttempt,
    LeadStatus,
    LeasedLead,
    Takeover,
)
from dialer.store.retry import DEFAULT_POLICY, RetryPolicy
from dialer.store.tables import callbacks, leads

logger = logging.getLogger(__name__)

CAP_LOOKBACK = timedelta(days=32)  # the longest cap is a calendar month
NO_WINDOW_RECHECK = timedelta(days=1)  # a lead with no window at all is looked at daily
RULES_TTL_S = 10.0  # a campaign's rules are re-read at most this often
UNLIST_CHECK_S = 300.0  # set-aside (blocked) leads are looked at again this often


_RECENT_CALLS = text(
    """
    SELECT l.phone, a.originated_at
    FROM leads l JOIN call_attempts a ON a.lead_id = l.id
    WHERE l.campaign_id = :campaign AND l.phone = ANY(CAST(:phones AS text[]))
      AND a.originated_at > CAST(:since AS timestamptz)
      AND (a.result IS NULL OR a.result NOT IN ('cancelled', 'failed'))
      AND NOT a.trunk_fault
    """
)

_DEFER = text(
    """
    UPDATE leads AS l SET
        status = CASE WHEN l.attempts = 0 THEN 'new' ELSE 'retry' END,
        lease_owner = NULL, lease_expires_at = NULL, next_call_at = v.at
    FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[])) AS v(id, at)
    WHERE l.id = v.id AND l.lease_owner = :owner AND l.status = 'dialing'
    """
)


async def recent_calls(
    session: AsyncSession, campaign_id: int, phones: Sequence[str], since: datetime
) -> dict[str, list[datetime]]:
    """The campaign's counted calls since `since` to each number (for the caps)."""
    out: dict[str, list[datetime]] = defaultdict(list)
    if phones:
        rows = await session.execute(
            _RECENT_CALLS, {"campaign": campaign_id, "phones": list(phones), "since": since}
        )
        for phone, at in rows:
            out[phone].append(at)
    return out


async def defer_leads(
    session: AsyncSession, owner: str, deferrals: Sequence[tuple[int, datetime]]
) -> None:
    """Give back leased leads with a new next call time each (when the rules allow the call)."""
    if deferrals:
        await session.execute(
            _DEFER,
            {"ids": [i for i, _ in deferrals], "ats": [at for _, at in deferrals], "owner": owner},
        )


class RulesStore(PgEngineStore):
    def __init__(
        self,
        db: Database,
        owner: str,
        lease_s: float,
        *,
        clock: Callable[[], datetime] = utc_now,
        policy: RetryPolicy = DEFAULT_POLICY,
        max_rounds: int = 4,
        callback_poll_s: float = 2.0,
        on_rules: Callable[[int, CampaignRules], None] | None = None,
    ) -> None:
        super().__init__(db, owner, lease_s, clock=clock, policy=policy)
        self.max_rounds = max_rounds
        self.callback_poll_s = callback_poll_s
        self._rules: dict[int, tuple[float, CampaignRules]] = {}
        # Told each campaign's rules when they are (re)read (the metrics' AMD estimate).
        self._on_rules = on_rules
        self._unlist_checked: dict[int, float] = {}

    def __repr__(self) -> str:
        return f"RulesStore({self.db.target!r}, owner={self.owner!r})"

    def _cached_rules(self, campaign_id: int) -> CampaignRules | None:
        cached = self._rules.get(campaign_id)
        if cached is not None and time.monotonic() - cached[0] < RULES_TTL_S:
            return cached[1]
        return None

    async def rules_for(self, session: AsyncSession, campaign_id: int) -> CampaignRules:
        cached = self._cached_rules(campaign_id)
        if cached is not None:
            return cached
        rules = await rules_config.get_rules(session, campaign_id)
        self._rules[campaign_id] = (time.monotonic(), rules)
        if self._on_rules is not None:
            try:
                self._on_rules(campaign_id, rules)
            except Exception:  # a listener's bug must not stop the lease
                logger.exception("rules listener failed", extra={"campaign": campaign_id})
        return rules

    async def _release_unlisted(self, session: AsyncSession, campaign_id: int) -> None:
        """Now and then, give back the campaign's set-aside leads whose number left every list
        without `dnc.remove_number` (a list dropped, rows deleted by hand)."""
        checked = self._unlist_checked.get(campaign_id)
        if checked is not None and time.monotonic() - checked < UNLIST_CHECK_S:
            return
        self._unlist_checked[campaign_id] = time.monotonic()
        released = await dnc.release_unlisted(session, campaign_id=campaign_id)
        if released:
            logger.info(
                "%d leads dialable again: their numbers left the do-not-call lists",
                released,
                extra={"campaign": campaign_id},
            )

    async def _screen(
        self,
        session: AsyncSession,
        rules: CampaignRules,
        campaign_id: int,
        candidates: Sequence[LeasedLead],
        now: datetime,
    ) -> tuple[list[LeasedLead], list[tuple[int, datetime]]]:
        """Split leased leads into those that may be called now and (id, when) for the others."""
        history: dict[str, list[datetime]] = {}
        if rules.caps.items():
            history = await recent_calls(
                session, campaign_id, [c.phone for c in candidates], now - CAP_LOOKBACK
            )
        keep: list[LeasedLead] = []
        later: list[tuple[int, datetime]] = []
        for lead in candidates:
            facts = LeadFacts(
                lead.id,
                campaign_id,
                lead.phone,
                lead.time_zone,
                recent_calls=tuple(history.get(lead.phone, ())),
            )
            if evaluate(facts, rules, now, time_only=True).dialable:
                keep.append(lead)
                continue
            when = dialable_at(facts, rules, now, time_only=True)
            later.append((lead.id, when if when is not None else now + NO_WINDOW_RECHECK))
        return keep, later

    async def lease(self, campaign_id: int, limit: int) -> list[LeasedLead]:
        now = self._clock()
        out: list[LeasedLead] = []
        deferred = 0
        async with self.db.transaction() as s:
            rules = await self.rules_for(s, campaign_id)
            await self._release_unlisted(s, campaign_id)
            for _ in range(self.max_rounds):
                got = await lease_leads(
                    s, campaign_id, limit - len(out), now, self.owner, self.lease_s
                )
                if not got:
                    break
                keep, later = await self._screen(s, rules, campaign_id, got, now)
                out.extend(keep)
                await defer_leads(s, self.owner, later)
                deferred += len(later)
                if len(out) >= limit or not later:
                    break
        if deferred:
            logger.info(
                "%d leads deferred to their calling window or cap",
                deferred,
                extra={"campaign": campaign_id},
            )
        return out

    # -- the engine's DialGuard ---------------------------------------------------------------

    async def refuse_reason(self, lead: LeasedLead) -> str | None:
        now = self._clock()
        try:
            rules = self._cached_rules(lead.campaign_id)
            if rules is None:
                async with self.db.transaction() as s:
                    rules = await self.rules_for(s, lead.campaign_id)
            # One read-only statement: run on its own (autocommit), without the BEGIN and
            # COMMIT round trips and the ORM session of a transaction. This runs before
            # every originate.
            async with self.db.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                blocks = await dnc.blocks_for(conn, lead.phone, lead.campaign_id, now)
        except Exception as exc:  # fail closed: no check, no call
            return f"the pre-dial rules check failed ({type(exc).__name__}: {exc})"
        # The caps were checked at the lease; counting here would race with this call's own
        # attempt record, which the CDR writer may already have flushed. A callback leased
        # for a named agent is due and has that agent reserved: the 72-hour lock lets it go.
        callback = None
        if lead.callback_id is not None:
            callback = CallbackFact(lead.callback_id, now, lead.callback_agent_id)
        facts = LeadFacts(
            lead.id,
            lead.campaign_id,
            lead.phone,
            lead.time_zone,
            dnc=blocks.dnc,
            last_abandoned_at=blocks.last_abandoned_at,
            callback=callback,
        )
        verdict = evaluate(facts, rules, now, time_only=True)
        if verdict.dialable:
            return None
        return "; ".join(b.detail for b in verdict.blockers)

    async def lease_callbacks(
        self, campaign_id: int, ready_agent_ids: Sequence[int], limit: int = 20
    ) -> list[LeasedLead]:
        now = self._clock()
        expires = now + timedelta(seconds=self.lease_s)
        async with self.db.transaction() as s:
            rules = await self.rules_for(s, campaign_id)
            rows = list(
                await s.execute(
                    select(
                        callbacks.c.id.label("callback_id"),
                        callbacks.c.agent_id.label("callback_agent_id"),
                        leads.c.id,
                        leads.c.campaign_id,
                        leads.c.list_id,
                        leads.c.phone,
                        leads.c.time_zone,
                        leads.c.attempts,
                        leads.c.priority,
                        leads.c.extra,
                    )
                    .select_from(callbacks.join(leads, leads.c.id == callbacks.c.lead_id))
                    .where(
                        callbacks.c.campaign_id == campaign_id,
                        callbacks.c.status == "pending",
                        callbacks.c.due_at <= now,
                        or_(
                            callbacks.c.agent_id.is_(None),
                            callbacks.c.agent_id.in_(list(ready_agent_ids)),
                        ),
                        or_(
                            leads.c.status != LeadStatus.DIALING.value,
                            leads.c.lease_expires_at <= now,
                        ),
                        ~dnc.number_blocked(leads.c.phone, leads.c.campaign_id),
                        # The lock holds unless the callback names its agent, who is then
                        # reserved for it (this query leases it only while that agent is
                        # ready; the engine keeps the agent free and gives it the call).
                        or_(
                            callbacks.c.agent_id.is_not(None),
                            ~dnc.abandon_locked(leads.c.phone, now),
                        ),
                    )
                    .order_by(callbacks.c.due_at, callbacks.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True, of=[callbacks, leads])
                )
            )
            if not rows:
                return []
            history: dict[str, list[datetime]] = {}
            if rules.caps.items():
                history = await recent_calls(
                    s, campaign_id, [r.phone for r in rows], now - CAP_LOOKBACK
                )
            taken = []
            for r in rows:
                facts = LeadFacts(
                    r.id,
                    campaign_id,
                    r.phone,
                    r.time_zone,
                    recent_calls=tuple(history.get(r.phone, ())),
                )
                if evaluate(facts, rules, now, time_only=True).dialable:
                    taken.append(r)
                    continue
                when = dialable_at(facts, rules, now, time_only=True) or now + NO_WINDOW_RECHECK
                await s.execute(
                    update(callbacks).where(callbacks.c.id == r.callback_id).values(due_at=when)
                )
            if not taken:
                return []
            await s.execute(
                update(leads)
                .where(leads.c.id.in_([r.id for r in taken]))
                .values(
                    status=LeadStatus.DIALING.value,
                    lease_owner=self.owner,
                    lease_expires_at=expires,
                )
            )
            await s.execute(
                update(callbacks)
                .where(callbacks.c.id.in_([r.callback_id for r in taken]))
                .values(status="taken", taken_at=now, taken_by=self.owner)
            )
        logger.info("%d callbacks due", len(taken), extra={"campaign": campaign_id})
        return [
            LeasedLead(
                id=r.id,
                campaign_id=r.campaign_id,
                list_id=r.list_id,
                phone=r.phone,
                time_zone=r.time_zone,
                attempts=r.attempts,
                priority=r.priority,
                extra=r.extra,
                lease_expires_at=expires,
                callback_id=r.callback_id,
                callback_agent_id=r.callback_agent_id,
            )
            for r in taken
        ]

    # -- keeping callbacks in step --------------------------------------------------------------

    async def release(self, lead_ids: Sequence[int]) -> None:
        async with self.db.transaction() as s:
            await release_leads(s, self.owner, lead_ids)
            await callback_repo.finish_taken(s, lead_ids, dialed=False)

    async def _after_ends(self, s: AsyncSession, ended: Sequence[EndedAttempt]) -> None:
        dialed = [e.lead_id for e in ended if e.result is not CallResult.CANCELLED]
        undialed = [e.lead_id for e in ended if e.result is CallResult.CANCELLED]
        await callback_repo.finish_taken(s, dialed, dialed=True)
        await callback_repo.finish_taken(s, undialed, dialed=False)

    async def write_ends(self, ends: Sequence[AttemptEnd]) -> list[EndedAttempt]:
        async with refused_as_store_error(), self.db.transaction() as s:
            ended = await end_attempts(s, ends, self._policy)
            await self._after_ends(s, ended)
            return ended

    async def close_open(self) -> int:
        closed = await super().close_open()
        async with self.db.transaction() as s:
            await _reopen_stranded(s)
        return closed

    async def take_over_expired(self) -> Takeover:
        took = await super().take_over_expired()
        async with self.db.transaction() as s:
            await _reopen_stranded(s)
        return took


async def _reopen_stranded(session: AsyncSession) -> None:
    """A taken callback whose lead is no longer leased (a stop or a dead daemon gave it back
    without an attempt end) is pending again."""
    await session.execute(
        update(callbacks)
        .where(
            callbacks.c.status == "taken",
            callbacks.c.lead_id == leads.c.id,
            leads.c.status != LeadStatus.DIALING.value,
        )
        .values(status="pending", taken_at=None, taken_by=None)
    )


__all__ = ["RulesStore", "defer_leads", "recent_calls"]

"""`PgEngineStore`: the engine's storage port (`dialer.engine.ports.EngineStore`) on Postgres.

Each call runs in its own short transaction (its own session), so the engine's concurrent
tasks never share a session. "Now" is the wall clock in UTC, read once per call; `clock` can
be replaced for tests.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.domain.abandon import caller_id_or_none, no_caller_id_reason
from dialer.pacing.history import CampaignHistory
from dialer.store import agents as agent_repo
from dialer.store import campaigns as campaign_repo
from dialer.store.cdrs import end_attempts, give_back, start_attempts, update_attempts
from dialer.store.cleanup import (
    GONE_TEXT,
    close_by_evidence,
    close_open_attempts,
    take_over_expired,
    take_over_predecessors,
)
from dialer.store.engine import Database
from dialer.store.errors import StoreRefused
from dialer.store.history import campaign_history, others_minutes, save_calibration
from dialer.store.leads import lease_leads, release_leads, renew_leases, skip_lead
from dialer.store.records import (
    Agent,
    AgentLeases,
    AttemptEnd,
    AttemptProgress,
    AttemptStart,
    Campaign,
    CampaignStatus,
    EndedAttempt,
    LeasedLead,
    LeftCall,
    Takeover,
    Trunk,
)
from dialer.store.retry import DEFAULT_POLICY, RetryPolicy
from dialer.store.tables import cdr_dead_letters

logger = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def refused_as_store_error() -> AsyncIterator[None]:
    """A statement Postgres refused for its data becomes `StoreRefused`, with the database's
    message only (SQLAlchemy's own text lists the bound values)."""
    try:
        yield
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        raise StoreRefused(f"{type(exc.orig).__name__}: {exc.orig}") from None


class PgEngineStore:
    def __init__(
        self,
        db: Database,
        owner: str,
        lease_s: float,
        *,
        clock: Callable[[], datetime] = utc_now,
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        self.db = db
        self.owner = owner
        self.lease_s = lease_s
        self._clock = clock
        self._policy = policy
        self._unstartable: set[int] = set()  # running campaigns without a caller ID, logged

    def __repr__(self) -> str:
        return f"PgEngineStore({self.db.target!r}, owner={self.owner!r})"

    async def running_campaigns(self) -> list[tuple[Campaign, Trunk, list[Agent]]]:
        """Campaigns with status running, each with its trunk and the agents assigned to it.

        A campaign with no caller ID of its own nor on its trunk is left out, with an error in
        the log: every call must show a number (the API refuses to start one)."""
        async with self.db.transaction() as s:
            running = await campaign_repo.list_campaigns(s, CampaignStatus.RUNNING)
            trunks = {t.id: t for t in await campaign_repo.list_trunks(s)}
            agents = await agent_repo.list_agents(s)
        out = []
        for c in running:
            trunk = trunks[c.trunk_id]
            if caller_id_or_none(c.caller_id, trunk.caller_id) is None:
                logger.error(
                    "not dialed: %s",
                    no_caller_id_reason(c.name, trunk.name),
                    extra={"campaign": c.name},
                )
                continue
            out.append((c, trunk, [a for a in agents if a.campaign_id == c.id]))
        return out

    async def lease(self, campaign_id: int, limit: int) -> list[LeasedLead]:
        async with self.db.transaction() as s:
            return await lease_leads(s, campaign_id, limit, self._clock(), self.owner, self.lease_s)

    async def release(self, lead_ids: Sequence[int]) -> None:
        async with self.db.transaction() as s:
            await release_leads(s, self.owner, lead_ids)

    async def skip(self, lead_id: int, delay_s: float) -> None:
        """A lead an agent skipped in preview: back to its list, dialable after `delay_s`."""
        async with self.db.transaction() as s:
            await skip_lead(s, self.owner, lead_id, self._clock() + timedelta(seconds=delay_s))

    async def write_starts(self, starts: Sequence[AttemptStart]) -> None:
        async with refused_as_store_error(), self.db.transaction() as s:
            await start_attempts(s, starts)

    async def write_progress(self, updates: Sequence[AttemptProgress]) -> None:
        async with refused_as_store_error(), self.db.transaction() as s:
            await update_attempts(s, updates)

    async def write_ends(self, ends: Sequence[AttemptEnd]) -> list[EndedAttempt]:
        """Close attempts and move their leads on (see `cdrs.end_attempts`)."""
        async with refused_as_store_error(), self.db.transaction() as s:
            return await end_attempts(s, ends, self._policy)

    async def give_back(self, attempt_ids: Sequence[str]) -> int:
        """Leads of attempts the trunk failed go back as they were (see `cdrs.give_back`)."""
        async with self.db.transaction() as s:
            return await give_back(s, attempt_ids)

    async def close_open(self) -> int:
        """Clean stop: this owner's open attempts end as cancelled, all its leases released.
        Returns how many attempts were closed."""
        async with self.db.transaction() as s:
            report = await close_open_attempts(s, self.owner, self._clock())
        return report.attempts_closed

    async def take_over(self, agent_lease_s: float) -> Takeover:
        """Take over what earlier processes of this daemon's name left (`cleanup`)."""
        async with self.db.transaction() as s:
            return await take_over_predecessors(
                s, self.owner, self._clock(), self.lease_s, agent_lease_s
            )

    async def close_gone(self, calls: Sequence[LeftCall]) -> int:
        """Close left calls the PBX no longer has, by their evidence. Returns how many."""
        async with self.db.transaction() as s:
            ended = await close_by_evidence(s, calls, self._clock(), GONE_TEXT)
            await self._after_ends(s, ended)
        return len(ended)

    async def _after_ends(self, s: AsyncSession, ended: Sequence[EndedAttempt]) -> None:
        """What else an attempt's end changes (none here; the rules' store keeps callbacks)."""

    async def write_dead_letters(self, letters: Sequence[tuple[str, str, str]]) -> None:
        """Keep refused call records: (kind, the record as a spool line, the error)."""
        async with self.db.transaction() as s:
            await s.execute(
                insert(cdr_dead_letters),
                [{"kind": k, "record": r, "error": e} for k, r, e in letters],
            )

    async def renew(self) -> int:
        """Heartbeat: push this owner's leases to now + lease_s. Returns how many."""
        async with self.db.transaction() as s:
            return await renew_leases(s, self.owner, self._clock(), self.lease_s)

    async def take_over_expired(self) -> Takeover:
        """Take over the leads whose daemon stopped renewing their lease (`cleanup`)."""
        async with self.db.transaction() as s:
            return await take_over_expired(s, self.owner, self._clock(), self.lease_s)

    async def lease_agents(
        self,
        want: Mapping[int, int],
        held: Collection[int],
        lease_s: float,
        campaign_ids: Collection[int] = (),
        settling: Mapping[int, int] | None = None,
    ) -> AgentLeases:
        """One round of this daemon's agent leases (`agents.lease_agents`): say it runs
        `campaign_ids`, give back `held` agents not in `want`, renew the others, claim the
        rest of `want` (agent -> campaign) up to this daemon's share, and `settling` too when
        no other daemon is on the database."""
        async with self.db.transaction() as s:
            return await agent_repo.lease_agents(
                s,
                self.owner,
                self._clock(),
                lease_s,
                want,
                held,
                campaign_ids=campaign_ids,
                settling=settling,
            )

    async def claim_agent(self, agent_id: int, lease_s: float) -> str | None:
        """Claim one agent (a log-in over the API): None when this daemon owns it now, else
        the daemon that does."""
        async with self.db.transaction() as s:
            return await agent_repo.claim_agent(s, self.owner, self._clock(), lease_s, agent_id)

    async def set_agent_leg(self, agent_id: int, leg_id: str | None) -> bool:
        """Note the agent's headset leg (a successor adopts it if this process dies)."""
        async with self.db.transaction() as s:
            return await agent_repo.set_agent_leg(s, self.owner, agent_id, leg_id)

    async def agent_legs(self, agent_ids: Collection[int]) -> dict[int, str | None]:
        """The headset leg last noted for each of these agents (None: none)."""
        async with self.db.transaction() as s:
            return await agent_repo.agent_legs(s, agent_ids)

    async def release_agents(self, agent_ids: Collection[int] | None = None) -> int:
        """Give back this daemon's agents (all when `agent_ids` is None)."""
        async with self.db.transaction() as s:
            return await agent_repo.release_agents(s, self.owner, agent_ids)

    async def campaign_history(self, campaign: Campaign) -> CampaignHistory:
        """The campaign's abandonment per minute, life totals and recent attempts, from its
        CDRs (`dialer.store.history`): restored into the engine when it starts the campaign."""
        async with self.db.transaction() as s:
            return await campaign_history(
                s, campaign.id, self._clock(), wrapup_s=campaign.wrapup_s, owner=self.owner
            )

    async def others_minutes(
        self, campaign_id: int, since: datetime
    ) -> list[tuple[float, int, int, int]]:
        async with self.db.transaction() as s:
            return await others_minutes(s, campaign_id, self.owner, since)

    async def save_calibration(self, campaign_id: int, threshold: float, abandons: int) -> None:
        async with self.db.transaction() as s:
            await save_calibration(s, campaign_id, threshold, abandons)

    async def followed_campaigns(
        self, loaded: Collection[int], agent_ids: Collection[int]
    ) -> tuple[list[Campaign], dict[int, Trunk], list[Agent]]:
        """For `dialer.engine.follow`: the campaigns running or in `loaded`, all trunks, and the
        agents of those campaigns or in `agent_ids`. A running campaign not loaded here with no
        caller ID of its own nor on its trunk is left out (as in `running_campaigns`)."""
        async with self.db.transaction() as s:
            found = await campaign_repo.running_or(s, loaded)
            trunks = {t.id: t for t in await campaign_repo.list_trunks(s)}
            agents = await agent_repo.agents_of(s, [c.id for c in found], agent_ids)
        out = []
        for c in found:
            trunk = trunks.get(c.trunk_id)
            if c.id not in loaded and (
                trunk is None or caller_id_or_none(c.caller_id, trunk.caller_id) is None
            ):
                if c.id not in self._unstartable:
                    self._unstartable.add(c.id)
                    logger.error(
                        "not dialed: %s",
                        no_caller_id_reason(c.name, trunk.name if trunk else "?"),
                        extra={"campaign": c.name},
                    )
                continue
            self._unstartable.discard(c.id)
            out.append(c)
        return out, trunks, agents

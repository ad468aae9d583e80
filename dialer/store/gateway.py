"""`PgEngineStore`: the engine's storage port (`dialer.engine.ports.EngineStore`) on Postgres.

Each call runs in its own short transaction (its own session), so the engine's concurrent
tasks never share a session. "Now" is the wall clock in UTC, read once per call; `clock` can
be replaced for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from dialer.store import agents as agent_repo
from dialer.store import campaigns as campaign_repo
from dialer.store.cdrs import end_attempts, start_attempts, update_attempts
from dialer.store.cleanup import close_open_attempts, release_expired_leases
from dialer.store.engine import Database
from dialer.store.leads import lease_leads, release_leads, renew_leases
from dialer.store.records import (
    Agent,
    AttemptEnd,
    AttemptProgress,
    AttemptStart,
    Campaign,
    CampaignStatus,
    CloseReport,
    EndedAttempt,
    LeasedLead,
    Trunk,
)
from dialer.store.retry import DEFAULT_POLICY, RetryPolicy


def utc_now() -> datetime:
    return datetime.now(UTC)


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

    def __repr__(self) -> str:
        return f"PgEngineStore({self.db.target!r}, owner={self.owner!r})"

    async def running_campaigns(self) -> list[tuple[Campaign, Trunk, list[Agent]]]:
        """Campaigns with status running, each with its trunk and the agents assigned to it."""
        async with self.db.transaction() as s:
            running = await campaign_repo.list_campaigns(s, CampaignStatus.RUNNING)
            trunks = {t.id: t for t in await campaign_repo.list_trunks(s)}
            agents = await agent_repo.list_agents(s)
        return [
            (c, trunks[c.trunk_id], [a for a in agents if a.campaign_id == c.id]) for c in running
        ]

    async def lease(self, campaign_id: int, limit: int) -> list[LeasedLead]:
        async with self.db.transaction() as s:
            return await lease_leads(s, campaign_id, limit, self._clock(), self.owner, self.lease_s)

    async def release(self, lead_ids: Sequence[int]) -> None:
        async with self.db.transaction() as s:
            await release_leads(s, self.owner, lead_ids)

    async def write_starts(self, starts: Sequence[AttemptStart]) -> None:
        async with self.db.transaction() as s:
            await start_attempts(s, starts)

    async def write_progress(self, updates: Sequence[AttemptProgress]) -> None:
        async with self.db.transaction() as s:
            await update_attempts(s, updates)

    async def write_ends(self, ends: Sequence[AttemptEnd]) -> None:
        """Close attempts and move their leads on (see `cdrs.end_attempts`)."""
        async with self.db.transaction() as s:
            await end_attempts(s, ends, self._policy)

    async def write_batch(
        self,
        starts: Sequence[AttemptStart] = (),
        progress: Sequence[AttemptProgress] = (),
        ends: Sequence[AttemptEnd] = (),
    ) -> list[EndedAttempt]:
        """One flush in one transaction: starts, then progress, then ends (3 statements)."""
        async with self.db.transaction() as s:
            await start_attempts(s, starts)
            await update_attempts(s, progress)
            return await end_attempts(s, ends, self._policy)

    async def close_open(self) -> int:
        """Clean stop: this owner's open attempts end as cancelled, all its leases released.
        Returns how many attempts were closed."""
        async with self.db.transaction() as s:
            report = await close_open_attempts(s, self.owner, self._clock())
        return report.attempts_closed

    async def renew(self) -> int:
        """Heartbeat: push this owner's leases to now + lease_s. Returns how many."""
        async with self.db.transaction() as s:
            return await renew_leases(s, self.owner, self._clock(), self.lease_s)

    async def sweep_expired(self) -> CloseReport:
        """Release leases (and cancel attempts) left by owners that stopped renewing."""
        async with self.db.transaction() as s:
            return await release_expired_leases(s, self._clock())

"""What the engine needs from storage, as a Protocol (the Postgres store implements it)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from dialer.store.records import (
    Agent,
    AgentLeases,
    AttemptEnd,
    AttemptProgress,
    AttemptStart,
    Campaign,
    LeasedLead,
    LeftCall,
    Takeover,
    Trunk,
)


class EngineStore(Protocol):
    async def running_campaigns(self) -> list[tuple[Campaign, Trunk, list[Agent]]]: ...

    async def lease(self, campaign_id: int, limit: int) -> list[LeasedLead]: ...

    async def release(self, lead_ids: Sequence[int]) -> None: ...

    async def skip(self, lead_id: int, delay_s: float) -> None:
        """A lead an agent skipped in preview: back to its list, dialable after `delay_s`."""
        ...

    async def write_starts(self, starts: Sequence[AttemptStart]) -> None: ...
    async def write_progress(self, updates: Sequence[AttemptProgress]) -> None: ...

    async def write_ends(self, ends: Sequence[AttemptEnd]) -> object: ...
    async def write_dead_letters(self, letters: Sequence[tuple[str, str, str]]) -> None:
        """Keep call records the database refused: (kind, record as a spool line, error)."""
        ...

    async def give_back(self, attempt_ids: Sequence[str]) -> int:
        """The trunk breaker's verdict: these ended attempts failed because of the trunk; their
        leads go back as they were before them (dialer.store.cdrs.give_back)."""
        ...

    async def close_open(self) -> int: ...
    async def take_over(self, agent_lease_s: float) -> Takeover:
        """Take over what earlier processes of this daemon's name left."""
        ...

    async def close_gone(self, calls: Sequence[LeftCall]) -> int:
        """Close left calls the PBX no longer has, by their durable progress."""
        ...

    async def renew(self) -> int: ...

    async def take_over_expired(self) -> Takeover:
        """Take over the leads (and open calls) of daemons that stopped renewing their leases."""
        ...


class AgentLeaseStore(Protocol):
    """Agent leases (`dialer.store.gateway.PgEngineStore` has them): with several daemons on
    one database, an agent belongs to the daemon holding its lease."""

    async def lease_agents(
        self,
        want: Mapping[int, int],
        held: Collection[int],
        lease_s: float,
        campaign_ids: Collection[int] = (),
        settling: Mapping[int, int] | None = None,
    ) -> AgentLeases: ...

    async def claim_agent(self, agent_id: int, lease_s: float) -> str | None: ...

    async def release_agents(self, agent_ids: Collection[int] | None = None) -> int: ...
    async def set_agent_leg(self, agent_id: int, leg_id: str | None) -> bool: ...
    async def agent_legs(self, agent_ids: Collection[int]) -> dict[int, str | None]: ...

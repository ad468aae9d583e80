"""What the engine needs from storage, as a Protocol (the Postgres store implements it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dialer.store.records import Agent, AttemptEnd, AttemptStart, Campaign, LeasedLead, Trunk


class EngineStore(Protocol):
    async def running_campaigns(self) -> list[tuple[Campaign, Trunk, list[Agent]]]: ...

    async def lease(self, campaign_id: int, limit: int) -> list[LeasedLead]: ...

    async def release(self, lead_ids: Sequence[int]) -> None: ...

    async def write_starts(self, starts: Sequence[AttemptStart]) -> None: ...

    async def write_ends(self, ends: Sequence[AttemptEnd]) -> object: ...

    async def close_open(self) -> int: ...

    async def renew(self) -> int: ...

    async def sweep_expired(self) -> object:
        """Release leases (and close attempts) of daemons that stopped renewing them."""
        ...

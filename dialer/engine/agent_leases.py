"""Agent leases, a service of the driver: with several daemons on one database an agent belongs
to the daemon holding its lease (dialer/domain/ownership.py). Every third of the lease time, and
whenever the core asks (`ClaimAgents`: a campaign or an agent came or went), one round renews
this daemon's leases, claims its share of the agents nobody holds and gives back those it no
longer runs; the core is told what it owns now (`AgentLeasesRenewed`) and, for agents just
claimed, which headset legs a dead daemon left up (`ClaimedLegs`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from dialer import pbx
from dialer.core import inputs as ev
from dialer.core.machine import Core
from dialer.engine.ports import AgentLeaseStore

logger = logging.getLogger(__name__)


class AgentLeaseRounds:
    def __init__(
        self,
        leases: AgentLeaseStore,
        core: Core,
        pbx_: pbx.Pbx,
        feed: Callable[[ev.Input], object],
        lease_s: float,
    ) -> None:
        self._leases = leases
        self._core = core
        self._pbx = pbx_
        self._feed = feed
        self._lease_s = lease_s
        self._lock = asyncio.Lock()  # one lease round or claim at a time
        self._next_at = 0.0
        self._due: list[float] = []  # extra rounds (claims) due at these
        self._closed = False
        self._failing = False

    def ask_at(self, at: float) -> None:
        if at not in self._due:
            self._due.append(at)

    def due(self, now: float) -> bool:
        """Whether a round should start now (and then it is counted as started)."""
        if now < min([self._next_at, *self._due]) or self._lock.locked():
            return False
        self._next_at = now + self._lease_s / 3
        self._due = [t for t in self._due if t > now]
        return True

    async def round(self, now: float, log_in: bool) -> None:
        """One round (see the module's docstring); `log_in`: look for the legs of agents just
        claimed, for the core to log them in or adopt their legs."""
        async with self._lock:
            if self._closed:
                return
            held = {int(k) for k in self._core.owned}
            want, settling = self._core.wanted_agents(now)
            try:
                got = await self._leases.lease_agents(
                    want, held, self._lease_s, list(self._core.campaigns), settling
                )
            except Exception as exc:
                if not self._failing:
                    logger.warning("renewing the agents' leases failed: %s", exc)
                self._failing = True
                return  # the agents are kept meanwhile; the next round tries again
            if self._failing:
                logger.info("agent leases renewed again")
            self._failing = False
            self._feed(
                ev.AgentLeasesRenewed(
                    frozenset(str(a) for a in got.owned),
                    {str(a): holder for a, holder in got.lost.items()},
                    now,
                )
            )
            new = [str(a) for a in got.owned if a not in held]
            if new:
                logger.info("agents claimed: %s", ", ".join(sorted(new)))
        if log_in:
            await self._find_legs(new)

    async def _find_legs(self, new: list[str]) -> None:
        """Read the headset legs noted with agents just claimed (and of those left busy on a
        dead daemon's call) and the PBX's live channels, for the core to adopt or log in."""
        check = [*new, *(k for k in self._core.busy_elsewhere if k not in new)]
        legs: dict[int, str | None] = {}
        live: dict[str, pbx.LiveChannel] = {}
        try:
            legs = await self._leases.agent_legs([int(k) for k in check])
            if any(legs.values()):
                live = {ch.channel_id: ch for ch in await self._pbx.live_channels()}
        except Exception as exc:
            logger.warning("reading the claimed agents' legs failed: %s", exc)
            return  # the next round tries again
        self._feed(ev.ClaimedLegs(check, legs, live))

    async def claim(self, agent_id: str) -> str | None:
        """Claim the agent before a log-in over the API: None when it is ours now, else the
        daemon that owns it."""
        if not agent_id.isdigit():
            return None
        async with self._lock:
            holder = await self._leases.claim_agent(int(agent_id), self._lease_s)
            if holder is None:
                self._feed(ev.AgentClaimed(agent_id))
        return holder

    async def note_leg(self, agent_id: str, leg_id: str) -> None:
        """Keep the leg's id with the agent's lease before calling the headset, so a daemon
        taking over after a crash adopts the leg instead of calling the headset again."""
        if not agent_id.isdigit():
            return
        try:
            await self._leases.set_agent_leg(int(agent_id), leg_id)
        except Exception as exc:
            logger.warning("agent %s: keeping its leg's id failed: %s", agent_id, exc)

    async def give_back(self) -> None:
        """Clean stop: every agent this daemon owns is given back (its leg is down)."""
        async with self._lock:
            self._closed = True
            self._feed(ev.AgentsGivenBack())
            try:
                released = await self._leases.release_agents()
            except Exception as exc:
                logger.warning("giving back the agents failed (they expire): %s", exc)
            else:
                logger.info("drain: %d agents given back", released)

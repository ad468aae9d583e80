"""Every daemon follows the campaigns table, so a campaign started, paused, stopped or edited
through one daemon's API (or by hand in SQL) is run the same way by every daemon on the database.

Rules:
- Every `dialer.campaign_poll_s` the follower reads the campaigns that are running or that this
  daemon has loaded, their trunks and their agents (three small statements), and `plan` compares
  them with the engine: a running campaign not loaded is started; a loaded one is paused,
  stopped (leased leads given back) or resumed to match its status; an edited row or trunk is
  applied (a new pacing mode gets a new pacer); an agent new to a loaded campaign is added, and
  one whose campaign changed is moved (`Engine.move_agent`: at once when idle, after its call and
  wrap-up when busy).
- This daemon's own API changes the engine at once, right after its transaction commits. A read
  that overlapped such a change may be older than it, so a snapshot is applied only if no
  control call reached the engine while it was read (`Engine.control_seq`); the next read, a
  period later, is applied instead. The table is the truth: what the engine runs converges to it.
- A failed read is logged once and retried every period; the engine keeps dialing meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from dialer.pacing.history import CampaignHistory
from dialer.store.records import Agent, Campaign, CampaignStatus, Trunk

if TYPE_CHECKING:
    from dialer.engine.engine import Engine

logger = logging.getLogger(__name__)


class HistorySource(Protocol):
    """Where the engine reads a campaign's history when it starts running it."""

    async def campaign_history(self, campaign: Campaign) -> CampaignHistory: ...

    async def others_minutes(
        self, campaign_id: int, since: datetime
    ) -> list[tuple[float, int, int, int]]:
        """(minute start, answered, abandoned, machines) of other daemons' finished calls on
        the campaign answered since `since` (`dialer.store.history.others_minutes`)."""
        ...

    async def save_calibration(self, campaign_id: int, threshold: float, abandons: int) -> None:
        """Keep the predictive pacer's calibration for the campaign's next start."""
        ...


@dataclass(frozen=True, slots=True)
class CampaignsState:
    """What the campaigns table says, for the campaigns a daemon must follow."""

    campaigns: tuple[Campaign, ...]
    trunks: Mapping[int, Trunk]
    agents: tuple[Agent, ...]


class CampaignSource(Protocol):
    async def followed_campaigns(
        self, loaded: Collection[int], agent_ids: Collection[int]
    ) -> tuple[list[Campaign], dict[int, Trunk], list[Agent]]:
        """Campaigns running or in `loaded`, their trunks, and the agents of those campaigns
        or in `agent_ids` (`dialer.store.gateway.PgEngineStore` has it)."""
        ...


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the engine runs for one campaign."""

    campaign: Campaign
    trunk: Trunk
    paused: bool
    leads_buffered: bool


@dataclass
class Plan:
    start: list[tuple[Campaign, Trunk, list[tuple[int, str]]]] = field(default_factory=list)
    pause: list[int] = field(default_factory=list)
    stop: list[int] = field(default_factory=list)
    update: list[tuple[Campaign, Trunk]] = field(default_factory=list)
    add_agents: list[tuple[int, int, str]] = field(default_factory=list)  # campaign, agent, SIP
    move_agents: list[tuple[int, int | None, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (self.start, self.pause, self.stop, self.update, self.add_agents, self.move_agents)
        )


def plan(
    state: CampaignsState, loaded: Mapping[int, Loaded], agent_at: Mapping[int, int | None]
) -> Plan:
    """The engine calls that make what it runs match `state`. `agent_at` maps each agent the
    engine has to the campaign it is in (or moving to, when a move waits for its call). Pure."""
    out = Plan()
    starting: set[int] = set()
    for c in state.campaigns:
        trunk = state.trunks.get(c.trunk_id)
        if trunk is None:
            continue
        run = loaded.get(c.id)
        changed = run is not None and (c != run.campaign or trunk != run.trunk)
        if c.status is CampaignStatus.RUNNING:
            if run is None or run.paused:
                agents = [(a.id, a.sip_endpoint) for a in state.agents if a.campaign_id == c.id]
                out.start.append((c, trunk, agents))  # add_campaign: loads or resumes
                starting.add(c.id)
                continue
        elif run is None:
            continue
        elif c.status is CampaignStatus.PAUSED:
            if not run.paused:
                out.pause.append(c.id)
        elif not run.paused or run.leads_buffered:
            out.stop.append(c.id)
        if changed:
            out.update.append((c, trunk))
    for a in state.agents:
        if a.id in agent_at:
            if agent_at[a.id] != a.campaign_id:
                out.move_agents.append((a.id, a.campaign_id, a.sip_endpoint))
        elif (
            a.campaign_id is not None and a.campaign_id in loaded and a.campaign_id not in starting
        ):
            out.add_agents.append((a.campaign_id, a.id, a.sip_endpoint))
    return out


class CampaignFollower:
    """Reads the campaigns table every `interval_s` and brings the engine in line with it."""

    def __init__(self, engine: Engine, source: CampaignSource, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._engine = engine
        self._source = source
        self.interval_s = interval_s
        self._failing = False
        self.rounds = 0  # snapshots applied (for tests and the log)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.follow_once()
            except Exception as exc:
                if not self._failing:
                    logger.warning("following the campaigns table failed: %s", exc)
                self._failing = True
            else:
                if self._failing:
                    logger.info("following the campaigns table again")
                self._failing = False

    async def follow_once(self) -> bool:
        """Read once and apply; False when the read overlapped a control call (not applied)."""
        engine = self._engine
        seq = engine.control_seq
        loaded_ids = list(engine.campaigns)
        agent_at = engine.agent_campaigns()
        found, trunks, agents = await self._source.followed_campaigns(loaded_ids, list(agent_at))
        state = CampaignsState(tuple(found), trunks, tuple(agents))
        if engine.control_seq != seq:
            return False
        loaded = {
            cid: Loaded(run.campaign, run.trunk, run.paused, bool(run.leads))
            for cid, run in engine.campaigns.items()
        }
        todo = plan(state, loaded, engine.agent_campaigns())
        self.rounds += 1
        if not todo:
            return True
        for c, trunk, members in todo.start:
            logger.info(
                "campaign %s is running: dialing it too", c.name, extra={"campaign": c.name}
            )
            engine.add_campaign(c, trunk, members)
        for cid in todo.pause:
            logger.info("campaign %d paused in the table: pausing", cid)
            engine.pause_campaign(cid)
        for c, trunk in todo.update:
            engine.update_campaign(c, trunk)
        for cid, agent_id, endpoint in todo.add_agents:
            engine.add_agent(cid, agent_id, endpoint)
        for agent_id, target, endpoint in todo.move_agents:
            logger.info("agent %d moved to campaign %s in the table", agent_id, target)
            engine.move_agent(agent_id, target, endpoint)
        await self._stop(todo.stop)
        return True

    async def _stop(self, ids: Sequence[int]) -> None:
        engine = self._engine
        for cid in ids:
            seq = engine.control_seq
            logger.info("campaign %d stopped in the table: stopping", cid)
            await engine.stop_campaign(cid)
            if engine.control_seq != seq + 1:
                return  # a control call came in meanwhile: the next read decides the rest

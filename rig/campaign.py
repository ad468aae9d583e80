"""Seed a campaign whose leads make the rig's SIPp trunk answer, refuse, ring out or fail.

Used by the demo (scripts/demo.py), the end-to-end rig tests and the rig benchmark.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text

from dialer.store import agents as agent_repo
from dialer.store import campaigns as campaign_repo
from dialer.store.engine import Database
from dialer.store.leads import add_leads
from dialer.store.records import CampaignStatus, NewLead, PacingMode
from rig.numbers import Behaviour, make_number


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of lead behaviours (they need not sum to 1; they are weights)."""

    answer: float = 0.5
    busy: float = 0.15
    no_answer: float = 0.15
    fail: float = 0.2
    ring_s: tuple[float, float] = (0.5, 3.0)
    talk_s: tuple[float, float] = (1.0, 4.0)


def mixed_numbers(count: int, mix: Mix, seed: int = 1) -> list[str]:
    """`count` distinct rig numbers drawn with the mix's weights, reproducibly."""
    rnd = random.Random(seed)
    kinds = [Behaviour.ANSWER, Behaviour.BUSY, Behaviour.NO_ANSWER, Behaviour.FAIL]
    weights = [mix.answer, mix.busy, mix.no_answer, mix.fail]
    numbers = []
    for serial in range(count):
        kind = rnd.choices(kinds, weights)[0]
        ring = round(rnd.uniform(*mix.ring_s), 1)
        talk = round(rnd.uniform(*mix.talk_s), 1) if kind is Behaviour.ANSWER else 0.0
        # The serial makes every number distinct (serials go up to 999; wrap with the ring).
        numbers.append(make_number(kind, ring + (serial // 1000) * 0.1, talk, serial % 1000))
    return numbers


@dataclass(frozen=True, slots=True)
class SeededCampaign:
    campaign_id: int
    trunk_id: int
    agent_ids: tuple[int, ...]
    lead_ids: tuple[int, ...]


async def seed(
    db: Database,
    *,
    name: str,
    numbers: Sequence[str],
    agents: int,
    ring_timeout_s: float = 15.0,
    wrapup_s: float = 1.0,
    hold_s: float = 1.0,
    max_channels: int = 200,
    max_cps: float = 100.0,
    max_attempts: int = 1,
    pacing: PacingMode = PacingMode.PROGRESSIVE,
    amd_enabled: bool = False,
    machine_message: str = "",
    caller_id: str = "+15550000000",
    trunk_caller_id: str = "",
    callback_number: str = "",
    name_prompt: str = "",
) -> SeededCampaign:
    """A running campaign on the rig's `trunk` endpoint with agents agent1..agentN."""
    async with db.transaction() as s:
        trunk = await campaign_repo.create_trunk(
            s,
            name=f"{name}-trunk",
            endpoint="trunk",
            max_channels=max_channels,
            max_cps=max_cps,
            caller_id=trunk_caller_id,
        )
        campaign = await campaign_repo.create_campaign(
            s,
            name=name,
            trunk_id=trunk.id,
            caller_id=caller_id,
            pacing_mode=pacing,
            status=CampaignStatus.RUNNING,
            ring_timeout_s=ring_timeout_s,
            max_attempts=max_attempts,
            wrapup_s=wrapup_s,
            hold_s=hold_s,
            amd_enabled=amd_enabled,
            machine_message=machine_message,
            callback_number=callback_number,
            name_prompt=name_prompt,
        )
        lead_list = await campaign_repo.create_lead_list(s, campaign.id, f"{name}-list")
        await add_leads(s, lead_list.id, [NewLead(phone=n) for n in numbers])
        agent_ids = []
        for i in range(1, agents + 1):
            agent = await agent_repo.create_agent(
                s, name=f"{name}-agent{i}", sip_endpoint=f"agent{i}", campaign_id=campaign.id
            )
            agent_ids.append(agent.id)
        ids = (
            await s.execute(
                text("SELECT id FROM leads WHERE list_id = :l ORDER BY id"), {"l": lead_list.id}
            )
        ).scalars()
        return SeededCampaign(campaign.id, trunk.id, tuple(agent_ids), tuple(ids))

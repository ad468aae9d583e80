"""The engine's side of the rules, on an in-memory PBX and store: a due callback for a named
agent goes first and to that agent (kept free for it), and a lead the dial guard refuses right
before the originate never reaches the PBX."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

from dialer import pbx
from dialer.domain.results import CallResult
from dialer.engine.engine import Engine
from dialer.pacing.base import PacingDecision, PacingSnapshot
from dialer.settings import DialerSettings
from dialer.store.records import (
    Agent,
    AgentState,
    AttemptEnd,
    AttemptProgress,
    AttemptStart,
    Campaign,
    CampaignStatus,
    LeasedLead,
    LeftCall,
    PacingMode,
    Takeover,
    Trunk,
)

T0 = datetime(2030, 1, 8, 15, 0, tzinfo=UTC)
TRUNK = Trunk(1, "t", 10, 100.0, "", "trunk")
CAMPAIGN = Campaign(
    7,
    "c",
    CampaignStatus.RUNNING,
    PacingMode.PROGRESSIVE,
    "+15550000000",
    1,
    20.0,
    3,
    0.0,
    1.0,
    T0,
    T0,
)


def lead(lead_id: int, phone: str, agent: int | None = None) -> LeasedLead:
    return LeasedLead(
        lead_id,
        7,
        1,
        phone,
        "UTC",
        0,
        0,
        {},
        T0 + timedelta(minutes=5),
        callback_id=100 + lead_id if agent is not None else None,
        callback_agent_id=agent,
    )


class FakePbx:
    """Agent legs answer at once; customer calls wait for the test to answer them."""

    capabilities = frozenset(pbx.Capability)

    def __init__(self) -> None:
        self.queue: asyncio.Queue[pbx.PbxEvent] = asyncio.Queue()
        self.dialed: dict[str, str] = {}  # number -> channel id
        self.legs: dict[str, str] = {}  # endpoint -> leg id
        self.bridges: dict[str, str] = {}  # customer channel -> agent leg

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def events(self) -> AsyncIterator[pbx.PbxEvent]:
        while True:
            yield await self.queue.get()

    async def originate_customer(self, call: pbx.CustomerCall) -> None:
        self.dialed[call.number] = call.channel_id
        self.queue.put_nowait(pbx.Ringing(call.channel_id, self.now()))

    async def originate_agent(self, leg: pbx.AgentLeg) -> None:
        self.legs[leg.endpoint] = leg.channel_id
        self.queue.put_nowait(pbx.Answered(leg.channel_id, self.now()))

    async def connect(self, channel_id: str, agent_channel_id: str) -> None:
        self.bridges[channel_id] = agent_channel_id
        self.queue.put_nowait(pbx.Bridged(channel_id, agent_channel_id, self.now()))

    async def abandon(self, channel_id: str) -> None: ...

    async def hangup(self, channel_id: str) -> None:
        self.queue.put_nowait(pbx.HungUp(channel_id, 16, "normal", self.now()))

    async def live_channels(self) -> list[pbx.LiveChannel]:
        return []


class FakeStore:
    def __init__(self, leads: list[LeasedLead]) -> None:
        self.leads = leads
        self.ends: list[AttemptEnd] = []

    async def running_campaigns(self) -> list[tuple[Campaign, Trunk, list[Agent]]]:
        agents = [Agent(i, f"a{i}", f"agent{i}", 7, AgentState.OFFLINE) for i in (1, 2)]
        return [(CAMPAIGN, TRUNK, agents)]

    async def lease(self, campaign_id: int, limit: int) -> list[LeasedLead]:
        out, self.leads = self.leads[:limit], self.leads[limit:]
        return out

    async def release(self, lead_ids: Sequence[int]) -> None: ...

    async def skip(self, lead_id: int, delay_s: float) -> None: ...

    async def give_back(self, attempt_ids: Sequence[str]) -> int:
        return 0

    async def write_starts(self, starts: Sequence[AttemptStart]) -> None: ...

    async def write_progress(self, updates: Sequence[AttemptProgress]) -> None: ...

    async def write_dead_letters(self, letters: Sequence[tuple[str, str, str]]) -> None: ...

    async def write_ends(self, ends: Sequence[AttemptEnd]) -> object:
        self.ends.extend(ends)
        return None

    async def close_open(self) -> int:
        return 0

    async def take_over(self, agent_lease_s: float) -> Takeover:
        return Takeover((), {}, 0)

    async def close_gone(self, calls: Sequence[LeftCall]) -> int:
        return 0

    async def renew(self) -> int:
        return 0

    async def take_over_expired(self) -> Takeover:
        return Takeover((), {}, 0)


class FakeGuard:
    callback_poll_s = 0.02

    def __init__(self, callbacks: list[LeasedLead], refused: set[str]) -> None:
        self.callbacks = callbacks
        self.refused = refused
        self.asked_with: list[list[int]] = []

    async def refuse_reason(self, lead: LeasedLead) -> str | None:
        return "on do-not-call list 'x'" if lead.phone in self.refused else None

    async def lease_callbacks(
        self, campaign_id: int, ready_agent_ids: Sequence[int]
    ) -> list[LeasedLead]:
        self.asked_with.append(list(ready_agent_ids))
        due = [c for c in self.callbacks if c.callback_agent_id in ready_agent_ids]
        self.callbacks = [c for c in self.callbacks if c not in due]
        return due


class OnePerReady:
    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        return PacingDecision(max(0, snap.ready - snap.in_flight), 1.0, "one per ready agent")

    def observe_call(self, outcome: object) -> None:
        return None

    def observe_work(self, work: object) -> None:
        return None


async def wait_until(predicate: Callable[[], bool], limit_s: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_named_callback_goes_first_to_its_agent_and_refused_lead_is_never_dialed() -> None:
    fake = FakePbx()
    store = FakeStore([lead(1, "+12025550001"), lead(2, "+12025550002")])
    guard = FakeGuard([lead(3, "+12025550003", agent=2)], refused={"+12025550002"})
    settings = DialerSettings(owner="t", tick_s=0.02, cdr_flush_s=0.02, lease_batch=10)
    engine = Engine(fake, store, settings, lambda _c: OnePerReady(), guard=guard)
    await engine.load()
    runner = asyncio.create_task(engine.run())
    try:
        run = engine.campaigns[7]
        await wait_until(lambda: "+12025550003" in fake.dialed and "+12025550001" in fake.dialed)
        callback_cid = fake.dialed["+12025550003"]
        assert run.reserved == {"2": callback_cid}  # agent 2 is kept for its callback
        assert any(2 in ready for ready in guard.asked_with)
        # Agent 1 has waited longest, yet the callback goes to agent 2.
        fake.queue.put_nowait(pbx.Answered(callback_cid, fake.now()))
        await wait_until(lambda: callback_cid in fake.bridges)
        assert fake.bridges[callback_cid] == fake.legs["agent2"]
        regular = fake.dialed["+12025550001"]
        fake.queue.put_nowait(pbx.Answered(regular, fake.now()))
        await wait_until(lambda: regular in fake.bridges)
        assert fake.bridges[regular] == fake.legs["agent1"]
        # The refused lead was never sent to the PBX; its attempt ended cancelled.
        await wait_until(lambda: any(r.lead_id == 2 for r in engine.finished))
        assert "+12025550002" not in fake.dialed
        (refused,) = [r for r in engine.finished if r.lead_id == 2]
        assert refused.result is CallResult.CANCELLED
        await wait_until(
            lambda: any(e.cause_text and "do-not-call" in e.cause_text for e in store.ends)
        )
        assert run.reserved == {}
    finally:
        await engine.drain(0.5)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

"""An agent belongs to one daemon at a time: the share rule (pure), and the engine's side on an
in-memory PBX and lease table: two engines on the same campaign log each agent in once (only
its owner calls its headset), an agent another daemon took after a stall is logged out at once
when idle and only after its call and wrap-up when busy, and a clean stop gives agents back.
The lease queries themselves are tested on Postgres (tests/integration/test_store_agent_leases.py)
and the whole on the rig (tests/integration/test_api_agent_owner.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping

import pytest

from dialer import pbx
from dialer.domain import agent as ag
from dialer.domain.ownership import claim_quota
from dialer.engine.engine import Engine
from dialer.settings import DialerSettings
from dialer.store.records import AgentLeases
from tests.unit.test_rules_engine import FakePbx, FakeStore, OnePerReady, lead, wait_until


@pytest.mark.parametrize(
    ("agents", "held", "others", "quota"),
    [
        (6, 0, 0, 6),  # alone: all of them
        (6, 0, 1, 3),  # two daemons: half each
        (5, 0, 1, 3),  # rounded up: nobody is left out for want of a daemon
        (5, 3, 1, 0),  # its share is full
        (5, 2, 1, 1),
        (6, 1, 2, 1),  # three daemons: two each
        (0, 0, 3, 0),
        (2, 4, 0, 0),  # holds more than its share (came first): never negative
    ],
)
def test_claim_quota(agents: int, held: int, others: int, quota: int) -> None:
    assert claim_quota(agents, held, others) == quota


def test_claim_quota_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match="negative"):
        claim_quota(-1, 0, 0)


class LeaseTable:
    """The agents' owner column, in memory: first come, first served."""

    def __init__(self) -> None:
        self.owner: dict[int, str] = {}
        self.legs: dict[int, str | None] = {}  # the headset leg noted with the lease
        self.rounds = 0
        self.away = False  # the database is unreachable: no lease round succeeds


class FakeLeases:
    def __init__(self, table: LeaseTable, name: str, others: int = 0) -> None:
        self.table = table
        self.name = name
        self.others = others  # other daemons on the database

    async def lease_agents(
        self,
        want: Mapping[int, int],
        held: Collection[int],
        lease_s: float,
        campaign_ids: Collection[int] = (),
        settling: Mapping[int, int] | None = None,
    ) -> AgentLeases:
        if self.table.away:
            raise ConnectionError("database unreachable")
        if settling and not self.others:
            want = {**want, **settling}
        t = self.table.owner
        self.table.rounds += 1
        released = {a for a in held if a not in want and t.get(a) == self.name}
        for a in released:
            del t[a]
        owned: set[int] = set()
        lost: dict[int, str | None] = {}
        for a in want:
            if t.setdefault(a, self.name) == self.name:
                owned.add(a)
            elif a in held:
                lost[a] = t[a]
        return AgentLeases(frozenset(owned), lost, frozenset(released), self.others)

    async def claim_agent(self, agent_id: int, lease_s: float) -> str | None:
        holder = self.table.owner.setdefault(agent_id, self.name)
        return None if holder == self.name else holder

    async def release_agents(self, agent_ids: Collection[int] | None = None) -> int:
        mine = [a for a, o in self.table.owner.items() if o == self.name]
        for a in mine:
            del self.table.owner[a]
            self.table.legs.pop(a, None)
        return len(mine)

    async def set_agent_leg(self, agent_id: int, leg_id: str | None) -> bool:
        if self.table.owner.get(agent_id) != self.name:
            return False
        self.table.legs[agent_id] = leg_id
        return True

    async def agent_legs(self, agent_ids: Collection[int]) -> dict[int, str | None]:
        return {a: self.table.legs.get(a) for a in agent_ids}


class CountingPbx(FakePbx):
    def __init__(self) -> None:
        super().__init__()
        self.logins: list[str] = []  # endpoints whose headset was called
        self.hangups: list[str] = []
        self.live: list[pbx.LiveChannel] = []  # what live_channels() says

    async def live_channels(self) -> list[pbx.LiveChannel]:
        return list(self.live)

    async def originate_agent(self, leg: pbx.AgentLeg) -> None:
        self.logins.append(leg.endpoint)
        await super().originate_agent(leg)

    async def hangup(self, channel_id: str) -> None:
        self.hangups.append(channel_id)
        await super().hangup(channel_id)


SETTINGS = DialerSettings(
    owner="t", tick_s=0.01, cdr_flush_s=0.02, lease_batch=10, campaign_poll_s=0, agent_lease_s=0.3
)


async def _engine(
    table: LeaseTable,
    name: str,
    leads: int = 0,
    settings: DialerSettings = SETTINGS,
    others: int = 0,
) -> tuple[Engine, CountingPbx]:
    fake = CountingPbx()
    store = FakeStore([lead(i, f"+1202555{i:04d}") for i in range(1, leads + 1)])
    leases = FakeLeases(table, name, others)
    engine = Engine(fake, store, settings, lambda _c: OnePerReady(), agent_leases=leases)
    await engine.load()
    return engine, fake


async def _stop(engine: Engine, runner: asyncio.Task[None]) -> None:
    await engine.drain(0.5)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


async def test_two_engines_log_each_agent_in_once() -> None:
    table = LeaseTable()
    (a, pbx_a), (b, pbx_b) = await _engine(table, "A"), await _engine(table, "B")
    runners = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        await wait_until(lambda: len(table.owner) == 2 and table.rounds >= 6)
        assert sorted(pbx_a.logins + pbx_b.logins) == ["agent1", "agent2"]
        for engine, name in ((a, "A"), (b, "B")):
            mine = {str(x) for x, o in table.owner.items() if o == name}
            states = engine.stats()["campaigns"]["c"]["agents"]
            assert {k for k, s in states.items() if s != "logged_out"} == mine
            assert all(engine.owns_agent(k) == (k in mine) for k in states)
        # A log-in over the other daemon's API is refused, naming the owner.
        owner_of_1 = table.owner[1]
        other = b if owner_of_1 == "A" else a
        assert await other.claim_agent("1") == owner_of_1
    finally:
        await _stop(a, runners[0])
        await _stop(b, runners[1])
    assert table.owner == {}  # both gave their agents back at the clean stop


async def test_an_agent_taken_by_another_daemon_is_dropped_but_never_its_call() -> None:
    table = LeaseTable()
    engine, fake = await _engine(table, "A", leads=1)
    runner = asyncio.create_task(engine.run())
    try:
        run = engine.campaigns[7]
        await wait_until(lambda: all(x.is_ready for x in run.agents.values()))
        await wait_until(lambda: "+12025550001" in fake.dialed)
        cid = fake.dialed["+12025550001"]
        fake.queue.put_nowait(pbx.Answered(cid, fake.now()))
        await wait_until(lambda: cid in fake.bridges)
        busy_leg = fake.bridges[cid]
        busy = next(x for x in run.agents.values() if x.leg_id == busy_leg)
        idle = next(x for x in run.agents.values() if x is not busy)
        idle_leg = idle.leg_id
        # Another daemon took both agents while this one stalled past the lease.
        for agent_id in table.owner:
            table.owner[agent_id] = "B"
        await wait_until(lambda: idle.state is ag.AgentState.LOGGED_OUT)
        assert idle_leg in fake.hangups
        assert busy.state is ag.AgentState.ON_CALL  # the live call goes on
        assert busy_leg not in fake.hangups and cid not in fake.hangups
        await asyncio.sleep(3 * SETTINGS.agent_lease_s)
        assert fake.logins.count(idle.endpoint) == 1  # not logged in again: B owns it
        # The call ends (the campaign has no wrap-up): now the agent is logged out here.
        fake.queue.put_nowait(pbx.HungUp(cid, 16, "normal", fake.now()))
        await wait_until(lambda: busy.state is ag.AgentState.LOGGED_OUT)
        assert busy_leg in fake.hangups
        assert not engine.owns_agent(busy.agent_id) and not engine.owns_agent(idle.agent_id)
    finally:
        await _stop(engine, runner)
    assert table.owner == {1: "B", 2: "B"}  # a stop gives back only its own agents


@pytest.mark.parametrize(("others", "settle_s"), [(0, 0.0), (1, 0.9)])
async def test_claims_wait_a_poll_only_when_other_daemons_may_follow(
    others: int, settle_s: float
) -> None:
    """With other daemons on the database, a campaign's agents are claimed a poll period (and
    a margin) after it started here, so daemons following the table can say they run it too;
    alone, at once."""
    table = LeaseTable()
    settings = DialerSettings(
        owner="t", tick_s=0.01, cdr_flush_s=0.02, campaign_poll_s=0.4, agent_lease_s=30
    )
    engine, fake = await _engine(table, "A", settings=settings, others=others)
    loop = asyncio.get_running_loop()
    started = loop.time()
    runner = asyncio.create_task(engine.run())
    try:
        await wait_until(lambda: len(fake.logins) == 2)
        waited = loop.time() - started
        assert settle_s - 0.05 <= waited < settle_s + 0.5, waited
    finally:
        await _stop(engine, runner)


async def test_a_dead_daemons_headset_legs_are_adopted_not_called_again() -> None:
    """A daemon dies with its agents' legs up, one of them bridged to a customer. Another daemon
    claims the agents once their leases expire: the idle leg is adopted (ready at once), the
    bridged one is left alone until its call ends and then adopted; no headset is called."""
    table = LeaseTable()
    dead, _dead_pbx = await _engine(table, "A")
    runner = asyncio.create_task(dead.run())
    await wait_until(lambda: all(x.is_ready for x in dead.campaigns[7].agents.values()))
    runner.cancel()  # it dies: no drain, no release
    await asyncio.gather(runner, return_exceptions=True)
    legs = dict(table.legs)
    assert sorted(legs) == [1, 2] and all(legs.values())
    table.owner.clear()  # its leases expired
    engine, fake = await _engine(table, "B")
    up = pbx.ChannelState.UP
    fake.live = [
        pbx.LiveChannel(str(legs[1]), "PJSIP/agent1-1", up),
        pbx.LiveChannel(str(legs[2]), "PJSIP/agent2-2", up, bridged_to="customer"),
    ]
    runner = asyncio.create_task(engine.run())
    try:
        run = engine.campaigns[7]
        await wait_until(lambda: run.agents["1"].is_ready)
        assert run.agents["1"].leg_id == legs[1]
        await asyncio.sleep(3 * SETTINGS.agent_lease_s)
        assert run.agents["2"].state is ag.AgentState.LOGGED_OUT  # still on that call
        fake.live[1] = pbx.LiveChannel(str(legs[2]), "PJSIP/agent2-2", up)  # the call ended
        await wait_until(lambda: run.agents["2"].is_ready)
        assert run.agents["2"].leg_id == legs[2]
        assert fake.logins == []  # neither headset was called again
        # An adopted leg is followed like our own: hung up, the agent is logged out.
        fake.queue.put_nowait(pbx.HungUp(str(legs[1]), 16, "normal", fake.now()))
        await wait_until(lambda: run.agents["1"].state is ag.AgentState.LOGGED_OUT)
    finally:
        await _stop(engine, runner)


async def test_no_call_goes_to_agents_whose_leases_could_not_be_renewed() -> None:
    """The database goes away: the agent leases cannot be renewed. Once they would have run
    out (another daemon may own the agents now), no call is dialed and an answered call
    hears the abandon message at once instead of being bridged."""
    table = LeaseTable()
    engine, fake = await _engine(table, "A", leads=3)
    runner = asyncio.create_task(engine.run())
    try:
        run = engine.campaigns[7]
        await wait_until(lambda: len(fake.dialed) == 2)  # one call per ready agent
        first = fake.dialed["+12025550001"]

        table.away = True
        await asyncio.sleep(SETTINGS.agent_lease_s * 1.5)
        fake.queue.put_nowait(pbx.Answered(first, fake.now()))
        await wait_until(lambda: run.calls[first].state.value == "abandoning")
        assert first not in fake.bridges
        assert any(x.is_ready for x in run.agents.values())  # ready, yet not ours for sure
        assert len(fake.dialed) == 2  # the third lead waits
    finally:
        await _stop(engine, runner)

"""Agent leases (`dialer.store.agents.lease_agents`, `claim_agent`, `release_agents`) on a real
Postgres: two daemons competing for a campaign's agents each get their own (never the same),
a daemon seen running the campaign gets its share, a lease that expires goes to the other
daemon (and the stalled one learns it lost it), and agents are given back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text

from dialer.store import agents as agent_repo
from dialer.store.engine import Database
from dialer.store.records import AgentLeases
from tests.fixtures.db import T0, Seeded, seed_campaign

LEASE_S = 15.0


async def _seed(db: Database, agents: int) -> tuple[Seeded, list[int]]:
    async with db.transaction() as s:
        seeded = await seed_campaign(s, leads=20)
        ids = []
        for i in range(agents):
            a = await agent_repo.create_agent(
                s, name=f"agent-{i}", sip_endpoint=f"sip-{i}", campaign_id=seeded.campaign.id
            )
            ids.append(a.id)
    return seeded, ids


async def _owners(db: Database) -> dict[int, str | None]:
    async with db.transaction() as s:
        rows = await s.execute(text("SELECT id, owner FROM agents ORDER BY id"))
        return {r.id: r.owner for r in rows}


async def _round(
    db: Database,
    owner: str,
    want: dict[int, int],
    held: set[int] | frozenset[int] = frozenset(),
    *,
    at: timedelta = timedelta(0),
) -> AgentLeases:
    async with db.transaction() as s:
        return await agent_repo.lease_agents(
            s, owner, T0 + at, LEASE_S, want, held, campaign_ids=set(want.values())
        )


async def test_two_daemons_claiming_at_once_never_share_an_agent(store_db: Database) -> None:
    seeded, ids = await _seed(store_db, 6)
    want = {a: seeded.campaign.id for a in ids}
    # Both claim inside open transactions at the same time: the second skips the rows the
    # first holds (SKIP LOCKED) instead of waiting, and never takes one of them.
    async with store_db.sessions() as a, store_db.sessions() as b, a.begin():
        got_a = await agent_repo.lease_agents(a, "A", T0, LEASE_S, want, ())
        async with b.begin():
            got_b = await asyncio.wait_for(
                agent_repo.lease_agents(b, "B", T0, LEASE_S, want, ()), 5
            )
    assert got_a.owned == frozenset(ids)  # nobody else ran the campaign: A may take all
    assert got_b.owned == frozenset()
    owners = await _owners(store_db)
    assert owners == dict.fromkeys(ids, "A")
    # Claimed concurrently from many tasks, each agent still ends up with exactly one owner.
    async with store_db.transaction() as s:
        await agent_repo.release_agents(s, "A")
    results = await asyncio.gather(*(_round(store_db, f"D{i}", want) for i in range(4)))
    owned = [r.owned for r in results]
    assert sum(len(o) for o in owned) == len(ids)
    assert frozenset().union(*owned) == frozenset(ids)
    owners = await _owners(store_db)
    assert all(owners[a] == f"D{i}" for i, o in enumerate(owned) for a in o)


async def test_a_daemon_seen_running_the_campaign_gets_its_share(store_db: Database) -> None:
    seeded, ids = await _seed(store_db, 5)
    want = {a: seeded.campaign.id for a in ids}
    runs = [seeded.campaign.id]
    # B says it runs the campaign (a round that claims nothing: it has just started it).
    async with store_db.transaction() as s:
        got = await agent_repo.lease_agents(s, "B", T0, LEASE_S, {}, (), campaign_ids=runs)
    assert got.owned == set()
    assert got.other_daemons == 0
    # A takes ceil(5 / 2) = 3, and no more while B is around.
    got_a = await _round(store_db, "A", want)
    assert got_a.owned == frozenset(ids[:3])
    assert got_a.other_daemons == 1
    again = await _round(store_db, "A", want, got_a.owned, at=timedelta(seconds=5))
    assert again.owned == got_a.owned and not again.lost
    got_b = await _round(store_db, "B", want, at=timedelta(seconds=5))
    assert got_b.owned == frozenset(ids[3:])
    owners = await _owners(store_db)
    assert [owners[a] for a in ids] == ["A", "A", "A", "B", "B"]
    # B's agent leases expire but its daemon row is renewed: A still leaves them to B.
    async with store_db.transaction() as s:
        later = T0 + timedelta(seconds=30)
        await agent_repo.lease_agents(s, "B", later, LEASE_S, {}, (), campaign_ids=runs)
    got_a = await _round(store_db, "A", want, got_a.owned, at=timedelta(seconds=31))
    assert got_a.owned == frozenset(ids[:3])
    # B stops renewing (a crash): once its row has expired, A takes the rest.
    got_a = await _round(store_db, "A", want, got_a.owned, at=timedelta(seconds=46))
    assert got_a.owned == frozenset(ids)
    # A clean stop deletes the daemon's row with its leases.
    async with store_db.transaction() as s:
        assert await agent_repo.release_agents(s, "A") == 5
        rows = await s.execute(text("SELECT owner FROM daemons ORDER BY owner"))
        assert [r.owner for r in rows] == ["B"]


async def test_an_expired_lease_goes_to_the_other_daemon(store_db: Database) -> None:
    seeded, ids = await _seed(store_db, 2)
    want = {a: seeded.campaign.id for a in ids}
    got_a = await _round(store_db, "A", want)
    assert got_a.owned == frozenset(ids)
    # Before expiry: B gets nothing, and a log-in through B is refused, naming A.
    assert (await _round(store_db, "B", want, at=timedelta(seconds=LEASE_S - 1))).owned == set()
    async with store_db.transaction() as s:
        holder = await agent_repo.claim_agent(
            s, "B", T0 + timedelta(seconds=LEASE_S - 1), LEASE_S, ids[0]
        )
    assert holder == "A"
    # A renews at 10 s: its lease now runs to 25 s, so B still gets nothing at 20 s.
    assert (await _round(store_db, "A", want, got_a.owned, at=timedelta(seconds=10))).owned == (
        got_a.owned
    )
    assert (await _round(store_db, "B", want, at=timedelta(seconds=20))).owned == set()
    # A stalls past its lease: B takes the agents at 26 s ...
    got_b = await _round(store_db, "B", want, at=timedelta(seconds=26))
    assert got_b.owned == frozenset(ids)
    # ... and A's next renewal finds them lost to B (it claims nothing back).
    late = await _round(store_db, "A", want, got_a.owned, at=timedelta(seconds=27))
    assert late.owned == frozenset()
    assert late.lost == dict.fromkeys(ids, "B")
    async with store_db.transaction() as s:
        owners = await agent_repo.agent_owners(s, ids, T0 + timedelta(seconds=27))
    assert owners == dict.fromkeys(ids, "B")


async def test_agents_are_given_back(store_db: Database) -> None:
    seeded, ids = await _seed(store_db, 3)
    want = {a: seeded.campaign.id for a in ids}
    got = await _round(store_db, "A", want)
    assert got.owned == frozenset(ids)
    # An agent A no longer wants (moved to a campaign A does not run) is given back at once.
    fewer = {a: c for a, c in want.items() if a != ids[0]}
    got = await _round(store_db, "A", fewer, got.owned, at=timedelta(seconds=1))
    assert got.released == {ids[0]}
    assert got.owned == frozenset(ids[1:])
    owners = await _owners(store_db)
    assert owners[ids[0]] is None
    # B claims it over the API; A's release of everything (clean stop) leaves B's alone.
    async with store_db.transaction() as s:
        assert await agent_repo.claim_agent(s, "B", T0, LEASE_S, ids[0]) is None
        assert await agent_repo.release_agents(s, "A") == 2
    assert await _owners(store_db) == {ids[0]: "B", ids[1]: None, ids[2]: None}
    async with store_db.transaction() as s:
        rows = await s.execute(
            text("SELECT count(*) FROM agents WHERE (owner IS NULL) <> (owner_expires_at IS NULL)")
        )
        assert rows.scalar_one() == 0


async def test_agents_of_a_campaign_just_started_go_only_to_a_daemon_alone(
    store_db: Database,
) -> None:
    seeded, ids = await _seed(store_db, 2)
    settling = {a: seeded.campaign.id for a in ids}
    runs = [seeded.campaign.id]
    async with store_db.transaction() as s:
        got = await agent_repo.lease_agents(
            s, "A", T0, LEASE_S, {}, (), campaign_ids=runs, settling=settling
        )
    assert got.owned == frozenset(ids) and got.other_daemons == 0  # alone: at once
    async with store_db.transaction() as s:
        await agent_repo.release_agents(s, "A")
        await agent_repo.lease_agents(s, "B", T0, LEASE_S, {}, (), campaign_ids=[])
        got = await agent_repo.lease_agents(
            s, "A", T0, LEASE_S, {}, (), campaign_ids=runs, settling=settling
        )
    assert got.owned == frozenset() and got.other_daemons == 1  # B may start it: wait

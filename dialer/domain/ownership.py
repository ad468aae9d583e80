"""Which daemon owns an agent, when several daemons run the same campaigns. Pure.

Rules:
- An agent belongs to one daemon at a time: the one holding its lease (`agents.owner`, renewed
  every third of `dialer.agent_lease_s`; `dialer.store.agents.lease_agents`). Only the owner
  calls the agent's headset and hands it calls.
- A daemon claims agents of the campaigns it runs that nobody owns or whose lease expired, but
  at most its share of each campaign: the campaign's agents divided by the daemons running it
  (this one and the others seen holding its agents or its leads), rounded up. So two daemons
  that start a campaign together split its agents instead of the quicker one taking all.
- Agents are never taken away for balance (that would hang up a headset): a daemon that comes
  later gets the agents nobody holds, and those another daemon gives back (stop, move).
- Which agents a daemon wants: with autologin, every agent of the campaigns it runs; without,
  only those logged in here (over the API), so the API of any daemon can log an agent in.
"""

from __future__ import annotations

from math import ceil


def claim_quota(agents: int, held: int, other_daemons: int) -> int:
    """How many more agents of a campaign with `agents` agents a daemon holding `held` of them
    may claim while `other_daemons` other daemons run it."""
    if agents < 0 or held < 0 or other_daemons < 0:
        raise ValueError("counts must not be negative")
    share = ceil(agents / (other_daemons + 1))
    return max(0, share - held)

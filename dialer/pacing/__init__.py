"""Pacing: how many calls to start now. Pure code, shared by the daemon and the simulator.

- `base`: the interface (snapshot in, decision out; outcomes fed back) and `ProgressivePacer`
- `modes`: the campaign modes and `make_pacer`
- `ratio`: preview, power (fixed lines per ready agent) and the adaptive-ratio baseline
- `predictive`: look-ahead pacing against a target abandonment and a cap
- `risk`: the chance a new call finds no agent, summed exactly (small teams) or as normal
- `estimators`: online contact rate and duration distributions
- `surge`: the contact rate now from the calls in flight, and the surge guard
- `ledger`: abandonment accounting over rolling windows (24 hours, 30 days, life)
- `limits`: the hard limits every pacer obeys
- `callrate`: calls per second, per trunk and per campaign, held in every sliding second
"""

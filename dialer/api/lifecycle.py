"""A campaign's status as supervisors drive it. Pure and table-driven.

    start   draft, paused, stopped, finished -> running   (its agents are called to log in)
    pause   running -> paused     no new calls; calls in progress go on
    resume  paused -> running
    stop    running, paused -> stopped   no new calls; leased leads go back to the list

Any other (action, status) pair is refused with `IllegalCampaignAction`, and nothing changes.
"""

from __future__ import annotations

import enum

from dialer.store.records import CampaignStatus as S


class Action(enum.StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


_TRANSITIONS: dict[Action, tuple[frozenset[S], S]] = {
    Action.START: (frozenset({S.DRAFT, S.PAUSED, S.STOPPED, S.FINISHED}), S.RUNNING),
    Action.PAUSE: (frozenset({S.RUNNING}), S.PAUSED),
    Action.RESUME: (frozenset({S.PAUSED}), S.RUNNING),
    Action.STOP: (frozenset({S.RUNNING, S.PAUSED}), S.STOPPED),
}


class IllegalCampaignAction(Exception):
    def __init__(self, action: Action, status: S) -> None:
        allowed = ", ".join(sorted(s.value for s in _TRANSITIONS[action][0]))
        super().__init__(
            f"cannot {action.value} a campaign that is {status.value} (only when {allowed})"
        )
        self.action = action
        self.status = status


def next_status(action: Action, status: S) -> S:
    sources, target = _TRANSITIONS[action]
    if status not in sources:
        raise IllegalCampaignAction(action, status)
    return target

"""What the core is told, besides the PBX's own events (`dialer.pbx.PbxEvent`): timers that
fired, the periodic tick, supervisor and agent controls, and the answers to its commands.

Every input is a frozen value; `Core.handle(input, now)` takes one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dialer import pbx
from dialer.core.commands import TimerKey
from dialer.pacing.history import CampaignHistory
from dialer.pacing.others import OthersTally
from dialer.store.records import Campaign, LeasedLead, Takeover, Trunk

# -- time ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimerFired:
    key: TimerKey


@dataclass(frozen=True, slots=True)
class Tick:
    """At least every `tick_s`: stale calls are swept and every campaign paced."""


# -- the daemon's life -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadCampaign:
    """A running campaign read at start-up, with its agents (id, SIP endpoint)."""

    campaign: Campaign
    trunk: Trunk
    agents: Sequence[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class StartDialing:
    """The daemon runs: calls may be made, agents logged in (autologin)."""


@dataclass(frozen=True, slots=True)
class StopDialing:
    """Graceful stop begins: no new calls; live ones may end by themselves."""


@dataclass(frozen=True, slots=True)
class CloseLeftCalls:
    """Graceful stop, the grace period over: calls with no hang-up event are closed here."""


@dataclass(frozen=True, slots=True)
class ReturnLeads:
    """Graceful stop: leads leased and never dialed go back (`ReleaseLeads`)."""


@dataclass(frozen=True, slots=True)
class RecordsFailing:
    """The call records cannot be written now (the database is away), or can again: no new
    call while they cannot."""

    failing: bool


# -- controls (HTTP API, CLI) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginAgent:
    agent_id: str


@dataclass(frozen=True, slots=True)
class LogoutAgent:
    agent_id: str


@dataclass(frozen=True, slots=True)
class PauseAgent:
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ResumeAgent:
    agent_id: str


@dataclass(frozen=True, slots=True)
class EndWrapup:
    agent_id: str


@dataclass(frozen=True, slots=True)
class DialOffer:
    """Preview: the agent dials the lead shown to it."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class SkipOffer:
    """Preview: the agent skips the lead shown to it."""

    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class PauseCampaign:
    campaign_id: int


@dataclass(frozen=True, slots=True)
class ResumeCampaign:
    campaign_id: int


@dataclass(frozen=True, slots=True)
class StopCampaign:
    campaign_id: int


@dataclass(frozen=True, slots=True)
class AddCampaign:
    campaign: Campaign
    trunk: Trunk
    agents: Sequence[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class AddAgent:
    campaign_id: int
    agent_id: int
    endpoint: str


@dataclass(frozen=True, slots=True)
class UpdateCampaign:
    campaign: Campaign
    trunk: Trunk


@dataclass(frozen=True, slots=True)
class UpdateTrunk:
    trunk: Trunk


@dataclass(frozen=True, slots=True)
class MoveAgent:
    agent_id: int
    campaign_id: int | None
    endpoint: str


# -- answers to commands and services --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DialSent:
    """The originate of `Dial` goes now (the rules let it): it counts towards the
    calls-per-second limits from this moment."""

    call_id: str


@dataclass(frozen=True, slots=True)
class DialRefused:
    """The rules refused the lead right before its originate (`Dial`)."""

    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class DialFailed:
    """The PBX did not take the originate (`Dial`)."""

    call_id: str
    error: str


@dataclass(frozen=True, slots=True)
class BridgeFailed:
    call_id: str
    agent_id: str
    error: str


@dataclass(frozen=True, slots=True)
class AgentCallFailed:
    """The agent's headset could not be called (`CallAgent`)."""

    agent_id: str
    leg_id: str
    error: str


@dataclass(frozen=True, slots=True)
class LeadsLeased:
    """The answer to `LeaseLeads` (empty when none were dialable or the store failed)."""

    campaign_id: int
    leads: Sequence[LeasedLead]


@dataclass(frozen=True, slots=True)
class CallbacksDue:
    """Due callbacks leased for the campaign: they go to the front of its buffer."""

    campaign_id: int
    leads: Sequence[LeasedLead]


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """The answer to `RestoreHistory`: None when it could not be read."""

    campaign_id: int
    token: int
    ledgers: bool
    history: CampaignHistory | None
    read_at: float  # the core time at which the history was read (its `wall_now`)


@dataclass(frozen=True, slots=True)
class OthersRead:
    """Other daemons' finished calls on the campaign, per minute since `since` (wall epoch),
    read for the tally the campaign had then."""

    campaign_id: int
    tally: OthersTally
    since: float
    rows: Sequence[tuple[float, int, int, int]]
    wall_now: float


@dataclass(frozen=True, slots=True)
class AgentLeasesRenewed:
    """A round of agent leases succeeded at `asked_at`: the agents owned now, and those
    another daemon took (-> that daemon)."""

    owned: frozenset[str]
    lost: Mapping[str, str | None]
    asked_at: float


@dataclass(frozen=True, slots=True)
class AgentClaimed:
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentsGivenBack:
    """Clean stop: every agent lease was given back."""


@dataclass(frozen=True, slots=True)
class ClaimedLegs:
    """For agents just claimed (or left busy on a dead daemon's call): the headset leg noted
    with each one's lease, and the PBX's live channels."""

    agent_ids: Sequence[str]
    legs: Mapping[int, str | None]
    live: Mapping[str, pbx.LiveChannel]


@dataclass(frozen=True, slots=True)
class Adopt:
    """What dead processes left (taken over in the store) that the PBX still has."""

    takeover: Takeover
    live: Mapping[str, pbx.LiveChannel]


Input = (
    pbx.PbxEvent
    | TimerFired
    | Tick
    | LoadCampaign
    | StartDialing
    | StopDialing
    | CloseLeftCalls
    | ReturnLeads
    | RecordsFailing
    | LoginAgent
    | LogoutAgent
    | PauseAgent
    | ResumeAgent
    | EndWrapup
    | DialOffer
    | SkipOffer
    | PauseCampaign
    | ResumeCampaign
    | StopCampaign
    | AddCampaign
    | AddAgent
    | UpdateCampaign
    | UpdateTrunk
    | MoveAgent
    | DialSent
    | DialRefused
    | DialFailed
    | BridgeFailed
    | AgentCallFailed
    | LeadsLeased
    | CallbacksDue
    | HistoryRead
    | OthersRead
    | AgentLeasesRenewed
    | AgentClaimed
    | AgentsGivenBack
    | ClaimedLegs
    | Adopt
)

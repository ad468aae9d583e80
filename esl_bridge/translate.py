"""FreeSWITCH events -> `dialer.pbx` events. Pure: decoded ESL events in, frozen values out.

Rules (seen on FreeSWITCH 1.10.12, transcripts in tests/data/esl/):
- The dialer's legs carry the channel variable `dialer_leg` (customer | agent), set on the
  originate; the event socket is filtered on it, and events of other channels are ignored.
  Channel events are keyed by `Unique-ID`, which is the dialer's own id (`origination_uuid`).
- The originate's `Job-UUID` is the channel id too. Its BACKGROUND_JOB arrives only when the
  originate is over: `+OK <uuid>` once the leg answered *and was handed to its dialplan
  extension*; `-ERR <CAUSE>` otherwise. A leg is "ready" (uuid_bridge / uuid_transfer take
  effect) only after that `+OK`: a uuid_transfer sent at CHANNEL_ANSWER was overridden by the
  originate's own transfer into the dialplan.
- CHANNEL_CREATE -> OriginateAccepted; CHANNEL_PROGRESS / _PROGRESS_MEDIA (180 / 183) ->
  Ringing; CHANNEL_ANSWER -> Answered + DialEnded(ANSWER).
- CHANNEL_HANGUP_COMPLETE -> (DialEnded with the status of the cause, if never answered) +
  HungUp with `variable_hangup_cause_q850` and, for a leg never answered, the SIP final
  response in `variable_sip_term_status` (a 503 gave NORMAL_TEMPORARY_FAILURE, Q.850 41 and
  sip_term_status 503; a far end that does not listen gave the same). The result is the
  dialer's (dialer.domain.causes), the same on both PBXs. A `-ERR` job for a leg that never got a
  CHANNEL_CREATE (unknown gateway: `-ERR INVALID_GATEWAY`) -> OriginateFailed, unless the
  dialer had hung that leg up: then it is a cancel (DialEnded CANCEL + HungUp), as when the
  channel's own events come first.
- `uuid_bridge A B` gives one CHANNEL_BRIDGE and one CHANNEL_UNBRIDGE, both on A only, naming B
  in `Bridge-B-Unique-ID`: both legs get Bridged, and each gets one Unbridged (from the
  UNBRIDGE or from the hang-up of either leg, whichever comes first).
- PLAYBACK_START on a leg -> MessageStarted (the only playbacks in the dialer's dialplan are
  the abandon message's parts; each part gives one, and the call keeps the first's time).
- Event-Sequence is not monotonic on the wire; nothing here depends on it.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

from dialer import pbx
from dialer.domain.freeswitch_causes import dial_status, q850
from esl_bridge.codec import Event

LEG_VARIABLE = "dialer_leg"
LEG_HEADER = f"variable_{LEG_VARIABLE}"
LEG_KINDS = ("customer", "agent")

# What the client subscribes to; filters on LEG_HEADER and BACKGROUND_JOB keep the rest out.
WANTED_EVENTS = (
    "CHANNEL_CREATE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HANGUP_COMPLETE",
    "PLAYBACK_START",
    "BACKGROUND_JOB",
)


@dataclass(slots=True)
class _Leg:
    accepted: bool = False
    ringing: bool = False
    answered: bool = False
    ready: bool = False
    peer: str | None = None
    cancelling: bool = False  # the dialer hung it up before the answer


class EslTranslator:
    """Translate FreeSWITCH events to PBX events, one event at a time.

    Every leg ends with exactly one terminal event (HungUp or OriginateFailed); events that
    arrive for it afterwards (FreeSWITCH does not deliver in order) are dropped.
    """

    FINISHED_MEMORY = 4096  # how many ended legs are remembered to drop their late events

    def __init__(self) -> None:
        self._legs: dict[str, _Leg] = {}
        self._jobs: set[str] = set()  # originates whose BACKGROUND_JOB is still due
        self._finished: set[str] = set()
        self._finished_order: deque[str] = deque()

    def _finish(self, channel_id: str) -> None:
        self._legs.pop(channel_id, None)
        self._jobs.discard(channel_id)
        if channel_id not in self._finished:
            self._finished.add(channel_id)
            self._finished_order.append(channel_id)
            if len(self._finished_order) > self.FINISHED_MEMORY:
                self._finished.discard(self._finished_order.popleft())

    def originate_sent(self, channel_id: str) -> None:
        """The client sent `bgapi originate` with Job-UUID = origination_uuid = channel_id."""
        self._finished.discard(channel_id)
        self._jobs.add(channel_id)
        self._legs.setdefault(channel_id, _Leg())

    def originate_refused(self, channel_id: str, reason: str, at: float) -> list[pbx.PbxEvent]:
        """The bgapi command itself was refused (the reply, not the job, said -ERR)."""
        self._finish(channel_id)
        return [pbx.OriginateFailed(channel_id, reason, at)]

    def withdraw(self, channel_id: str) -> None:
        """Forget an originate that was never sent after all."""
        if channel_id in self._jobs:
            self._jobs.discard(channel_id)
            self._legs.pop(channel_id, None)

    def cancel_requested(self, channel_id: str) -> None:
        """The dialer hangs up a leg it originated before it was answered."""
        leg = self._legs.get(channel_id)
        if leg is not None:
            leg.cancelling = True

    def answered(self, channel_id: str) -> bool:
        leg = self._legs.get(channel_id)
        return leg is not None and leg.answered

    def ready(self, channel_id: str) -> bool:
        """True once the leg runs its dialplan extension (uuid_bridge/uuid_transfer stick)."""
        leg = self._legs.get(channel_id)
        return leg is not None and leg.ready

    def known(self) -> set[str]:
        return set(self._legs)

    def adopt(self, live: pbx.LiveChannel) -> None:
        """Take over a channel found by reconciliation (after a reconnect or a restart)."""
        leg = self._legs.setdefault(live.channel_id, _Leg())
        leg.accepted = True
        if live.state is pbx.ChannelState.UP:
            leg.answered = leg.ready = True
        elif live.state is pbx.ChannelState.RINGING:
            leg.ringing = True
        leg.peer = live.bridged_to

    def forget_missing(self, live_ids: set[str]) -> list[str]:
        """After a reconnect: drop created legs the PBX no longer has; return their ids.

        Originates not yet seen as channels are kept: their CHANNEL_CREATE may still come.
        """
        gone = [cid for cid, leg in self._legs.items() if leg.accepted and cid not in live_ids]
        for cid in gone:
            self._finish(cid)
        return gone

    def event(self, event: Event, at: float) -> list[pbx.PbxEvent]:
        name = event.name
        if name == "BACKGROUND_JOB":
            return self._job(event, at)
        if event.headers.get(LEG_HEADER) not in LEG_KINDS:
            return []
        uid = event.headers.get("Unique-ID", "")
        if not uid or uid in self._finished:
            return []
        if name == "CHANNEL_HANGUP_COMPLETE":
            return self._hangup(uid, event, at)
        leg = self._legs.setdefault(uid, _Leg())
        out: list[pbx.PbxEvent] = []
        if not leg.accepted:
            leg.accepted = True
            out.append(pbx.OriginateAccepted(uid, at))
        if name in ("CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA"):
            if not leg.ringing and not leg.answered:
                leg.ringing = True
                out.append(pbx.Ringing(uid, at))
        elif name == "CHANNEL_ANSWER":
            if not leg.answered:
                leg.answered = True
                out += [pbx.Answered(uid, at), pbx.DialEnded(uid, pbx.DialStatus.ANSWER, at)]
        elif name == "CHANNEL_BRIDGE":
            out += self._bridge(event, uid, at)
        elif name == "CHANNEL_UNBRIDGE":
            out += self._unbridge(uid, at)
        elif name == "PLAYBACK_START":
            out.append(pbx.MessageStarted(uid, at))
        return out

    def _job(self, event: Event, at: float) -> list[pbx.PbxEvent]:
        job = event.headers.get("Job-UUID", "")
        if job not in self._jobs or event.headers.get("Job-Command") != "originate":
            return []
        self._jobs.discard(job)
        result = event.body.strip()
        leg = self._legs.get(job)
        if result.startswith("+OK"):
            out: list[pbx.PbxEvent] = []
            if leg is None:
                return out
            leg.ready = True
            if not leg.accepted:
                leg.accepted = True
                out.append(pbx.OriginateAccepted(job, at))
            return out
        if leg is not None and leg.accepted:
            return []  # the channel existed: its hang-up tells the result
        self._finish(job)
        reason = result.removeprefix("-ERR").strip() or "originate failed"
        if leg is not None and leg.cancelling:
            # uuid_kill right after the originate: the job's `-ERR ORIGINATOR_CANCEL` can beat
            # the channel's CHANNEL_CREATE and CHANNEL_HANGUP_COMPLETE (FreeSWITCH 1.10.12
            # dispatches events from several threads), which are then dropped as late. The
            # dialer asked for this end: report the cancel it would have seen from the channel.
            return [
                pbx.DialEnded(job, pbx.DialStatus.CANCEL, at),
                pbx.HungUp(job, q850(reason), reason, at),
            ]
        return [pbx.OriginateFailed(job, reason, at)]

    def _bridge(self, event: Event, uid: str, at: float) -> list[pbx.PbxEvent]:
        a = event.headers.get("Bridge-A-Unique-ID") or uid
        b = event.headers.get("Bridge-B-Unique-ID") or event.headers.get("Other-Leg-Unique-ID")
        if not b or a == b:
            return []
        out: list[pbx.PbxEvent] = []
        for this, other in ((a, b), (b, a)):
            leg = self._legs.get(this)
            if leg is None:
                continue  # not one of ours
            if leg.peer != other:
                leg.peer = other
                out.append(pbx.Bridged(this, other, at))
        return out

    def _unbridge(self, uid: str, at: float) -> list[pbx.PbxEvent]:
        leg = self._legs.get(uid)
        if leg is None or leg.peer is None:
            return []
        peer, leg.peer = leg.peer, None
        out: list[pbx.PbxEvent] = [pbx.Unbridged(uid, at)]
        other = self._legs.get(peer)
        if other is not None and other.peer == uid:
            other.peer = None
            out.append(pbx.Unbridged(peer, at))
        return out

    def _hangup(self, uid: str, event: Event, at: float) -> list[pbx.PbxEvent]:
        leg = self._legs.get(uid) or _Leg()
        out: list[pbx.PbxEvent] = self._unbridge(uid, at)
        self._finish(uid)
        cause_name = event.headers.get("Hangup-Cause") or event.headers.get(
            "variable_hangup_cause", "NORMAL_CLEARING"
        )
        if not leg.answered:
            out.append(pbx.DialEnded(uid, dial_status(cause_name), at))
        raw = event.headers.get("variable_hangup_cause_q850", "")
        cause = int(raw) if raw.isdigit() else q850(cause_name)
        out.append(pbx.HungUp(uid, cause, cause_name, at, None if leg.answered else _sip(event)))
        return out


def _sip(event: Event) -> int | None:
    """The SIP final response of the leg (`sip_term_status`), or None (no SIP answer at all:
    the dialer's own time-out or cancel)."""
    raw = event.headers.get("variable_sip_term_status", "").strip()
    if len(raw) == 3 and raw.isdigit() and raw[0] in "3456":
        return int(raw)
    return None


# --- live channels ----------------------------------------------------------------------------

_CALLSTATE = {
    "RINGING": pbx.ChannelState.RINGING,
    "EARLY": pbx.ChannelState.RINGING,
    "RING_WAIT": pbx.ChannelState.RINGING,
    "ACTIVE": pbx.ChannelState.UP,
    "HELD": pbx.ChannelState.UP,
    "UNHELD": pbx.ChannelState.UP,
}


def _rows(text: str) -> list[dict[str, str]]:
    """The rows of a `show ... as json` answer (`{"row_count":0}` has no rows at all)."""
    text = text.strip()
    if not text.startswith("{"):
        raise ValueError(f"not a JSON listing: {text[:80]!r}")
    data = json.loads(text)
    rows = data.get("rows", []) if isinstance(data, dict) else []
    return [row for row in rows if isinstance(row, dict)]


def live_channels(channels_json: str, calls_json: str) -> list[pbx.LiveChannel]:
    """`show channels as json` + `show calls as json` -> the PBX's channels, with bridge peers.

    `show channels` lists every channel but not who is bridged to whom (its call_uuid still
    names the last peer after the bridge ended); `show calls` pairs bridged legs as uuid/b_uuid.
    """
    peers: dict[str, str] = {}
    for row in _rows(calls_json):
        a, b = row.get("uuid", ""), row.get("b_uuid", "")
        if a and b:
            peers[a], peers[b] = b, a
    out: list[pbx.LiveChannel] = []
    for row in _rows(channels_json):
        uid = row.get("uuid", "")
        if not uid:
            continue
        state = _CALLSTATE.get(row.get("callstate", "").upper(), pbx.ChannelState.DOWN)
        out.append(
            pbx.LiveChannel(
                channel_id=uid, name=row.get("name", ""), state=state, bridged_to=peers.get(uid)
            )
        )
    return out

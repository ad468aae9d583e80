"""AMI events -> `dialer.pbx` events. Pure: header mappings in, frozen event values out.

`AmiTranslator` keeps the little state AMI forces on us: which channels sit in which bridge
(BridgeEnter names only the channel entering, so pairing needs memory). Everything is keyed by
the channel's `Uniqueid`, which for channels the dialer starts is our own id (`Originate
ChannelId=`), so events of other channels are translated too and simply ignored by the tracker.

Asterisk facts this relies on (seen on the Asterisk 22 rig; the transcripts in tests/data/ami/
show them):
- Newstate ChannelState 5 (Ringing) = the far end sent 180/183; 6 (Up) = answered.
- DialEnd carries the outbound leg as DestUniqueid when the dial came from Originate.
- Results come from DialEnd/Hangup, never from OriginateResponse (its Reason is 0 for a busy
  line, the same as for a missing endpoint).
- A callee who hangs up while the dialplan runs an application (the abandon message's Playback)
  gets `SoftHangupRequest Cause: 16` and then `Hangup Cause: 0`: the Hangup's cause 0 is then
  replaced by the request's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from dialer import pbx

DIAL_STATUS = {
    "ANSWER": pbx.DialStatus.ANSWER,
    "BUSY": pbx.DialStatus.BUSY,
    "NOANSWER": pbx.DialStatus.NOANSWER,
    "CONGESTION": pbx.DialStatus.CONGESTION,
    "CHANUNAVAIL": pbx.DialStatus.CHANUNAVAIL,
    "CANCEL": pbx.DialStatus.CANCEL,
}

# The only AMI events the dialer needs. Asterisk sends the dialer's account just these: the
# `eventfilter` lines of deploy/asterisk/manager.conf name the same events (a unit test compares
# them). They are not asked for with the Filter action: it needs the "system" write class.
WANTED_EVENTS = (
    "Newchannel",
    "Newstate",
    "DialEnd",
    "Hangup",
    "SoftHangupRequest",
    "HangupRequest",
    "BridgeEnter",
    "BridgeLeave",
    "UserEvent",
    # The reply to an Originate to a missing endpoint is only this event (no channel exists);
    # the whitelist would hide it otherwise (seen on the rig).
    "OriginateResponse",
    "FullyBooted",
    "Shutdown",
)

MESSAGE_USER_EVENT = "DialerMessage"  # the abandon message starts
AMD_USER_EVENT = "DialerAmd"  # AMD() finished: Status (AMDSTATUS), Cause (AMDCAUSE)
MACHINE_MESSAGE_USER_EVENT = "DialerMachineMessage"  # the message left on a machine starts

Headers = Mapping[str, Any]  # panoramisk gives a list for a repeated header


def _get(headers: Headers, key: str) -> str:
    value = headers.get(key)
    if value is None:
        return ""
    if isinstance(value, list):  # a repeated header; take the last
        return str(value[-1]) if value else ""
    return str(value)


_CAUSE_TEXT = {16: "Normal Clearing", 17: "User busy", 19: "No user responding"}


def _cause(headers: Headers) -> int:
    try:
        return int(_get(headers, "Cause") or 0)
    except ValueError:
        return 0


class AmiTranslator:
    """Translate AMI events to PBX events, one event at a time."""

    def __init__(self) -> None:
        self._bridges: dict[str, list[str]] = {}  # bridge id -> channel ids in it
        self._bridge_of: dict[str, str] = {}  # channel id -> bridge id
        self._requested: dict[str, int] = {}  # channel id -> cause of its hang-up request

    def reset(self) -> None:
        """Forget bridge membership (after a reconnect the PBX's state is re-read)."""
        self._bridges.clear()
        self._bridge_of.clear()
        self._requested.clear()

    def event(self, headers: Headers, at: float) -> list[pbx.PbxEvent]:
        name = _get(headers, "Event")
        uid = _get(headers, "Uniqueid")
        if name == "Newchannel":
            return [pbx.OriginateAccepted(uid, at)]
        if name == "Newstate":
            state = _get(headers, "ChannelState")
            if state == "5":
                return [pbx.Ringing(uid, at)]
            if state == "6":
                return [pbx.Answered(uid, at)]
            return []
        if name == "DialEnd":
            status = DIAL_STATUS.get(_get(headers, "DialStatus").upper())
            dest = _get(headers, "DestUniqueid") or uid
            if status is None or not dest:
                return []
            return [pbx.DialEnded(dest, status, at)]
        if name in ("SoftHangupRequest", "HangupRequest"):
            cause = _cause(headers)
            if cause:
                self._requested[uid] = cause
            return []
        if name == "Hangup":
            self._leave(uid)
            requested = self._requested.pop(uid, 0)
            cause = _cause(headers)
            text = _get(headers, "Cause-txt")
            if cause == 0 and requested:
                cause, text = requested, _CAUSE_TEXT.get(requested, "")
            return [pbx.HungUp(uid, cause, text, at)]
        if name == "BridgeEnter":
            return self._enter(_get(headers, "BridgeUniqueid"), uid, at)
        if name == "BridgeLeave":
            return [pbx.Unbridged(uid, at)] if self._leave(uid) else []
        if name == "UserEvent":
            kind = _get(headers, "UserEvent")
            if kind in (MESSAGE_USER_EVENT, MACHINE_MESSAGE_USER_EVENT):
                return [pbx.MessageStarted(uid, at)]
            if kind == AMD_USER_EVENT:
                verdict = _get(headers, "Status").upper()
                return [
                    pbx.MachineDetected(
                        uid, verdict == "MACHINE", verdict, _get(headers, "Cause"), at
                    )
                ]
        return []

    def originate_response(
        self, headers: Headers, channel_id: str, at: float
    ) -> list[pbx.PbxEvent]:
        """Translate the action's reply(ies): only a failure matters (see module notes)."""
        response = _get(headers, "Response")
        if response in ("Error", "Failure", "Fail"):
            reason = (
                _get(headers, "Message") or f"originate failed (reason {_get(headers, 'Reason')})"
            )
            return [pbx.OriginateFailed(channel_id, reason, at)]
        return []

    def _enter(self, bridge: str, uid: str, at: float) -> list[pbx.PbxEvent]:
        if not bridge or not uid:
            return []
        members = self._bridges.setdefault(bridge, [])
        if uid not in members:
            members.append(uid)
        self._bridge_of[uid] = bridge
        if len(members) < 2:
            return []
        peer = next(m for m in members if m != uid)
        return [pbx.Bridged(uid, peer, at), pbx.Bridged(peer, uid, at)]

    def _leave(self, uid: str) -> bool:
        bridge = self._bridge_of.pop(uid, None)
        if bridge is None:
            return False
        members = self._bridges.get(bridge, [])
        if uid in members:
            members.remove(uid)
        if not members:
            self._bridges.pop(bridge, None)
        return True


_STATE_OF = {
    "Up": pbx.ChannelState.UP,
    "Ringing": pbx.ChannelState.RINGING,
    "Ring": pbx.ChannelState.RINGING,
}


def live_channel(headers: Headers) -> pbx.LiveChannel | None:
    """A CoreShowChannel event as a LiveChannel (None for other events)."""
    if _get(headers, "Event") != "CoreShowChannel":
        return None
    state = _STATE_OF.get(_get(headers, "ChannelStateDesc"), pbx.ChannelState.DOWN)
    bridged = _get(headers, "BridgeId") or None  # the bridge: `peers_by_bridge` finds the peer
    return pbx.LiveChannel(
        channel_id=_get(headers, "Uniqueid"),
        name=_get(headers, "Channel"),
        state=state,
        bridged_to=bridged,
    )


def peers_by_bridge(channels: list[pbx.LiveChannel]) -> list[pbx.LiveChannel]:
    """CoreShowChannel names a channel's bridge, not its peer: in a two-party bridge each
    channel's `bridged_to` becomes the other channel (the port's meaning); a channel alone in
    its bridge, or in a bigger one, keeps the bridge id (it is bridged, the peer is unclear)."""
    members: dict[str, list[str]] = {}
    for ch in channels:
        if ch.bridged_to is not None:
            members.setdefault(ch.bridged_to, []).append(ch.channel_id)
    out = []
    for ch in channels:
        ids = members.get(ch.bridged_to, []) if ch.bridged_to is not None else []
        if len(ids) == 2:
            peer = ids[1] if ids[0] == ch.channel_id else ids[0]
            ch = dataclasses.replace(ch, bridged_to=peer)
        out.append(ch)
    return out

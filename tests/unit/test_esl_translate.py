"""FreeSWITCH events -> dialer.pbx events, on transcripts recorded from a real FreeSWITCH."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from dialer import pbx
from dialer.domain.freeswitch_causes import dial_status
from esl_bridge import codec
from esl_bridge.translate import EslTranslator, live_channels, q850

DATA = Path(__file__).resolve().parent.parent / "data" / "esl"
D = pbx.DialStatus


def jobs(name: str) -> list[str]:
    """The Job-UUIDs (= channel ids) the recorder sent, in order."""
    return re.findall(r"Job-UUID: (\S+)", (DATA / f"{name}.tx").read_text())


def messages(name: str) -> list[codec.Message]:
    return codec.Decoder().feed((DATA / f"{name}.rx").read_bytes())


def run(name: str) -> tuple[list[pbx.PbxEvent], dict[str, str]]:
    """Translate a transcript; return the PBX events with ids replaced by role names."""
    ids = jobs(name)
    roles = dict(zip(ids, ["first", "second", "third"], strict=False))
    translator = EslTranslator()
    for cid in ids:
        translator.originate_sent(cid)
    out: list[pbx.PbxEvent] = []
    for i, msg in enumerate(messages(name)):
        if isinstance(msg, codec.Event):
            out += translator.event(msg, float(i))
    return out, roles


def summary(name: str) -> list[tuple[object, ...]]:
    out, roles = run(name)
    rows: list[tuple[object, ...]] = []
    for ev in out:
        fields = dataclasses.asdict(ev)
        fields.pop("at")
        if "sip_code" in fields and fields["sip_code"] is None:
            fields.pop("sip_code")  # no SIP final response (answered, cancelled, timed out)
        row: list[object] = [type(ev).__name__]
        for value in fields.values():
            row.append(roles.get(value, value) if isinstance(value, str) else value)
        rows.append(tuple(row))
    return rows


def test_busy() -> None:
    assert summary("busy") == [
        ("OriginateAccepted", "first"),
        ("Ringing", "first"),
        ("DialEnded", "first", D.BUSY),
        ("HungUp", "first", 17, "USER_BUSY", 486),
    ]


def test_busy_in_json_mode() -> None:
    assert summary("busy_json") == summary("busy")


def test_no_answer() -> None:
    assert summary("no_answer") == [
        ("OriginateAccepted", "first"),
        ("Ringing", "first"),
        ("DialEnded", "first", D.NOANSWER),
        ("HungUp", "first", 19, "NO_ANSWER"),
    ]


def test_cancel_by_the_dialer() -> None:
    assert summary("cancel") == [
        ("OriginateAccepted", "first"),
        ("Ringing", "first"),
        ("DialEnded", "first", D.CANCEL),
        ("HungUp", "first", 16, "ORIGINATOR_CANCEL"),
    ]


def test_failure_503() -> None:
    assert summary("failure_503") == [
        ("OriginateAccepted", "first"),
        ("Ringing", "first"),
        ("DialEnded", "first", D.CONGESTION),
        ("HungUp", "first", 41, "NORMAL_TEMPORARY_FAILURE", 503),
    ]


def test_failure_unreachable() -> None:
    assert summary("failure_unreachable") == [
        ("OriginateAccepted", "first"),
        ("DialEnded", "first", D.CONGESTION),
        ("HungUp", "first", 41, "NORMAL_TEMPORARY_FAILURE", 503),
    ]


def test_failure_unknown_gateway_has_no_channel() -> None:
    assert summary("failure_no_gateway") == [("OriginateFailed", "first", "INVALID_GATEWAY")]


def test_answered_bridged_then_customer_hangs_up() -> None:
    # first = the agent's leg, second = the customer.
    assert summary("answered_bridged") == [
        ("OriginateAccepted", "first"),
        ("Answered", "first"),
        ("DialEnded", "first", D.ANSWER),
        ("OriginateAccepted", "second"),
        ("Ringing", "second"),
        ("Answered", "second"),
        ("DialEnded", "second", D.ANSWER),
        ("Bridged", "second", "first"),
        ("Bridged", "first", "second"),
        ("Unbridged", "second"),
        ("Unbridged", "first"),
        ("HungUp", "second", 16, "NORMAL_CLEARING"),
        ("HungUp", "first", 16, "NORMAL_CLEARING"),
    ]


def test_agent_side_hangs_up_during_the_call() -> None:
    rows = summary("agent_hangs_up")
    assert ("Bridged", "second", "first") in rows
    assert ("Bridged", "first", "second") in rows
    # The two legs' hang-ups arrive in either order (they did, in different recordings);
    # each leg is unbridged once, before its own hang-up.
    for leg in ("first", "second"):
        mine = [r[0] for r in rows if r[1] == leg]
        assert mine[-2:] == ["Unbridged", "HungUp"]
        assert mine.count("Unbridged") == 1
    assert rows[-1][0] == "HungUp"
    assert {r for r in rows if r[0] == "HungUp"} == {
        ("HungUp", "first", 16, "NORMAL_CLEARING"),
        ("HungUp", "second", 16, "NORMAL_CLEARING"),
    }


@pytest.mark.parametrize("name", ["abandon_timeout", "abandon_dialer"])
def test_abandon_plays_the_message_then_hangs_up(name: str) -> None:
    assert summary(name) == [
        ("OriginateAccepted", "first"),
        ("Ringing", "first"),
        ("Answered", "first"),
        ("DialEnded", "first", D.ANSWER),
        ("MessageStarted", "first"),
        ("HungUp", "first", 16, "NORMAL_CLEARING"),
    ]


def test_leg_is_ready_only_after_the_originate_job_succeeded() -> None:
    """uuid_bridge/uuid_transfer must wait for the job's +OK (see translate's notes)."""
    (cid,) = jobs("abandon_dialer")
    translator = EslTranslator()
    translator.originate_sent(cid)
    seen: list[tuple[str, bool, bool]] = []
    for msg in messages("abandon_dialer"):
        if isinstance(msg, codec.Event) and msg.name in ("CHANNEL_ANSWER", "BACKGROUND_JOB"):
            translator.event(msg, 0.0)
            seen.append((msg.name, translator.answered(cid), translator.ready(cid)))
    assert seen == [("CHANNEL_ANSWER", True, False), ("BACKGROUND_JOB", True, True)]


def _event(**headers: str) -> codec.Event:
    return codec.Event(headers=headers)


def test_other_channels_and_jobs_are_ignored() -> None:
    translator = EslTranslator()
    assert translator.event(_event(**{"Event-Name": "CHANNEL_CREATE", "Unique-ID": "x"}), 0) == []
    foreign_job = codec.Event(
        headers={"Event-Name": "BACKGROUND_JOB", "Job-UUID": "j", "Job-Command": "originate"},
        body="-ERR USER_BUSY\n",
    )
    assert translator.event(foreign_job, 0) == []


def test_late_events_after_the_end_are_dropped() -> None:
    """FreeSWITCH does not deliver in order: a job's -ERR may beat the CHANNEL_CREATE."""
    translator = EslTranslator()
    translator.originate_sent("c1")
    failed = codec.Event(
        headers={"Event-Name": "BACKGROUND_JOB", "Job-UUID": "c1", "Job-Command": "originate"},
        body="-ERR NORMAL_TEMPORARY_FAILURE\n",
    )
    assert translator.event(failed, 1.0) == [
        pbx.OriginateFailed("c1", "NORMAL_TEMPORARY_FAILURE", 1.0)
    ]
    leg = {"Unique-ID": "c1", "variable_dialer_leg": "customer"}
    assert translator.event(_event(**{"Event-Name": "CHANNEL_CREATE", **leg}), 2.0) == []
    hangup = _event(**{"Event-Name": "CHANNEL_HANGUP_COMPLETE", "Hangup-Cause": "USER_BUSY", **leg})
    assert translator.event(hangup, 3.0) == []


def test_a_job_error_after_the_dialers_hangup_is_a_cancel() -> None:
    """uuid_kill right after the originate: the job's -ERR may come before the channel's events
    (seen once on FreeSWITCH 1.10.12); the leg still ends as the cancel the dialer asked for."""
    translator = EslTranslator()
    translator.originate_sent("c3")
    translator.cancel_requested("c3")
    cancelled = codec.Event(
        headers={"Event-Name": "BACKGROUND_JOB", "Job-UUID": "c3", "Job-Command": "originate"},
        body="-ERR ORIGINATOR_CANCEL\n",
    )
    assert translator.event(cancelled, 1.0) == [
        pbx.DialEnded("c3", D.CANCEL, 1.0),
        pbx.HungUp("c3", 16, "ORIGINATOR_CANCEL", 1.0),
    ]
    leg = {"Unique-ID": "c3", "variable_dialer_leg": "customer"}
    assert translator.event(_event(**{"Event-Name": "CHANNEL_CREATE", **leg}), 2.0) == []


def test_refused_command_fails_the_originate() -> None:
    translator = EslTranslator()
    translator.originate_sent("c2")
    assert translator.originate_refused("c2", "-ERR bad", 5.0) == [
        pbx.OriginateFailed("c2", "-ERR bad", 5.0)
    ]
    assert translator.known() == set()


def test_reconciliation_keeps_pending_originates() -> None:
    translator = EslTranslator()
    translator.originate_sent("pending")
    translator.adopt(pbx.LiveChannel("up", "sofia/dialer/x", pbx.ChannelState.UP))
    translator.adopt(pbx.LiveChannel("gone", "sofia/dialer/y", pbx.ChannelState.RINGING))
    assert translator.ready("up")
    assert not translator.ready("gone")
    assert translator.forget_missing({"up"}) == ["gone"]
    assert translator.known() == {"pending", "up"}


@pytest.mark.parametrize(
    ("cause", "status", "code"),
    [
        ("USER_BUSY", D.BUSY, 17),
        ("CALL_REJECTED", D.NOANSWER, 21),
        ("NO_ANSWER", D.NOANSWER, 19),
        ("NO_USER_RESPONSE", D.NOANSWER, 18),
        ("ORIGINATOR_CANCEL", D.CANCEL, 16),
        ("UNALLOCATED_NUMBER", D.CHANUNAVAIL, 1),
        ("INVALID_GATEWAY", D.CHANUNAVAIL, 16),
        ("NORMAL_TEMPORARY_FAILURE", D.CONGESTION, 41),
        ("RECOVERY_ON_TIMER_EXPIRE", D.CONGESTION, 102),
        ("SOMETHING_NEW", D.CONGESTION, 0),
    ],
)
def test_cause_tables(cause: str, status: pbx.DialStatus, code: int) -> None:
    assert dial_status(cause) is status
    assert q850(cause) == code


def _api_bodies(name: str) -> list[str]:
    return [m.body for m in messages(name) if isinstance(m, codec.ApiResponse)]


def test_live_channels_from_recorded_listings() -> None:
    agent, customer = jobs("answered_bridged")
    bodies = [b for b in _api_bodies("answered_bridged") if b.startswith("{")]
    during_channels, during_calls, after_channels, after_calls = bodies
    live = {c.channel_id: c for c in live_channels(during_channels, during_calls)}
    assert set(live) == {agent, customer}
    assert live[customer].bridged_to == agent
    assert live[agent].bridged_to == customer
    assert live[customer].state is pbx.ChannelState.UP
    assert live[agent].name.startswith("sofia/dialer/agent1@")
    [parked] = live_channels(after_channels, after_calls)
    assert parked == pbx.LiveChannel(agent, live[agent].name, pbx.ChannelState.UP, None)


def test_empty_listing() -> None:
    assert live_channels('{"row_count":0}\n', '{"row_count":0}') == []
    with pytest.raises(ValueError, match="not a JSON listing"):
        live_channels("-ERR no reply\n", "{}")

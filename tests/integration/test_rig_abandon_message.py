"""The abandon message and the caller ID on the real rig: an answered call that finds
no agent hears, within 2 s of the answer, "sorry we missed you", the campaign's name prompt and
"please call us back on" with the digits of the campaign's call-back number; every call shows
the campaign's caller ID, else its trunk's, and the carrier (SIPp) receives it in From.

What the dialplan runs is watched with the rig's observer AMI account, which gets Newexten
(Application, AppData) and VarSet (PLAYBACKSTATUS) events; times are the events' own
Timestamp headers (Asterisk's clock).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dialer.domain.abandon import spoken_digits
from dialer.store.engine import Database
from rig import calls
from rig.ami import AmiClient, Headers, event, first
from rig.asterisk import Asterisk
from rig.numbers import Behaviour, make_number
from rig.sipp import Sipp
from tests.fixtures.pbx import rig_settings
from tests.integration.abandon_campaigns import (
    NAMED_CALLBACK,
    NAMED_CALLER_ID,
    PLAIN_TRUNK_CALLER_ID,
    abandon_named_and_plain,
    from_user,
)

pytestmark = [pytest.mark.rig]

SOUNDS = "usr/share/asterisk/sounds"
SORRY, FROM, CALLBACK = "dialer/abandon-sorry", "dialer/abandon-from", "dialer/abandon-callback"


def stamp(message: Headers) -> float:
    return float(first(message, "Timestamp"))


def of(messages: Sequence[Headers], uid: str, name: str, **headers: str) -> list[Headers]:
    match = event(name, uid, **headers)
    return [m for m in messages if match(m)]


def spoken(messages: Sequence[Headers], uid: str) -> list[tuple[str, str]]:
    """(Application, AppData) of the sound applications the channel ran in dialer-abandon."""
    return [
        (first(m, "Application"), first(m, "AppData"))
        for m in of(messages, uid, "Newexten", Context="dialer-abandon")
        if first(m, "Application") in ("Playback", "SayDigits")
    ]


def message_timing(messages: Sequence[Headers], uid: str) -> tuple[float, float, float]:
    """Seconds from the answer (Newstate Up) to the DialerMessage event, to the first Playback,
    and to the hang-up."""
    (up,) = of(messages, uid, "Newstate", ChannelState="6")
    (announced,) = of(messages, uid, "UserEvent", UserEvent="DialerMessage")
    playing = [
        m
        for m in of(messages, uid, "Newexten", Context="dialer-abandon")
        if first(m, "Application") == "Playback"
    ]
    (hangup,) = of(messages, uid, "Hangup")
    answer = stamp(up)
    return stamp(announced) - answer, stamp(playing[0]) - answer, stamp(hangup) - answer


def playback_statuses(messages: Sequence[Headers], uid: str) -> list[str]:
    return [first(m, "Value") for m in of(messages, uid, "VarSet", Variable="PLAYBACKSTATUS")]


async def test_abandoned_calls_hear_the_campaign_and_its_number_within_2_s(
    asterisk: Asterisk,
    sipp_trunk: Sipp,
    ami_observer: AmiClient,
    store_db: Database,
    store_db_url: str,
) -> None:
    # Campaign "named": its own caller ID, a call-back number and a name prompt; campaign
    # "plain": no caller ID of its own (the trunk's is sent), no call-back number (the caller ID
    # is said), no name prompt (not said). The daemon's side is checked by the helper.
    start = len(ami_observer.messages)
    settings = rig_settings(asterisk, store_db_url)
    pair = await abandon_named_and_plain(
        store_db, settings, asterisk.root / SOUNDS, sipp_trunk, serial=801
    )
    messages = ami_observer.messages[start:]
    named_id, plain_id = pair.named_id, pair.plain_id

    # What each callee heard, in order.
    assert spoken(messages, named_id) == [
        ("Playback", SORRY),
        ("Playback", FROM),
        ("Playback", pair.prompt),
        ("Playback", CALLBACK),
        ("SayDigits", spoken_digits(NAMED_CALLBACK)),
    ]
    assert spoken(messages, plain_id) == [
        ("Playback", SORRY),
        ("Playback", CALLBACK),
        ("SayDigits", spoken_digits(PLAIN_TRUNK_CALLER_ID)),
    ]
    # Every file was found and played to its end (a missing one says FAILED).
    assert playback_statuses(messages, named_id) == ["SUCCESS"] * 4
    assert playback_statuses(messages, plain_id) == ["SUCCESS"] * 2
    # The dialplan hung up after the last digit, not the callee.
    for uid in (named_id, plain_id):
        (hangup,) = of(messages, uid, "Hangup")
        assert first(hangup, "Cause") == "16"
        assert first(hangup, "Context") == "dialer-abandon"

    timings = {}
    for name, uid in (("named", named_id), ("plain", plain_id)):
        announced_s, playing_s, hangup_s = message_timing(messages, uid)
        # The message starts within 2 s of the answer (the daemon's hold is 0.5 + 0.5 s).
        assert 0 < announced_s <= playing_s < 2.0, (name, announced_s, playing_s)
        timings[name] = (announced_s, playing_s, hangup_s)
    # The named campaign's message is longer by "this call was from" and the name prompt.
    extra = timings["named"][2] - timings["named"][1] - (timings["plain"][2] - timings["plain"][1])
    assert extra > pair.prompt_seconds, (timings, pair.prompt_seconds)

    # Asterisk sends the caller ID in P-Asserted-Identity too (From is checked by the helper).
    assert from_user(pair.named_invite.pai) == NAMED_CALLER_ID
    assert from_user(pair.plain_invite.pai) == PLAIN_TRUNK_CALLER_ID
    print(
        "\nanswer -> DialerMessage / first Playback / hang-up (s): "
        + ", ".join(f"{k} {a:.3f} / {p:.3f} / {h:.2f}" for k, (a, p, h) in timings.items())
    )


async def test_dialplan_says_the_caller_id_when_the_originate_gives_no_callback(
    sipp_trunk: Sipp, ami_observer: AmiClient, ami: AmiClient
) -> None:
    """The fail-safe path of an originate that set neither DIALER_CALLBACK nor a prompt (not the
    daemon's): the number said is the caller ID the callee was shown."""
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=803)
    start = len(ami_observer.messages)
    customer, _ = await calls.originate_customer(
        ami, number, hold_s=0.5, caller_id="Dialer <+15550004321>"
    )
    await ami_observer.wait_for(event("Hangup", customer), 30, start)
    messages = ami_observer.messages[start:]
    assert spoken(messages, customer) == [
        ("Playback", SORRY),
        ("Playback", CALLBACK),
        ("SayDigits", spoken_digits("+15550004321")),
    ]
    announced_s, playing_s, _ = message_timing(messages, customer)
    assert 0.4 <= announced_s <= playing_s < 1.5, (announced_s, playing_s)


async def test_a_missing_name_prompt_is_skipped_and_the_number_still_said(
    sipp_trunk: Sipp, ami_observer: AmiClient, ami: AmiClient
) -> None:
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=804)
    start = len(ami_observer.messages)
    variables = {
        "DIALER_CALLBACK": "+442079460123",
        "DIALER_CAMPAIGN_PROMPT": "dialer/campaign-no-such-file",
    }
    customer, _ = await calls.originate_customer(ami, number, hold_s=10, variables=variables)
    await ami.wait_for(event("Newstate", customer, ChannelState="6"), 5)
    await calls.abandon(ami, customer)
    await ami_observer.wait_for(event("Hangup", customer), 30, start)
    messages = ami_observer.messages[start:]
    assert spoken(messages, customer)[-2:] == [
        ("Playback", CALLBACK),
        ("SayDigits", "442079460123"),
    ]
    assert playback_statuses(messages, customer) == ["SUCCESS", "SUCCESS", "FAILED", "SUCCESS"]
    (hangup,) = of(messages, customer, "Hangup")
    assert first(hangup, "Cause") == "16"

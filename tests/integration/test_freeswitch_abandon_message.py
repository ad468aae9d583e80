"""The abandon message on the real FreeSWITCH 1.10.12, as test_rig_abandon_message.py
checks it on Asterisk: an answered call that finds no agent hears, within 2 s of the answer,
"sorry we missed you", "this call was from" and the campaign's name prompt (when it has one),
then "please call us back on" and the digits of the call-back number (else of the caller ID);
then the dialplan hangs up.

What FreeSWITCH runs is watched on an event-socket connection of the test's own
(`esl_observer`, rig/esl.py): CHANNEL_EXECUTE (Application, Application-Data) and
CHANNEL_EXECUTE_COMPLETE (Application-Response) of the dialer-abandon extension, and
PLAYBACK_START / PLAYBACK_STOP (Playback-File-Path, Playback-Status, the samples played). Times
are the events' own Event-Date-Timestamp (FreeSWITCH's clock). The digits are said by mod_say_en
from espeak-ng stand-ins for the English prompts, which the rig renders into FreeSWITCH's own
sounds directory (rig.freeswitch.render_digit_stand_ins): a played file's sample count equals
the file's, so a file that was not found or not played to its end shows.

Skipped (with the reason) when no FreeSWITCH binary is found: set DIALER_FREESWITCH.
"""

from __future__ import annotations

import asyncio
import uuid
import wave
from collections.abc import Sequence
from pathlib import Path

import pytest

from dialer.domain.abandon import spoken_digits
from dialer.pbx import AbandonMessage, CustomerCall
from dialer.store.engine import Database
from esl_bridge import codec, commands
from esl_bridge.translate import LEG_VARIABLE
from rig.esl import EslObserver, event, of, timestamp
from rig.numbers import Behaviour, make_number
from tests.fixtures.freeswitch import FsRig
from tests.fixtures.pbx import fs_settings
from tests.integration.abandon_campaigns import (
    NAMED_CALLBACK,
    NAMED_CALLER_ID,
    PLAIN_TRUNK_CALLER_ID,
    abandon_named_and_plain,
    from_user,
)

pytestmark = [pytest.mark.rig]

SORRY, FROM, CALLBACK = (
    "dialer/abandon-sorry.wav",
    "dialer/abandon-from.wav",
    "dialer/abandon-callback.wav",
)
"""The fixed prompts, as vars.xml names them (relative to FreeSWITCH's sounds directory)."""
SOUND_APPS = ("playback", "say")
DIGITS_PREFIX = "file_string://"
FILE_STRING_LEAD_IN = 8000 * 250 // 1000
"""mod_dptools' file_string:// (what `say` plays its digits as) starts with 250 ms of silence
(file_string_file_open, `context->samples`): 2000 samples at the calls' 8 kHz (PCMU)."""


def heard(events: Sequence[codec.Event], uid: str) -> list[tuple[str, str]]:
    """(Application, Application-Data) of the sound applications the channel ran, in order."""
    return [
        (e.get("Application") or "", e.get("Application-Data") or "")
        for e in of(events, uid, "CHANNEL_EXECUTE")
        if e.get("Application") in SOUND_APPS
    ]


def responses(events: Sequence[codec.Event], uid: str) -> list[str]:
    """What each `playback` said when it finished ("FILE PLAYED", "FILE NOT FOUND")."""
    return [
        e.get("Application-Response") or ""
        for e in of(events, uid, "CHANNEL_EXECUTE_COMPLETE", Application="playback")
    ]


def played(events: Sequence[codec.Event], uid: str) -> list[tuple[str, str, int]]:
    """(Playback-File-Path, Playback-Status, samples played) of every PLAYBACK_STOP."""
    return [
        (
            e.get("Playback-File-Path") or "",
            e.get("Playback-Status") or "",
            int(e.get("variable_playback_samples") or "-1"),
        )
        for e in of(events, uid, "PLAYBACK_STOP")
    ]


def samples(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        return w.getnframes()


def digit_files(path: str) -> list[str]:
    """The files of mod_say_en's `file_string://digits/4.wav!digits/2.wav` (relative to the
    language's sound-prefix)."""
    assert path.startswith(DIGITS_PREFIX), path
    return path.removeprefix(DIGITS_PREFIX).split("!")


def expected_playback(
    fs_rig: FsRig, files: Sequence[str], digits: str = ""
) -> list[tuple[str, str, int]]:
    """What PLAYBACK_STOP reports when every file is found and played to its end: each prompt
    by its absolute path, then (when there are `digits`) the digits as one file_string of
    digits/N.wav: the stand-ins after the file_string's lead-in."""
    sounds, say = fs_rig.fs.sounds_dir, fs_rig.fs.say_sounds
    out = [(str(sounds / f), "done", samples(sounds / f)) for f in files]
    if digits:
        said = [f"digits/{d}.wav" for d in digits]
        digit_samples = FILE_STRING_LEAD_IN + sum(samples(say / f) for f in said)
        out.append((DIGITS_PREFIX + "!".join(said), "done", digit_samples))
    return out


def message_timing(events: Sequence[codec.Event], uid: str) -> tuple[float, float]:
    """Seconds from the answer to the first PLAYBACK_START and to the hang-up."""
    (answer,) = of(events, uid, "CHANNEL_ANSWER")
    starts = of(events, uid, "PLAYBACK_START")
    (hangup,) = of(events, uid, "CHANNEL_HANGUP_COMPLETE")
    t0 = timestamp(answer)
    return timestamp(starts[0]) - t0, timestamp(hangup) - t0


def assert_dialplan_hung_up(events: Sequence[codec.Event], uid: str) -> None:
    """The dialplan's `hangup` ended the call after the last digit, not the callee."""
    executed = [e.get("Application") for e in of(events, uid, "CHANNEL_EXECUTE")]
    assert executed[-2:] == ["say", "hangup"], executed
    (hangup,) = of(events, uid, "CHANNEL_HANGUP_COMPLETE")
    assert hangup.get("Hangup-Cause") == "NORMAL_CLEARING"
    assert hangup.get("variable_sip_hangup_disposition") == "send_bye"


async def test_abandoned_calls_hear_the_campaign_and_its_number_within_2_s(
    fs_rig: FsRig, esl_observer: EslObserver, store_db: Database, store_db_url: str
) -> None:
    # The rig points vars.xml's dialer_say_sounds (languages/en.xml's sound-prefix) at its
    # digit stand-ins, through DIALER_FS_SAY_SOUNDS.
    say_sounds = await asyncio.to_thread(fs_rig.fs.api, "global_getvar dialer_say_sounds")
    assert say_sounds.strip() == str(fs_rig.fs.say_sounds)
    # Campaign "named": its own caller ID, a call-back number and a name prompt; campaign
    # "plain": no caller ID of its own (the trunk's is sent), no call-back number (the caller ID
    # is said), no name prompt (not said). The daemon's side is checked by the helper.
    start = len(esl_observer.events)
    settings = fs_settings(fs_rig, store_db_url)
    pair = await abandon_named_and_plain(
        store_db, settings, fs_rig.fs.sounds_dir, fs_rig.trunk, serial=811
    )
    named_id, plain_id = pair.named_id, pair.plain_id
    for uid in (named_id, plain_id):  # the last events may trail the daemon's stop
        await esl_observer.wait_for(event("CHANNEL_HANGUP_COMPLETE", uid), 10, start)
    events = esl_observer.events[start:]
    named_digits = spoken_digits(NAMED_CALLBACK)
    plain_digits = spoken_digits(PLAIN_TRUNK_CALLER_ID)

    # What each callee heard, in order: the applications the dialplan ran...
    assert heard(events, named_id) == [
        ("playback", SORRY),
        ("playback", FROM),
        ("playback", f"{pair.prompt}.wav"),
        ("playback", CALLBACK),
        ("say", f"en number iterated {named_digits}"),
    ]
    assert heard(events, plain_id) == [
        ("playback", SORRY),
        ("playback", CALLBACK),
        ("say", f"en number iterated {plain_digits}"),
    ]
    # ... and the files they played, each found and played to its end: the prompts under the
    # sounds directory, then one stand-in per digit of the call-back number (else caller ID).
    assert responses(events, named_id) == ["FILE PLAYED"] * 4
    assert responses(events, plain_id) == ["FILE PLAYED"] * 2
    named_played = played(events, named_id)
    assert named_played == expected_playback(
        fs_rig, [SORRY, FROM, f"{pair.prompt}.wav", CALLBACK], named_digits
    )
    assert played(events, plain_id) == expected_playback(fs_rig, [SORRY, CALLBACK], plain_digits)
    assert digit_files(named_played[-1][0])[:3] == ["digits/4.wav", "digits/4.wav", "digits/2.wav"]
    for uid in (named_id, plain_id):
        assert_dialplan_hung_up(events, uid)

    # The gateway sends the caller ID in P-Asserted-Identity too (From is checked by the helper).
    assert from_user(pair.named_invite.pai) == NAMED_CALLER_ID
    assert from_user(pair.plain_invite.pai) == PLAIN_TRUNK_CALLER_ID

    timings = {}
    for name, uid in (("named", named_id), ("plain", plain_id)):
        playing_s, hangup_s = message_timing(events, uid)
        # The message starts within 2 s of the answer (the daemon's hold is 0.5 s).
        assert 0 < playing_s < 2.0, (name, playing_s)
        timings[name] = (playing_s, hangup_s)
    print(
        "\nFreeSWITCH answer -> first PLAYBACK_START / hang-up (s): "
        + ", ".join(f"{k} {p:.3f} / {h:.2f}" for k, (p, h) in timings.items())
    )


async def originate_held(
    fs_rig: FsRig,
    number: str,
    caller_id: str,
    hold_s: float,
    message: AbandonMessage | None = None,
) -> str:
    """Originate a customer call with the adapter's own command (esl_bridge.commands), without
    the daemon: the call runs the dialplan's own hold timer. Returns its channel id once
    answered."""
    call = CustomerCall(
        channel_id=str(uuid.uuid4()),
        trunk="trunk",
        number=number,
        caller_id=caller_id,
        ring_timeout_s=10.0,
        hold_s=hold_s,
        message=message,
    )
    command = commands.originate_customer(call, commands.Dialplan(), LEG_VARIABLE)
    reply = await asyncio.to_thread(fs_rig.fs.api, command, 15.0)
    assert reply.startswith("+OK"), reply
    return call.channel_id


async def test_dialplan_says_the_caller_id_when_the_originate_gives_no_callback(
    fs_rig: FsRig, esl_observer: EslObserver
) -> None:
    """The fail-safe path of an originate that set neither the call-back number nor a prompt
    (not the daemon's), abandoned by the dialplan's own hold timer: the number said is the
    caller ID the callee was shown."""
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=813)
    start = len(esl_observer.events)
    customer = await originate_held(fs_rig, number, "+15550004321", hold_s=0.5)
    await esl_observer.wait_for(event("CHANNEL_HANGUP_COMPLETE", customer), 30, start)
    events = esl_observer.events[start:]
    assert heard(events, customer) == [
        ("playback", SORRY),
        ("playback", CALLBACK),
        ("say", "en number iterated 15550004321"),
    ]
    assert played(events, customer) == expected_playback(
        fs_rig, [SORRY, CALLBACK], spoken_digits("+15550004321")
    )
    assert_dialplan_hung_up(events, customer)
    playing_s, _ = message_timing(events, customer)
    assert 0.4 <= playing_s < 1.5, playing_s  # the 0.5 s hold, then at once


async def test_a_missing_name_prompt_is_skipped_and_the_number_still_said(
    fs_rig: FsRig, esl_observer: EslObserver
) -> None:
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=814)
    start = len(esl_observer.events)
    customer = await originate_held(
        fs_rig,
        number,
        "+15550000000",
        hold_s=10.0,
        message=AbandonMessage("+442079460123", "dialer/campaign-no-such-file"),
    )
    # The daemon's abandon: uuid_transfer to dialer-abandon, long before the 10 s hold.
    reply = await asyncio.to_thread(
        fs_rig.fs.api, commands.transfer_abandon(customer, commands.Dialplan())
    )
    assert reply.startswith("+OK"), reply
    await esl_observer.wait_for(event("CHANNEL_HANGUP_COMPLETE", customer), 30, start)
    events = esl_observer.events[start:]
    assert heard(events, customer) == [
        ("playback", SORRY),
        ("playback", FROM),
        ("playback", "dialer/campaign-no-such-file.wav"),
        ("playback", CALLBACK),
        ("say", "en number iterated 442079460123"),
    ]
    assert responses(events, customer) == [
        "FILE PLAYED",
        "FILE PLAYED",
        "FILE NOT FOUND",
        "FILE PLAYED",
    ]
    # The missing file gives no PLAYBACK_START/STOP at all; everything else plays.
    assert played(events, customer) == expected_playback(
        fs_rig, [SORRY, FROM, CALLBACK], spoken_digits("+442079460123")
    )
    assert_dialplan_hung_up(events, customer)


async def test_without_mod_say_en_the_number_is_left_out(
    fs_rig: FsRig, esl_observer: EslObserver
) -> None:
    """A FreeSWITCH without mod_say_en: "please call us back on" would be left hanging, so the
    dialplan (`${module_exists(mod_say_en)}`) plays neither it nor the digits."""
    api = fs_rig.fs.api
    assert (await asyncio.to_thread(api, "unload mod_say_en")).startswith("+OK")
    try:
        assert (await asyncio.to_thread(api, "module_exists mod_say_en")).strip() == "false"
        number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=815)
        start = len(esl_observer.events)
        customer = await originate_held(
            fs_rig, number, "+15550000000", hold_s=0.5, message=AbandonMessage("+442079460123")
        )
        await esl_observer.wait_for(event("CHANNEL_HANGUP_COMPLETE", customer), 30, start)
    finally:
        assert (await asyncio.to_thread(api, "load mod_say_en")).startswith("+OK")
    events = esl_observer.events[start:]
    assert heard(events, customer) == [("playback", SORRY)]
    assert played(events, customer) == expected_playback(fs_rig, [SORRY])
    executed = [e.get("Application") for e in of(events, customer, "CHANNEL_EXECUTE")]
    assert executed[-2:] == ["playback", "hangup"], executed

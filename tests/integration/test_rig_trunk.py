"""The SIPp trunk behaves as the dialed number says, and Asterisk reports each behaviour with the
DialEnd status, Hangup cause and OriginateResponse reason that rig.numbers records."""

from __future__ import annotations

import asyncio
import time

import pytest

from rig import calls
from rig.ami import AmiClient, Headers, event, first
from rig.numbers import (
    CAUSE_HANGUP_IN_DIALPLAN_APP,
    NOT_FOUND,
    Behaviour,
    Expected,
    make_number,
    parse_number,
)
from rig.sipp import Sipp, SippStats

pytestmark = pytest.mark.rig

NUMBERS = {
    # Answered, and the far end hangs up after 0.3 s while the customer still waits to be
    # bridged (held 5 s): Asterisk reports cause 0 for that, see CAUSE_HANGUP_IN_DIALPLAN_APP.
    "answer": make_number(Behaviour.ANSWER, ring_s=0.2, talk_s=0.3, serial=1),
    "busy": make_number(Behaviour.BUSY, ring_s=0.2, serial=2),
    "busy-at-once": make_number(Behaviour.BUSY, serial=3),
    "no-answer": make_number(Behaviour.NO_ANSWER, serial=4),
    "fail-503": make_number(Behaviour.FAIL, ring_s=0.2, serial=5),
    "not-found-404": "+15559000000001",
}


def _expected(number: str) -> tuple[list[str], str, str]:
    """(DialEnd statuses, Hangup cause, OriginateResponse reason) expected for `number`."""
    try:
        decoded = parse_number(number)
    except ValueError:
        expected: Expected = NOT_FOUND
        cause = expected.cause
    else:
        expected = decoded.expected
        cause = (
            CAUSE_HANGUP_IN_DIALPLAN_APP
            if decoded.behaviour is Behaviour.ANSWER
            else expected.cause
        )
    dial_ends = [expected.dial_end] if expected.dial_end is not None else []
    return dial_ends, str(cause), str(expected.originate_reason)


async def _outcome(ami: AmiClient, number: str) -> tuple[list[str], str, str]:
    start = len(ami.messages)
    channel_id, response = await calls.originate_customer(ami, number, timeout_ms=1500, hold_s=5)
    assert first(response, "Response") == "Success"
    _, hangup = await ami.wait_for(event("Hangup", channel_id), 10, start)
    _, originate = await ami.wait_for(event("OriginateResponse", channel_id), 5, start)
    dial_ends: list[Headers] = [m for m in ami.messages[start:] if event("DialEnd", channel_id)(m)]
    return (
        [first(m, "DialStatus") for m in dial_ends],
        first(hangup, "Cause"),
        first(originate, "Reason"),
    )


async def test_outcome_per_number_in_a_row(sipp_trunk: Sipp, ami: AmiClient) -> None:
    for name, number in NUMBERS.items():
        assert await _outcome(ami, number) == _expected(number), name


async def test_outcome_with_all_numbers_dialed_at_once(sipp_trunk: Sipp, ami: AmiClient) -> None:
    """One SIPp process on one port serves a mixed campaign: each call keeps its own behaviour
    while the others ring, answer and fail at the same time."""
    results = await asyncio.gather(*(_outcome(ami, number) for number in NUMBERS.values()))
    assert dict(zip(NUMBERS, results, strict=True)) == {
        name: _expected(number) for name, number in NUMBERS.items()
    }


async def _stats_when(sipp: Sipp, incoming: int, wait_s: float = 5.0) -> SippStats:
    """SIPp writes its statistics once a second: wait until they count `incoming` calls, none
    of them still running."""
    deadline = time.monotonic() + wait_s
    stats = sipp.stats()
    while time.monotonic() < deadline:
        stats = sipp.stats()
        if stats.incoming_calls >= incoming and stats.current_calls == 0:
            break
        await asyncio.sleep(0.2)
    return stats


async def test_calls_ended_by_asterisk_are_not_sipp_failures(
    sipp_trunk: Sipp, ami: AmiClient
) -> None:
    """CANCEL during the ring and BYE during the talk reach the UAS as unexpected messages; it
    ends those calls cleanly, so SIPp's statistics count them as successful."""
    await asyncio.sleep(1.1)  # SIPp writes its counters once a second
    before = await _stats_when(sipp_trunk, 0)
    numbers = [
        make_number(Behaviour.ANSWER, ring_s=3.0, talk_s=1.0, serial=20),  # CANCEL at 1.5 s
        make_number(Behaviour.ANSWER, ring_s=0.1, talk_s=30.0, serial=21),  # BYE from us
        make_number(Behaviour.NO_ANSWER, serial=22),  # CANCEL at 1.5 s
    ]
    ids = [
        (await calls.originate_customer(ami, number, timeout_ms=1500, hold_s=5))[0]
        for number in numbers
    ]
    await ami.wait_for(event("Newstate", ids[1], ChannelState="6"), 5)
    await ami.request("Hangup", Channel=ids[1], Cause="16")
    for channel_id in ids:
        await ami.wait_for(event("Hangup", channel_id), 10)
    after = await _stats_when(sipp_trunk, before.incoming_calls + len(numbers))
    assert after.incoming_calls - before.incoming_calls == len(numbers)
    assert after.successful_calls - before.successful_calls == len(numbers)
    assert after.failed_calls == before.failed_calls

"""The daemon's side of the abandon-message tests, the same on both PBXs: two campaigns whose
one call each finds no agent, run through the daemon; what the PBX played is checked by each
PBX's own test (test_rig_abandon_message.py on Asterisk, test_freeswitch_abandon_message.py
on FreeSWITCH), from the events of its own observer connection.

Not a test module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import text

from dialer.app import App
from dialer.domain.results import CallResult
from dialer.pacing.base import PacingDecision, PacingSnapshot
from dialer.prompts import render_campaign
from dialer.settings import Settings
from dialer.store.engine import Database
from rig.campaign import seed
from rig.numbers import Behaviour, make_number
from rig.sipp import Invite, Sipp
from tests.integration.campaign_run import cdrs, run_app

NAMED_CALLER_ID: Final = "+15550000000"
NAMED_CALLBACK: Final = "+442079460123"
PLAIN_TRUNK_CALLER_ID: Final = "+15550009999"


class DialAll:
    """Dial every lead at once, whether or not an agent is free: with no agents, each answer
    is abandoned."""

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        dial = max(0, min(snap.limits.max_new_now, snap.limits.max_in_flight - snap.in_flight))
        return PacingDecision(dial, 1.0, "test: dial all")

    def observe_call(self, outcome: object) -> None:
        return None

    def observe_work(self, work: object) -> None:
        return None


def from_user(header: str) -> str:
    """The user part of a From / P-Asserted-Identity value: `"x" <sip:+1555@host>;tag=..`."""
    uri = header.split("<", 1)[1] if "<" in header else header
    return uri.removeprefix("sip:").split("@", 1)[0]


@dataclass(frozen=True, slots=True)
class AbandonedPair:
    """The two abandoned calls: their channel ids (= attempt ids), the name prompt's sound name
    and length, and the INVITEs the carrier received for them."""

    named_id: str
    plain_id: str
    prompt: str
    prompt_seconds: float
    named_invite: Invite
    plain_invite: Invite


async def abandon_named_and_plain(
    db: Database, settings: Settings, sounds_dir: Path, trunk: Sipp, serial: int
) -> AbandonedPair:
    """Campaign "abandon-named" (its own caller ID, a call-back number and a name prompt,
    rendered into the PBX's `sounds_dir`) and "abandon-plain" (no caller ID of its own: the
    trunk's is sent and said; no call-back number, no name prompt), one ANSWER_HOLD lead each
    (serials `serial`, `serial + 1`), no agents, a 0.5 s hold. Runs the daemon until both are
    done and checks what the daemon saw: both abandoned, each message started within 2 s of
    the answer, and the carrier got each campaign's caller ID in From."""
    named_number = make_number(Behaviour.ANSWER_HOLD, 0.3, 0.0, serial)
    named = await seed(
        db,
        name="abandon-named",
        numbers=[named_number],
        agents=0,
        hold_s=0.5,
        caller_id=NAMED_CALLER_ID,
        callback_number=NAMED_CALLBACK,
    )
    prompt, rendered = render_campaign(named.campaign_id, "Acme Energy", sounds_dir)
    async with db.transaction() as s:
        await s.execute(
            text("UPDATE campaigns SET name_prompt = :p WHERE id = :c"),
            {"p": prompt, "c": named.campaign_id},
        )
    plain_number = make_number(Behaviour.ANSWER_HOLD, 0.3, 0.0, serial + 1)
    plain = await seed(
        db,
        name="abandon-plain",
        numbers=[plain_number],
        agents=0,
        hold_s=0.5,
        caller_id="",
        trunk_caller_id=PLAIN_TRUNK_CALLER_ID,
    )
    invites_before = len(trunk.invites())

    app = App(settings, lambda _c: DialAll())
    code = await run_app(app, lambda e: len(e.finished) >= 2, timeout_s=60)
    assert code == 0

    rows = {r.phone: r for r in await cdrs(db, named.campaign_id)}
    rows |= {r.phone: r for r in await cdrs(db, plain.campaign_id)}
    assert {p: r.result for p, r in rows.items()} == {
        named_number: CallResult.ABANDONED.value,
        plain_number: CallResult.ABANDONED.value,
    }
    engine = app.engine
    assert engine is not None
    for record in engine.finished:
        assert record.answer_to_message_ms is not None
        assert 0 < record.answer_to_message_ms < 2000, record

    # The carrier received the caller ID in From.
    invites = {i.user: i for i in trunk.invites()[invites_before:]}
    assert from_user(invites[named_number].from_header) == NAMED_CALLER_ID
    assert from_user(invites[plain_number].from_header) == PLAIN_TRUNK_CALLER_ID
    return AbandonedPair(
        str(rows[named_number].id),
        str(rows[plain_number].id),
        prompt,
        rendered.seconds,
        invites[named_number],
        invites[plain_number],
    )

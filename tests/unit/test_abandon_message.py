"""The abandon message's settings and the caller ID, pure: validation of a campaign's
call-back number and name prompt, which caller ID a call sends, the message a call carries,
and the channel variables the AMI and ESL adapters make of it."""

from __future__ import annotations

import wave
from typing import Any

import pytest
from pydantic import ValidationError

from ami_bridge import actions
from dialer.api.models import CampaignCreate, CampaignUpdate, TrunkCreate, TrunkUpdate
from dialer.domain import abandon, pbx_values
from dialer.pbx import AbandonMessage, CustomerCall
from dialer.prompts import DEPLOY_SOUNDS, FIXED
from esl_bridge import commands


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+442079460123", "+442079460123"),
        ("+44 20 7946 0123", "+442079460123"),
        (" +1 (212) 555-0123 ", "+12125550123"),
        ("+33 1 42 68 53 00", "+33142685300"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_callback_number_is_normalised_to_e164(raw: str, e164: str) -> None:
    assert pbx_values.check_callback_number(raw) == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("02079460123", "international form with a leading +"),
        ("442079460123", "international form with a leading +"),
        (
            "+15550000000",
            "not a valid number for country code +1 (US)",
        ),  # 555-0xxx is not assignable
        ("+4420794601", "not a valid number for country code +44 (GB)"),  # too short
        ("+44207946012345678", "not a valid number"),
        ("+hello", "not a phone number"),
        ("+", "not a phone number"),
    ],
)
def test_bad_callback_numbers_are_refused_with_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match="callback_number") as caught:
        pbx_values.check_callback_number(raw)
    assert reason in str(caught.value)


@pytest.mark.parametrize("name", ["dialer/campaign-7", "custom/acme_energy.v2", "acme", ""])
def test_sound_names_are_accepted(name: str) -> None:
    assert pbx_values.check_sound_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd",
        "dialer/../../secret",
        "/usr/share/asterisk/sounds/x",  # absolute: the PBX's sounds directory only
        "a&b",  # Playback's file separator
        "a,b",  # an application argument separator
        "a b",
        "dialer//x",
        "dialer/x.wav/",
        "x" * 65,
    ],
)
def test_sound_names_that_could_escape_or_split_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="name_prompt must be a sound name"):
        pbx_values.check_sound_name(name)


def test_campaign_prompt_name_convention() -> None:
    assert abandon.campaign_prompt_name(7) == "dialer/campaign-7"
    name = abandon.campaign_prompt_name(123456)
    assert pbx_values.check_sound_name(name) == "dialer/campaign-123456"
    with pytest.raises(ValueError, match="campaign id must be positive"):
        abandon.campaign_prompt_name(0)


@pytest.mark.parametrize(
    ("campaign", "trunk", "shown"),
    [
        ("+15550000000", "+15550009999", "+15550000000"),
        ("", "+15550009999", "+15550009999"),
        ("  ", "+15550009999", "+15550009999"),
        ("+15550000000", "", "+15550000000"),
        ("", "", None),
    ],
)
def test_caller_id_is_the_campaigns_else_the_trunks(
    campaign: str, trunk: str, shown: str | None
) -> None:
    assert abandon.caller_id_or_none(campaign, trunk) == shown


def test_the_reason_for_no_caller_id_names_both_and_the_fix() -> None:
    reason = abandon.no_caller_id_reason("spring", "carrier-a")
    assert "'spring'" in reason and "'carrier-a'" in reason
    assert "set caller_id on the campaign or on the trunk" in reason


def test_the_message_a_call_carries() -> None:
    assert abandon.message_for(
        caller_id="+15550000000", callback_number="+442079460123", name_prompt="dialer/campaign-7"
    ) == AbandonMessage("+442079460123", "dialer/campaign-7")
    # No call-back number: the caller ID is said; no name prompt: none is said.
    assert abandon.message_for(
        caller_id="+15550000000", callback_number="", name_prompt=""
    ) == AbandonMessage("+15550000000", "")
    assert abandon.spoken_digits("+44 20 7946-0123") == "442079460123"


def _call(caller_id: str = "+15550000000", message: AbandonMessage | None = None) -> CustomerCall:
    return CustomerCall(
        channel_id="5f0b8c1e-9a57-4c1b-8a55-0f8a7c3d2e10",
        trunk="trunk",
        number="+155510030000001",
        caller_id=caller_id,
        ring_timeout_s=20.0,
        message=message,
    )


NAMED = AbandonMessage("+442079460123", "dialer/campaign-7")


def test_ami_originate_always_carries_the_caller_id_and_the_message_variables() -> None:
    action = actions.originate_customer(_call(message=NAMED), actions.Contexts())
    assert action["CallerID"] == "+15550000000"
    variables = action["Variable"]
    assert isinstance(variables, list)
    assert "DIALER_CALLBACK=+442079460123" in variables
    assert "DIALER_CAMPAIGN_PROMPT=dialer/campaign-7" in variables
    # Without a message the dialplan says the caller ID and no name (extensions.conf).
    bare = actions.originate_customer(_call(), actions.Contexts())["Variable"]
    assert isinstance(bare, list)
    assert not any(v.startswith(("DIALER_CALLBACK=", "DIALER_CAMPAIGN_PROMPT=")) for v in bare)
    with pytest.raises(ValueError, match="no caller ID"):
        actions.originate_customer(_call(caller_id=" "), actions.Contexts())
    with pytest.raises(ValueError, match="call-back number"):
        actions.originate_customer(
            _call(message=AbandonMessage("+44 20,System(id)")), actions.Contexts()
        )


def test_esl_originate_sends_the_caller_id_and_prepares_the_message() -> None:
    line = commands.originate_customer(_call(message=NAMED), commands.Dialplan(), "dialer_leg")
    block = line.split("}", 1)[0].removeprefix("originate {")
    values = dict(part.split("=", 1) for part in block.split(","))
    assert values["origination_caller_id_number"] == "+15550000000"
    assert values["dialer_callback_digits"] == "442079460123"
    assert values["dialer_campaign_prompt"] == "dialer/campaign-7.wav"
    with pytest.raises(ValueError, match=r"(?i)caller id"):
        commands.originate_customer(_call(caller_id=""), commands.Dialplan(), "dialer_leg")
    with pytest.raises(ValueError, match="call-back number"):
        commands.message_variables(AbandonMessage("+44 20"))
    with pytest.raises(ValueError, match="campaign prompt"):
        commands.message_variables(AbandonMessage("+442079460123", "../x"))
    assert commands.message_variables(AbandonMessage("")) == {}


def _locs(exc: ValidationError) -> list[tuple[Any, ...]]:
    return [tuple(e["loc"]) for e in exc.errors()]


def test_api_bodies_name_the_bad_field() -> None:
    with pytest.raises(ValidationError) as caught:
        CampaignCreate(name="c", trunk="t", callback_number="0207 946 0123")
    assert _locs(caught.value) == [("callback_number",)]
    assert "leading +" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        CampaignUpdate(name_prompt="../../etc/passwd")
    assert _locs(caught.value) == [("name_prompt",)]
    with pytest.raises(ValidationError) as caught:
        TrunkUpdate(caller_id="call me")
    assert _locs(caught.value) == [("caller_id",)]
    body = CampaignCreate(name="c", trunk="t", callback_number="+44 20 7946 0123")
    assert (body.caller_id, body.callback_number, body.name_prompt) == ("", "+442079460123", "")
    assert CampaignUpdate(callback_number="").callback_number == ""  # clears it
    assert CampaignUpdate().model_dump(exclude_none=True) == {}
    trunk = TrunkCreate(name="t", endpoint="trunk", max_channels=1, max_cps=1, caller_id="+1555")
    assert trunk.caller_id == "+1555"


@pytest.mark.parametrize("name", sorted(FIXED))
def test_committed_prompts_are_small_8khz_mono_16bit_wavs(name: str) -> None:
    path = DEPLOY_SOUNDS / f"{name}.wav"
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        seconds = wav.getnframes() / 8000
    assert 0.5 < seconds < 2.5, seconds
    assert path.stat().st_size < 48_000

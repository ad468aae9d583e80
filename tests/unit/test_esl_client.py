"""The ESL client's pure parts: it is a `dialer.pbx.Pbx`, and what it subscribes to.

Its behaviour on a live event socket is tested against a real FreeSWITCH in
tests/integration/test_esl_client.py.
"""

from __future__ import annotations

from dialer.pbx import Pbx
from dialer.settings import PbxSettings
from esl_bridge.client import EslPbx


def test_implements_the_pbx_port() -> None:
    assert isinstance(EslPbx(PbxSettings(kind="freeswitch", port=8021, secret="s")), Pbx)


def test_subscription_asks_only_for_the_dialers_legs_and_jobs() -> None:
    assert EslPbx._subscription() == [
        b"event plain CHANNEL_CREATE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER "
        b"CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP_COMPLETE PLAYBACK_START "
        b"BACKGROUND_JOB\n\n",
        b"filter variable_dialer_leg customer\n\n",
        b"filter variable_dialer_leg agent\n\n",
        b"filter Event-Name BACKGROUND_JOB\n\n",
    ]

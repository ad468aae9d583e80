"""The FreeSWITCH adapter as registered under the entry-point group `dialer.pbx` (name
`freeswitch`, see pyproject.toml). Light on purpose: the ESL client loads only in `build`."""

from __future__ import annotations

from typing import Final

from dialer.pbx import Capability, Pbx
from dialer.pbx_registry import PbxAdapter
from dialer.settings import PbxSettings

CAPABILITIES: Final[frozenset[Capability]] = frozenset()
"""No answering-machine detection: deploy/freeswitch/dialplan/dialer.xml runs none (FreeSWITCH's
mod_avmd detects a voicemail beep, it gives no person/machine verdict)."""


def build(settings: PbxSettings) -> Pbx:
    from esl_bridge.client import EslPbx

    return EslPbx(settings)


ADAPTER: Final = PbxAdapter(default_port=8021, build=build)

"""The Asterisk adapter as registered under the entry-point group `dialer.pbx` (name `asterisk`,
see pyproject.toml). Light on purpose: the AMI client, and panoramisk, load only in `build`."""

from __future__ import annotations

from typing import Final

from dialer.pbx import Capability, Pbx
from dialer.pbx_registry import PbxAdapter
from dialer.settings import PbxSettings

CAPABILITIES: Final = frozenset({Capability.ANSWERING_MACHINE_DETECTION})
"""AMD() in deploy/asterisk/extensions.conf (app_amd, amd.conf) gives a person/machine verdict."""


def build(settings: PbxSettings) -> Pbx:
    from ami_bridge.client import AmiPbx

    return AmiPbx(settings)


ADAPTER: Final = PbxAdapter(default_port=5038, build=build)

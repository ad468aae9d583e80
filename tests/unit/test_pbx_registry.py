"""PBX adapters by name: the entry points pyproject.toml declares are the installed ones, each
names a PbxAdapter whose adapter declares its capabilities, and an unknown `pbx.kind` is a
configuration error naming the known kinds. A campaign needing a capability its PBX lacks is
refused with a reason naming it."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ami_bridge.client import AmiPbx
from dialer import pbx_registry
from dialer.core.refusals import campaign_refusal, capability_refusal, needed_capabilities
from dialer.pbx import Capability, Pbx
from dialer.settings import ConfigError, PbxSettings, load
from dialer.store.records import Campaign, CampaignStatus, PacingMode, Trunk
from esl_bridge.client import EslPbx

REPO = Path(__file__).resolve().parents[2]
AMD = Capability.ANSWERING_MACHINE_DETECTION


def test_the_installed_entry_points_are_those_pyproject_declares() -> None:
    # Entry points are package metadata: a kind added to pyproject.toml is known only once the
    # package is installed again (`make install` does it when pyproject.toml changes).
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"][pbx_registry.ENTRY_POINT_GROUP]
    assert sorted(declared) == pbx_registry.known_kinds() == ["asterisk", "freeswitch"]


@pytest.mark.parametrize(
    ("kind", "port", "adapter", "capabilities"),
    [("asterisk", 5038, AmiPbx, {AMD}), ("freeswitch", 8021, EslPbx, set())],
)
def test_each_kind_builds_its_adapter_which_declares_its_capabilities(
    kind: str, port: int, adapter: type, capabilities: set[Capability]
) -> None:
    registered = pbx_registry.adapter_for(kind)
    assert registered.default_port == port
    built = registered.build(PbxSettings(kind=kind, port=port, secret="s"))
    assert isinstance(built, adapter) and isinstance(built, Pbx)
    assert built.capabilities == capabilities


def test_an_unknown_kind_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(pbx_registry.UnknownPbxKind) as raised:
        pbx_registry.adapter_for("sip")
    assert str(raised.value) == "no PBX adapter named 'sip' (known: 'asterisk', 'freeswitch')"
    config = tmp_path / "dialer.toml"
    config.write_text('[pbx]\nsecret="x"\nkind="sip"\n')
    with pytest.raises(ConfigError, match=r"pbx\.kind: no PBX adapter named 'sip' \(known: "):
        load(config, env={})


def test_the_port_defaults_to_the_kinds_own(tmp_path: Path) -> None:
    config = tmp_path / "dialer.toml"
    for kind, port in (("asterisk", 5038), ("freeswitch", 8021)):
        config.write_text(f'[pbx]\nsecret="x"\nkind="{kind}"\n')
        assert load(config, env={}).pbx.port == port


T = datetime(2030, 1, 1, tzinfo=UTC)
TRUNK = Trunk(1, "carrier", max_channels=1, max_cps=1.0, dial_prefix="", endpoint="trunk")


def _campaign(amd: bool) -> Campaign:
    return Campaign(
        7, "spring", CampaignStatus.RUNNING, PacingMode.POWER, "+15550000000", 1, 20.0, 3, 0.0,
        1.0, T, T, amd_enabled=amd,
    )  # fmt: skip


def test_a_campaign_needing_a_capability_the_pbx_lacks_is_refused_naming_it() -> None:
    assert needed_capabilities(_campaign(amd=False)) == {}
    assert needed_capabilities(_campaign(amd=True)) == {AMD: "amd_enabled"}
    assert capability_refusal(_campaign(amd=True), {AMD}) is None
    assert capability_refusal(_campaign(amd=False), set()) is None
    reason = capability_refusal(_campaign(amd=True), set())
    assert reason == (
        "campaign 'spring' is not dialed: it needs answering-machine detection (for "
        "amd_enabled), which this daemon's PBX adapter does not offer; turn amd_enabled off "
        "or run the campaign on a PBX that has it"
    )
    # The one refusal path the core and the API share gives the same reason.
    assert campaign_refusal(_campaign(amd=True), TRUNK, EslPbx.capabilities) == reason
    assert campaign_refusal(_campaign(amd=True), TRUNK, AmiPbx.capabilities) is None

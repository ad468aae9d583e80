"""PBX adapters by name: a PBX package registers one under the entry-point group `dialer.pbx`,
and `pbx.kind` in the configuration picks it.

    [project.entry-points."dialer.pbx"]
    asterisk = "ami_bridge.adapter:ADAPTER"

The entry point names a `PbxAdapter`: the kind's usual port and how to build the adapter from
the PBX settings. Its module should stay light (configuration checks load it): the adapter's
client and its libraries are imported by `build`. A third PBX is a package with such an entry
point, installed next to the dialer; nothing in `dialer/` names it. Entry points are package
metadata: a kind added to pyproject.toml is known once the package is installed again
(`make install`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from dialer.pbx import Pbx
    from dialer.settings import PbxSettings

ENTRY_POINT_GROUP: Final = "dialer.pbx"


@dataclass(frozen=True, slots=True)
class PbxAdapter:
    """What a PBX package registers: its usual port (used when `pbx.port` is 0) and the
    function that makes the adapter (a `dialer.pbx.Pbx`, which declares its capabilities)."""

    default_port: int
    build: Callable[[PbxSettings], Pbx]


class UnknownPbxKind(LookupError):
    """No adapter is registered under that name; the message names those that are."""


def _registered() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_kinds() -> list[str]:
    """The registered kinds, sorted."""
    return sorted(_registered())


def unknown_kind_message(kind: str, known: list[str]) -> str:
    listed = ", ".join(repr(k) for k in known) if known else "none (is the dialer installed?)"
    return f"no PBX adapter named {kind!r} (known: {listed})"


def adapter_for(kind: str) -> PbxAdapter:
    """The adapter registered as `kind`, or UnknownPbxKind naming the known kinds; TypeError
    when the entry point names something else than a `PbxAdapter`."""
    registered = _registered()
    entry = registered.get(kind)
    if entry is None:
        raise UnknownPbxKind(unknown_kind_message(kind, sorted(registered)))
    adapter = entry.load()
    if not isinstance(adapter, PbxAdapter):
        raise TypeError(
            f"entry point {kind!r} of group {ENTRY_POINT_GROUP!r} ({entry.value}) is a "
            f"{type(adapter).__name__}, not a PbxAdapter"
        )
    return adapter

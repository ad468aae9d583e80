"""A daemon process's identity: its configured name plus the moment it started.

Leases of leads and agents, open call attempts and the `daemons` table name their owner by this
identity. A daemon restarted under the same name (`dialer.owner`, default the host name) is a new
process: it never renews the dead process's leases as its own. It recognises them by the name,
takes them over at start and closes or adopts what they hold, instead of waiting for them to
expire. Two daemons running at once must therefore have different names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

SEPARATOR = "#"


def check_name(name: str) -> str:
    """A daemon name: printable, no spaces, no SEPARATOR. Returns it; ValueError names the fault."""
    if not name:
        raise ValueError("a daemon name must not be empty")
    if len(name) > 100:
        raise ValueError("a daemon name must be at most 100 characters")
    if SEPARATOR in name:
        raise ValueError(f"a daemon name must not contain {SEPARATOR!r}")
    if not name.isprintable() or any(c.isspace() for c in name):
        raise ValueError("a daemon name must be printable, without spaces")
    return name


def name_of(owner: str) -> str:
    """The configured name inside an owner identity (an older plain name is its own name)."""
    return owner.split(SEPARATOR, 1)[0]


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    name: str
    started: datetime

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.started.tzinfo is None:
            raise ValueError("started must be timezone-aware")

    @classmethod
    def new(cls, name: str, now: datetime | None = None) -> ProcessIdentity:
        return cls(name, now if now is not None else datetime.now(UTC))

    @property
    def owner(self) -> str:
        """`name#20261207T181502.123Z`: sorts by start time among one name's processes."""
        at = self.started.astimezone(UTC)
        return f"{self.name}{SEPARATOR}{at:%Y%m%dT%H%M%S}.{at.microsecond // 1000:03d}Z"

    def is_predecessor(self, owner: str) -> bool:
        """`owner` is an earlier process under this name (it is gone: names are unique)."""
        return owner != self.owner and name_of(owner) == self.name

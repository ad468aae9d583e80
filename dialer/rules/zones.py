"""Which time zone(s) a lead is called in.

Order: the lead's own zone when it has one; else the zones of the number's region from the
`phonenumbers` time-zone data; else the campaign's default zone. The store's import default
is ``"UTC"``: no person lives by that name, so ``"UTC"`` (or an empty zone) means "not given"
here; a lead really on UTC can say ``"Etc/UTC"``. A number whose region spans several zones
(a US toll-free number, a Russian mobile) keeps them all, and calling hours must then hold in
every one of them (`hours.next_open_in_all`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

UNSET_ZONES = frozenset({"", "UTC"})
_UNKNOWN = "Etc/Unknown"  # what phonenumbers answers for a number it cannot place


class ZoneSource(enum.StrEnum):
    LEAD = "lead"
    NUMBER = "number"
    CAMPAIGN = "campaign default"


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    zones: tuple[str, ...]  # IANA names, at least one
    source: ZoneSource

    def __post_init__(self) -> None:
        if not self.zones:
            raise ValueError("a zone choice needs at least one zone")

    @property
    def infos(self) -> tuple[ZoneInfo, ...]:
        return tuple(zone_info(z) for z in self.zones)

    @property
    def primary(self) -> ZoneInfo:
        """The zone used for local days, weeks and months (caps) and for display."""
        return zone_info(self.zones[0])

    def describe(self) -> str:
        if len(self.zones) == 1:
            return f"{self.zones[0]} ({self.source.value})"
        first = self.zones[0]
        return f"{len(self.zones)} zones of the number's region, all must be open ({first}, ...)"


@lru_cache(maxsize=1024)
def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


@lru_cache(maxsize=65536)
def zones_for_number(phone: str) -> tuple[str, ...]:
    """The IANA zones the number's region spans (geographic data), () when unknown."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    found = tuple(z for z in pn_timezone.time_zones_for_number(parsed) if z != _UNKNOWN)
    usable = []
    for z in found:
        try:
            zone_info(z)
        except ValueError:
            continue
        usable.append(z)
    return tuple(usable)


def choose_zones(lead_zone: str | None, phone: str, default_zone: str) -> ZoneChoice:
    if lead_zone is not None and lead_zone not in UNSET_ZONES:
        zone_info(lead_zone)  # raises on a name zoneinfo does not know
        return ZoneChoice((lead_zone,), ZoneSource.LEAD)
    from_number = zones_for_number(phone)
    if from_number:
        return ZoneChoice(from_number, ZoneSource.NUMBER)
    return ZoneChoice((default_zone,), ZoneSource.CAMPAIGN)

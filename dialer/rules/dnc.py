"""Do-not-call entries and matching: pure values, no I/O.

Rules:
- A list is global (every campaign) or belongs to one campaign. A number on a global list, or
  on a list of the lead's own campaign, is never dialed.
- Numbers are compared in E.164 form; `normalize` turns imported text (spaces, dashes, a
  national number with a default region) into it, or refuses it.
- Every entry says where it came from: an import, a callee's opt-out, a manual entry or a
  complaint.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import phonenumbers


class DncSource(enum.StrEnum):
    IMPORT = "import"
    OPT_OUT = "opt_out"
    MANUAL = "manual"
    COMPLAINT = "complaint"


@dataclass(frozen=True, slots=True)
class DncHit:
    """One list entry that blocks a number."""

    list_name: str
    campaign_id: int | None  # None: a global list
    source: DncSource
    added_at: datetime

    @property
    def scope(self) -> str:
        return "global" if self.campaign_id is None else f"campaign {self.campaign_id}"


def applies(list_campaign_id: int | None, lead_campaign_id: int) -> bool:
    return list_campaign_id is None or list_campaign_id == lead_campaign_id


def normalize(raw: str, default_region: str | None = None) -> str:
    """E.164 form of `raw` (``+`` and digits), or ValueError. A number without a leading ``+``
    needs `default_region` (ISO 3166 alpha-2, e.g. ``"US"``)."""
    text = raw.strip()
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not (2 <= len(e164) - 1 <= 15):
        raise ValueError("not a phone number: wrong length")
    return e164


@dataclass(frozen=True, slots=True)
class DncIndex:
    """An in-memory set of (phone, list campaign) pairs: the reference model that tests hold the
    SQL to, and a small snapshot for callers that want one."""

    entries: frozenset[tuple[str, int | None]]

    @classmethod
    def of(cls, entries: Iterable[tuple[str, int | None]]) -> DncIndex:
        return cls(frozenset(entries))

    def blocks(self, phone: str, campaign_id: int) -> bool:
        return (phone, None) in self.entries or (phone, campaign_id) in self.entries

"""Reading a lead file: bytes in, one `RawRow` per record out. Pure: no I/O, no phone logic.

Rules for CSV (real files come from Excel, CRMs and hand edits):
- Encoding: a UTF-8 or UTF-16 byte-order mark is honoured and dropped; UTF-8 is tried first,
  then Windows-1252 (Excel's "CSV" on Western Windows), which decodes any byte.
- Delimiter: given, or sniffed from the header line among ``, ; TAB |`` (the one that splits it
  into the most fields wins; Excel in most of Europe writes ``;``).
- Header: required, except for a one-column file of bare numbers. Column names are matched
  without case, spaces or punctuation: the phone column is one of `PHONE_NAMES` (or the one
  named by the caller), the time zone one of `TIME_ZONE_NAMES`, the country (a per-row region
  for national numbers) one of `COUNTRY_NAMES`, and `priority`. Every other non-empty field
  goes to the lead's ``extra``.
- Line numbers are the file's own (the header is line 1), so a person can find the row; a
  quoted field spanning lines counts from the line the record starts on.
- Blank lines (and rows of empty fields) are skipped and counted. A row with more non-empty
  fields than the header has is rejected (usually an unquoted delimiter); a shorter row's
  missing fields are empty.

JSON: an array of objects (or ``{"leads": [...]}``) with the same key names; `line` is then the
object's 1-based position in the array.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

PHONE_NAMES = frozenset(
    {
        "phone",
        "phonenumber",
        "phoneno",
        "number",
        "telephone",
        "telephonenumber",
        "numero",
        "numerodetelephone",
        "telefono",
        "telefon",
        "telefonnummer",
        "tel",
        "mobile",
        "mobilephone",
        "mobilenumber",
        "cell",
        "cellphone",
        "msisdn",
        "phone1",
        "e164",
    }
)
TIME_ZONE_NAMES = frozenset({"timezone", "tz", "zone", "tzname", "fuseau", "fuseauhoraire"})
COUNTRY_NAMES = frozenset({"country", "countrycode", "region", "isocountry", "countryiso"})
PRIORITY_NAMES = frozenset({"priority"})
DELIMITERS = (",", ";", "\t", "|")

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_PHONE_LIKE = re.compile(r"^[\s+()./0-9-]*[0-9][\s+()./0-9-]*$")


class ImportFormatError(ValueError):
    """The file as a whole cannot be read (no phone column, not JSON, ...)."""


@dataclass(frozen=True, slots=True)
class RawRow:
    """One record, its role fields picked out, nothing checked yet ("" when absent)."""

    line: int
    phone: str
    time_zone: str = ""
    country: str = ""
    priority: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A record rejected before its number is looked at."""

    line: int
    reason: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class FileRead:
    rows: list[RawRow | BadRow]
    blank_lines: int
    delimiter: str | None  # None for JSON
    columns: tuple[str, ...]  # the header as written ("phone" alone for a headerless file)
    phone_column: str


def column_key(name: str) -> str:
    """How column names are compared: lower case, accents dropped, letters and digits only
    (``Téléphone`` is ``telephone``, ``Phone Number`` is ``phonenumber``)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return _NOT_ALNUM.sub("", plain.strip().lower())


def decode(data: bytes) -> str:
    """Text of a file, per the rules above."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header into the most fields (a comma on a tie)."""
    best, best_count = ",", 0
    for delim in DELIMITERS:
        count = len(next(csv.reader([header_line], delimiter=delim), []))
        if count > best_count:
            best, best_count = delim, count
    return best


def _pick(keys: list[str], names: frozenset[str]) -> int | None:
    for i, key in enumerate(keys):
        if key in names:
            return i
    return None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def read_csv(
    data: bytes | str, *, delimiter: str | None = None, phone_column: str | None = None
) -> FileRead:
    """Every record of a CSV file, in file order."""
    text = decode(data) if isinstance(data, bytes) else data
    first = _first_line(text)
    if not first:
        raise ImportFormatError("the file has no rows")
    delim = delimiter or sniff_delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)

    header: list[str] | None = None
    blank = 0
    next_line = 1  # the line the next record starts on
    for record in reader:
        line = next_line
        next_line = reader.line_num + 1
        if not any(cell.strip() for cell in record):
            blank += 1
            continue
        header = record
        break
    if header is None:
        raise ImportFormatError("the file has no rows")

    keys = [column_key(h) for h in header]
    wanted = column_key(phone_column) if phone_column else None
    phone_i = keys.index(wanted) if wanted in keys else None
    if wanted is not None and phone_i is None:
        raise ImportFormatError(
            f"no column {phone_column!r} in the header {_show(header)} "
            f"(read with delimiter {_show_delim(delim)})"
        )
    if phone_i is None:
        phone_i = _pick(keys, PHONE_NAMES)
    rows: list[RawRow | BadRow] = []
    if phone_i is None:
        if len(header) == 1 and _PHONE_LIKE.match(header[0]):
            # A bare list of numbers: the first line is a lead, not a header.
            rows.append(RawRow(line, header[0].strip()))
            header, keys, phone_i = ["phone"], ["phone"], 0
        else:
            raise ImportFormatError(
                "no phone column in the header "
                f"{_show(header)} (read with delimiter {_show_delim(delim)}; "
                "name it phone, number, mobile or telephone, or pass the column's name)"
            )
    tz_i = _pick(keys, TIME_ZONE_NAMES)
    country_i = _pick(keys, COUNTRY_NAMES)
    prio_i = _pick(keys, PRIORITY_NAMES)
    roles = {phone_i, tz_i, country_i, prio_i}
    extra_cols = [(i, header[i].strip()) for i in range(len(header)) if i not in roles]
    width = len(header)

    for record in reader:
        line = next_line
        next_line = reader.line_num + 1
        n = len(record)
        if n > width and any(cell.strip() for cell in record[width:]):
            rows.append(
                BadRow(
                    line,
                    f"{n} fields where the header has {width} "
                    f"(an unquoted {_show_delim(delim)} in a field?)",
                    delim.join(record),
                )
            )
            continue
        if n < width:
            if not any(cell.strip() for cell in record):
                blank += 1
                continue
            record = record + [""] * (width - n)
        phone = record[phone_i].strip()
        if not phone and not any(cell.strip() for cell in record):
            blank += 1
            continue
        extra = {name: v for i, name in extra_cols if (v := record[i].strip())}
        rows.append(
            RawRow(
                line,
                phone,
                record[tz_i].strip() if tz_i is not None else "",
                record[country_i].strip() if country_i is not None else "",
                record[prio_i].strip() if prio_i is not None else "",
                extra,
            )
        )
    return FileRead(rows, blank, delim, tuple(h.strip() for h in header), header[phone_i].strip())


def read_json(data: bytes | str, *, phone_column: str | None = None) -> FileRead:
    """Every object of a JSON array of leads."""
    try:
        doc = json.loads(decode(data) if isinstance(data, bytes) else data)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"not valid JSON: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("leads"), list):
        doc = doc["leads"]
    if not isinstance(doc, list):
        raise ImportFormatError('expected a JSON array of leads (or {"leads": [...]})')
    wanted = column_key(phone_column) if phone_column else None
    rows: list[RawRow | BadRow] = []
    blank = 0
    for pos, item in enumerate(doc, start=1):
        if not isinstance(item, dict):
            if isinstance(item, str | int) and not isinstance(item, bool):
                rows.append(RawRow(pos, str(item).strip()))
            else:
                rows.append(BadRow(pos, "expected an object with a phone field"))
            continue
        if not item:
            blank += 1
            continue
        phone = tz = country = prio = ""
        have_phone = False
        extra: dict[str, Any] = {}
        for key, value in item.items():
            k = column_key(str(key))
            text = "" if value is None else str(value).strip()
            if not have_phone and (k == wanted if wanted else k in PHONE_NAMES):
                phone, have_phone = text, True
            elif k in TIME_ZONE_NAMES and not tz:
                tz = text
            elif k in COUNTRY_NAMES and not country:
                country = text
            elif k in PRIORITY_NAMES and not prio:
                prio = text
            elif value is not None and value != "":
                extra[str(key)] = value
        if not have_phone:
            rows.append(BadRow(pos, "no phone field"))
            continue
        rows.append(RawRow(pos, phone, tz, country, prio, extra))
    return FileRead(rows, blank, None, (), phone_column or "phone")


def _show(header: list[str]) -> str:
    shown = [h.strip() for h in header[:8]]
    more = ", ..." if len(header) > 8 else ""
    return "[" + ", ".join(repr(h) for h in shown) + more + "]"


def _show_delim(delim: str) -> str:
    return {"\t": "TAB", ",": "','", ";": "';'", "|": "'|'"}.get(delim, repr(delim))


def iter_good(read: FileRead) -> Iterator[RawRow]:
    """The rows that were read without a problem."""
    return (r for r in read.rows if isinstance(r, RawRow))

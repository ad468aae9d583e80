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

JSON: an array of objects (or ``{"leads": [...]}`` with ``leads`` first) with the same key
names; `line` is then the object's 1-based position in the array. JSON is UTF-8 (RFC 8259) or
UTF-16 with a byte-order mark; NaN and Infinity are not numbers JSON allows.

Files are read as they arrive (`CsvFeed`, `JsonFeed`: bytes in, rows out, one unfinished record
held), so a file of any length takes little memory. What one record may hold is bounded
(`Limits`): a record or header line too long, too many columns, a column name too long, an
element nested too deeply, or bytes that are not UTF-8 in a UTF-8 file make the file unreadable
(`ImportFormatError`, naming the line); a field too long or a NUL character (Postgres keeps
none in text) rejects its row.
"""

from __future__ import annotations

import codecs
import csv
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


@dataclass(frozen=True, slots=True)
class Limits:
    """What one record may hold. A file past `max_record_chars` or `max_columns` cannot be read
    (`ImportFormatError`); a row with a field past `max_field_chars` or a NUL is a `BadRow`."""

    max_columns: int = 200
    max_field_chars: int = 4_000
    max_record_chars: int = 65_536  # a CSV record (the header too) or one JSON element
    max_name_chars: int = 200  # a column's name


SHOWN_CHARS = 200  # characters of a rejected row's value kept for the report


class _Decoder:
    """Bytes to text as they arrive, by the encoding rules above. `fallback` allows
    Windows-1252 when the first non-ASCII byte is not UTF-8 (CSV, not JSON)."""

    def __init__(self, *, fallback: bool) -> None:
        self._fallback = fallback
        self._held = b""
        self._codec: str | None = None  # None until the byte-order mark is known
        self._utf16: codecs.IncrementalDecoder | None = None
        self._non_ascii = False
        self._lines = 0  # newlines in the text given out so far, for error messages

    def feed(self, data: bytes, final: bool = False) -> str:
        buf = self._held + data if self._held else data
        self._held = b""
        if self._codec is None:
            if len(buf) < 3 and not final:
                self._held = buf
                return ""
            if buf.startswith(codecs.BOM_UTF8):
                self._codec, buf, self._non_ascii = "utf-8", buf[3:], True
            elif buf.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                self._codec = "utf-16"
                self._utf16 = codecs.getincrementaldecoder("utf-16")("replace")
            else:
                self._codec = "utf-8"
        if self._utf16 is not None:
            return self._utf16.decode(buf, final)
        if self._codec == "cp1252":
            return buf.decode("cp1252", errors="replace")
        try:
            text, used = codecs.utf_8_decode(buf, "strict", final)
        except UnicodeDecodeError as exc:
            good = buf[: exc.start].decode("utf-8")
            if self._fallback and not self._non_ascii and good.isascii():
                self._codec = "cp1252"
                return buf.decode("cp1252", errors="replace")
            line = self._lines + good.count("\n") + 1
            raise ImportFormatError(
                f"line {line}: byte 0x{buf[exc.start]:02x} is not UTF-8"
                + (" (the file is UTF-8 before it)" if self._fallback else "")
            ) from None
        self._held = buf[used:]
        if not self._non_ascii and not text.isascii():
            self._non_ascii = True
        self._lines += text.count("\n")
        return text


def decode(data: bytes) -> str:
    """Text of a whole file, per the rules above."""
    return _Decoder(fallback=True).feed(data, final=True)


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


# Only CR and LF end a CSV line (str.splitlines also splits on form feeds, U+2028, ...).
_OTHER_BREAKS = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_CSV_LINES = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")


def _split_lines(text: str) -> list[str]:
    if _OTHER_BREAKS.search(text) is None:
        return text.splitlines(keepends=True)
    return [part for part in _CSV_LINES.split(text) if part]


def _clip(value: str) -> str:
    return value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "..."


class CsvFeed:
    """A CSV file read as it arrives: `feed(bytes)` gives the records complete so far,
    `close()` the rest. Holds at most one unfinished record.

    A record ends at a line end where the quotes seen since the record began are even in
    number (a quoted field may span lines; a doubled quote inside one counts two). The
    header is read from the first chunks: `header_read` tells when it was (then `columns`,
    `delimiter` and `phone_column` are known)."""

    def __init__(
        self,
        *,
        delimiter: str | None = None,
        phone_column: str | None = None,
        limits: Limits = Limits(),
    ) -> None:
        self.limits = limits
        self.delimiter = delimiter
        self._wanted_name = phone_column
        self._decoder = _Decoder(fallback=True)
        self._tail = ""  # text after the last line end
        self._open: list[str] = []  # lines of a record whose quoted field is still open
        self._open_chars = 0
        self._line = 0  # physical lines handed to the CSV reader so far
        self.blank_lines = 0
        self.header_read = False
        self.columns: tuple[str, ...] = ()
        self.phone_column = ""
        self._width = 0
        self._phone_i = 0
        self._tz_i: int | None = None
        self._country_i: int | None = None
        self._prio_i: int | None = None
        self._extra_cols: list[tuple[int, str]] = []
        self._names: list[str] = []

    def feed(self, data: bytes) -> list[RawRow | BadRow]:
        return self._records(self._decoder.feed(data), final=False)

    def close(self) -> list[RawRow | BadRow]:
        rows = self._records(self._decoder.feed(b"", final=True), final=True)
        if not self.header_read:
            raise ImportFormatError("the file has no rows")
        return rows

    def _records(self, text: str, *, final: bool) -> list[RawRow | BadRow]:
        text = self._tail + text if self._tail else text
        end = len(text)
        if not final:
            if text.endswith("\r"):
                end -= 1  # a CR LF may be cut between two chunks
            end = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
        self._tail = text[end:]
        if len(self._tail) + self._open_chars > self.limits.max_record_chars:
            self._too_long(self._line + len(self._open) + 1)
        ready: list[str] = []
        limit = self.limits.max_record_chars
        for line in _split_lines(text[:end]) if end else ():
            if self._open:
                self._open.append(line)
                self._open_chars += len(line)
                if line.count('"') % 2:
                    ready += self._open
                    self._open, self._open_chars = [], 0
                elif self._open_chars > limit:
                    self._too_long(self._line + len(ready) + 1)
            elif len(line) > limit:
                self._too_long(self._line + len(ready) + 1)
            elif line.count('"') % 2:
                self._open, self._open_chars = [line], len(line)
            else:
                ready.append(line)
        if final:
            ready += self._open
            if self._tail:
                ready.append(self._tail)
            self._open, self._open_chars, self._tail = [], 0, ""
        return self._parse(ready) if ready else []

    def _too_long(self, line: int) -> None:
        raise ImportFormatError(
            f"line {line}: a record longer than {self.limits.max_record_chars} characters "
            "(a quote that is never closed?)"
        )

    def _parse(self, lines: list[str]) -> list[RawRow | BadRow]:
        base = self._line
        self._line += len(lines)
        if not self.header_read and self.delimiter is None:
            first = next((ln for ln in lines if ln.strip()), "")
            if not first:
                self.blank_lines += len(lines)
                return []
            self.delimiter = sniff_delimiter(first.rstrip("\r\n"))
        reader = csv.reader(lines, delimiter=self.delimiter or ",")
        rows: list[RawRow | BadRow] = []
        next_line = base + 1
        for record in reader:
            line = next_line
            next_line = base + reader.line_num + 1
            if not self.header_read:
                if not any(cell.strip() for cell in record):
                    self.blank_lines += 1
                    continue
                first_row = self._header(record, line)
                if first_row is not None:
                    rows.append(first_row)
                continue
            rows.append(self._row(record, line))
        # A row of empty fields is counted, not returned.
        out = [r for r in rows if r is not _BLANK]
        self.blank_lines += len(rows) - len(out)
        return out

    def _header(self, header: list[str], line: int) -> RawRow | None:
        """Learn the columns; a bare number in place of a header is the first lead."""
        delim = self.delimiter or ","
        if len(header) > self.limits.max_columns:
            raise ImportFormatError(
                f"the header has {len(header)} columns: at most {self.limits.max_columns} "
                f"are read (read with delimiter {_show_delim(delim)})"
            )
        if any("\x00" in h for h in header):
            raise ImportFormatError("the header contains a NUL character")
        for i, name in enumerate(header, start=1):
            if len(name) > self.limits.max_name_chars:
                raise ImportFormatError(
                    f"column {i}'s name has {len(name)} characters: at most "
                    f"{self.limits.max_name_chars}"
                )
        keys = [column_key(h) for h in header]
        wanted = column_key(self._wanted_name) if self._wanted_name else None
        phone_i = keys.index(wanted) if wanted in keys else None
        if wanted is not None and phone_i is None:
            raise ImportFormatError(
                f"no column {self._wanted_name!r} in the header {_show(header)} "
                f"(read with delimiter {_show_delim(delim)})"
            )
        if phone_i is None:
            phone_i = _pick(keys, PHONE_NAMES)
        first: RawRow | None = None
        if phone_i is None:
            if len(header) == 1 and _PHONE_LIKE.match(header[0]):
                # A bare list of numbers: the first line is a lead, not a header.
                first = RawRow(line, header[0].strip())
                header, keys, phone_i = ["phone"], ["phone"], 0
            else:
                raise ImportFormatError(
                    "no phone column in the header "
                    f"{_show(header)} (read with delimiter {_show_delim(delim)}; "
                    "name it phone, number, mobile or telephone, or pass the column's name)"
                )
        self._phone_i = phone_i
        self._tz_i = _pick(keys, TIME_ZONE_NAMES)
        self._country_i = _pick(keys, COUNTRY_NAMES)
        self._prio_i = _pick(keys, PRIORITY_NAMES)
        roles = {phone_i, self._tz_i, self._country_i, self._prio_i}
        self._names = [h.strip() for h in header]
        self._extra_cols = [(i, self._names[i]) for i in range(len(header)) if i not in roles]
        self._width = len(header)
        self.columns = tuple(self._names)
        self.phone_column = self._names[phone_i]
        self.header_read = True
        return first

    def _row(self, record: list[str], line: int) -> RawRow | BadRow:
        width, n = self._width, len(record)
        delim = self.delimiter or ","
        if n > width and any(cell.strip() for cell in record[width:]):
            return BadRow(
                line,
                f"{n} fields where the header has {width} "
                f"(an unquoted {_show_delim(delim)} in a field?)",
                _clip(delim.join(record)),
            )
        if n < width:
            if not any(cell.strip() for cell in record):
                return _BLANK
            record = record + [""] * (width - n)
        phone = record[self._phone_i].strip()
        if not phone and not any(cell.strip() for cell in record):
            return _BLANK
        problem = _field_problem(record[:width], self._names, self.limits)
        if problem is not None:
            return BadRow(line, problem, _clip(phone))
        extra = {name: v for i, name in self._extra_cols if (v := record[i].strip())}
        return RawRow(
            line,
            phone,
            record[self._tz_i].strip() if self._tz_i is not None else "",
            record[self._country_i].strip() if self._country_i is not None else "",
            record[self._prio_i].strip() if self._prio_i is not None else "",
            extra,
        )

    def shape(self) -> FileRead:
        """What was learnt of the file, without its rows."""
        return FileRead([], self.blank_lines, self.delimiter, self.columns, self.phone_column)


_BLANK = BadRow(0, "blank")  # marks a row of empty fields inside `CsvFeed._parse`


def _field_problem(cells: list[str], names: list[str], limits: Limits) -> str | None:
    """Why a row's fields cannot be stored, or None. Postgres keeps no NUL in text."""
    for name, cell in zip(names, cells, strict=False):
        if len(cell) > limits.max_field_chars:
            return (
                f"field {_clip(name)!r} has {len(cell)} characters: "
                f"at most {limits.max_field_chars}"
            )
        if "\x00" in cell:
            return f"field {_clip(name)!r} contains a NUL character"
    return None


def read_csv(
    data: bytes | str,
    *,
    delimiter: str | None = None,
    phone_column: str | None = None,
    limits: Limits = Limits(),
) -> FileRead:
    """Every record of a whole CSV file, in file order."""
    feed = CsvFeed(delimiter=delimiter, phone_column=phone_column, limits=limits)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    rows = feed.feed(raw) + feed.close()
    shape = feed.shape()
    return FileRead(rows, shape.blank_lines, shape.delimiter, shape.columns, shape.phone_column)


_WS = re.compile(r"[ \t\n\r]*")
_WRAPPER = re.compile(r'\{[ \t\n\r]*"leads"[ \t\n\r]*:[ \t\n\r]*\[')


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


class JsonFeed:
    """A JSON array of leads (or ``{"leads": [...]}`` with "leads" as its first key) read as it
    arrives: `feed(bytes)` gives the elements complete so far, `close()` the rest. Holds at
    most one unfinished element (`Limits.max_record_chars`). JSON is UTF-8 (RFC 8259), or
    UTF-16 with a byte-order mark."""

    def __init__(
        self,
        *,
        phone_column: str | None = None,
        limits: Limits = Limits(),
    ) -> None:
        self.limits = limits
        self.delimiter: str | None = None
        self.columns: tuple[str, ...] = ()
        self.phone_column = phone_column or "phone"
        self._wanted = column_key(phone_column) if phone_column else None
        self._decoder = _Decoder(fallback=False)
        self._json = json.JSONDecoder(parse_constant=_no_constant)
        self._buf = ""
        self._state = "start"  # start -> value -> comma -> value ... -> end
        self._wrapped = False
        self._pos = 0  # elements read
        self.blank_lines = 0
        self.header_read = False

    def feed(self, data: bytes) -> list[RawRow | BadRow]:
        return self._elements(self._decoder.feed(data), final=False)

    def close(self) -> list[RawRow | BadRow]:
        rows = self._elements(self._decoder.feed(b"", final=True), final=True)
        if self._state != "end":
            if not self.header_read:
                raise ImportFormatError("not valid JSON: the file is empty")
            raise ImportFormatError(
                f"not valid JSON: the array ends after element {self._pos} without its ]"
            )
        return rows

    def shape(self) -> FileRead:
        return FileRead([], self.blank_lines, None, (), self.phone_column)

    def _elements(self, text: str, *, final: bool) -> list[RawRow | BadRow]:
        buf = self._buf + text if self._buf else text
        at = 0
        rows: list[RawRow | BadRow] = []
        while True:
            at = _WS.match(buf, at).end()  # type: ignore[union-attr]  # matches "" at worst
            if at == len(buf):
                break
            if self._state == "start":
                if buf.startswith("[", at):
                    at, self._state = at + 1, "value"
                elif buf.startswith("{", at):
                    found = _WRAPPER.match(buf, at)
                    if found is None:
                        if len(buf) - at < 64 and not final:
                            break  # the start of the wrapper may still be coming
                        raise ImportFormatError(
                            'expected a JSON array of leads (or {"leads": [...]})'
                        )
                    at, self._state, self._wrapped = found.end(), "value", True
                else:
                    raise ImportFormatError('expected a JSON array of leads (or {"leads": [...]})')
                self.header_read = True
            elif self._state == "comma":
                if buf[at] == ",":
                    at, self._state = at + 1, "value"
                elif buf[at] == "]":
                    at, self._state = at + 1, "close"
                else:
                    raise ImportFormatError(
                        f"not valid JSON: expected , or ] after element {self._pos}"
                    )
            elif self._state == "value":
                if buf[at] == "]" and self._pos == 0:
                    at, self._state = at + 1, "close"
                    continue
                try:
                    item, end = self._json.raw_decode(buf, at)
                except (json.JSONDecodeError, ValueError, RecursionError) as exc:
                    if not final and len(buf) - at <= self.limits.max_record_chars:
                        break  # the element may be cut: wait for the rest
                    raise ImportFormatError(self._element_problem(exc, len(buf) - at)) from None
                if end == len(buf) and not final:
                    break  # a number at the end of the text may go on in the next chunk
                if end - at > self.limits.max_record_chars:
                    raise ImportFormatError(
                        f"element {self._pos + 1}: longer than "
                        f"{self.limits.max_record_chars} characters"
                    )
                self._pos += 1
                row = self._row(self._pos, item, "\x00" in buf[at:end] or "\\u0000" in buf[at:end])
                if row is not None:
                    rows.append(row)
                at, self._state = end, "comma"
            elif self._state == "close":
                if self._wrapped and buf[at] == "}":
                    at, self._state = at + 1, "end"
                elif self._wrapped:
                    raise ImportFormatError('not valid JSON: only } may follow the "leads" array')
                else:
                    self._state = "end"
            else:  # end
                raise ImportFormatError("not valid JSON: more data after the array")
        if final and self._state == "close" and not self._wrapped:
            self._state = "end"
        self._buf = buf[at:]
        return rows

    def _element_problem(self, exc: Exception, size: int) -> str:
        where = f"element {self._pos + 1}"
        if isinstance(exc, RecursionError):
            return f"{where}: nested too deeply"
        if size > self.limits.max_record_chars:
            return f"{where}: not valid JSON within {self.limits.max_record_chars} characters"
        if isinstance(exc, json.JSONDecodeError):
            return f"not valid JSON: {where}: {exc.msg}"
        return f"not valid JSON: {where}: {exc}"

    def _row(self, pos: int, item: Any, has_nul: bool) -> RawRow | BadRow | None:
        if not isinstance(item, dict):
            if has_nul:
                return BadRow(pos, "contains a NUL character")
            if isinstance(item, str | int) and not isinstance(item, bool):
                text = str(item).strip()
                if len(text) > self.limits.max_field_chars:
                    return BadRow(pos, f"longer than {self.limits.max_field_chars} characters")
                return RawRow(pos, text)
            return BadRow(pos, "expected an object with a phone field")
        if not item:
            self.blank_lines += 1
            return None
        if has_nul:
            return BadRow(pos, "contains a NUL character")
        if len(item) > self.limits.max_columns:
            return BadRow(pos, f"{len(item)} fields: at most {self.limits.max_columns}")
        phone = tz = country = prio = ""
        have_phone = False
        extra: dict[str, Any] = {}
        for key, value in item.items():
            k = column_key(str(key))
            text = "" if value is None else str(value).strip()
            if len(text) > self.limits.max_field_chars:
                return BadRow(
                    pos,
                    f"field {_clip(str(key))!r} has {len(text)} characters: "
                    f"at most {self.limits.max_field_chars}",
                )
            if not have_phone and (k == self._wanted if self._wanted else k in PHONE_NAMES):
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
            return BadRow(pos, "no phone field")
        return RawRow(pos, phone, tz, country, prio, extra)


def read_json(
    data: bytes | str,
    *,
    phone_column: str | None = None,
    limits: Limits = Limits(),
) -> FileRead:
    """Every element of a whole JSON array of leads."""
    feed = JsonFeed(phone_column=phone_column, limits=limits)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    rows = feed.feed(raw) + feed.close()
    return FileRead(rows, feed.blank_lines, None, (), feed.phone_column)


def _show(header: list[str]) -> str:
    shown = [h.strip() for h in header[:8]]
    more = ", ..." if len(header) > 8 else ""
    return "[" + ", ".join(repr(h) for h in shown) + more + "]"


def _show_delim(delim: str) -> str:
    return {"\t": "TAB", ",": "','", ";": "';'", "|": "'|'"}.get(delim, repr(delim))


def iter_good(read: FileRead) -> Iterator[RawRow]:
    """The rows that were read without a problem."""
    return (r for r in read.rows if isinstance(r, RawRow))

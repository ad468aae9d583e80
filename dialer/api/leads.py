"""Lead import: the file is the request body (CSV or JSON), not a multipart form, so a
100,000-row file goes up as it is and scripts can send it with ``curl --data-binary @file``.

With ``Accept: application/x-ndjson`` the answer streams one JSON object per line while the
import runs (``{"phase": "importing", "done": 5000, "total": 100000}`` ...) and ends with
``{"report": {...}}`` (or ``{"error": "..."}``); the CLI draws its progress bar from it.
Otherwise the answer is the report alone. Problems found before anything is stored (unknown
campaign, bad options, unreadable file) are ordinary 404/422 answers either way.

Why a lead is (not) dialed, with the content of the CLI's ``dialer leads why``,
``dialer leads history`` and ``dialer campaign reasons`` (each answer carries that text too):
``GET /leads/{id}/why``, ``GET /leads/{id}/history`` and ``GET /campaigns/{c}/reasons``.
Staff read every lead; an agent reads the leads of its own campaign (as it schedules their
callbacks) and no campaign's reasons.
"""

from __future__ import annotations

import json
import logging
import time
import zoneinfo
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from dialer.api import queries
from dialer.api.audit import audited
from dialer.api.auth import Principal, Role
from dialer.api.deps import (
    COMMON_ERRORS,
    Admin,
    Anyone,
    Conflict,
    Ctx,
    FieldError,
    Forbidden,
    IdPath,
    Staff,
    errors,
)
from dialer.api.guard import BodyTooLarge
from dialer.api.models import (
    AttemptHistoryOut,
    BlockerOut,
    CallbackOut,
    CampaignReasonsOut,
    EraseBody,
    ErasureOut,
    ImportReportOut,
    Instant,
    LeadCallbackOut,
    LeadHistoryOut,
    LeadWhyOut,
)
from dialer.imports.normalise import SUPPORTED_REGIONS, Check, Options, known_zone
from dialer.imports.reader import ImportFormatError
from dialer.imports.service import (
    DEFAULT_LIST,
    FileFormat,
    ImportReport,
    Progress,
    Upload,
    run_import,
)
from dialer.rules.verdict import CallbackFact
from dialer.store import callbacks as callback_repo
from dialer.store import erasure, explain
from dialer.store.engine import sqlstate_of
from dialer.store.errors import StoreError
from dialer.store.records import mask_phone

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["leads"], responses=errors(*COMMON_ERRORS))

NDJSON = "application/x-ndjson"
# What `region` and `time_zone` accept, stated in the schema.
_REGIONS = sorted(SUPPORTED_REGIONS | {r.lower() for r in SUPPORTED_REGIONS})
_ZONES = sorted(z for z in zoneinfo.available_timezones() if known_zone(z))
_DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|"}


def report_body(report: ImportReport) -> dict[str, Any]:
    return {
        "campaign_id": report.campaign_id,
        "list_id": report.list_id,
        "list_name": report.list_name,
        "format": report.format.value,
        "delimiter": report.delimiter,
        "phone_column": report.phone_column,
        "rows": report.rows,
        "blank_lines": report.blank_lines,
        "inserted": report.inserted,
        "rejected_count": report.rejected_count,
        "counts": report.counts,
        "zone_sources": report.zone_sources,
        "skipped_concurrent": report.skipped_concurrent,
        "seconds": report.seconds,
        "rejected": [
            {"line": r.line, "code": r.code.value, "reason": r.reason, "value": r.value}
            for r in report.rejected
        ],
    }


# Any element is taken: an object with a phone field or a bare number is a lead, anything else
# a rejected row (the report says why), so the schema allows any.
_JSON_LEAD: dict[str, Any] = {
    "description": "an object with a phone field, or a bare number; any other element is "
    "reported as a rejected row"
}
_BODY_DOC: dict[str, Any] = {
    "responses": {
        "200": {
            "content": {
                NDJSON: {
                    "schema": {"type": "string"},
                    "description": "with Accept: application/x-ndjson, progress lines then "
                    "the report (or an error)",
                }
            }
        }
    },
    "requestBody": {
        "required": True,
        "description": "the lead file: CSV (header row with a phone column) or JSON array",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"type": "array", "items": _JSON_LEAD},
                        {
                            "type": "object",
                            "properties": {"leads": {"type": "array", "items": _JSON_LEAD}},
                            "required": ["leads"],
                            "additionalProperties": False,
                        },
                    ]
                }
            },
        },
    },
}


@router.post(
    "/campaigns/{campaign}/leads",
    summary="Import leads from a CSV or JSON file into one of the campaign's lists",
    openapi_extra=_BODY_DOC,
    response_model=ImportReportOut,
    responses=errors(404, 409),
)
async def import_leads(
    request: Request,
    campaign: Annotated[str, Path(description="the campaign's id, or its name")],
    ctx: Ctx,
    who: Staff,
    list_name: Annotated[
        str, Query(alias="list", min_length=1, max_length=100, description="created if new")
    ] = DEFAULT_LIST,
    region: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z]{2}$",
            description="default country (ISO 3166) of numbers written without +",
            json_schema_extra={"enum": _REGIONS},
        ),
    ] = None,
    time_zone: Annotated[
        str,
        Query(
            description="zone of leads whose number does not tell (IANA name)",
            json_schema_extra={"enum": _ZONES},
        ),
    ] = "UTC",
    check: Annotated[Check, Query(description="how strictly numbers are checked")] = Check.VALID,
    file_format: Annotated[
        FileFormat | None, Query(alias="format", description="default: from Content-Type")
    ] = None,
    delimiter: Annotated[
        str | None, Query(pattern=r"^(,|;|\t|\||tab)$", description="default: sniffed")
    ] = None,
    phone_column: Annotated[str | None, Query(max_length=100)] = None,
) -> Any:
    started = time.perf_counter()
    if not known_zone(time_zone):
        raise FieldError(("query", "time_zone"), f"unknown time zone {time_zone!r}")
    try:
        options = Options(region.upper() if region else None, time_zone, check)
    except ValueError as exc:
        raise FieldError(("query", "region"), str(exc)) from None
    async with ctx.db.transaction() as s:
        c = await queries.campaign_by_ref(s, campaign)
    fmt = file_format or (
        FileFormat.JSON
        if "json" in request.headers.get("content-type", "").lower()
        else FileFormat.CSV
    )
    # The size limit (http.max_upload_bytes) is the request guard's (dialer.api.guard): it
    # refuses a declared length over it, and cuts a chunked upload off there. The body is
    # parsed as it arrives and never held whole (dialer.imports.service).
    upload = Upload(
        request.stream(),
        fmt,
        delimiter=_DELIMITERS[delimiter] if delimiter else None,
        phone_column=phone_column,
        size=_declared_length(request),
    )
    try:
        await upload.start()
    except ImportFormatError as exc:
        if upload.bytes_read == 0:
            raise FieldError(("body",), "the file is empty") from None
        raise FieldError(("body",), str(exc)) from None
    logger.info(
        "import into campaign %s by %s started", c.name, who.name, extra={"campaign": c.name}
    )
    steps = run_import(ctx.db, c.id, upload, options=options, list_name=list_name, started=started)
    if NDJSON in request.headers.get("accept", ""):
        return _StreamWhileReading(_stream(steps), media_type=NDJSON)
    try:
        async for step in steps:
            if isinstance(step, ImportReport):
                return report_body(step)
    except ImportFormatError as exc:
        raise FieldError(("body",), f"nothing was stored: {exc}") from None
    raise RuntimeError("the import ended without a report")  # pragma: no cover


def _declared_length(request: Request) -> int:
    try:
        return max(0, int(request.headers.get("content-length", "0")))
    except ValueError:
        return 0


class _StreamWhileReading(StreamingResponse):
    """Streams the answer while the import still reads the request's body. Starlette's
    StreamingResponse also waits on `receive` for a disconnect (under ASGI spec 2.3, which
    uvicorn declares) and would take the body's chunks from the import."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stream_response(send)


async def _stream(steps: AsyncIterator[Progress | ImportReport]) -> AsyncIterator[bytes]:
    """One line per 1% of progress at most: the client reads the answer only after it has
    sent the whole body, so what is written meanwhile waits in the socket's buffers."""
    shown = -1
    try:
        async for step in steps:
            if isinstance(step, Progress):
                if 0 <= shown < step.done < step.total and step.done - shown < step.total / 100:
                    continue
                shown = step.done
                line: dict[str, Any] = {
                    "phase": step.phase,
                    "done": step.done,
                    "total": step.total,
                    "bytes": step.bytes_read,
                    "bytes_total": step.bytes_total,
                }
            else:
                line = {"report": report_body(step)}
            yield (json.dumps(line) + "\n").encode()
    except (StoreError, ImportFormatError, BodyTooLarge) as exc:
        logger.warning("import failed: %s", exc)
        yield (json.dumps({"error": f"nothing was stored: {exc}"}) + "\n").encode()
    except DBAPIError as exc:
        # Postgres's message may quote the file's values: the log gets the SQLSTATE alone.
        state = sqlstate_of(exc)
        logger.warning("import failed: the database refused it (SQLSTATE %s)", state)
        line = {"error": f"nothing was stored: the database refused it (SQLSTATE {state})"}
        yield (json.dumps(line) + "\n").encode()


# -- why a lead is (not) dialed ----------------------------------------------------

At = Annotated[
    Instant | None,
    Query(description="evaluate at this instant (with its UTC offset) instead of now"),
]


async def _readable_lead(s: AsyncSession, lead_id: int, who: Principal) -> None:
    """404 for an unknown lead; 403 for an agent and a lead of another campaign."""
    lead = await queries.get_lead(s, lead_id)
    if who.role is Role.AGENT:
        me = await queries.agent_by_ref(s, who.agent or "")
        if me.campaign_id != lead.campaign_id:
            raise Forbidden("an agent reads only its own campaign's leads")


def _callback_brief(cb: CallbackFact | None) -> LeadCallbackOut | None:
    if cb is None:
        return None
    return LeadCallbackOut(
        id=cb.id,
        due_at=cb.due_at,
        agent_id=cb.agent_id,
        agent_name=cb.agent_name,
        for_whom=cb.for_whom,
    )


@router.get(
    "/leads/{lead_id}/why",
    summary="Is the lead dialable now, and if not every reason and until when",
    responses=errors(404),
)
async def lead_why(lead_id: IdPath, ctx: Ctx, who: Anyone, at: At = None) -> LeadWhyOut:
    when = at.astimezone(UTC) if at is not None else datetime.now(UTC)
    async with ctx.db.transaction() as s:
        await _readable_lead(s, lead_id, who)
        e = await explain.explain_lead(s, lead_id, when)
    v = e.verdict
    return LeadWhyOut(
        lead_id=e.lead_id,
        campaign_id=e.campaign_id,
        campaign=e.campaign_name,
        phone=mask_phone(e.phone),
        status=e.status,
        attempts=e.attempts,
        max_attempts=e.max_attempts,
        last_result=e.last_result,
        at=v.at,
        time_zones=list(v.zones.zones),
        time_zone_source=v.zones.source.value,
        policy=e.rules.preset.value,
        dialable=v.dialable,
        window_closes_at=v.window_closes_at,
        callback_due=_callback_brief(v.callback_due),
        blockers=[
            BlockerOut(reason=b.reason.value, detail=b.detail, until=b.until) for b in v.blockers
        ],
        dialable_at=e.dialable_at,
        notes=list(v.notes),
        text=explain.render_explanation(e),
    )


@router.post(
    "/leads/{lead_id}/erase",
    summary="Erase a person's data on request (admin): number, fields and notes go",
    response_model=ErasureOut,
    responses=errors(404, 409),
)
async def erase_lead(lead_id: IdPath, body: EraseBody, ctx: Ctx, who: Admin) -> ErasureOut:
    """The call records stay, anonymised (the statistics count them); with `dnc` the number
    goes on the global opt-out list first, so the person is never called again."""
    try:
        async with ctx.db.transaction() as s:
            done = await erasure.erase_lead(s, lead_id, datetime.now(UTC), dnc=body.dnc)
            await audited(s, who, "erase", f"lead {lead_id}", after={"dnc": body.dnc})
    except erasure.LeadBusy as exc:
        raise Conflict(str(exc)) from None
    logger.info(
        "lead %d erased by %s (dnc: %s)", lead_id, who.name, body.dnc, extra={"lead": lead_id}
    )
    return ErasureOut(
        lead_id=done.lead_id,
        notes_cleared=done.notes_cleared,
        callbacks_cancelled=done.callbacks_cancelled,
        on_dnc=done.on_dnc,
    )


def attempt_out(h: explain.HistoryEntry) -> AttemptHistoryOut:
    return AttemptHistoryOut(
        attempt_id=h.attempt_id,
        originated_at=h.originated_at,
        answer_at=h.answer_at,
        hangup_at=h.hangup_at,
        result=h.result,
        cause=h.cause,
        cause_text=h.cause_text,
        agent=h.agent,
        disposition=h.disposition,
        note=h.note,
        answer_to_agent_ms=h.answer_to_agent_ms,
    )


@router.get(
    "/leads/{lead_id}/history",
    summary="Every attempt of the lead, and its callback",
    responses=errors(404),
)
async def lead_history(lead_id: IdPath, ctx: Ctx, who: Anyone) -> LeadHistoryOut:
    async with ctx.db.transaction() as s:
        await _readable_lead(s, lead_id, who)
        entries = await explain.lead_history(s, lead_id)
        cb = await callback_repo.open_for_lead(s, lead_id)
    text = explain.render_history(lead_id, entries)
    if cb is not None:
        text += "\n" + explain.render_callback(cb)
    return LeadHistoryOut(
        lead_id=lead_id,
        attempts=[attempt_out(h) for h in entries],
        callback=None
        if cb is None
        else CallbackOut(
            id=cb.id,
            lead_id=cb.lead_id,
            campaign_id=cb.campaign_id,
            at=cb.due_at,
            agent_id=cb.agent_id,
            agent_name=cb.agent_name,
            note=cb.note,
            by=cb.created_by,
            status=cb.status,
        ),
        text=text,
    )


@router.get(
    "/campaigns/{campaign}/reasons",
    summary="The campaign's leads counted by the reason they are not dialed",
    responses=errors(404),
)
async def campaign_reasons(
    campaign: Annotated[str, Path(description="the campaign's id, or its name")],
    ctx: Ctx,
    who: Staff,
    at: At = None,
) -> CampaignReasonsOut:
    when = at.astimezone(UTC) if at is not None else datetime.now(UTC)
    async with ctx.db.transaction() as s:
        c = await queries.campaign_by_ref(s, campaign)
        r = await explain.campaign_reasons(s, c.id, when)
    return CampaignReasonsOut(
        campaign_id=r.campaign_id,
        campaign=r.campaign_name,
        at=when,
        total=r.total,
        dialable_now=r.by_reason.get(explain.DIALABLE_NOW, 0),
        by_reason={k: v for k, v in r.by_reason.items() if k != explain.DIALABLE_NOW},
        by_first_reason={k: v for k, v in r.by_first_reason.items() if k != explain.DIALABLE_NOW},
        text=explain.render_campaign_reasons(r),
    )

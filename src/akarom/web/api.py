"""The REST API under ``/api/v1`` (INTERFACES.md §6), for a dealer's own programs.

Every call carries ``Authorization: Bearer <key>`` (a key from ``akarom apikey
create``); the key names the dealer, and every read below filters by that dealer in
its query, so another dealer's batch or device answers exactly as one that does not
exist (404). Each key has its own limits (``app.state.api_limits``). Errors are
``application/problem+json``. Nothing here fetches an address a caller gives: the
only requests the server makes are to the carriers' own check pages.

A check answers at once (``POST /checks``, the same object as ``akarom check
--json``); a batch is a job (``services.jobs``): ``POST /batches`` answers 202 with
where to follow it, and an ``Idempotency-Key`` makes a retried POST return the same
batch instead of starting a second one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse as parse_limit
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response, StreamingResponse

from akarom.domain import JST, Carrier
from akarom.errors import InvalidImei, UsageError
from akarom.services._reading import read
from akarom.services.accounts import hash_key, key_owner
from akarom.services.advising import advise, today_in_japan
from akarom.services.checking import CheckRequest
from akarom.services.devices import report_from
from akarom.services.jobs import TableError, batch_input
from akarom.services.options import Role, carriers_named
from akarom.services.reports import device_json, invalid_message
from akarom.services.serving import Hub
from akarom.services.validation import parse_imei
from akarom.storage import JobKind, JobSource, StoredApiKey, StoredJob
from akarom.texts import Lang
from akarom.web.app import problem
from akarom.web.state import hub_of, jobs_of

__all__ = ["DEFAULT_LIMITS", "LIMIT_VARIABLE", "router"]

logger = logging.getLogger(__name__)

#: Requests per key: reads (follow a batch, fetch results, a device), and work
#: (a check asks carriers; a batch queues many).
DEFAULT_LIMITS: Mapping[str, str] = {"read": "600/minute", "work": "120/minute"}
#: Replaces both limits when set (a ``limits`` string such as ``100000/minute``).
LIMIT_VARIABLE = "AKAROM_API_KEY_LIMIT"
#: The most IMEIs one JSON batch may list (a file may hold more).
MAX_BATCH_IMEIS = 100_000
#: Results read from the database at a time while streaming them.
_RESULTS_PAGE = 1000
#: A key's ``last_used_at`` (and a device's ``last_checked_at`` for a dealer) is
#: written at most this often.
_TOUCH_EVERY_S = 60.0
#: How long a live key is trusted without asking the database again.
_KEY_CACHE_S = 5.0
_KEYS_REMEMBERED = 10_000
_DEVICES_REMEMBERED = 100_000

_PROBLEM_JSON = "application/problem+json"


# -- schemas ---------------------------------------------------------------------------


class Problem(BaseModel):
    """An error (RFC 9457); ``error`` is the short code of an invalid IMEI (§3)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    error: str | None = None


class CheckIn(BaseModel):
    """One device to check, and how."""

    model_config = ConfigDict(extra="forbid")

    imei: str = Field(max_length=64, description="As typed: hyphens, spaces, IMEISV, MEID.")
    carriers: list[str] | None = Field(
        default=None, max_length=8, description="Carrier ids or brands to ask (default: all)."
    )
    all_carriers: bool = False
    fresh: bool = False
    role: Role = Role.BUYER


class CarrierResultOut(BaseModel):
    carrier: str
    status: Literal["ok", "pending", "restricted", "unregistered", "unknown"]
    symbol: str
    checked_at: str | None
    source: Literal["live", "cache", "manual"] | None
    message: str | None
    error: str | None


class AdviceOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    summary: str
    actions: list[str]


class CheckOut(BaseModel):
    """One line of ``akarom check --json`` (INTERFACES.md §3)."""

    input: str
    imei: str | None
    verdict: Literal["clear", "caution", "red", "incomplete", "invalid"]
    origin_carrier: str | None
    results: list[CarrierResultOut]
    advice: AdviceOut | None


class BatchIn(BaseModel):
    """A batch given as a list of IMEIs (or upload a file as multipart ``file``)."""

    model_config = ConfigDict(extra="forbid")

    imeis: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=MAX_BATCH_IMEIS
    )
    all_carriers: bool = False
    fresh: bool = False


class BatchAccepted(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    url: str


class BatchOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    total: int | None
    done: int
    verdicts: dict[str, int]


class ObservationOut(BaseModel):
    """One answer a carrier gave, as it was stored."""

    carrier: str
    status: str
    symbol: str
    checked_at: str
    source: str
    error: str | None
    message: str | None
    entered_by: None = Field(
        default=None, description="Always null: who read a page by hand is not shared."
    )


class DeviceOut(BaseModel):
    imei: str
    latest: CheckOut
    history: list[ObservationOut]


#: Inline, not a ``model``: FastAPI files a response model under the route's own media
#: type (application/json), and a problem is ``application/problem+json``.
_PROBLEM_SCHEMA = Problem.model_json_schema()


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}}


_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _problem_response("No key, or a key that is unknown or revoked"),
    413: _problem_response("The request body is too large"),
    422: _problem_response("The request is not valid"),
    429: _problem_response("Over this key's limit (see Retry-After)"),
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _problem_response("No such batch or device for this dealer"),
}


router = APIRouter(prefix="/api/v1", tags=["api"])
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="A dealer's key from `akarom apikey create`: `Authorization: Bearer akr_…`",
)


# -- the caller ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the dealer of the key (every query below is scoped to it)."""

    dealer_id: int
    key_id: int


def _lang(request: Request, lang: str | None) -> Lang:
    if lang in ("ja", "en"):
        return lang  # type: ignore[return-value]  # narrowed just above
    default = getattr(request.app.state, "default_lang", "ja")
    return "en" if default == "en" else "ja"


async def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The dealer whose live key came as ``Authorization: Bearer``; 401 otherwise."""
    refused = HTTPException(
        status_code=401,
        detail="send a live API key as 'Authorization: Bearer <key>'",
        headers={"WWW-Authenticate": 'Bearer realm="akarom"'},
    )
    if credentials is None or not credentials.credentials:
        raise refused
    hub = hub_of(request)
    key = await _live_key(request, hub, credentials.credentials)
    if key is None:
        raise refused
    touched: dict[int, float] | None = getattr(request.app.state, "api_keys_touched", None)
    if touched is None:
        touched = request.app.state.api_keys_touched = {}
    now = time.monotonic()
    if now - touched.get(key.id, -_TOUCH_EVERY_S) >= _TOUCH_EVERY_S:
        touched[key.id] = now
        await asyncio.to_thread(hub.store.touch_api_key, key.id)
    return Caller(dealer_id=key.dealer_id, key_id=key.id)


def _key_limits(request: Request) -> Mapping[str, str]:
    """This app's per-key limits: ``app.state.api_limits`` if set (tests), else
    ``AKAROM_API_KEY_LIMIT`` for both kinds (a load test's server), else the defaults."""
    state = request.app.state
    chosen: Mapping[str, str] | None = getattr(state, "api_limits", None)
    if chosen is None:
        configured = os.environ.get(LIMIT_VARIABLE, "").strip()
        chosen = DEFAULT_LIMITS
        if configured:
            try:
                parse_limit(configured)
            except ValueError:
                logger.error("%s=%r is not a limit such as 600/minute", LIMIT_VARIABLE, configured)
            else:
                chosen = dict.fromkeys(DEFAULT_LIMITS, configured)
        state.api_limits = chosen
    return chosen


async def _live_key(request: Request, hub: Hub, secret: str) -> StoredApiKey | None:
    """``key_owner``, remembered for a few seconds: a busy client's calls skip the query.

    A revoked key stops working within ``_KEY_CACHE_S``; unknown keys are never kept.
    """
    known: dict[str, tuple[float, StoredApiKey]] | None = getattr(
        request.app.state, "api_keys_known", None
    )
    if known is None or len(known) > _KEYS_REMEMBERED:
        known = request.app.state.api_keys_known = {}
    digest = hash_key(secret)
    now = time.monotonic()
    remembered = known.get(digest)
    if remembered is not None and now < remembered[0]:
        return remembered[1]
    key = await read(hub.store, key_owner, hub.store, secret)
    if key is None:
        known.pop(digest, None)
    else:
        known[digest] = (now + _KEY_CACHE_S, key)
    return key


async def _note_device(request: Request, hub: Hub, dealer_id: int, imei: str) -> None:
    """Remember that the dealer checked ``imei``: a write at most once a minute per device."""
    noted: dict[tuple[int, str], float] | None = getattr(request.app.state, "api_noted", None)
    if noted is None or len(noted) > _DEVICES_REMEMBERED:
        noted = request.app.state.api_noted = {}
    now = time.monotonic()
    if now - noted.get((dealer_id, imei), -_TOUCH_EVERY_S) < _TOUCH_EVERY_S:
        return
    await asyncio.to_thread(hub.store.note_dealer_devices, dealer_id, [imei])
    noted[(dealer_id, imei)] = now


def _limited(kind: str) -> Any:
    """A dependency: the caller, counted against its key's ``kind`` limit (429 past it)."""

    async def within_limit(request: Request, caller: Annotated[Caller, Depends(_caller)]) -> Caller:
        limit = _key_limits(request)[kind]
        counter = request.app.state.limits
        if not counter.hit(limit, "api", kind, str(caller.key_id)):
            wait = counter.retry_after(limit, "api", kind, str(caller.key_id))
            raise HTTPException(
                status_code=429,
                detail=f"this key may make {limit} such requests",
                headers={"Retry-After": str(wait)},
            )
        return caller

    return Depends(within_limit)


Reader = Annotated[Caller, _limited("read")]
Worker = Annotated[Caller, _limited("work")]
LangQuery = Annotated[
    Literal["ja", "en"] | None, Query(description="Language of advice and messages.")
]


def _invalid(err: InvalidImei, raw: str, lang: Lang) -> JSONResponse:
    return problem(422, "Unprocessable Content", invalid_message(err, raw, lang), error=err.code)


def _not_found(what: str) -> HTTPException:
    # The same answer for "no such id" and "another dealer's": nothing tells them apart.
    return HTTPException(status_code=404, detail=f"no such {what}")


# -- checks ----------------------------------------------------------------------------


@router.post(
    "/checks",
    response_model=None,
    responses={200: {"model": CheckOut, "description": "The device's check"}, **_AUTH_ERRORS},
    summary="Check one device now",
)
async def post_check(
    request: Request, body: CheckIn, caller: Worker, lang: LangQuery = None
) -> Response:
    """Ask the carriers about one device; the answer is one line of ``check --json``."""
    chosen = _lang(request, lang)
    try:
        identity = parse_imei(body.imei)
    except InvalidImei as err:
        return _invalid(err, body.imei, chosen)
    try:
        carriers = carriers_named(body.carriers) if body.carriers else None
    except UsageError as err:
        return problem(422, "Unprocessable Content", str(err), error="carrier")
    hub = hub_of(request)
    outcome = await hub.check(
        CheckRequest(
            imeis=(body.imei,),
            carriers=carriers,
            all_carriers=body.all_carriers,
            fresh=body.fresh,
            roles=(body.role,),
        ),
        dealer_id=caller.dealer_id,
        # One HTTP request waits for no person: a captcha leaves that carrier unknown
        # (a batch posts it to the dealer's staff queue instead).
        staff=False,
    )
    await _note_device(request, hub, caller.dealer_id, identity.value)
    device = outcome.devices[0]
    return JSONResponse(device_json(device.report, device.advice[0], chosen, outcome.manual_urls))


# -- batches ---------------------------------------------------------------------------

_BATCH_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": BatchIn.model_json_schema()},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "column": {"type": "string", "maxLength": 100},
                },
                "required": ["file"],
            }
        },
    },
}


def _batch_body(job: StoredJob) -> dict[str, Any]:
    return BatchOut(
        id=job.key,
        status=job.status.value,
        total=job.total,
        done=job.done,
        verdicts=dict(job.verdicts),
    ).model_dump()


async def _batch_of(request: Request, caller: Caller, batch_id: str) -> StoredJob:
    """The caller's batch, or 404 (also when it is another dealer's)."""
    store = hub_of(request).store
    job = await read(store, store.job, batch_id, caller.dealer_id)
    if job is None or job.kind is not JobKind.BATCH:
        raise _not_found("batch")
    return job


async def _upload(request: Request) -> tuple[str, bytes, str | None]:
    """A multipart batch: the file's name, its bytes and the IMEI column, if named."""
    async with request.form(max_files=1, max_fields=10) as form:  # closes the spooled file
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(
                status_code=422, detail="send the file as the multipart field 'file'"
            )
        column = form.get("column")
        if column is not None and (not isinstance(column, str) or len(column) > 100):
            raise HTTPException(status_code=422, detail="'column' is a header name (100 at most)")
        return upload.filename or "upload.csv", await upload.read(), column or None


async def _listed(request: Request) -> BatchIn:
    try:
        return BatchIn.model_validate_json(await request.body())
    except ValidationError as err:
        details = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in err.errors()
        )
        raise HTTPException(status_code=422, detail=details) from None


@router.post(
    "/batches",
    status_code=202,
    response_model=None,
    responses={202: {"model": BatchAccepted, "description": "Queued"}, **_AUTH_ERRORS},
    openapi_extra={"requestBody": _BATCH_BODY},
    summary="Check many devices, from a list or a file",
)
async def post_batch(
    request: Request,
    caller: Worker,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="The same key again returns the same batch, never a second one.",
        ),
    ] = None,
    lang: LangQuery = None,
) -> Response:
    """Queue a batch; follow it at ``url``."""
    chosen = _lang(request, lang)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    all_carriers = fresh = False
    column: str | None
    if kind == "application/json":
        listed = await _listed(request)
        name, data, column = "imeis.csv", batch_input(listed.imeis), "imei"
        all_carriers, fresh = listed.all_carriers, listed.fresh
    elif kind == "multipart/form-data":
        name, data, column = await _upload(request)
    else:
        raise HTTPException(
            status_code=415, detail="send JSON {'imeis': [...]} or a multipart 'file'"
        )
    try:
        job, created = await jobs_of(request).submit_batch(
            dealer_id=caller.dealer_id,
            input_name=name,
            data=data,
            column=column,
            all_carriers=all_carriers,
            fresh=fresh,
            lang=chosen,
            source=JobSource.API,
            idempotency_key=idempotency_key,
        )
    except TableError as err:
        return problem(422, "Unprocessable Content", _table_problem(err), error=err.code)
    url = f"{router.prefix}/batches/{job.key}"
    body = BatchAccepted(id=job.key, status=job.status.value, url=url).model_dump()
    headers = {"Location": url}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=202, headers=headers)


def _table_problem(err: TableError) -> str:
    """Why the file cannot be checked, without the server's own paths."""
    reasons = {
        "unsupported_format": "only CSV, TSV and XLSX files can be checked",
        "encoding": "the file's text encoding is not UTF-8, UTF-16 or Shift_JIS (cp932)",
        "malformed": "the file could not be read as a table",
        "empty": "the file is empty",
        "no_imei_column": "no IMEI column was found; name it with 'column'",
        "ambiguous_column": "several columns look like IMEIs; name one with 'column'",
        "column_not_found": "the column named was not found",
        "too_many_rows": "the file has too many rows",
    }
    reason = reasons.get(err.code, "the file cannot be checked")
    return reason if err.row is None else f"{reason} (row {err.row})"


@router.get(
    "/batches/{batch_id}",
    response_model=BatchOut,
    responses={**_AUTH_ERRORS, **_NOT_FOUND},
    summary="Follow a batch",
)
async def get_batch(request: Request, batch_id: str, caller: Reader) -> dict[str, Any]:
    return _batch_body(await _batch_of(request, caller, batch_id))


@router.get(
    "/batches/{batch_id}/results",
    response_model=None,
    responses={
        200: {
            "description": "JSON lines (one `check --json` object per row), or the report CSV",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        409: _problem_response("The CSV report exists once the batch is done"),
        **_AUTH_ERRORS,
        **_NOT_FOUND,
    },
    summary="A batch's results",
)
async def get_results(
    request: Request,
    batch_id: str,
    caller: Reader,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Every row's result so far, in row order (JSON lines); or the report once done (CSV)."""
    job = await _batch_of(request, caller, batch_id)
    if format == "csv":
        report = await jobs_of(request).report(job)
        if report is None:
            raise HTTPException(status_code=409, detail=f"the batch is {job.status.value}")
        return Response(
            report,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="akarom-{job.key}.csv"'},
        )
    store = hub_of(request).store

    async def lines() -> AsyncIterator[bytes]:
        after: int | None = None
        while page := await asyncio.to_thread(
            store.job_results, job.id, after=after, limit=_RESULTS_PAGE
        ):
            yield b"".join(
                json.dumps(result.result, ensure_ascii=False).encode("utf-8") + b"\n"
                for result in page
            )
            after = page[-1].row_number

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.delete(
    "/batches/{batch_id}",
    status_code=202,
    response_model=None,
    responses={202: {"model": BatchOut, "description": "Cancelling"}, **_AUTH_ERRORS, **_NOT_FOUND},
    summary="Cancel a batch",
)
async def delete_batch(request: Request, batch_id: str, caller: Worker) -> Response:
    job = await _batch_of(request, caller, batch_id)  # a check job's key is no batch: 404
    cancelled = await jobs_of(request).cancel(job.key, dealer_id=caller.dealer_id)
    if cancelled is None:
        raise _not_found("batch")
    return JSONResponse(_batch_body(cancelled), status_code=202)


# -- devices ---------------------------------------------------------------------------


@router.get(
    "/devices/{imei}",
    response_model=None,
    responses={
        200: {"model": DeviceOut, "description": "The latest answer and every observation"},
        **_AUTH_ERRORS,
        **_NOT_FOUND,
    },
    summary="A device this dealer has checked",
)
async def get_device(
    request: Request,
    imei: str,
    caller: Reader,
    role: Role = Role.BUYER,
    lang: LangQuery = None,
) -> Response:
    """The latest answer from stored answers (no carrier is asked) and the history.

    404 unless this dealer has checked the device, exactly as for a device nobody has.
    """
    chosen = _lang(request, lang)
    hub = hub_of(request)
    try:
        identity = parse_imei(imei)
    except InvalidImei:
        raise _not_found("device") from None
    observations = await read(hub.store, hub.store.dealer_history, caller.dealer_id, identity.value)
    if observations is None:  # never checked by this dealer: as for a device nobody has
        raise _not_found("device")
    report = report_from(identity.value, observations)  # one read: the history holds it all
    checker = hub.checker(caller.dealer_id)
    manual_urls = {carrier: checker.adapter(carrier).entry_url for carrier in Carrier}
    advice = advise(report, hub.rules, role, on=today_in_japan())
    history = [
        ObservationOut(
            carrier=observation.carrier.value,
            status=observation.status.value,
            symbol=observation.status.symbol,
            checked_at=observation.checked_at.astimezone(JST).isoformat(timespec="seconds"),
            source=observation.source.value,
            error=observation.error,
            message=observation.message,
            # Observations are shared by every tenant (one cache, so a carrier is asked
            # once); who read a page by hand (entered_by) and which run asked belong to
            # the tenant that made them, so neither is shown here.
            entered_by=None,
        ).model_dump()
        for observation in observations
    ]
    body = {
        "imei": identity.value,
        "latest": device_json(report, advice, chosen, manual_urls),
        "history": history,
    }
    return JSONResponse(body)

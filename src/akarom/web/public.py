"""``/``: the check page anyone can use from a phone, one-handed, without an account.

A person types (or photographs) an IMEI; the number is validated here before anything
is sent, so a typo is explained next to the field and no carrier is asked. A valid
number becomes a public check job (``services.jobs``; ``dealer_id`` None) and the
person lands on ``/c/{key}``, where each carrier's answer appears as it arrives (the
``/c/{key}/live`` fragment, polled by ``app.js``; a meta refresh without script),
then the verdict and the advice for a buyer or a seller.

The job key is the only way to a public result: 32 random hex digits (uuid4), and a
dealer's job is never found through it (``Store.job(key, None)``).

Each address may start ``app.state.public_limit`` checks and ``PUBLIC_SCANS_PER_HOUR``
photo readings an hour: the carriers' pages are shared and must be asked politely.

The advice is decided again on each view from the stored answers under the rules of
the day the check ran, so it reads in the page's language whatever the job's was.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from starlette.responses import RedirectResponse, Response

from akarom.domain import JST, Carrier, CarrierResult, Source, Status, Verdict
from akarom.errors import InvalidImei
from akarom.services.advising import Answer, DeviceAdvice, Role, advise, today_in_japan
from akarom.services.device_reports import DeviceReport
from akarom.services.reports import advice_lines, age_text, outcome_lines, result_reason
from akarom.services.validation import invalid_message, parse_imei, validate
from akarom.storage.jobs import JobKind, StoredJob
from akarom.texts import Lang
from akarom.web.rendering import page, request_lang
from akarom.web.security import check_csrf, ensure_csrf
from akarom.web.state import hub_of

if TYPE_CHECKING:
    from akarom.services.barcode import PhotoReading

__all__ = ["PUBLIC_SCANS_PER_HOUR", "router"]

router = APIRouter(include_in_schema=False)  # pages, not API operations

#: How many photos one address may have read in an hour (decoding costs CPU, not carriers).
PUBLIC_SCANS_PER_HOUR = 30
#: A public check's key: a uuid4 in hex. Anything else is not looked up at all.
_JOB_KEY = re.compile(r"[0-9a-f]{32}")
#: The longest input shown back in the form after a mistake (an IMEI with its spelling
#: variants fits many times over; a pasted page does not need echoing in full).
_MAX_ECHO = 100
_ROLES = (Role.BUYER, Role.SELLER)


def _role(value: object) -> Role:
    """The role asked for: seller when said so, buyer otherwise (the usual visitor)."""
    return Role.SELLER if value == Role.SELLER.value else Role.BUYER


def _client(request: Request) -> str:
    """The address limits count against (uvicorn's proxy headers set it behind a proxy)."""
    return request.client.host if request.client else "unknown"


# --- the form -------------------------------------------------------------------------


@router.get("/")
async def home(request: Request, role: str = Role.BUYER.value) -> Response:
    """The check form, the photo form, how to find the IMEI and what the symbols mean."""
    ensure_csrf(request)
    return _form_page(request, imei="", error=None, role=_role(role))


def _form_page(
    request: Request,
    *,
    imei: str,
    error: tuple[str, str] | None,
    role: Role,
    status_code: int = 200,
) -> Response:
    demo_devices: Sequence[tuple[str, str]] = ()
    if getattr(request.app.state, "demo", False):
        from akarom.web.demo import DEMO_DEVICES

        demo_devices = tuple(DEMO_DEVICES.items())
    return page(
        request,
        "public_home.html",
        {
            "imei": imei[:_MAX_ECHO],
            "error_code": error[0] if error else None,
            "error_message": error[1] if error else None,
            "role": role.value,
            "roles": [r.value for r in _ROLES],
            "symbols": [s.value for s in Status],
            "demo_devices": demo_devices,
        },
        status_code=status_code,
    )


@router.post("/check", dependencies=[Depends(check_csrf)])
async def check(
    request: Request,
    imei: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = Role.BUYER.value,
) -> Response:
    """Validate, count against the address's limit, queue the check, go to its page."""
    chosen = _role(role)
    lang = request_lang(request)
    checked = validate([imei])[0]
    if checked.error is not None:
        return _invalid(request, imei, checked.error, chosen, lang)
    state = request.app.state
    address = _client(request)
    if not state.limits.hit(state.public_limit, "public-check", address):
        return _limited(request, state.public_limit, "public-check", address)
    try:
        job: StoredJob = await state.jobs.submit_check(
            imei, dealer_id=None, lang=lang, roles=_ROLES, source="web"
        )
    except InvalidImei as err:  # the job facade validates again; say it the same way
        return _invalid(request, imei, err, chosen, lang)
    return RedirectResponse(f"/c/{job.key}?role={chosen.value}", status_code=303)


def _invalid(request: Request, raw: str, err: InvalidImei, role: Role, lang: Lang) -> Response:
    message = invalid_message(err, raw, lang)
    return _form_page(request, imei=raw, error=(err.code, message), role=role, status_code=422)


def _limited(request: Request, limit: str, scope: str, address: str) -> Response:
    """The over-the-limit page: what happened and when to try again, with Retry-After."""
    seconds = request.app.state.limits.retry_after(limit, scope, address)
    response = page(
        request,
        "public_limited.html",
        {"minutes": max(1, -(-seconds // 60)), "scope": scope},
        status_code=429,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


# --- the photo --------------------------------------------------------------------------


@router.post("/scan", dependencies=[Depends(check_csrf)])
async def scan(
    request: Request,
    photo: Annotated[UploadFile | None, File()] = None,
    role: Annotated[str, Form()] = Role.BUYER.value,
) -> Response:
    """Read the IMEIs in a photo and offer each for checking; nothing is sent yet.

    The fields are declared (not read from ``request.form()``) so that FastAPI parses
    the upload and closes its temporary file, also when the CSRF check refuses it.
    """
    from akarom.services.barcode import read_imeis

    state = request.app.state
    address = _client(request)
    limit = getattr(state, "public_scan_limit", f"{PUBLIC_SCANS_PER_HOUR}/hour")
    if not state.limits.hit(limit, "public-scan", address):
        return _limited(request, limit, "public-scan", address)
    data = await photo.read() if photo is not None else b""
    reading: PhotoReading | None = None
    if data:
        reading = await asyncio.to_thread(read_imeis, data)
    return _scan_page(request, reading, _role(role))


def _scan_page(request: Request, reading: PhotoReading | None, role: Role) -> Response:
    lang = request_lang(request)
    candidates = []
    problem = None
    rejected: list[tuple[str, str]] = []
    if reading is None:
        problem = "missing"
    else:
        candidates = [
            {"imei": c.imei, "kind": c.kind, "label": c.label} for c in reading.candidates
        ]
        rejected = [(r.text, r.message(lang)) for r in reading.rejected]
        problem = reading.reason
    return page(
        request,
        "public_scan.html",
        {
            "candidates": candidates,
            "rejected": rejected,
            "problem": problem,
            "problem_message": reading.message(lang) if reading is not None else None,
            "role": role.value,
            "roles": [r.value for r in _ROLES],
        },
    )


# --- the result -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    """One carrier's line on the result page."""

    carrier: str
    name: str
    #: answer (○ △ × -), unknown (?), skipped (not asked) or waiting (not yet).
    state: str
    status: str
    symbol: str
    meaning: str
    message: str | None
    checked_at: str | None
    age: str | None
    source: str | None
    manual_url: str | None


@dataclass(frozen=True, slots=True)
class _Listing:
    marketplace: str
    allowed: bool | None
    summary: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Advice:
    role: str
    summary: str
    actions: tuple[str, ...]
    listings: tuple[_Listing, ...]
    on: str


@router.get("/c/{key}")
async def result(request: Request, key: str, role: str = Role.BUYER.value) -> Response:
    """A public check: the answers so far, then the verdict and the role's advice."""
    view = await _view(request, key, _role(role))
    return page(request, "public_result.html", view)


@router.get("/c/{key}/live")
async def live(request: Request, key: str, role: str = Role.BUYER.value) -> Response:
    """The changing part of ``/c/{key}``, for the page's script to swap in."""
    view = await _view(request, key, _role(role))
    response = page(request, "public_live.html", view)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _view(request: Request, key: str, role: Role) -> dict[str, Any]:
    return await check_view(request, key, role, dealer_id=None, base="/c", roles=_ROLES)


async def check_view(
    request: Request,
    key: str,
    role: Role,
    *,
    dealer_id: int | None,
    base: str,
    roles: tuple[Role, ...],
) -> dict[str, Any]:
    """What a check's page shows: the answers so far, then the verdict and ``role``'s
    advice. ``dealer_id`` None: a public check; else only that dealer's (404 for any
    other, exactly as for a key nobody has). ``base`` is where the page lives."""
    if not _JOB_KEY.fullmatch(key):
        raise HTTPException(status_code=404)
    hub = hub_of(request)
    job: StoredJob | None = await asyncio.to_thread(hub.store.job, key, dealer_id)
    if job is None or job.dealer_id != dealer_id or job.kind is not JobKind.CHECK:
        raise HTTPException(status_code=404)
    rows = await asyncio.to_thread(hub.store.job_results, job.id, limit=1)
    stored: Mapping[str, Any] = rows[0].result if rows else {}
    lang = request_lang(request)
    checker = hub.checker(dealer_id)
    manual_urls = {carrier: checker.adapter(carrier).entry_url for carrier in Carrier}

    done = bool(stored.get("done")) and stored.get("verdict") is not None
    verdict = _verdict(stored.get("verdict")) if done else None
    finished = done or job.status.finished
    results = _results(stored.get("results"))
    origin = _carrier(stored.get("origin_carrier")) if done else None
    advice = None
    if verdict is not None and verdict is not Verdict.INVALID:
        advice = _advice(request, stored, results, verdict, origin, role, lang)
    shown_rows = _rows(results, finished, verdict, manual_urls, lang)
    imei = stored.get("imei") or (rows[0].imei if rows else None) or job.input_name
    return {
        "key": key,
        "page_url": f"{base}/{key}",
        "live_url": f"{base}/{key}/live",
        "imei": imei if isinstance(imei, str) else None,
        "role": role.value,
        "roles": [r.value for r in roles],
        "finished": finished,
        # Never "clear" unless the stored verdict says so: anything unreadable is failed.
        "verdict": verdict.value if verdict is not None else ("failed" if finished else None),
        "origin": origin.label(lang) if origin is not None else None,
        "rows": shown_rows,
        "answered": sum(1 for row in shown_rows if row.state != "waiting"),
        "total": len(shown_rows),
        "advice": advice,
    }


def _verdict(value: object) -> Verdict | None:
    try:
        return Verdict(str(value))
    except ValueError:
        return None


def _carrier(value: object) -> Carrier | None:
    try:
        return Carrier(value)
    except ValueError:
        return None


def _results(value: object) -> dict[Carrier, CarrierResult]:
    """The stored answers (``result_json`` objects), each back as a ``CarrierResult``.

    An entry that cannot be read is left out: that carrier then shows as not answered,
    and a finished check without a readable verdict is shown as failed, never as clear.
    """
    found: dict[Carrier, CarrierResult] = {}
    if not isinstance(value, list):
        return found
    for entry in value:
        if not isinstance(entry, dict):
            continue
        try:
            carrier = Carrier(entry.get("carrier"))
            status = Status(str(entry.get("status")))
            error = entry.get("error")
            if status is Status.UNKNOWN and not isinstance(error, str):
                error = "error"
            checked_at = entry.get("checked_at")
            source = entry.get("source")
            message = entry.get("message")
            found[carrier] = CarrierResult(
                carrier,
                status,
                checked_at=datetime.fromisoformat(checked_at)
                if isinstance(checked_at, str)
                else None,
                source=Source(source) if source else None,
                message=message if isinstance(message, str) else None,
                error=error if status is Status.UNKNOWN else None,
            )
        except (ValueError, TypeError):
            continue
    return found


def _rows(
    results: Mapping[Carrier, CarrierResult],
    finished: bool,
    verdict: Verdict | None,
    manual_urls: Mapping[Carrier, str],
    lang: Lang,
) -> list[_Row]:
    now = datetime.now(UTC)
    rows = []
    for carrier in Carrier:
        found = results.get(carrier)
        if found is None:
            if finished:
                continue
            rows.append(
                _Row(
                    carrier=carrier.value,
                    name=carrier.label(lang),
                    state="waiting",
                    status="waiting",
                    symbol="…",
                    meaning="",
                    message=None,
                    checked_at=None,
                    age=None,
                    source=None,
                    manual_url=None,
                )
            )
            continue
        rows.append(_row(found, verdict, manual_urls, lang, now))
    return rows


def _row(
    found: CarrierResult,
    verdict: Verdict | None,
    manual_urls: Mapping[Carrier, str],
    lang: Lang,
    now: datetime,
) -> _Row:
    if found.skipped:
        state = "skipped"
    elif found.status is Status.UNKNOWN:
        state = "unknown"
    else:
        state = "answer"
    checked = found.checked_at
    if checked is not None and checked.tzinfo is None:
        checked = checked.replace(tzinfo=UTC)
    # A carrier that could not be asked gets its own page to look at; so does a
    # skipped one when the verdict stayed open.
    wants_manual = state == "unknown" or (state == "skipped" and verdict is Verdict.INCOMPLETE)
    return _Row(
        carrier=found.carrier.value,
        name=found.carrier.label(lang),
        state=state,
        status=found.status.value,
        symbol="" if state == "skipped" else found.symbol,
        meaning=result_reason(found, lang),
        message=found.message,
        checked_at=checked.astimezone(JST).strftime("%Y-%m-%d %H:%M") if checked else None,
        age=age_text(now - checked, lang) if checked else None,
        source=found.source.value if found.source else None,
        manual_url=manual_urls.get(found.carrier) if wants_manual else None,
    )


def _advice(
    request: Request,
    stored: Mapping[str, Any],
    results: Mapping[Carrier, CarrierResult],
    verdict: Verdict,
    origin: Carrier | None,
    role: Role,
    lang: Lang,
) -> _Advice | None:
    """The role's advice in the page's language, decided as the check decided it."""
    raw_imei = stored.get("imei") or stored.get("input")
    if not isinstance(raw_imei, str):
        return None
    try:
        identity = parse_imei(raw_imei)
    except InvalidImei:
        return None
    day = _advice_day(stored)
    statuses = {carrier: found.status for carrier, found in results.items()}
    rules = hub_of(request).rules
    advised: DeviceAdvice = advise(
        Answer.from_symbols(verdict, origin, statuses), rules, role, on=day
    )
    report = DeviceReport(
        input=raw_imei,
        identity=identity,
        invalid=None,
        verdict=verdict,
        origin_carrier=origin,
        results=tuple(results.values()),
    )
    summary, actions = advice_lines(advised, report, lang)
    listings = tuple(
        _Listing(
            marketplace=place.marketplace.value if place.marketplace else place.situation,
            allowed=place.allowed,
            summary=place.decision.summary[lang],
            lines=tuple(outcome_lines(place.decision, lang)),
        )
        for place in advised.marketplaces
    )
    return _Advice(
        role=role.value,
        summary=summary,
        actions=tuple(actions),
        listings=listings if role is Role.SELLER else (),
        on=day.isoformat(),
    )


def _advice_day(stored: Mapping[str, Any]) -> date:
    """The day the check's advice was decided on (the rules in force then)."""
    advice = stored.get("advice")
    if isinstance(advice, dict) and isinstance(advice.get("on"), str):
        try:
            return date.fromisoformat(advice["on"])
        except ValueError:
            pass
    return today_in_japan()

"""``/dealer/…``: a dealer's workspace behind a login.

Staff sign in with an e-mail address and a password (Argon2, ``services.accounts``),
upload a spreadsheet exactly as ``akarom bulk`` takes it and watch it run, answer the
captchas and pages to read their batches met (the staff queue), look a device up and
see every answer with the carrier pages that prove it, and download the report.

Every query names the dealer of the session (``session["dealer_id"]``, set at login),
never an id from the request alone: another dealer's batch, device, page or challenge
is 404, exactly like one that does not exist. Every form POST carries the session's
CSRF token. A request without a signed-in user is sent to the login page (a polled
fragment gets 401 instead, so a page left open does not fill with a login form).
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from akarom.domain import JST, Carrier, Source, Status
from akarom.errors import InvalidImei, UsageError
from akarom.services.accounts import add_user, authenticate
from akarom.services.bulk import TableError
from akarom.services.challenges import (
    ChallengeClosed,
    UnknownChallenge,
    answer_challenge,
    open_challenges,
    skip_challenge,
)
from akarom.services.history import HistoryEntry, device_history
from akarom.services.jobs import Jobs
from akarom.services.options import Role
from akarom.services.serving import tenant_of
from akarom.services.validation import invalid_message, parse_imei
from akarom.services.workspace_guarantees import may_see_device
from akarom.storage import (
    ChallengeKind,
    JobKind,
    JobStatus,
    StoredChallenge,
    StoredJob,
    StoredPage,
    StoredUser,
    UserRole,
    normalise_email,
)
from akarom.texts import Lang, text
from akarom.web.public import check_view
from akarom.web.rendering import page, request_lang
from akarom.web.security import EVIDENCE_CSP, check_csrf, ensure_csrf
from akarom.web.state import hub_of, jobs_of

__all__ = ["LOGIN_LIMIT", "current_user", "router"]

logger = logging.getLogger(__name__)

#: Sign-in attempts allowed per client address, and per e-mail address, in a moving
#: window: enough for typos, far too few to guess a password.
LOGIN_LIMIT = "10/15 minutes"
#: How many batches the home page lists, and how many rows a batch page shows.
_RECENT_RUNS = 20
_ROWS_SHOWN = 200
#: The symbols a person reads on a carrier's page (○ △ × -), as the buttons offer them.
_SYMBOLS = (Status.OK, Status.PENDING, Status.RESTRICTED, Status.UNREGISTERED)
#: Captcha images are served only as images (a stored media type is not trusted further).
_IMAGE_TYPES = frozenset({"image/gif", "image/png", "image/jpeg", "image/webp", "image/bmp"})
#: What a search box may hold once spaces and hyphens are gone: an IMEI or MEID prefix.
_PREFIX = re.compile(r"[0-9A-F]{1,16}")
_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_SHIFT_JIS = {"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j", "cp932"}


class _LoginRequired(Exception):
    """Nobody (or nobody allowed any more) is signed in: go to the login page."""


class _WorkspaceRoute(APIRoute):
    """A workspace route: ``_LoginRequired`` from ``current_user`` becomes a redirect."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except _LoginRequired:
                if request.headers.get("x-fragment"):
                    return Response(status_code=401)
                return RedirectResponse("/dealer/login", status_code=303)

        return guarded


router = APIRouter(prefix="/dealer", route_class=_WorkspaceRoute, include_in_schema=False)


# --- who is asking ---------------------------------------------------------------


async def current_user(request: Request) -> StoredUser:
    """The signed-in user, read afresh each request (disabled since: signed out)."""
    session = request.session
    user_id, dealer_id = session.get("user_id"), session.get("dealer_id")
    if not isinstance(user_id, int) or not isinstance(dealer_id, int):
        raise _LoginRequired
    user = await asyncio.to_thread(hub_of(request).store.user, user_id)
    if user is None or not user.active or user.dealer_id != dealer_id:
        session.clear()
        raise _LoginRequired
    return user


User = Annotated[StoredUser, Depends(current_user)]
Csrf = Depends(check_csrf)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- signing in and out ----------------------------------------------------------


@router.get("/login")
async def login_form(request: Request) -> Response:
    if isinstance(request.session.get("user_id"), int):
        return RedirectResponse("/dealer/", status_code=303)
    ensure_csrf(request)
    return page(request, "dealer_login.html", {"error_key": None, "email": ""})


@router.post("/login", dependencies=[Csrf])
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    limits = request.app.state.limits
    address = normalise_email(email)
    for scope, who in (("address", _client(request)), ("email", address)):
        if not limits.hit(LOGIN_LIMIT, "dealer-login", scope, who):
            wait = limits.retry_after(LOGIN_LIMIT, "dealer-login", scope, who)
            response = page(
                request,
                "dealer_login.html",
                {"error_key": "web.dealer.login.too_many", "email": email},
                status_code=429,
            )
            response.headers["Retry-After"] = str(wait)
            return response
    hub = hub_of(request)
    user = await asyncio.to_thread(authenticate, hub.store, address, password)
    if user is None:
        # One message whatever went wrong: it never tells whether the address has an account.
        return page(
            request,
            "dealer_login.html",
            {"error_key": "web.dealer.login.failed", "email": email},
            status_code=400,
        )
    # A new session for the signed-in user: nothing of the anonymous one is carried over.
    request.session.clear()
    request.session.update({"user_id": user.id, "dealer_id": user.dealer_id})
    ensure_csrf(request)
    logger.info("dealer %d: user %d signed in", user.dealer_id, user.id)
    return RedirectResponse("/dealer/", status_code=303)


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/dealer/login", status_code=303)


# --- home: upload, runs, search, the queue's size ---------------------------------


async def _home(
    request: Request,
    user: StoredUser,
    *,
    error: str | None = None,
    check_error: str | None = None,
    check_input: str = "",
    status_code: int = 200,
) -> Response:
    store = hub_of(request).store
    jobs = await asyncio.to_thread(store.jobs, user.dealer_id, 50)
    runs = [job for job in jobs if job.kind is JobKind.BATCH][:_RECENT_RUNS]
    waiting = await asyncio.to_thread(
        open_challenges, store, tenant=tenant_of(user.dealer_id), limit=1000
    )
    ensure_csrf(request)
    return page(
        request,
        "dealer_home.html",
        {
            **_common(request, user),
            "runs": [_run_view(job, request_lang(request)) for job in runs],
            "open_count": len(waiting),
            "upload_error": error,
            "check_error": check_error,
            "check_input": check_input,
        },
        status_code=status_code,
    )


@router.get("/")
async def home(request: Request, user: User) -> Response:
    return await _home(request, user)


@router.post("/batches", dependencies=[Csrf])
async def upload(
    request: Request,
    user: User,
    file: UploadFile | None = None,
    column: Annotated[str, Form(max_length=100)] = "",
    all_carriers: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    lang = request_lang(request)
    if file is None or not file.filename:
        return await _home(
            request, user, error=text("web.dealer.upload.no_file", lang), status_code=400
        )
    data = await file.read()
    if not data:
        return await _home(
            request, user, error=text("web.dealer.upload.empty", lang), status_code=400
        )
    try:
        job, _ = await jobs_of(request).submit_batch(
            dealer_id=user.dealer_id,
            input_name=_base_name(file.filename),
            data=data,
            column=column.strip() or None,
            all_carriers=bool(all_carriers),
            lang=lang,
            source="web",
        )
    except TableError as problem:
        return await _home(request, user, error=_table_error(problem, lang), status_code=400)
    return RedirectResponse(f"/dealer/batches/{job.key}", status_code=303)


# --- one device at the counter -----------------------------------------------------

#: A dealer's check is advised for the dealer first, then as a buyer or seller sees it.
_CHECK_ROLES = (Role.DEALER, Role.BUYER, Role.SELLER)


def _check_role(value: str) -> Role:
    return next((role for role in _CHECK_ROLES if role.value == value), Role.DEALER)


@router.post("/checks", dependencies=[Csrf])
async def check_one(
    request: Request, user: User, imei: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """One device, as at buy-back intake: checked for this dealer (its captchas go to the
    staff queue), the answers arriving live on its page."""
    lang = request_lang(request)
    try:
        job = await jobs_of(request).submit_check(
            imei, dealer_id=user.dealer_id, lang=lang, roles=_CHECK_ROLES, source="web"
        )
    except InvalidImei as problem:
        return await _home(
            request,
            user,
            check_error=invalid_message(problem, imei, lang),
            check_input=imei[:40],
            status_code=422,
        )
    return RedirectResponse(f"/dealer/checks/{job.key}", status_code=303)


async def _check_view(request: Request, user: StoredUser, key: str, role: str) -> dict[str, Any]:
    """One of this dealer's checks, as its page shows it (404 for anyone else's)."""
    return await check_view(
        request,
        key,
        _check_role(role),
        dealer_id=user.dealer_id,
        base="/dealer/checks",
        roles=_CHECK_ROLES,
    )


@router.get("/checks/{key}")
async def check_page(request: Request, user: User, key: str, role: str = "") -> Response:
    view = await _check_view(request, user, key, role)
    return page(request, "dealer_check.html", {**_common(request, user), **view})


@router.get("/checks/{key}/live")
async def check_live(request: Request, user: User, key: str, role: str = "") -> Response:
    view = await _check_view(request, user, key, role)
    response = page(request, "public_live.html", view)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- a batch: progress, cancel, resume, report ------------------------------------


async def _batch(request: Request, user: StoredUser, key: str) -> StoredJob:
    job = await asyncio.to_thread(hub_of(request).store.job, key, user.dealer_id)
    if job is None or job.kind is not JobKind.BATCH:
        raise HTTPException(status_code=404)
    return job


async def _batch_context(request: Request, user: StoredUser, job: StoredJob) -> dict[str, Any]:
    lang = request_lang(request)
    hub = hub_of(request)
    store = hub.store
    tenant = tenant_of(user.dealer_id)
    # The queue is the dealer's, not the batch's: a running batch waits for any of them
    # (the bulk run a challenge names is known to the job only once it ends).
    waiting = (
        []
        if job.status.finished
        else await asyncio.to_thread(open_challenges, store, tenant=tenant)
    )
    checker = hub.checkers.get((tenant, True))  # the one its batches ask through
    paused = checker.paused if checker is not None and not job.status.finished else {}
    rows = await asyncio.to_thread(store.job_results, job.id, limit=_ROWS_SHOWN)
    ensure_csrf(request)
    return {
        **_common(request, user),
        "run": _run_view(job, lang),
        "rows": [_row_view(row.row_number, row.result, lang) for row in rows],
        "rows_shown": _ROWS_SHOWN,
        "open_count": len(waiting),
        "paused": [
            {"carrier": carrier.label(lang), "reason": _error_text(code, lang)}
            for carrier, code in paused.items()
        ],
        "can_cancel": not job.status.finished and not job.cancel_requested,
        "can_resume": job.status in (JobStatus.CANCELLED, JobStatus.FAILED),
        "has_report": Jobs.has_report(job),
    }


@router.get("/batches/{key}")
async def batch(request: Request, user: User, key: str) -> Response:
    job = await _batch(request, user, key)
    return page(request, "dealer_batch.html", await _batch_context(request, user, job))


@router.get("/batches/{key}/live")
async def batch_live(request: Request, user: User, key: str) -> Response:
    job = await _batch(request, user, key)
    response = page(request, "dealer_batch_live.html", await _batch_context(request, user, job))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/batches/{key}/cancel", dependencies=[Csrf])
async def cancel(request: Request, user: User, key: str) -> Response:
    await _batch(request, user, key)
    if await jobs_of(request).cancel(key, dealer_id=user.dealer_id) is None:
        raise HTTPException(status_code=404)
    return RedirectResponse(f"/dealer/batches/{key}", status_code=303)


@router.post("/batches/{key}/resume", dependencies=[Csrf])
async def resume(request: Request, user: User, key: str) -> Response:
    await _batch(request, user, key)
    if await jobs_of(request).resume(key, dealer_id=user.dealer_id) is None:
        raise HTTPException(status_code=404)
    return RedirectResponse(f"/dealer/batches/{key}", status_code=303)


@router.get("/batches/{key}/report")
async def report(request: Request, user: User, key: str) -> Response:
    job = await _batch(request, user, key)
    report = await jobs_of(request).report(job)
    if report is None:
        raise HTTPException(status_code=404)
    return Response(
        report,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": _attachment(_report_name(job)),
            "Cache-Control": "no-store",
        },
    )


def _report_name(job: StoredJob) -> str:
    stem = PurePosixPath(job.input_name or "").stem or "batch"
    return f"{stem[:80]}-akarom.csv"


def _attachment(name: str) -> str:
    """``Content-Disposition`` for ``name``: an ASCII stand-in any client takes, and the
    real name for those that read RFC 6266's ``filename*``."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "report.csv"
    if not ascii_name.lower().endswith(".csv"):
        ascii_name += ".csv"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


# --- search --------------------------------------------------------------------


@router.get("/search")
async def search(request: Request, user: User, imei: str = "") -> Response:
    store = hub_of(request).store
    asked = imei.strip()[:64]
    found: list[dict[str, str]] = []
    if asked:
        try:
            exact = parse_imei(asked).value
        except InvalidImei:
            exact = None
        if exact is not None:
            if await asyncio.to_thread(store.dealer_has_device, user.dealer_id, exact):
                return RedirectResponse(f"/dealer/devices/{exact}", status_code=303)
        else:
            prefix = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", asked)).upper()
            if _PREFIX.fullmatch(prefix):
                devices = await asyncio.to_thread(store.dealer_devices, user.dealer_id, prefix)
                found = [{"imei": device, "checked_at": _when(at)} for device, at in devices]
    return page(
        request,
        "dealer_search.html",
        {**_common(request, user), "asked": asked, "found": found},
        status_code=200 if found or not asked else 404,
    )


# --- the staff queue -------------------------------------------------------------


async def _queue_context(request: Request, user: StoredUser, *, after: int = 0) -> dict[str, Any]:
    waiting = await asyncio.to_thread(
        open_challenges, hub_of(request).store, tenant=tenant_of(user.dealer_id)
    )
    lang = request_lang(request)
    shown = [_challenge_view(c, lang) for c in waiting if c.id > after]
    ensure_csrf(request)
    return {
        **_common(request, user),
        "challenges": shown,
        "last_id": max((c.id for c in waiting), default=after),
        "symbols": [{"value": s.symbol, "status": s.value} for s in _SYMBOLS],
    }


async def _queue(
    request: Request,
    user: StoredUser,
    *,
    notice_key: str | None = None,
    errors: Mapping[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = await _queue_context(request, user)
    shown = {challenge["id"] for challenge in context["challenges"]}
    errors = dict(errors or {})
    # A challenge closed meanwhile is no longer listed: its error is said above the list.
    gone = next((key for challenge_id, key in errors.items() if challenge_id not in shown), None)
    context.update(notice_key=notice_key, errors=errors, queue_error=gone)
    return page(request, "dealer_queue.html", context, status_code=status_code)


@router.get("/queue")
async def queue(request: Request, user: User, done: str = "") -> Response:
    notice = {"answered": "web.dealer.queue.answered", "skipped": "web.dealer.queue.skipped"}
    return await _queue(request, user, notice_key=notice.get(done))


@router.get("/queue/live")
async def queue_live(request: Request, user: User, after: int = 0) -> Response:
    """The challenges posted since the page was drawn. Once some are shown, polling
    stops, so nothing a person is typing is ever replaced; an answer reloads the page."""
    context = await _queue_context(request, user, after=after)
    context.update(after=after, errors={})
    response = page(request, "dealer_queue_live.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/queue/{challenge_id}/image")
async def challenge_image(request: Request, user: User, challenge_id: int) -> Response:
    challenge = await asyncio.to_thread(
        hub_of(request).store.challenge, challenge_id, tenant=tenant_of(user.dealer_id)
    )
    if challenge is None or challenge.kind is not ChallengeKind.CAPTCHA or not challenge.image:
        raise HTTPException(status_code=404)
    media = (challenge.media_type or "").split(";")[0].strip().lower()
    return Response(
        challenge.image,
        media_type=media if media in _IMAGE_TYPES else "application/octet-stream",
        headers={"Cache-Control": "no-store"},
    )


@router.post("/queue/{challenge_id}", dependencies=[Csrf])
async def answer(
    request: Request,
    user: User,
    challenge_id: int,
    answer: Annotated[str, Form(max_length=64)] = "",
    action: Annotated[str, Form(max_length=10)] = "answer",
) -> Response:
    store = hub_of(request).store
    tenant = tenant_of(user.dealer_id)
    try:
        if action == "skip":
            await asyncio.to_thread(skip_challenge, store, challenge_id, user.email, tenant=tenant)
        else:
            await asyncio.to_thread(
                answer_challenge, store, challenge_id, answer, user.email, tenant=tenant
            )
    except UnknownChallenge:
        raise HTTPException(status_code=404) from None
    except ChallengeClosed as closed:
        key = f"web.dealer.queue.closed.{closed.challenge.status.value}"
        return await _queue(request, user, errors={challenge_id: key}, status_code=409)
    except ValueError:
        key = "web.dealer.queue.bad_answer"
        return await _queue(request, user, errors={challenge_id: key}, status_code=400)
    done = "skipped" if action == "skip" else "answered"
    return RedirectResponse(f"/dealer/queue?{urlencode({'done': done})}", status_code=303)


# --- a device and its evidence ---------------------------------------------------


@router.get("/devices/{imei}")
async def device(request: Request, user: User, imei: str) -> Response:
    store = hub_of(request).store
    try:
        value = parse_imei(imei).value
    except InvalidImei:
        raise HTTPException(status_code=404) from None
    if value != imei or not await asyncio.to_thread(may_see_device, store, user.dealer_id, value):
        raise HTTPException(status_code=404)
    entries = await asyncio.to_thread(device_history, store, value)
    # Answers are shared by every dealer (one cache); who read a page by hand is not:
    # a name is shown only when it is one of this dealer's own people.
    own_people = {staff.email for staff in await asyncio.to_thread(store.users, user.dealer_id)}
    lang = request_lang(request)
    return page(
        request,
        "dealer_device.html",
        {
            **_common(request, user),
            "imei": value,
            "entries": [_entry_view(entry, lang, own_people) for entry in reversed(entries)],
        },
    )


@router.get("/evidence/{observation_id}/{seq}")
async def evidence(request: Request, user: User, observation_id: int, seq: int) -> Response:
    """A carrier's page as it was kept, to be looked at, never run: ``EVIDENCE_CSP``
    sandboxes it (no script, an opaque origin without the workspace's cookies)."""
    store = hub_of(request).store
    observation = await asyncio.to_thread(store.observation, observation_id)
    if observation is None or not await asyncio.to_thread(
        may_see_device, store, user.dealer_id, observation.imei
    ):
        raise HTTPException(status_code=404)
    pages = await asyncio.to_thread(store.pages, observation_id)
    kept = next((p for p in pages if p.seq == seq), None)
    if kept is None:
        raise HTTPException(status_code=404)
    return Response(
        kept.content,
        headers={
            "Content-Type": _evidence_type(kept),
            "Content-Security-Policy": EVIDENCE_CSP + "; frame-ancestors 'self'",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "SAMEORIGIN",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-store",
        },
    )


def _evidence_type(kept: StoredPage) -> str:
    """The kept page's own media type and charset, as the carrier sent them.

    HTML stays HTML (shown in a sandbox), anything else is shown as text. The charset
    is the one the page declared (header, else ``<meta>``); a page that declares none
    is Shift_JIS, as the adapters read such pages, so the evidence reads as they read it.
    """
    header = next((v for k, v in kept.headers.items() if k.lower() == "content-type"), "")
    media = header.split(";")[0].strip().lower()
    media = "text/html" if media in ("", "text/html", "application/xhtml+xml") else "text/plain"
    declared = _CHARSET.search(header)
    label = declared.group(1) if declared else None
    if label is None and (meta := _META_CHARSET.search(kept.content[:4096])):
        label = meta.group(1).decode("ascii")
    if label is None or label.lower() in _SHIFT_JIS:
        label = "Shift_JIS"
    return f"{media}; charset={label}"


# --- users (admins only) ---------------------------------------------------------


def _admin(user: StoredUser) -> StoredUser:
    if user.role is not UserRole.ADMIN:
        raise HTTPException(status_code=403)
    return user


async def _users(
    request: Request,
    user: StoredUser,
    *,
    error: str | None = None,
    email: str = "",
    added: bool = False,
    status_code: int = 200,
) -> Response:
    users = await asyncio.to_thread(hub_of(request).store.users, user.dealer_id)
    ensure_csrf(request)
    return page(
        request,
        "dealer_users.html",
        {
            **_common(request, user),
            "users": [
                {
                    "email": person.email,
                    "role": person.role.value,
                    "created_at": _when(person.created_at),
                    "disabled": person.disabled_at is not None,
                }
                for person in users
            ],
            "error": error,
            "email": email,
            "added": added,
        },
        status_code=status_code,
    )


@router.get("/users")
async def users(request: Request, user: User, added: str = "") -> Response:
    return await _users(request, _admin(user), added=bool(added))


@router.post("/users", dependencies=[Csrf])
async def create_user(
    request: Request,
    user: User,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    admin = _admin(user)
    try:
        await asyncio.to_thread(
            add_user, hub_of(request).store, admin.dealer_id, email, password, UserRole.STAFF
        )
    except UsageError as problem:
        message = text(problem.key, request_lang(request)).format(**problem.fields)
        return await _users(request, admin, error=message, email=email, status_code=400)
    return RedirectResponse("/dealer/users?added=1", status_code=303)


# --- what the templates are given ------------------------------------------------


def _common(request: Request, user: StoredUser) -> dict[str, Any]:
    return {"user": {"email": user.email, "admin": user.role is UserRole.ADMIN}}


def _when(at: datetime | None) -> str:
    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M") if at is not None else ""


def _verdict_label(verdict: str, lang: Lang) -> str:
    try:
        return text(f"verdict.{verdict}.short", lang)
    except KeyError:
        return verdict


def _error_text(code: str | None, lang: Lang) -> str:
    if not code:
        return ""
    try:
        return text(f"error.{code}", lang)
    except KeyError:
        return text("error.error", lang)


def _run_view(job: StoredJob, lang: Lang) -> dict[str, Any]:
    total = job.total
    return {
        "key": job.key,
        "name": job.input_name or "",
        "created_at": _when(job.created_at),
        "finished_at": _when(job.finished_at),
        "status": job.status.value,
        "status_text": text(f"web.dealer.job.{job.status.value}", lang),
        "finished": job.status.finished,
        "cancel_requested": job.cancel_requested,
        "done": job.done,
        "total": total,
        "percent": round(100 * job.done / total) if total else 0,
        "verdicts": [
            {"verdict": verdict, "label": _verdict_label(verdict, lang), "count": count}
            for verdict, count in sorted(job.verdicts.items(), key=_verdict_order)
            if count
        ],
        "error": _job_error(job.error, lang),
    }


def _job_error(code: str | None, lang: Lang) -> str:
    """Why a batch failed, from the short code the runner keeps (``table.<code>``, …)."""
    if not code:
        return ""
    if code.startswith("table."):
        try:
            return text(f"web.dealer.upload.error.{code.removeprefix('table.')}", lang)
        except KeyError:
            pass
    return text("web.dealer.batch.failed", lang)


_VERDICT_ORDER = ("clear", "caution", "red", "incomplete", "invalid")


def _verdict_order(item: tuple[str, int]) -> tuple[int, str]:
    name = item[0]
    return (_VERDICT_ORDER.index(name) if name in _VERDICT_ORDER else 99, name)


def _row_view(row_number: int, result: Mapping[str, Any], lang: Lang) -> dict[str, Any]:
    verdict = str(result.get("verdict") or "pending")
    imei = result.get("imei")
    return {
        "row": row_number,
        "input": str(result.get("input") or ""),
        "imei": imei if isinstance(imei, str) else "",
        "verdict": verdict,
        "verdict_text": _verdict_label(verdict, lang),
        "results": [
            {
                "carrier": _carrier_label(str(item.get("carrier")), lang),
                "symbol": str(item.get("symbol") or "?"),
                "status": str(item.get("status") or "unknown"),
            }
            for item in result.get("results") or ()
            if isinstance(item, Mapping)
        ],
    }


def _carrier_label(name: str, lang: Lang) -> str:
    try:
        return Carrier(name).label(lang)
    except ValueError:
        return name


def _challenge_view(challenge: StoredChallenge, lang: Lang) -> dict[str, Any]:
    url = challenge.url or ""
    return {
        "id": challenge.id,
        "kind": challenge.kind.value,
        "carrier": challenge.carrier.value,
        "carrier_label": challenge.carrier.label(lang),
        "imei": challenge.imei,
        "posted_at": _when(challenge.created_at),
        "expires_at": _when(challenge.expires_at),
        # Only a web address is a link: a stored javascript: URL must never become one.
        "url": url if url.startswith(("https://", "http://")) else "",
    }


def _entry_view(entry: HistoryEntry, lang: Lang, own_people: set[str]) -> dict[str, Any]:
    observation = entry.observation
    by = observation.entered_by
    return {
        "id": observation.id,
        "carrier": observation.carrier.label(lang),
        "status": observation.status.value,
        "symbol": observation.status.symbol,
        "checked_at": _when(observation.checked_at),
        "source": _source_label(observation.source, lang),
        "entered_by": by if by in own_people else "",
        "message": observation.message or "",
        "error": _error_text(observation.error, lang),
        "pages": [
            {
                "seq": kept.seq,
                "method": kept.method,
                "url": kept.url,
                "status_code": kept.status_code,
                "fetched_at": _when(kept.fetched_at),
                "href": f"/dealer/evidence/{observation.id}/{kept.seq}",
            }
            for kept in entry.pages
        ],
    }


def _source_label(source: Source, lang: Lang) -> str:
    return text(f"label.source.{source.value}", lang)


def _base_name(name: str) -> str:
    """The file's own name, whatever folder a browser sent with it (old IE sends paths)."""
    return PureWindowsPath(PurePosixPath(name).name).name[:200] or "upload"


def _table_error(problem: TableError, lang: Lang) -> str:
    key = f"web.dealer.upload.error.{problem.code}"
    try:
        return text(key, lang)
    except KeyError:
        return f"{text('bulk.file_error', lang)}: {problem.reason}"

"""The REST API's 赤ロム guarantee: sales under guarantee and the status changes found.

``POST /api/v1/guarantees`` registers a sale as the workspace's form does (the baseline
is the device's latest stored check; the rules decide); ``GET /api/v1/guarantees``
lists the dealer's; ``GET /api/v1/changes`` the status changes found on them since, and
``POST /api/v1/changes/{id}/acknowledge`` marks one seen. Authenticated, limited and
answered as the rest of ``/api/v1`` (``web.api``): another dealer's change is 404.

The customer's contact may be sent with a sale (it is sealed at once) but is never
returned: personal data is shown only in the workspace, to signed-in staff.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from akarom.domain import JST
from akarom.errors import ConfigError, InvalidImei, UsageError
from akarom.services.guarantees import CustomerContact, SaleRequest, register_sale
from akarom.services.validation import parse_imei
from akarom.services.workspace_guarantees import ChangeOnGuarantee, acknowledge, changes_of
from akarom.storage.guarantees import GuaranteeKind, StoredGuarantee
from akarom.web.api import (
    _AUTH_ERRORS,
    LangQuery,
    Reader,
    Worker,
    _invalid,
    _lang,
    _not_found,
    _problem_response,
)
from akarom.web.app import problem
from akarom.web.guarantees import sale_problem, workspace_sealer
from akarom.web.state import hub_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["api"])

#: The most rows one list answer holds; ``next`` names the following page.
MAX_PAGE = 1000
#: Ids are 32-bit in every database akarom runs on.
_MAX_ID = 2**31 - 1
#: An order reference is one line of text; terms may hold lines but never NUL, which
#: PostgreSQL's text columns refuse.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
_TEXT = r"^[^\x00]*$"


# -- schemas ---------------------------------------------------------------------------


class CustomerIn(BaseModel):
    """Whom to tell when the device changes: sealed at once, never returned."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)


class GuaranteeIn(BaseModel):
    """A sale to put under guarantee; the device's latest stored check is its baseline."""

    model_config = ConfigDict(extra="forbid")

    imei: str = Field(max_length=64, description="As typed: hyphens, spaces, IMEISV, MEID.")
    order_ref: str = Field(
        min_length=1, max_length=100, pattern=_PRINTABLE, description="Unique per dealer."
    )
    sold_on: date = Field(description="The day of sale (Japan), not after today.")
    kind: GuaranteeKind = GuaranteeKind.LIFETIME_RED
    price: int | None = Field(default=None, ge=0, le=_MAX_ID, description="In yen.")
    terms: str | None = Field(
        default=None,
        max_length=2000,
        pattern=_TEXT,
        description="Required for the shop's own guarantee.",
    )
    term_until: date | None = Field(
        default=None, description="The last day covered (default: for life; a year for return_1y)."
    )
    customer: CustomerIn | None = None


class GuaranteeOut(BaseModel):
    """A sale under guarantee (no personal data: the customer's contact stays sealed)."""

    id: int
    imei: str
    order_ref: str
    sold_on: date
    kind: Literal["lifetime_red", "return_1y", "own"]
    price: int | None
    terms: str | None
    term_until: date | None
    baseline_verdict: Literal["clear", "caution"]
    status: Literal["active", "claimed", "ended"]
    created_at: str


class GuaranteeList(BaseModel):
    guarantees: list[GuaranteeOut]
    next: str | None = Field(description="The next page's URL, or null on the last.")


_STATUS = Literal["ok", "pending", "restricted", "unregistered", "unknown"]


class ChangeOut(BaseModel):
    """A status change found by the monitor on one of the dealer's guaranteed devices."""

    id: int
    guarantee_id: int
    order_ref: str
    imei: str
    carrier: str
    before_status: _STATUS
    before_symbol: str
    after_status: _STATUS
    after_symbol: str
    detected_at: str
    acknowledged: bool
    acknowledged_at: str | None


class ChangeList(BaseModel):
    changes: list[ChangeOut]
    next: str | None = Field(description="The next page's URL, or null on the last.")


_REFUSED: dict[int | str, dict[str, Any]] = {
    409: _problem_response("This dealer registered that order reference already"),
    422: _problem_response(
        "The request is not valid, or the sale cannot go under guarantee: `error` says "
        "why (never_checked, stale_baseline, refused, own_terms, term_before_sale, "
        "date_range, or an IMEI's code)"
    ),
}
_NO_CHANGE: dict[int | str, dict[str, Any]] = {
    404: _problem_response("No such change for this dealer"),
}

Before = Annotated[
    int | None, Query(ge=1, le=_MAX_ID, description="Only rows with a smaller id (paging).")
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="The most rows in one answer.")]


def _stamp(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(JST).isoformat(timespec="seconds")


def _guarantee_body(g: StoredGuarantee) -> dict[str, Any]:
    return GuaranteeOut(
        id=g.id,
        imei=g.imei,
        order_ref=g.order_ref,
        sold_on=g.sold_on,
        kind=g.kind.value,
        price=g.price,
        terms=g.terms,
        term_until=g.term_until,
        baseline_verdict=g.baseline_verdict,  # type: ignore[arg-type]  # a CHECK holds it
        status=g.status.value,
        created_at=_stamp(g.created_at) or "",
    ).model_dump(mode="json")


def _change_body(item: ChangeOnGuarantee) -> dict[str, Any]:
    change = item.change
    return ChangeOut(
        id=change.id,
        guarantee_id=change.guarantee_id,
        order_ref=item.guarantee.order_ref,
        imei=item.guarantee.imei,
        carrier=change.carrier.value,
        before_status=change.before_status.value,
        before_symbol=change.before_status.symbol,
        after_status=change.after_status.value,
        after_symbol=change.after_status.symbol,
        detected_at=_stamp(change.detected_at) or "",
        # Who saw it is one of the dealer's staff: not shared beyond the workspace.
        acknowledged=change.acknowledged_at is not None,
        acknowledged_at=_stamp(change.acknowledged_at),
    ).model_dump(mode="json")


def _next(request: Request, rows: list[Any], limit: int) -> str | None:
    """The following page's URL when this one is full (rows are newest first)."""
    if len(rows) < limit:
        return None
    query = request.url.include_query_params(before=rows[-1].id).query
    return f"{request.url.path}?{query}"


# -- guarantees ------------------------------------------------------------------------


@router.post(
    "/guarantees",
    status_code=201,
    response_model=None,
    responses={
        201: {"model": GuaranteeOut, "description": "Registered"},
        **_AUTH_ERRORS,
        **_REFUSED,
    },
    summary="Register a sale under guarantee",
)
async def post_guarantee(
    request: Request, body: GuaranteeIn, caller: Worker, lang: LangQuery = None
) -> Response:
    """Put a sold device under guarantee; its latest stored check is the baseline.

    Refused (422, with the reason in ``error`` and ``detail``) when the device was never
    checked, its newest check is over 30 days older than the sale, or the rules do not
    allow it (a ×, an open answer); 409 when the order reference is taken.
    """
    chosen = _lang(request, lang)
    try:
        parse_imei(body.imei)
    except InvalidImei as err:
        return _invalid(err, body.imei, chosen)
    customer = (
        None
        if body.customer is None
        else CustomerContact(body.customer.name, body.customer.email, body.customer.phone)
    )
    sale = SaleRequest(
        body.imei,
        body.order_ref,
        body.sold_on,
        body.kind,
        body.price,
        body.terms,
        body.term_until,
        customer,
    )
    hub = hub_of(request)
    try:
        sealer = workspace_sealer(request)
        stored = await asyncio.to_thread(
            register_sale,
            hub.store,
            sealer,
            hub.rules,
            caller.dealer_id,
            sale,
            by=f"api-key:{caller.key_id}",
        )
    except ConfigError:
        raise HTTPException(
            status_code=503, detail="personal data cannot be sealed: the operator's key"
        ) from None
    except UsageError as err:
        code = err.key.removeprefix("guarantee.").replace(".", "_")
        if code == "order_taken":
            return problem(409, "Conflict", sale_problem(err, chosen), error=code)
        return problem(422, "Unprocessable Content", sale_problem(err, chosen), error=code)
    return JSONResponse(
        _guarantee_body(stored),
        status_code=201,
        headers={
            "Location": f"{router.prefix}/guarantees?{urlencode({'order_ref': stored.order_ref})}"
        },
    )


@router.get(
    "/guarantees",
    response_model=GuaranteeList,
    responses={**_AUTH_ERRORS},
    summary="This dealer's guarantees, newest first",
)
async def get_guarantees(
    request: Request,
    caller: Reader,
    imei: Annotated[str | None, Query(max_length=64, description="Of one device.")] = None,
    order_ref: Annotated[
        str | None, Query(max_length=100, pattern=_PRINTABLE, description="Of one order.")
    ] = None,
    before: Before = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    store = hub_of(request).store
    device = None
    if imei is not None:
        try:
            device = parse_imei(imei).value
        except InvalidImei:
            return {"guarantees": [], "next": None}  # no such device: nothing of it
    page = await asyncio.to_thread(
        store.guarantees,
        caller.dealer_id,
        imei=device,
        order_ref=order_ref,
        before=before,
        limit=limit,
    )
    return {"guarantees": [_guarantee_body(g) for g in page], "next": _next(request, page, limit)}


# -- status changes ----------------------------------------------------------------------


@router.get(
    "/changes",
    response_model=ChangeList,
    responses={**_AUTH_ERRORS},
    summary="Status changes on this dealer's guaranteed devices, newest first",
)
async def get_changes(
    request: Request,
    caller: Reader,
    open_only: Annotated[
        bool, Query(alias="open", description="Only the changes nobody has acknowledged yet.")
    ] = False,
    before: Before = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    store = hub_of(request).store
    page = await asyncio.to_thread(
        changes_of, store, caller.dealer_id, open_only=open_only, before=before, limit=limit
    )
    return {
        "changes": [_change_body(c) for c in page],
        "next": _next(request, [c.change for c in page], limit),
    }


@router.post(
    "/changes/{change_id}/acknowledge",
    response_model=ChangeOut,
    responses={**_AUTH_ERRORS, **_NO_CHANGE},
    summary="Mark a status change seen",
)
async def post_acknowledge(
    request: Request,
    change_id: Annotated[int, Path(ge=1, le=_MAX_ID)],
    caller: Worker,
) -> dict[str, Any]:
    """The change, acknowledged (again: it keeps the first acknowledgement's time)."""
    seen = await asyncio.to_thread(
        acknowledge,
        hub_of(request).store,
        caller.dealer_id,
        change_id,
        by=f"api-key:{caller.key_id}",
    )
    if seen is None:
        raise _not_found("change")
    return _change_body(seen)

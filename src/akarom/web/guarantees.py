"""``/dealer/guarantees`` and ``/dealer/claims/…``: the 赤ロム guarantee in the workspace.

The guarantee page puts first what needs a person: status changes nobody has looked at
yet (a ×, a △ …, each with the sale it concerns and a button to mark it seen), then the
open claims, then the guarantees; and a form to register a sale. A claim's page is its
whole file: the check before the sale, every answer since with the carrier's pages that
prove it, the changes, the sale, the customer's contact and the seller the shop bought
the phone from. That personal data is unsealed here only, for the dealer's signed-in
staff; the REST API never returns it.

As everywhere in the workspace, the dealer is the session's: another dealer's change,
claim or guarantee is 404, every form POST carries the CSRF token, and what the staff
do is recorded under the signed-in user's e-mail address.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from akarom.domain import Verdict
from akarom.errors import ConfigError, InvalidImei, UsageError
from akarom.services.advising import today_in_japan
from akarom.services.guarantees import (
    CLAIM_ACTIONS,
    CustomerContact,
    SaleRequest,
    act_on_claim,
    register_sale,
    sealer_for,
)
from akarom.services.validation import invalid_message, parse_imei, said
from akarom.services.workspace_guarantees import (
    ChangeOnGuarantee,
    PersonalDataUnreadable,
    acknowledge,
    claim_case,
    guarantee_desk,
    open_claim_now,
)
from akarom.storage import StoredObservation, StoredPage, StoredUser
from akarom.storage.guarantees import ClaimStatus, GuaranteeKind, GuaranteeStatus, StoredGuarantee
from akarom.texts import Lang, text
from akarom.web.dealer import _common, _when, _WorkspaceRoute, current_user
from akarom.web.rendering import page, request_lang
from akarom.web.security import check_csrf, ensure_csrf
from akarom.web.state import hub_of

if TYPE_CHECKING:
    from akarom.sealing import Sealer

__all__ = ["router", "sale_problem", "workspace_sealer"]

router = APIRouter(prefix="/dealer", route_class=_WorkspaceRoute, include_in_schema=False)

User = Annotated[StoredUser, Depends(current_user)]
Csrf = Depends(check_csrf)

#: Guarantees listed on the page, newest first; a search finds the others.
_LISTED = 200
#: The sale form's fields (a refused form is shown again with what was typed).
_FORM_FIELDS = (
    "imei",
    "order_ref",
    "sold_on",
    "kind",
    "price",
    "terms",
    "term_until",
    "customer_name",
    "customer_email",
    "customer_phone",
)


def workspace_sealer(request: Request) -> Sealer:
    """The operator's sealer, loaded once per app (``ConfigError`` if it cannot be)."""
    state = request.app.state
    sealer: Sealer | None = getattr(state, "sealer", None)
    if sealer is None:
        sealer = state.sealer = sealer_for(hub_of(request).settings)
    return sealer


def sale_problem(err: UsageError, lang: Lang) -> str:
    """Why a sale cannot go under guarantee, in the person's language (no CLI option
    names: the workspace's and the API's own wording where the command's differs)."""
    fields = {name: said(value, lang) for name, value in err.fields.items()}
    try:
        sentence = text(f"web.guarantee.error.{err.key.rsplit('.', 1)[-1]}", lang)
    except KeyError:
        sentence = text(err.key, lang)
    return sentence.format(**fields)


# --- the guarantee page ----------------------------------------------------------


async def _desk(
    request: Request,
    user: StoredUser,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    lang = request_lang(request)
    store = hub_of(request).store
    asked = request.query_params.get("q", "").strip()[:100]
    imei = order_ref = None
    if asked:
        try:
            imei = parse_imei(asked).value
        except InvalidImei:
            order_ref = asked
    desk = await asyncio.to_thread(
        guarantee_desk, store, user.dealer_id, imei=imei, order_ref=order_ref, limit=_LISTED
    )
    notice = None
    added = request.query_params.get("registered", "")
    if added.isascii() and added.isdecimal() and len(added) < 10 and request.method == "GET":
        # Named by id and read back: a crafted link cannot make the page claim a sale.
        sold = await asyncio.to_thread(store.guarantee, user.dealer_id, int(added))
        if sold is not None:
            notice = text("web.guarantee.sale.registered", lang).format(order=sold.order_ref)
    elif request.query_params.get("seen") and request.method == "GET":
        notice = text("web.guarantee.changes.acknowledged", lang)
    ensure_csrf(request)
    return page(
        request,
        "dealer_guarantees.html",
        {
            **_common(request, user),
            "changes": [_change_view(item, lang) for item in desk.open_changes],
            "claims": [
                {
                    "id": item.claim.id,
                    "order_ref": item.guarantee.order_ref,
                    "imei": item.guarantee.imei,
                    "opened_at": _when(item.claim.opened_at),
                }
                for item in desk.open_claims
            ],
            "guarantees": [
                {**_guarantee_view(g, lang), "claim_id": desk.claim_ids.get(g.id)}
                for g in desk.guarantees
            ],
            "total": desk.total,
            "asked": asked,
            "notice": notice,
            "error": error,
            "form": form
            or {
                **dict.fromkeys(_FORM_FIELDS, ""),
                "sold_on": today_in_japan().isoformat(),
                "kind": GuaranteeKind.LIFETIME_RED.value,
            },
            "kinds": [{"value": k.value, "label": _kind(k, lang)} for k in GuaranteeKind],
        },
        status_code=status_code,
    )


@router.get("/guarantees")
async def guarantees(request: Request, user: User) -> Response:
    return await _desk(request, user)


@router.post("/guarantees", dependencies=[Csrf])
async def register(
    request: Request,
    user: User,
    imei: Annotated[str, Form(max_length=64)] = "",
    order_ref: Annotated[str, Form(max_length=100)] = "",
    sold_on: Annotated[str, Form(max_length=20)] = "",
    kind: Annotated[str, Form(max_length=20)] = "lifetime_red",
    price: Annotated[str, Form(max_length=20)] = "",
    terms: Annotated[str, Form(max_length=2000)] = "",
    term_until: Annotated[str, Form(max_length=20)] = "",
    customer_name: Annotated[str, Form(max_length=200)] = "",
    customer_email: Annotated[str, Form(max_length=320)] = "",
    customer_phone: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Register a sale under guarantee; a refusal is said above the form, which keeps
    what was typed."""
    lang = request_lang(request)
    typed = {
        "imei": imei,
        "order_ref": order_ref,
        "sold_on": sold_on,
        "kind": kind,
        "price": price,
        "terms": terms,
        "term_until": term_until,
        "customer_name": customer_name,
        "customer_email": customer_email,
        "customer_phone": customer_phone,
    }

    async def refused(key: str, status_code: int = 422) -> Response:
        return await _desk(
            request, user, form=typed, error=text(key, lang), status_code=status_code
        )

    try:
        day = date.fromisoformat(sold_on.strip())
        until = date.fromisoformat(term_until.strip()) if term_until.strip() else None
    except ValueError:
        return await refused("web.guarantee.error.bad_date")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in order_ref):
        return await refused("web.guarantee.error.bad_order")
    amount = price.strip().replace(",", "")
    if amount and not (amount.isascii() and amount.isdecimal() and int(amount) <= 2**31 - 1):
        return await refused("web.guarantee.error.bad_price")
    try:
        chosen = GuaranteeKind(kind)
    except ValueError:
        return await refused("web.guarantee.error.bad_kind")
    contact = None
    if customer_name.strip() or customer_email.strip() or customer_phone.strip():
        contact = CustomerContact(
            customer_name.strip() or "-",
            customer_email.strip() or None,
            customer_phone.strip() or None,
        )
    try:
        parse_imei(imei)
    except InvalidImei as err:
        message = invalid_message(err, imei, lang)
        return await _desk(request, user, form=typed, error=message, status_code=422)
    sale = SaleRequest(
        imei,
        order_ref,
        day,
        chosen,
        int(amount) if amount else None,
        terms.replace("\x00", "").strip() or None,  # PostgreSQL's text refuses NUL
        until,
        contact,
    )
    hub = hub_of(request)
    try:
        sealer = workspace_sealer(request)
        stored = await asyncio.to_thread(
            register_sale, hub.store, sealer, hub.rules, user.dealer_id, sale, by=user.email
        )
    except ConfigError:
        return await refused("web.guarantee.error.sealed", 503)
    except UsageError as err:
        # A refusal (GuaranteeRefused) or a form that cannot be used is 422; an order
        # reference used already is a conflict with what is stored.
        status = 409 if err.key == "guarantee.order_taken" else 422
        return await _desk(
            request, user, form=typed, error=sale_problem(err, lang), status_code=status
        )
    return RedirectResponse(f"/dealer/guarantees?registered={stored.id}", status_code=303)


@router.post("/changes/{change_id}/acknowledge", dependencies=[Csrf])
async def acknowledge_change(request: Request, user: User, change_id: int) -> Response:
    """Mark a status change seen by the signed-in user; it leaves the open list."""
    seen = await asyncio.to_thread(
        acknowledge, hub_of(request).store, user.dealer_id, change_id, by=user.email
    )
    if seen is None:
        raise HTTPException(status_code=404)
    return RedirectResponse("/dealer/guarantees?seen=1", status_code=303)


@router.post("/guarantees/{guarantee_id}/claim", dependencies=[Csrf])
async def open_claim(request: Request, user: User, guarantee_id: int) -> Response:
    """Open a claim by hand (the customer called before the monitor saw a ×)."""
    claim_id = await asyncio.to_thread(
        open_claim_now, hub_of(request).store, user.dealer_id, guarantee_id, by=user.email
    )
    if claim_id is None:
        raise HTTPException(status_code=404)
    return RedirectResponse(f"/dealer/claims/{claim_id}", status_code=303)


# --- a claim -----------------------------------------------------------------------


async def _claim(
    request: Request,
    user: StoredUser,
    claim_id: int,
    *,
    error: str | None = None,
    note: str = "",
    status_code: int = 200,
) -> Response:
    lang = request_lang(request)
    hub = hub_of(request)
    try:
        sealer = workspace_sealer(request)
        case = await asyncio.to_thread(claim_case, hub.store, sealer, user.dealer_id, claim_id)
    except (ConfigError, PersonalDataUnreadable):
        return page(
            request,
            "error.html",
            {"message_key": "web.claim.sealed_unreadable", "status": 503},
            status_code=503,
        )
    if case is None:
        raise HTTPException(status_code=404)
    file = case.file
    claim, guarantee = file.claim, file.guarantee

    def answers(observations: tuple[StoredObservation, ...]) -> list[dict[str, Any]]:
        return [_answer_view(o, case.pages.get(o.id, ()), lang) for o in observations]

    seller = file.seller
    done = request.query_params.get("done") if request.method == "GET" else None
    ensure_csrf(request)
    return page(
        request,
        "dealer_claim.html",
        {
            **_common(request, user),
            "claim": {
                "id": claim.id,
                "status": claim.status.value,
                "status_text": text(f"web.claim.status.{claim.status.value}", lang),
                "open": claim.status is ClaimStatus.OPEN,
                "opened_at": _when(claim.opened_at),
                "closed_at": _when(claim.closed_at),
                "reason": claim.reason or "",
            },
            "sale": {
                **_guarantee_view(guarantee, lang),
                "price": "" if guarantee.price is None else f"{guarantee.price:,}",
                "terms": guarantee.terms or "",
                "term_until": guarantee.term_until.isoformat() if guarantee.term_until else "",
                "created_by": guarantee.created_by,
                "created_at": _when(guarantee.created_at),
            },
            "customer": None
            if file.customer is None
            else {
                "name": file.customer.name,
                "email": file.customer.email or "",
                "phone": file.customer.phone or "",
            },
            "baseline": answers(file.baseline),
            "since_sale": answers(file.since_sale),
            "changes": [
                {
                    "id": change.id,
                    "carrier": change.carrier.label(lang),
                    "before": change.before_status.value,
                    "before_symbol": change.before_status.symbol,
                    "after": change.after_status.value,
                    "after_symbol": change.after_status.symbol,
                    "detected_at": _when(change.detected_at),
                    "seen_by": change.acknowledged_by or "",
                    "seen_at": _when(change.acknowledged_at),
                }
                for change in file.changes
            ],
            "intake": None
            if file.intake is None
            else {
                "id": file.intake.id,
                "bought_on": file.intake.bought_on.isoformat(),
                "price": f"{file.intake.price:,}",
                "model": file.intake.model or "",
                "verdict": _verdict(file.intake.verdict, lang),
                "erased": file.intake.erased_at is not None,
            },
            "seller": None
            if seller is None
            else {
                "name": seller.name,
                "address": seller.address,
                "occupation": seller.occupation,
                "age": seller.age,
                "confirmed_by": seller.confirmed_by,
                "document_number": seller.document_number or "",
            },
            "actions": [
                {
                    "at": _when(action.at),
                    "actor": action.actor,
                    "action": action.action,
                    "label": _action_label(action.action, lang),
                    "note": action.note or "",
                }
                for action in claim.actions
            ],
            "choices": list(CLAIM_ACTIONS),
            "error": error,
            "note": note,
            "done": done == "1" and error is None,
        },
        status_code=status_code,
    )


@router.get("/claims/{claim_id}")
async def claim_page(request: Request, user: User, claim_id: int) -> Response:
    response = await _claim(request, user, claim_id)
    # Personal data: never kept by a shared cache or the browser's back-forward store.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/claims/{claim_id}/actions", dependencies=[Csrf])
async def act(
    request: Request,
    user: User,
    claim_id: int,
    action: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Record a note, or settle the claim by exchange, refund or a rejection (its reason
    is required), under the signed-in user's e-mail address."""
    lang = request_lang(request)
    store = hub_of(request).store
    if await asyncio.to_thread(store.claim_of, user.dealer_id, claim_id) is None:
        raise HTTPException(status_code=404)
    if action not in CLAIM_ACTIONS:
        return await _claim(
            request,
            user,
            claim_id,
            error=text("web.claim.act.bad_action", lang),
            note=note,
            status_code=422,
        )
    try:
        await asyncio.to_thread(
            act_on_claim,
            store,
            user.dealer_id,
            claim_id,
            action,
            by=user.email,
            note=note.strip() or None,
        )
    except UsageError as err:
        key, status = {
            "claim.reason_needed": ("web.claim.act.reason_needed", 422),
            "claim.not_open": ("web.claim.act.not_open", 409),
        }.get(err.key, ("web.claim.act.bad_action", 422))
        response = await _claim(
            request, user, claim_id, error=text(key, lang), note=note, status_code=status
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    return RedirectResponse(f"/dealer/claims/{claim_id}?done=1", status_code=303)


# --- what the templates are given ------------------------------------------------


def _kind(kind: GuaranteeKind, lang: Lang) -> str:
    return text(f"web.guarantee.kind.{kind.value}", lang)


def _verdict(verdict: str, lang: Lang) -> str:
    try:
        return str(said(Verdict(verdict), lang))
    except ValueError:
        return verdict


def _action_label(action: str, lang: Lang) -> str:
    try:
        return text(f"web.claim.action.{action}", lang)
    except KeyError:
        return action


def _guarantee_view(g: StoredGuarantee, lang: Lang) -> dict[str, Any]:
    return {
        "id": g.id,
        "order_ref": g.order_ref,
        "imei": g.imei,
        "sold_on": g.sold_on.isoformat(),
        "kind": g.kind.value,
        "kind_text": _kind(g.kind, lang),
        "baseline": g.baseline_verdict,
        "baseline_text": _verdict(g.baseline_verdict, lang),
        "status": g.status.value,
        "status_text": text(f"web.guarantee.status.{g.status.value}", lang),
        "can_claim": g.status is GuaranteeStatus.ACTIVE,
    }


def _change_view(item: ChangeOnGuarantee, lang: Lang) -> dict[str, Any]:
    change = item.change
    return {
        "id": change.id,
        "imei": item.guarantee.imei,
        "order_ref": item.guarantee.order_ref,
        "carrier": change.carrier.label(lang),
        "before": change.before_status.value,
        "before_symbol": change.before_status.symbol,
        "after": change.after_status.value,
        "after_symbol": change.after_status.symbol,
        "detected_at": _when(change.detected_at),
        "claim_id": item.claim_id,
    }


def _answer_view(
    observation: StoredObservation, pages: tuple[StoredPage, ...], lang: Lang
) -> dict[str, Any]:
    return {
        "id": observation.id,
        "carrier": observation.carrier.label(lang),
        "status": observation.status.value,
        "symbol": observation.status.symbol,
        "checked_at": _when(observation.checked_at),
        "source": text(f"label.source.{observation.source.value}", lang),
        "pages": [
            {
                "seq": kept.seq,
                "label": f"{kept.method} {kept.url}",
                "href": f"/dealer/evidence/{observation.id}/{kept.seq}",
            }
            for kept in pages
        ],
    }

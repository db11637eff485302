"""The 赤ロム guarantee, for the dealer: intakes, sales under guarantee, and claims.

- **Intake** (古物営業法's 取引記録): a device bought in, with the check that cleared it and
  the seller's identity as the law asks (name, address, occupation, age, how identity
  was confirmed), sealed (``akarom.sealing``); kept three years, then erasable.
- **Sale under guarantee**: the check made before the sale is the baseline; the advice
  rules' ``guarantee`` situation decides whether the device may be sold with one (a ×,
  an open answer or no check is refused, with the reason). The device is then watched
  at the carrier that sold it (``services.monitor``).
- **Claim**: a × on a guaranteed device opens one (the monitor does it, or the staff
  when the customer calls first); it holds the baseline, every later answer with its
  evidence, the sale and the intake record, and moves to exchange, refund or rejected
  (with the reason), recording who did what and when.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from akarom.config import Settings
from akarom.domain import Carrier, CarrierResult, Verdict, decide_verdict
from akarom.errors import InvalidImei, UsageError
from akarom.identity import parse
from akarom.sealing import Sealer, load_sealer
from akarom.services.advising import Answer, RuleSet, advise, today_in_japan
from akarom.services.checks import carriers_taking
from akarom.services.options import Role
from akarom.storage import Store, StoredObservation
from akarom.storage.guarantees import (
    ClaimStatus,
    GuaranteeKind,
    NewGuarantee,
    NewIntake,
    StoredChange,
    StoredClaim,
    StoredGuarantee,
    StoredIntake,
    customer_context,
    seller_context,
)
from akarom.storage.monitor import watch_device
from akarom.texts import Lang, text

__all__ = [
    "BASELINE_MAX_AGE",
    "EARLIEST_SALE",
    "RETENTION_YEARS",
    "ClaimFile",
    "CustomerContact",
    "GuaranteeKind",
    "GuaranteeRefused",
    "ImportSummary",
    "IntakeRequest",
    "SaleRequest",
    "SellerIdentity",
    "act_on_claim",
    "claim_file",
    "customer_of",
    "erase_seller",
    "export_intakes",
    "import_sales",
    "record_intake",
    "register_sale",
    "sealer_for",
    "seller_of",
]

#: 古物営業法 §18: the transaction record is kept three years from the transaction.
RETENTION_YEARS = 3
#: The newest answer may be at most this old on the day of sale to count as the check
#: made before the sale.
BASELINE_MAX_AGE = timedelta(days=30)
#: Sale days accepted: from this one to tomorrow in Japan (a typo, not a sale, beyond).
EARLIEST_SALE = date(2000, 1, 1)
#: A term may end no later than this year (a typo beyond; and databases' dates end).
LAST_TERM_YEAR = 2200


class GuaranteeRefused(UsageError):
    """A sale the rules do not let go out under guarantee (or nothing to base it on)."""


@dataclass(frozen=True, slots=True)
class SellerIdentity:
    """Who sold the device to the shop, as 古物営業法 asks the shop to record."""

    name: str
    address: str
    occupation: str
    age: int
    confirmed_by: str  # how identity was confirmed: 運転免許証, マイナンバーカード …
    document_number: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerContact:
    """Whom to tell when the device changes: the buyer (all optional but the name)."""

    name: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class IntakeRequest:
    imei: str
    bought_on: date
    price: int
    seller: SellerIdentity
    model: str | None = None
    features: str | None = None


@dataclass(frozen=True, slots=True)
class SaleRequest:
    imei: str
    order_ref: str
    sold_on: date
    kind: GuaranteeKind = GuaranteeKind.LIFETIME_RED
    price: int | None = None
    terms: str | None = None
    term_until: date | None = None
    customer: CustomerContact | None = None
    intake_id: int | None = None


def sealer_for(settings: Settings) -> Sealer:
    """The operator's sealer (``AKAROM_DATA_KEY`` or ``<data_dir>/data.key``)."""
    return load_sealer(settings.data_key, settings.data_dir)


def _imei(raw: str) -> str:
    try:
        return parse(raw).value
    except InvalidImei as err:
        raise UsageError(
            f"{raw!r} is not an IMEI", key="guarantee.invalid_imei", input=raw, reason=err
        ) from err


def _baseline(
    store: Store, imei: str
) -> tuple[Verdict, Carrier | None, dict[Carrier, StoredObservation]]:
    """The device's newest answer per carrier, and the verdict they make together."""
    identity = parse(imei)
    supported = carriers_taking(identity)
    latest = store.latest(imei, carriers=supported)
    results: list[CarrierResult] = [latest[c].to_result() for c in supported if c in latest]
    decision = decide_verdict(results, carriers=supported)
    return decision.verdict, decision.origin_carrier, latest


def record_intake(
    store: Store,
    sealer: Sealer,
    dealer_id: int,
    request: IntakeRequest,
    *,
    by: str,
    now: datetime | None = None,
) -> StoredIntake:
    """Record a device bought in: the check that cleared it and its seller, sealed.

    The device must have been checked (``GuaranteeRefused`` otherwise): the record
    keeps that check's answers, whatever they said (a shop may buy a △ at a lower price).
    """
    now = now or datetime.now(UTC)
    imei = _imei(request.imei)
    if request.price < 0:
        raise UsageError("a price is not negative", key="intake.bad_price")
    verdict, _, latest = _baseline(store, imei)
    if not latest:
        raise GuaranteeRefused(f"{imei} was never checked", key="intake.never_checked", imei=imei)
    intake = NewIntake(
        dealer_id=dealer_id,
        imei=imei,
        bought_on=request.bought_on,
        price=request.price,
        model=request.model,
        features=request.features,
        verdict=verdict.value,
        observation_ids=tuple(o.id for o in latest.values()),
        recorded_by=by,
        recorded_at=now,
        retain_until=_years_after(request.bought_on, RETENTION_YEARS),
    )
    seller = asdict(request.seller)
    return store.add_intake(
        intake, lambda row_id: sealer.seal(seller, context=seller_context(row_id))
    )


def seller_of(sealer: Sealer, intake: StoredIntake) -> SellerIdentity | None:
    """The intake's seller, unsealed (None once erased). For the dealer's staff only."""
    if intake.seller is None:
        return None
    return SellerIdentity(**sealer.open(intake.seller, context=seller_context(intake.id)))


def erase_seller(
    store: Store,
    dealer_id: int,
    intake_id: int,
    *,
    by: str,
    on: date | None = None,
    now: datetime | None = None,
) -> None:
    """Shred the seller's record once the legal retention has passed; ``UsageError``
    saying until when otherwise. The intake itself (the item, the check) stays."""
    on = on or today_in_japan()
    intake = store.intake(dealer_id, intake_id)
    if intake is None:
        raise UsageError("no such intake", key="intake.not_found", id=intake_id)
    if intake.erased_at is not None:
        return
    if on < intake.retain_until:
        raise UsageError(
            "the retention has not passed",
            key="intake.retained",
            id=intake_id,
            until=intake.retain_until.isoformat(),
        )
    store.erase_intake_seller(dealer_id, intake_id, on=on, by=by, at=now or datetime.now(UTC))


def export_intakes(store: Store, sealer: Sealer, dealer_id: int) -> str:
    """The dealer's intake records as CSV (UTF-8 with BOM, for Excel), sellers unsealed."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(
        [
            "id",
            "imei",
            "bought_on",
            "price",
            "model",
            "features",
            "verdict",
            "seller_name",
            "seller_address",
            "seller_occupation",
            "seller_age",
            "identity_confirmed_by",
            "document_number",
            "recorded_by",
            "recorded_at",
            "retain_until",
            "erased_at",
        ]
    )
    for intake in store.intakes(dealer_id):
        seller = seller_of(sealer, intake)
        writer.writerow(
            [
                intake.id,
                intake.imei,
                intake.bought_on.isoformat(),
                intake.price,
                intake.model or "",
                intake.features or "",
                intake.verdict,
                *(
                    (
                        seller.name,
                        seller.address,
                        seller.occupation,
                        seller.age,
                        seller.confirmed_by,
                        seller.document_number or "",
                    )
                    if seller is not None
                    else ("", "", "", "", "", "")
                ),
                intake.recorded_by,
                intake.recorded_at.isoformat(),
                intake.retain_until.isoformat(),
                intake.erased_at.isoformat() if intake.erased_at else "",
            ]
        )
    return out.getvalue()


def register_sale(
    store: Store,
    sealer: Sealer,
    rules: RuleSet,
    dealer_id: int,
    request: SaleRequest,
    *,
    by: str,
    floor: timedelta = timedelta(days=1),
    now: datetime | None = None,
) -> StoredGuarantee:
    """Put a sold device under guarantee, its check before the sale as the baseline.

    Refused (``GuaranteeRefused``, with the reason) when the device was never checked,
    its newest answer is older than ``BASELINE_MAX_AGE`` on the sale day, or the rules'
    ``guarantee`` situation does not allow it (× and open answers never are); and when
    the dealer used the order reference already. The device is watched at the carrier
    that sold it (every carrier for a SIM-free one), first due ``floor`` after its
    answer (``Settings.recheck_floor_s``: a day against the live sites).
    """
    now = now or datetime.now(UTC)
    imei = _imei(request.imei)
    order_ref = request.order_ref.strip()
    if not order_ref:
        raise UsageError("an order reference is needed", key="guarantee.no_order")
    latest_sale = today_in_japan() + timedelta(days=1)
    if not EARLIEST_SALE <= request.sold_on <= latest_sale or (
        request.term_until is not None and request.term_until.year > LAST_TERM_YEAR
    ):
        raise UsageError(
            "the sale or term date is out of range",
            key="guarantee.date_range",
            sold=request.sold_on.isoformat(),
        )
    term_until = _term(request)
    verdict, origin, latest = _baseline(store, imei)
    if not latest:
        raise GuaranteeRefused(
            f"{imei} was never checked", key="guarantee.never_checked", imei=imei
        )
    newest = max(o.checked_at for o in latest.values())
    sale_day_end = datetime.combine(request.sold_on + timedelta(days=1), datetime.min.time(), UTC)
    if sale_day_end - newest > BASELINE_MAX_AGE + timedelta(days=1):
        raise GuaranteeRefused(
            "the newest check is too old",
            key="guarantee.stale_baseline",
            imei=imei,
            checked=newest.date().isoformat(),
            days=BASELINE_MAX_AGE.days,
        )
    statuses = {carrier: o.status for carrier, o in latest.items()}
    advice = advise(
        Answer.from_symbols(verdict, origin, statuses), rules, Role.DEALER, on=request.sold_on
    )
    decided = next(s for s in advice.situations if s.situation == "guarantee")
    if decided.allowed is not True or verdict not in (Verdict.CLEAR, Verdict.CAUTION):
        raise GuaranteeRefused(
            f"the rules do not allow a guarantee ({verdict.value})",
            key="guarantee.refused",
            imei=imei,
            verdict=verdict,
            rule=decided.decision.rule_id or "-",
        )
    if request.intake_id is not None and store.intake(dealer_id, request.intake_id) is None:
        raise UsageError("no such intake", key="intake.not_found", id=request.intake_id)
    watched = [origin] if origin is not None else [c for c in Carrier if c in latest]

    def watch(session: Session, guarantee: StoredGuarantee) -> None:
        for carrier in watched:
            answer = latest[carrier]
            watch_device(
                session,
                imei=imei,
                carrier=carrier,
                status=answer.status,
                observation_id=answer.id,
                checked_at=answer.checked_at,
                next_due_at=answer.checked_at + floor,
            )

    customer = None if request.customer is None else asdict(request.customer)
    stored = store.add_guarantee(
        NewGuarantee(
            dealer_id=dealer_id,
            imei=imei,
            order_ref=order_ref,
            sold_on=request.sold_on,
            price=request.price,
            kind=request.kind,
            terms=request.terms,
            term_until=term_until,
            baseline_verdict=verdict.value,
            baseline_ids=tuple(o.id for o in latest.values()),
            intake_id=request.intake_id,
            created_by=by,
            created_at=now,
        ),
        None
        if customer is None
        else (lambda row_id: sealer.seal(customer, context=customer_context(row_id))),
        watch=watch,
    )
    if stored is None:
        raise UsageError(
            "the order reference is taken", key="guarantee.order_taken", order=order_ref
        )
    return stored


def _term(request: SaleRequest) -> date | None:
    if request.kind is GuaranteeKind.RETURN_1Y:
        return request.term_until or _years_after(request.sold_on, 1)
    if request.kind is GuaranteeKind.OWN and not (request.terms or "").strip():
        raise UsageError("the dealer's own guarantee needs its terms", key="guarantee.own_terms")
    if request.term_until is not None and request.term_until < request.sold_on:
        raise UsageError("the term ends before the sale", key="guarantee.term_before_sale")
    return request.term_until


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February: the same day does not exist; the law counts to 1 March
        return day.replace(year=day.year + years, month=3, day=1)


def customer_of(sealer: Sealer, guarantee: StoredGuarantee) -> CustomerContact | None:
    """The buyer's contact, unsealed. For the dealer's staff and the alert sender only."""
    if guarantee.customer is None:
        return None
    return CustomerContact(
        **sealer.open(guarantee.customer, context=customer_context(guarantee.id))
    )


@dataclass(frozen=True, slots=True)
class ClaimFile:
    """Everything a claim is settled with: the sale, the baseline, every later answer
    (their evidence is kept with each observation: ``akarom history --evidence``),
    the changes that were found, and whom the shop bought the phone from."""

    claim: StoredClaim
    guarantee: StoredGuarantee
    customer: CustomerContact | None
    baseline: tuple[StoredObservation, ...]
    since_sale: tuple[StoredObservation, ...]
    changes: tuple[StoredChange, ...]
    intake: StoredIntake | None
    seller: SellerIdentity | None


def claim_file(store: Store, sealer: Sealer, dealer_id: int, claim_id: int) -> ClaimFile:
    """The claim with its evidence; ``UsageError`` when it is not the dealer's."""
    claim = store.claim_of(dealer_id, claim_id)
    if claim is None:
        raise UsageError("no such claim", key="claim.not_found", id=claim_id)
    guarantee = store.guarantee(dealer_id, claim.guarantee_id)
    assert guarantee is not None  # a claim belongs to one of the dealer's guarantees
    history = store.history(guarantee.imei)
    baseline_ids = set(guarantee.baseline_ids)
    newest_baseline = max(
        (o.checked_at for o in history if o.id in baseline_ids), default=guarantee.created_at
    )
    intake = (
        store.intake(dealer_id, guarantee.intake_id)
        if guarantee.intake_id is not None
        else next(iter(store.intakes(dealer_id, imei=guarantee.imei)[-1:]), None)
    )
    return ClaimFile(
        claim=claim,
        guarantee=guarantee,
        customer=customer_of(sealer, guarantee),
        baseline=tuple(o for o in history if o.id in baseline_ids),
        since_sale=tuple(
            o for o in history if o.id not in baseline_ids and o.checked_at > newest_baseline
        ),
        changes=tuple(store.guarantee_changes(guarantee.id)),
        intake=intake,
        seller=None if intake is None else seller_of(sealer, intake),
    )


#: What the staff may do to an open claim, and the state it leaves the claim in.
CLAIM_ACTIONS: Mapping[str, ClaimStatus | None] = {
    "note": None,
    "exchange": ClaimStatus.EXCHANGE,
    "refund": ClaimStatus.REFUND,
    "reject": ClaimStatus.REJECTED,
}


def act_on_claim(
    store: Store,
    dealer_id: int,
    claim_id: int,
    action: str,
    *,
    by: str,
    note: str | None = None,
    now: datetime | None = None,
) -> StoredClaim:
    """Record ``action`` (note, exchange, refund, reject) on an open claim.

    A rejection needs its reason (``note``); a settled claim takes no more actions.
    """
    if action not in CLAIM_ACTIONS:
        raise UsageError("unknown action", key="claim.bad_action", action=action)
    settles_as = CLAIM_ACTIONS[action]
    if settles_as is ClaimStatus.REJECTED and not (note or "").strip():
        raise UsageError("a rejection needs its reason", key="claim.reason_needed")
    done = store.settle_claim(
        dealer_id,
        claim_id,
        action=action,
        note=note,
        actor=by,
        at=now or datetime.now(UTC),
        settles_as=settles_as,
    )
    if done is None:
        raise UsageError("no open claim", key="claim.not_open", id=claim_id)
    return done


#: Header names a sales sheet may use for each field (folded: case, width, spaces).
SALES_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "order_ref": ("注文番号", "受注番号", "order", "orderref", "order_ref", "ordernumber"),
    "sold_on": ("販売日", "売上日", "sold", "soldon", "sold_on", "saledate"),
    "price": ("販売価格", "価格", "price"),
    "kind": ("保証", "保証種別", "kind", "guarantee"),
    "customer_name": ("氏名", "お客様名", "購入者", "customer", "customername", "name"),
    "customer_email": ("メール", "メールアドレス", "email", "e-mail", "customeremail"),
    "customer_phone": ("電話", "電話番号", "phone", "tel", "customerphone"),
}
#: What the import adds to each row of the sheet, in this order.
IMPORT_COLUMNS = ("result", "guarantee_id", "reason")


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """A sales sheet's import: every row came back in ``output``, with its result."""

    rows: int
    registered: int
    refused: int


def import_sales(
    store: Store,
    sealer: Sealer,
    rules: RuleSet,
    dealer_id: int,
    source: Path,
    output: Path,
    *,
    by: str,
    lang: Lang = "ja",
    floor: timedelta = timedelta(days=1),
) -> ImportSummary:
    """Register every sale of a sheet (CSV, TSV or XLSX, as ``bulk`` reads them).

    Columns are found by header (``SALES_COLUMNS``; the IMEI as ``bulk`` finds it); a
    row is registered as ``register_sale`` would, or refused with its reason. Every
    row comes back in ``output`` (CSV, UTF-8 with BOM) with ``IMPORT_COLUMNS`` added:
    ``registered`` and the guarantee's id, or ``refused``/``invalid`` and why.
    """
    from akarom.tabular import open_table

    rows = registered = 0
    with open_table(source) as table, output.open("w", encoding="utf-8-sig", newline="") as out:
        columns = _sales_columns(table.header)
        writer = csv.writer(out)
        writer.writerow([*table.header, *IMPORT_COLUMNS])
        for row in table.rows():
            rows += 1
            if not any(row.cells):
                writer.writerow([*row.cells, "invalid", "", text("import.blank_row", lang)])
                continue
            try:
                request = _sale_of(row.imei, row.cells, columns)
                stored = register_sale(store, sealer, rules, dealer_id, request, by=by, floor=floor)
            except UsageError as err:
                result = "refused" if isinstance(err, GuaranteeRefused) else "invalid"
                writer.writerow([*row.cells, result, "", _reason(err, lang)])
                continue
            registered += 1
            writer.writerow([*row.cells, "registered", stored.id, ""])
    return ImportSummary(rows, registered, rows - registered)


def _sales_columns(header: Sequence[str]) -> dict[str, int]:
    folded = [_fold(name) for name in header]
    found = {}
    for field_name, names in SALES_COLUMNS.items():
        for name in names:
            if _fold(name) in folded:
                found[field_name] = folded.index(_fold(name))
                break
    for needed in ("order_ref", "sold_on"):
        if needed not in found:
            raise UsageError(
                f"the sheet has no {needed} column", key="import.no_column", column=needed
            )
    return found


def _fold(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).casefold().split()).replace("_", "")


def _sale_of(imei: str, cells: Sequence[str], columns: Mapping[str, int]) -> SaleRequest:
    def cell(field_name: str) -> str:
        index = columns.get(field_name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    try:
        sold_on = date.fromisoformat(cell("sold_on").replace("/", "-"))
    except ValueError:
        raise UsageError(
            "not a date", key="guarantee.bad_date", option="sold_on", value=cell("sold_on")
        ) from None
    price_text = cell("price").replace(",", "").replace("円", "")
    if price_text and not price_text.isdecimal():
        raise UsageError("not a price", key="intake.bad_price")
    kind_text = cell("kind") or GuaranteeKind.LIFETIME_RED.value
    try:
        kind = GuaranteeKind(kind_text)
    except ValueError:
        raise UsageError("unknown kind", key="guarantee.bad_kind", kind=kind_text) from None
    name, email, phone = cell("customer_name"), cell("customer_email"), cell("customer_phone")
    customer = (
        CustomerContact(name or "-", email or None, phone or None)
        if name or email or phone
        else None
    )
    return SaleRequest(
        imei,
        cell("order_ref"),
        sold_on,
        kind,
        int(price_text) if price_text else None,
        customer=customer,
    )


def _reason(error: UsageError, lang: Lang) -> str:
    """The refusal in the person's words (what ``akarom`` would print for it)."""
    from akarom.services.validation import said

    fields = {name: said(value, lang) for name, value in error.fields.items()}
    return text(error.key, lang).format(**fields)

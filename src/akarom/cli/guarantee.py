"""``akarom intake …``, ``akarom guarantee …`` and ``akarom claim …``: the dealer's guarantee.

The staff's commands on the server's machine (the same database as ``akarom serve``)::

    akarom intake add IMEI --dealer D --bought DATE --price YEN --seller-name … --by STAFF
    akarom intake list|show|export|erase …
    akarom guarantee add IMEI --dealer D --order REF --sold DATE [--kind …] --by STAFF
    akarom guarantee list --dealer D
    akarom guarantee changes --dealer D [--all]
    akarom claim list|show|open|act …

Personal data (the seller's identity, the customer's contact) is sealed with the
operator's key (``AKAROM_DATA_KEY`` or ``<data folder>/data.key``) and shown only by
``intake show``/``export`` and ``claim show``. Importing this module loads only Typer;
the services and the database load when a command runs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from akarom.cli.accounts import LangOption, _begin, command_group
from akarom.domain import JST

if TYPE_CHECKING:
    from akarom.config import Settings
    from akarom.sealing import Sealer
    from akarom.storage import Store, StoredObservation
    from akarom.texts import Lang

__all__ = ["claim_app", "guarantee_app", "intake_app"]

guarantee_app = command_group(
    "販売した端末の赤ロム保証を管理します。Manage guarantees on sold devices."
)
intake_app = command_group(
    "買取の取引記録（古物営業法）を管理します。Record devices bought in (古物台帳)."
)
claim_app = command_group("保証の請求（交換・返金・却下）を管理します。Settle guarantee claims.")


DealerOption = Annotated[
    str, typer.Option("--dealer", help="The dealer's name.", show_default=False)
]
ByOption = Annotated[
    str, typer.Option("--by", help="Who is doing this (a staff member's name).", show_default=False)
]


def _day(value: str, option: str) -> date:
    from akarom.errors import UsageError

    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not a date",
            key="guarantee.bad_date",
            option=option,
            value=value,
        ) from None


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(JST).strftime("%Y-%m-%d %H:%M")


class _Desk:
    """What every command here opens: settings, language, the store and the dealer."""

    def __init__(self, lang: str | None, dealer: str) -> None:
        from akarom.services.accounts import dealer_named
        from akarom.services.database import open_store

        self.settings: Settings
        self.lang: Lang
        self.settings, self.lang = _begin(lang)
        self.store: Store = open_store(self.settings)
        try:
            self.dealer_id = dealer_named(self.store, dealer).id
        except BaseException:
            self.store.close()
            raise

    def __enter__(self) -> _Desk:
        return self

    def __exit__(self, *_: object) -> None:
        self.store.close()

    def say(self, key: str, **fields: object) -> None:
        from akarom.texts import text

        print(text(key, self.lang).format(**fields))

    @property
    def floor(self) -> timedelta:
        """The least time between two re-checks (a day against the live sites)."""
        return timedelta(seconds=self.settings.recheck_floor_s)

    def sealer(self) -> Sealer:
        from akarom.services.guarantees import sealer_for

        return sealer_for(self.settings)


# --- intake


@intake_app.command("add")
def intake_add(
    imei: Annotated[str, typer.Argument(help="The device's IMEI (checked before).")],
    dealer: DealerOption,
    bought: Annotated[str, typer.Option("--bought", help="The day bought in (YYYY-MM-DD).")],
    price: Annotated[int, typer.Option("--price", help="The price paid, in yen.", min=0)],
    seller_name: Annotated[str, typer.Option("--seller-name", help="The seller's name.")],
    seller_address: Annotated[str, typer.Option("--seller-address", help="The seller's address.")],
    seller_occupation: Annotated[str, typer.Option("--seller-occupation", help="Occupation.")],
    seller_age: Annotated[int, typer.Option("--seller-age", help="Age.", min=0)],
    confirmed_by: Annotated[
        str, typer.Option("--id-confirmed-by", help="How identity was confirmed (運転免許証 …).")
    ],
    by: ByOption,
    id_number: Annotated[
        str | None, typer.Option("--id-number", help="The document's number.", show_default=False)
    ] = None,
    model: Annotated[str | None, typer.Option("--model", show_default=False)] = None,
    features: Annotated[
        str | None,
        typer.Option("--features", help="Colour, capacity, marks …", show_default=False),
    ] = None,
    lang: LangOption = None,
) -> None:
    """買取の取引記録を残します（売主の情報は暗号化）。Record a device bought in."""
    from akarom.services.guarantees import IntakeRequest, SellerIdentity, record_intake

    seller = SellerIdentity(
        seller_name, seller_address, seller_occupation, seller_age, confirmed_by, id_number
    )
    request = IntakeRequest(imei, _day(bought, "--bought"), price, seller, model, features)
    with _Desk(lang, dealer) as desk:
        intake = record_intake(desk.store, desk.sealer(), desk.dealer_id, request, by=by)
        desk.say(
            "intake.recorded",
            id=intake.id,
            imei=intake.imei,
            verdict=intake.verdict,
            until=intake.retain_until.isoformat(),
        )


@intake_app.command("list")
def intake_list(dealer: DealerOption, lang: LangOption = None) -> None:
    """取引記録を一覧します（売主の情報は表示しません）。List intake records."""
    with _Desk(lang, dealer) as desk:
        for intake in desk.store.intakes(desk.dealer_id):
            print(
                f"{intake.id}\t{intake.imei}\t{intake.bought_on}\t{intake.price}\t"
                f"{intake.verdict}\t{intake.model or '-'}\t"
                f"{'erased ' + _when(intake.erased_at) if intake.erased_at else ''}"
            )


@intake_app.command("show")
def intake_show(
    intake_id: Annotated[int, typer.Argument(help="The intake's id.")],
    dealer: DealerOption,
    lang: LangOption = None,
) -> None:
    """取引記録を売主の情報とともに表示します。Show an intake with its seller."""
    from akarom.errors import UsageError
    from akarom.services.guarantees import seller_of

    with _Desk(lang, dealer) as desk:
        intake = desk.store.intake(desk.dealer_id, intake_id)
        if intake is None:
            raise UsageError("no such intake", key="intake.not_found", id=intake_id)
        seller = seller_of(desk.sealer(), intake)
        desk.say(
            "intake.shown",
            id=intake.id,
            imei=intake.imei,
            bought=intake.bought_on.isoformat(),
            price=intake.price,
            verdict=intake.verdict,
            until=intake.retain_until.isoformat(),
        )
        if seller is None:
            desk.say("intake.seller_erased", at=_when(intake.erased_at), by=intake.erased_by)
        else:
            desk.say(
                "intake.seller",
                name=seller.name,
                address=seller.address,
                occupation=seller.occupation,
                age=seller.age,
                confirmed_by=seller.confirmed_by,
                number=seller.document_number or "-",
            )


@intake_app.command("export")
def intake_export(
    dealer: DealerOption,
    output: Annotated[Path, typer.Option("-o", "--output", help="The CSV file to write.")],
    lang: LangOption = None,
) -> None:
    """取引記録をCSVで書き出します（売主の情報を含みます）。Export intakes as CSV."""
    from akarom.services.guarantees import export_intakes

    with _Desk(lang, dealer) as desk:
        output.write_text(
            export_intakes(desk.store, desk.sealer(), desk.dealer_id), encoding="utf-8"
        )
        desk.say("intake.exported", path=output)


@intake_app.command("erase")
def intake_erase(
    intake_id: Annotated[int, typer.Argument(help="The intake's id.")],
    dealer: DealerOption,
    by: ByOption,
    lang: LangOption = None,
) -> None:
    """保存期間（3年）を過ぎた売主の情報を消去します。Erase a seller after the retention."""
    from akarom.services.guarantees import erase_seller

    with _Desk(lang, dealer) as desk:
        erase_seller(desk.store, desk.dealer_id, intake_id, by=by)
        desk.say("intake.erased", id=intake_id)


# --- guarantee


@guarantee_app.command("add")
def guarantee_add(
    imei: Annotated[str, typer.Argument(help="The device's IMEI (checked before the sale).")],
    dealer: DealerOption,
    order: Annotated[str, typer.Option("--order", help="The order reference (unique).")],
    sold: Annotated[str, typer.Option("--sold", help="The day of sale (YYYY-MM-DD).")],
    by: ByOption,
    kind: Annotated[
        str,
        typer.Option("--kind", help="lifetime_red (永久保証), return_1y or own (with --terms)."),
    ] = "lifetime_red",
    price: Annotated[
        int | None, typer.Option("--price", help="The sale price, in yen.", show_default=False)
    ] = None,
    terms: Annotated[str | None, typer.Option("--terms", show_default=False)] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="The term's last day.", show_default=False)
    ] = None,
    customer_name: Annotated[
        str | None, typer.Option("--customer-name", show_default=False)
    ] = None,
    customer_email: Annotated[
        str | None, typer.Option("--customer-email", show_default=False)
    ] = None,
    customer_phone: Annotated[
        str | None, typer.Option("--customer-phone", show_default=False)
    ] = None,
    intake: Annotated[
        int | None, typer.Option("--intake", help="The intake record's id.", show_default=False)
    ] = None,
    lang: LangOption = None,
) -> None:
    """販売した端末を保証に登録します（販売前の確認が基準）。Put a sold device under guarantee."""
    from akarom.errors import UsageError
    from akarom.services.advising import load_advice_rules
    from akarom.services.guarantees import (
        CustomerContact,
        GuaranteeKind,
        SaleRequest,
        register_sale,
    )

    try:
        chosen_kind = GuaranteeKind(kind)
    except ValueError:
        raise UsageError("unknown kind", key="guarantee.bad_kind", kind=kind) from None
    customer = None
    if customer_name or customer_email or customer_phone:
        customer = CustomerContact(customer_name or "-", customer_email, customer_phone)
    request = SaleRequest(
        imei,
        order,
        _day(sold, "--sold"),
        chosen_kind,
        price,
        terms,
        None if until is None else _day(until, "--until"),
        customer,
        intake,
    )
    with _Desk(lang, dealer) as desk:
        rules = load_advice_rules(desk.settings)
        guarantee = register_sale(
            desk.store, desk.sealer(), rules, desk.dealer_id, request, by=by, floor=desk.floor
        )
        desk.say(
            "guarantee.registered",
            id=guarantee.id,
            order=guarantee.order_ref,
            imei=guarantee.imei,
            verdict=guarantee.baseline_verdict,
            until=guarantee.term_until.isoformat() if guarantee.term_until else "-",
        )


@guarantee_app.command("import")
def guarantee_import(
    sheet: Annotated[Path, typer.Argument(help="Sales sheet (.csv, .tsv, .xlsx).")],
    dealer: DealerOption,
    output: Annotated[Path, typer.Option("-o", "--output", help="The report (CSV).")],
    by: ByOption,
    lang: LangOption = None,
) -> None:
    """販売表の全行を保証に登録し、行ごとの結果を書き出します。Register a sales sheet.

    Exit 0 when every row was registered, 1 when some were refused (each with its
    reason in the report).
    """
    from akarom.services.advising import load_advice_rules
    from akarom.services.guarantees import import_sales

    with _Desk(lang, dealer) as desk:
        rules = load_advice_rules(desk.settings)
        summary = import_sales(
            desk.store,
            desk.sealer(),
            rules,
            desk.dealer_id,
            sheet,
            output,
            by=by,
            lang=desk.lang,
            floor=desk.floor,
        )
        desk.say(
            "import.done",
            rows=summary.rows,
            registered=summary.registered,
            refused=summary.refused,
            path=output,
        )
    if summary.refused:
        raise typer.Exit(1)


@guarantee_app.command("list")
def guarantee_list(dealer: DealerOption, lang: LangOption = None) -> None:
    """保証中の端末を一覧します。List the dealer's guarantees."""
    with _Desk(lang, dealer) as desk:
        for g in desk.store.guarantees(desk.dealer_id):
            print(
                f"{g.id}\t{g.order_ref}\t{g.imei}\t{g.sold_on}\t{g.kind.value}\t"
                f"{g.baseline_verdict}\t{g.status.value}"
            )


@guarantee_app.command("changes")
def guarantee_changes(
    dealer: DealerOption,
    every: Annotated[bool, typer.Option("--all", help="Acknowledged ones too.")] = False,
    lang: LangOption = None,
) -> None:
    """保証中の端末の状態の変化（未確認のもの）を表示します。Show status changes."""
    with _Desk(lang, dealer) as desk:
        changes = desk.store.changes(desk.dealer_id, open_only=not every)
        if not changes:
            desk.say("guarantee.no_changes")
        for change in changes:
            print(
                f"{change.id}\t{_when(change.detected_at)}\tG{change.guarantee_id}\t"
                f"{change.carrier.value}\t{change.before_status.symbol} → "
                f"{change.after_status.symbol}"
            )


# --- claims


@claim_app.command("list")
def claim_list(
    dealer: DealerOption,
    open_only: Annotated[bool, typer.Option("--open", help="Only open claims.")] = False,
    lang: LangOption = None,
) -> None:
    """請求を一覧します。List claims."""
    with _Desk(lang, dealer) as desk:
        for claim in desk.store.claims(desk.dealer_id, open_only=open_only):
            print(
                f"{claim.id}\tG{claim.guarantee_id}\t{claim.status.value}\t"
                f"{_when(claim.opened_at)}\t{_when(claim.closed_at)}"
            )


@claim_app.command("open")
def claim_open(
    guarantee_id: Annotated[int, typer.Argument(help="The guarantee's id.")],
    dealer: DealerOption,
    by: ByOption,
    lang: LangOption = None,
) -> None:
    """お客様からの連絡で請求を開きます。Open a claim by hand (the customer called)."""
    from datetime import UTC

    from akarom.errors import UsageError

    with _Desk(lang, dealer) as desk:
        claim_id = desk.store.open_claim_by_hand(
            desk.dealer_id, guarantee_id, actor=by, at=datetime.now(UTC)
        )
        if claim_id is None:
            raise UsageError("no claim opened", key="claim.cannot_open", id=guarantee_id)
        desk.say("claim.opened", id=claim_id, guarantee=guarantee_id)


@claim_app.command("act")
def claim_act(
    claim_id: Annotated[int, typer.Argument(help="The claim's id.")],
    action: Annotated[str, typer.Argument(help="note, exchange, refund or reject.")],
    dealer: DealerOption,
    by: ByOption,
    note: Annotated[
        str | None, typer.Option("--note", help="A note; a rejection's reason.", show_default=False)
    ] = None,
    lang: LangOption = None,
) -> None:
    """請求を記録・決着します（交換・返金・却下は理由とともに）。Act on a claim."""
    from akarom.services.guarantees import act_on_claim

    with _Desk(lang, dealer) as desk:
        claim = act_on_claim(desk.store, desk.dealer_id, claim_id, action, by=by, note=note)
        desk.say("claim.acted", id=claim.id, action=action, status=claim.status.value)


@claim_app.command("show")
def claim_show(
    claim_id: Annotated[int, typer.Argument(help="The claim's id.")],
    dealer: DealerOption,
    lang: LangOption = None,
) -> None:
    """請求を証拠（販売前の確認・その後の回答・買取記録）とともに表示します。Show a claim."""
    from akarom.services.guarantees import claim_file

    with _Desk(lang, dealer) as desk:
        case = claim_file(desk.store, desk.sealer(), desk.dealer_id, claim_id)
        g = case.guarantee
        desk.say(
            "claim.shown",
            id=case.claim.id,
            status=case.claim.status.value,
            order=g.order_ref,
            imei=g.imei,
            sold=g.sold_on.isoformat(),
            kind=g.kind.value,
        )
        if case.customer is not None:
            desk.say(
                "claim.customer",
                name=case.customer.name,
                email=case.customer.email or "-",
                phone=case.customer.phone or "-",
            )
        desk.say("claim.baseline")
        _print_answers(case.baseline)
        desk.say("claim.since_sale")
        _print_answers(case.since_sale)
        if case.intake is not None:
            desk.say(
                "claim.intake",
                id=case.intake.id,
                bought=case.intake.bought_on.isoformat(),
                price=case.intake.price,
            )
            if case.seller is not None:
                desk.say(
                    "intake.seller",
                    name=case.seller.name,
                    address=case.seller.address,
                    occupation=case.seller.occupation,
                    age=case.seller.age,
                    confirmed_by=case.seller.confirmed_by,
                    number=case.seller.document_number or "-",
                )
        desk.say("claim.actions")
        for action in case.claim.actions:
            print(f"  {_when(action.at)}\t{action.actor}\t{action.action}\t{action.note or ''}")
        desk.say("claim.evidence_hint", imei=g.imei)


def _print_answers(observations: tuple[StoredObservation, ...]) -> None:
    for o in observations:
        print(f"  #{o.id}\t{_when(o.checked_at)}\t{o.carrier.value}\t{o.status.symbol}")

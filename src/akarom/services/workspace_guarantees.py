"""The 赤ロム guarantee as the dealer's workspace and the REST API show it.

``services.guarantees`` registers sales and settles claims; this module gathers what a
page or an API answer shows at once (the open status changes with the guarantee each
belongs to, the open claims, the guarantees), acknowledges a change, and says which
devices a dealer may look at. Every read names the dealer: another dealer's change,
claim or guarantee is never found (the caller answers 404).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from akarom.errors import AkaromError
from akarom.sealing import Sealer, SealError
from akarom.services.guarantees import ClaimFile, claim_file
from akarom.storage import Store, StoredPage
from akarom.storage.guarantees import ClaimStatus, StoredChange, StoredClaim, StoredGuarantee

__all__ = [
    "ChangeOnGuarantee",
    "ClaimCase",
    "ClaimOnGuarantee",
    "GuaranteeDesk",
    "PersonalDataUnreadable",
    "acknowledge",
    "changes_of",
    "claim_case",
    "guarantee_desk",
    "may_see_device",
    "open_claim_now",
]


class PersonalDataUnreadable(AkaromError):
    """The sealed personal data of a claim does not open with this server's master key
    (``AKAROM_DATA_KEY`` or ``data.key`` changed or lost)."""


@dataclass(frozen=True, slots=True)
class ChangeOnGuarantee:
    """A status change and the dealer's guarantee it was found on (and its claim, if any)."""

    change: StoredChange
    guarantee: StoredGuarantee
    claim_id: int | None = None


@dataclass(frozen=True, slots=True)
class ClaimOnGuarantee:
    claim: StoredClaim
    guarantee: StoredGuarantee


@dataclass(frozen=True, slots=True)
class GuaranteeDesk:
    """The workspace's guarantee page: what needs the staff first, then the guarantees.

    ``guarantees`` holds at most the ``limit`` newest that match; ``total`` how many match;
    ``claim_ids`` names each claimed guarantee's claim (open or settled).
    """

    open_changes: tuple[ChangeOnGuarantee, ...]
    open_claims: tuple[ClaimOnGuarantee, ...]
    guarantees: tuple[StoredGuarantee, ...]
    total: int
    claim_ids: Mapping[int, int]


def _by_id(store: Store, dealer_id: int, ids: Iterable[int]) -> dict[int, StoredGuarantee]:
    """The dealer's guarantees of ``ids`` (none of another dealer's), by id."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {g.id: g for g in store.guarantees(dealer_id, ids=sorted(wanted))}


def guarantee_desk(
    store: Store,
    dealer_id: int,
    *,
    imei: str | None = None,
    order_ref: str | None = None,
    limit: int = 200,
) -> GuaranteeDesk:
    """The dealer's open changes (newest first), open claims and guarantees (newest
    first; of one device or one order when asked)."""
    claims = store.claims(dealer_id)
    claim_of_change = {c.change_id: c.id for c in claims if c.change_id is not None}
    open_changes = store.changes(dealer_id, open_only=True)
    open_claims = [claim for claim in claims if claim.status is ClaimStatus.OPEN]
    shown = _by_id(
        store,
        dealer_id,
        [c.guarantee_id for c in open_changes] + [c.guarantee_id for c in open_claims],
    )
    return GuaranteeDesk(
        tuple(
            ChangeOnGuarantee(change, shown[change.guarantee_id], claim_of_change.get(change.id))
            for change in open_changes
            if change.guarantee_id in shown
        ),
        tuple(
            ClaimOnGuarantee(claim, shown[claim.guarantee_id])
            for claim in open_claims
            if claim.guarantee_id in shown
        ),
        tuple(store.guarantees(dealer_id, imei=imei, order_ref=order_ref, limit=limit)),
        store.count_guarantees(dealer_id, imei=imei, order_ref=order_ref),
        {claim.guarantee_id: claim.id for claim in claims},
    )


def changes_of(
    store: Store,
    dealer_id: int,
    *,
    open_only: bool,
    change_id: int | None = None,
    before: int | None = None,
    limit: int | None = None,
) -> list[ChangeOnGuarantee]:
    """The dealer's status changes, newest first, each with its guarantee (``change_id``:
    that one; a page of at most ``limit`` with ids below ``before``)."""
    found = store.changes(
        dealer_id, open_only=open_only, change_id=change_id, before=before, limit=limit
    )
    on = _by_id(store, dealer_id, (change.guarantee_id for change in found))
    return [
        ChangeOnGuarantee(change, on[change.guarantee_id])
        for change in found
        if change.guarantee_id in on
    ]


def acknowledge(
    store: Store, dealer_id: int, change_id: int, *, by: str, now: datetime | None = None
) -> ChangeOnGuarantee | None:
    """Mark the change seen; None when it is not the dealer's. Acknowledging a change
    seen already keeps who saw it first and when."""
    store.acknowledge_change(dealer_id, change_id, by=by, at=now or datetime.now(UTC))
    return next(iter(changes_of(store, dealer_id, open_only=False, change_id=change_id)), None)


def may_see_device(store: Store, dealer_id: int, imei: str) -> bool:
    """Whether the dealer may look at ``imei``'s answers and their evidence: it checked
    the device, or sold it under guarantee (the claim's evidence is that device's)."""
    return store.dealer_has_device(dealer_id, imei) or bool(store.guarantees(dealer_id, imei=imei))


@dataclass(frozen=True, slots=True)
class ClaimCase:
    """A claim's file and, per observation it names, the evidence pages kept with it."""

    file: ClaimFile
    pages: Mapping[int, tuple[StoredPage, ...]]


def claim_case(store: Store, sealer: Sealer, dealer_id: int, claim_id: int) -> ClaimCase | None:
    """The claim with everything it is settled with; None when it is not the dealer's.

    Raises ``PersonalDataUnreadable`` when the customer's or the seller's sealed record
    does not open with ``sealer``.
    """
    if store.claim_of(dealer_id, claim_id) is None:
        return None
    try:
        file = claim_file(store, sealer, dealer_id, claim_id)
    except SealError as err:
        raise PersonalDataUnreadable(str(err)) from err
    named = {o.id for o in (*file.baseline, *file.since_sale)}
    for change in file.changes:
        named.add(change.after_observation_id)
        if change.before_observation_id is not None:
            named.add(change.before_observation_id)
    return ClaimCase(file, {o: tuple(store.pages(o)) for o in sorted(named)})


def open_claim_now(store: Store, dealer_id: int, guarantee_id: int, *, by: str) -> int | None:
    """Open a claim by hand (the customer called before the monitor saw a ×); None when
    the guarantee is not the dealer's or has had a claim already."""
    return store.open_claim_by_hand(dealer_id, guarantee_id, actor=by, at=datetime.now(UTC))

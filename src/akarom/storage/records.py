"""The records ``Store`` takes and gives, importable without SQLAlchemy.

What a check builds while it runs (a ``NewObservation`` with its ``NewPage``s, a
``NewChallenge`` for a person) and what a bulk run reads back (``StoredRun``,
``StoredRow``) are plain dataclasses. They live here, apart from the queries, so
that the code that sends requests loads without the ORM: a bulk run's first
requests leave while SQLAlchemy is still importing in another thread.
``akarom.storage`` offers every name here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from akarom.domain import Carrier, CarrierResult, Source, Status

__all__ = [
    "RECORD_STATUSES",
    "ChallengeKind",
    "ChallengeStatus",
    "NewChallenge",
    "NewObservation",
    "NewPage",
    "PageLike",
    "StoredChallenge",
    "StoredRow",
    "StoredRun",
    "known_carrier",
    "require_aware",
    "tac_of",
]

_IMEI = re.compile(r"[0-9]{15}|[0-9A-F]{14}")

#: The statuses that are a record (○ △ ×): a carrier that gives one sold the device.
RECORD_STATUSES = tuple(status.value for status in Status if status.is_record)


def known_carrier(name: object) -> Carrier | None:
    """The carrier of that id, or None for one this version does not know (a newer
    version's rows in a shared database, skipped wherever rows are read)."""
    try:
        return Carrier(str(name))
    except ValueError:
        return None


def tac_of(imei: str) -> str | None:
    """The TAC (first 8 digits) of a 15-digit IMEI; None for a MEID.

    >>> tac_of("352099001761481"), tac_of("A0000012345678")
    ('35209900', None)
    """
    return imei[:8] if len(imei) == 15 and imei.isascii() and imei.isdigit() else None


def require_aware(name: str, value: datetime) -> None:
    """``ValueError`` unless ``value`` carries its time zone (every stored time is UTC)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not {value!r}")


class PageLike(Protocol):
    """Anything shaped like an HTTP response kept as evidence (``carriers.Page`` is)."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> bytes: ...
    @property
    def fetched_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPage:
    """One HTTP response to keep as evidence, byte for byte."""

    method: str
    url: str
    status_code: int
    headers: Mapping[str, str]
    content: bytes
    fetched_at: datetime

    def __post_init__(self) -> None:
        require_aware("fetched_at", self.fetched_at)

    @classmethod
    def from_page(cls, page: PageLike) -> NewPage:
        """Copy a page (e.g. ``akarom.carriers.Page``) field by field."""
        return cls(
            method=page.method,
            url=page.url,
            status_code=page.status_code,
            headers=dict(page.headers),
            content=page.content,
            fetched_at=page.fetched_at,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NewObservation:
    """A check to save. Raises ``ValueError`` for one that breaks the schema's rules.

    ``imei`` is the compact form (15 digits, or a MEID's 14 upper-case hex digits).
    ``error`` is set exactly when ``status`` is ``unknown``. ``source`` is ``live``
    or ``manual``; a manual observation names who entered it (``entered_by``). A
    cached answer is not saved again.
    """

    imei: str
    carrier: Carrier
    status: Status
    checked_at: datetime
    source: Source = Source.LIVE
    printed_symbol: str | None = None
    message: str | None = None
    error: str | None = None
    detail: str | None = None
    elapsed_ms: int | None = None
    adapter_version: str | None = None
    entered_by: str | None = None
    run_id: int | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if not _IMEI.fullmatch(self.imei):
            raise ValueError(f"not a compact IMEI or MEID: {self.imei!r}")
        require_aware("checked_at", self.checked_at)
        if (self.status is Status.UNKNOWN) != (self.error is not None):
            raise ValueError("an observation is unknown exactly when it carries an error code")
        if self.source is Source.CACHE:
            raise ValueError("a cached answer is not a new observation")
        if (self.source is Source.MANUAL) != bool(self.entered_by):
            raise ValueError("a manual observation, and only one, names who entered it")
        if self.elapsed_ms is not None and self.elapsed_ms < 0:
            raise ValueError(f"elapsed_ms cannot be negative: {self.elapsed_ms}")

    @classmethod
    def from_result(
        cls,
        imei: str,
        result: CarrierResult,
        *,
        adapter_version: str | None = None,
        entered_by: str | None = None,
        run_id: int | None = None,
    ) -> NewObservation:
        """The observation for a ``CarrierResult``, which must carry ``checked_at``."""
        if result.checked_at is None:
            raise ValueError("a result without checked_at cannot be saved")
        elapsed = None if result.elapsed_s is None else round(result.elapsed_s * 1000)
        return cls(
            imei=imei,
            carrier=result.carrier,
            status=result.status,
            checked_at=result.checked_at,
            source=result.source or Source.LIVE,
            printed_symbol=result.printed_symbol,
            message=result.message,
            error=result.error,
            detail=result.detail,
            elapsed_ms=elapsed,
            adapter_version=adapter_version,
            entered_by=entered_by,
            run_id=run_id,
            reason=result.reason,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRun:
    """A bulk run; ``finished_at`` is None while it can be resumed."""

    id: int
    created_at: datetime
    input_name: str
    input_sha256: str
    output_name: str
    options: Mapping[str, Any]
    finished_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRow:
    """A finished row of a bulk run: the output cells akarom wrote for it."""

    run_id: int
    row_number: int
    imei: str | None
    cells: Mapping[str, Any]
    finished_at: datetime


class ChallengeKind(StrEnum):
    """What the person is asked: the code in a captcha image, or the symbol on a page."""

    CAPTCHA = "captcha"
    PAGE = "page"


class ChallengeStatus(StrEnum):
    """Where a challenge is on its one path (see ``storage.challenges``)."""

    OPEN = "open"
    ANSWERED = "answered"
    SKIPPED = "skipped"
    EXPIRED = "expired"
    VOID = "void"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewChallenge:
    """A challenge to post. ``ValueError`` for one that breaks the schema's rules.

    A captcha carries ``image``, ``media_type`` and the ``session`` its answer is sent
    in (JSON-serialisable); a page carries the ``url`` the person opens. ``origin``
    names the asker (one ``Checker``); ``expires_at`` is when it stops waiting.
    """

    kind: ChallengeKind
    carrier: Carrier
    imei: str
    origin: str
    expires_at: datetime
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    tenant: str | None = None
    run_id: int | None = None
    url: str | None = None
    image: bytes | None = field(default=None, repr=False)
    media_type: str | None = None
    session: Mapping[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not _IMEI.fullmatch(self.imei):
            raise ValueError(f"not a compact IMEI or MEID: {self.imei!r}")
        require_aware("created_at", self.created_at)
        require_aware("expires_at", self.expires_at)
        if self.expires_at <= self.created_at:
            raise ValueError("a challenge must expire after it is posted")
        if not self.origin:
            raise ValueError("a challenge names its asker (origin)")
        if self.kind is ChallengeKind.CAPTCHA:
            if not self.image or not self.media_type or self.session is None:
                raise ValueError("a captcha challenge carries its image, media type and session")
        elif not self.url:
            raise ValueError("a page challenge carries the URL of the page to read")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredChallenge:
    """A challenge as read back; timestamps are UTC-aware. See ``tables.Challenge``."""

    id: int
    kind: ChallengeKind
    carrier: Carrier
    imei: str
    tenant: str | None
    origin: str
    run_id: int | None
    created_at: datetime
    expires_at: datetime
    status: ChallengeStatus
    url: str | None
    image: bytes | None = field(repr=False)
    media_type: str | None
    session: Mapping[str, Any] | None = field(repr=False)
    answer: str | None
    closed_by: str | None
    closed_at: datetime | None
    outcome: str | None

    def waiting(self, now: datetime) -> bool:
        """Open, and not past ``expires_at``: a person may still answer it."""
        return self.status is ChallengeStatus.OPEN and now < self.expires_at

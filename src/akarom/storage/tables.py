"""The database tables, as SQLAlchemy 2 typed declarative models.

These classes are the schema, and only the schema: the rest of akarom never sees
them. ``akarom.storage.repo`` reads and writes them and hands out frozen
dataclasses instead. Every change here needs an Alembic revision in
``migrations/versions/``; a test compares the migrated database with these models.

Enumerations (carrier, status, source) are stored as their string values, with a
CHECK constraint for the closed ones. Timestamps go through ``UTCDateTime``: aware
datetimes in, UTC-aware datetimes out, on SQLite as well as PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AlertTarget",
    "ApiKey",
    "Base",
    "BulkRow",
    "BulkRun",
    "Certificate",
    "Challenge",
    "Claim",
    "ClaimAction",
    "Dealer",
    "DealerDevice",
    "Delivery",
    "EvidenceBlob",
    "EvidencePage",
    "Guarantee",
    "Intake",
    "Job",
    "JobResult",
    "Observation",
    "RecheckBudget",
    "SigningKey",
    "StatusChange",
    "UTCDateTime",
    "User",
    "Watch",
]

# Stable constraint names, so that later migrations (and SQLite's batch mode, which
# recreates tables) can refer to them. See the SQLAlchemy docs, "Configuring
# Constraint Naming Conventions".
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored in UTC, read back as UTC-aware.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones and would hand back a
    naive value, so the value is converted to UTC before it is written and marked as
    UTC when read. Naive datetimes are refused: their meaning is a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"a naive datetime cannot be stored: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base; its ``metadata`` is what the migrations must produce."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: JSON(),
    }


_STATUSES = "'ok', 'pending', 'restricted', 'unregistered', 'unknown'"


class Observation(Base):
    """An observation: one saved check of one IMEI at one carrier. Never updated.

    ``tac`` is the first 8 digits of a 15-digit IMEI (NULL for a MEID): the model,
    used to guess which carrier sold a device. ``error`` is set exactly when
    ``status`` is ``unknown``. ``source`` is ``live`` (asked the carrier's page) or
    ``manual`` (a person read the symbol, ``entered_by`` says who); an answer reused
    from the cache is not a new observation. ``reason`` is how a page the adapter did
    not recognise differed from its template (drift, counted by ``akarom doctor``).
    """

    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imei: Mapped[str] = mapped_column(String(16))
    tac: Mapped[str | None] = mapped_column(String(8), index=True)
    carrier: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    printed_symbol: Mapped[str | None] = mapped_column(String(8))
    message: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime]
    elapsed_ms: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(8))
    adapter_version: Mapped[str | None] = mapped_column(String(64))
    entered_by: Mapped[str | None] = mapped_column(String(200))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("bulk_runs.id"), index=True)
    reason: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # "The newest answer per carrier for this IMEI" (the cache) and history().
        Index(None, "imei", "carrier", "checked_at"),
        # "What each carrier's pages did lately" (akarom doctor's drift report).
        Index(None, "carrier", "checked_at"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        CheckConstraint("source IN ('live', 'manual')", name="source"),
        CheckConstraint(
            "(status = 'unknown' AND error IS NOT NULL) OR (status <> 'unknown' AND error IS NULL)",
            name="error_iff_unknown",
        ),
        CheckConstraint(
            "(source = 'manual' AND entered_by IS NOT NULL)"
            " OR (source <> 'manual' AND entered_by IS NULL)",
            name="entered_by_iff_manual",
        ),
    )


class EvidencePage(Base):
    """One HTTP response seen during a check, in the order fetched (``seq`` from 0).

    au and SoftBank fetch a form, then a result: two pages for one observation. The
    body lives in ``evidence_blobs``, shared by every page with the same bytes.
    """

    __tablename__ = "evidence_pages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(10))
    url: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int] = mapped_column(Integer)
    headers: Mapped[dict[str, Any]]
    fetched_at: Mapped[datetime]
    body_sha256: Mapped[str] = mapped_column(ForeignKey("evidence_blobs.sha256"), index=True)

    __table_args__ = (UniqueConstraint("observation_id", "seq"),)


class EvidenceBlob(Base):
    """A response body, compressed, named by the SHA-256 (hex) of its raw bytes.

    Identical bodies (the same form page every time) are stored once. ``size`` is
    the raw length; a reader checks both against the decompressed bytes.
    """

    __tablename__ = "evidence_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    encoding: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class BulkRun(Base):
    """One ``akarom bulk`` run, so that ``--resume`` can find it again.

    A run is found by what it reads and writes (``input_sha256``, ``output_name``);
    ``finished_at`` stays NULL until every row has a verdict.
    """

    __tablename__ = "bulk_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime]
    input_name: Mapped[str] = mapped_column(Text)
    input_sha256: Mapped[str] = mapped_column(String(64))
    output_name: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]]
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index(None, "input_sha256", "output_name"),)


class BulkRow(Base):
    """A finished row of a bulk run: what akarom wrote for it. Never updated.

    ``row_number`` counts data rows from 0 in input order. ``cells`` holds the
    columns akarom adds to the output (verdict, symbols, …), so a resumed run
    rewrites a finished row without asking any carrier again, even when the cached
    answers it used have since gone stale.
    """

    __tablename__ = "bulk_rows"

    run_id: Mapped[int] = mapped_column(ForeignKey("bulk_runs.id"), primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    imei: Mapped[str | None] = mapped_column(String(16))
    cells: Mapped[dict[str, Any]]
    finished_at: Mapped[datetime]


class Challenge(Base):
    """Something a person must answer because akarom may not: a captcha, or a page to read.

    ``kind`` is ``captcha`` (``image`` as the carrier served it, ``media_type``, and
    ``session``: what the adapter needs to send the answer in the carrier's session,
    cleared once the challenge is settled) or ``page`` (``url``: the carrier's own
    page, where the person enters ``imei`` and reads the symbol). ``status`` moves
    once from ``open`` to ``answered`` (``answer``, ``closed_by``), ``skipped``
    (``closed_by``), ``expired`` (nobody answered by ``expires_at``) or ``void`` (the
    asker stopped waiting, or a newer challenge replaced it); ``closed_at`` says
    when. ``outcome`` is what came of an answer once used: the status read, or the
    error code (``captcha`` when the carrier refused the code).

    ``tenant`` is whose staff may see and answer it (NULL: this machine's own, the
    CLI); ``origin`` the asker (one ``Checker``), so a terminal answers only its own;
    ``run_id`` the bulk run that met it.
    """

    __tablename__ = "challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    carrier: Mapped[str] = mapped_column(String(16))
    imei: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("bulk_runs.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(8))
    url: Mapped[str | None] = mapped_column(Text)
    image: Mapped[bytes | None] = mapped_column(LargeBinary)
    media_type: Mapped[str | None] = mapped_column(String(64))
    session: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    answer: Mapped[str | None] = mapped_column(String(64))
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # "The open challenges of this tenant" (the staff queue), oldest first.
        Index(None, "status", "tenant", "created_at"),
        # "The open challenges this asker posted" (a terminal answering its own).
        Index(None, "origin", "status"),
        CheckConstraint("kind IN ('captcha', 'page')", name="kind"),
        CheckConstraint(
            "status IN ('open', 'answered', 'skipped', 'expired', 'void')", name="status"
        ),
        CheckConstraint(
            "(kind = 'captcha' AND image IS NOT NULL AND media_type IS NOT NULL)"
            " OR (kind = 'page' AND url IS NOT NULL)",
            name="what_to_show",
        ),
        CheckConstraint(
            "(status = 'answered' AND answer IS NOT NULL AND closed_by IS NOT NULL)"
            " OR (status <> 'answered' AND answer IS NULL)",
            name="answer_iff_answered",
        ),
        CheckConstraint(
            "(status = 'open' AND closed_at IS NULL)"
            " OR (status <> 'open' AND closed_at IS NOT NULL)",
            name="closed_at_iff_closed",
        ),
    )


# -- dealers, users, API keys and jobs (revision 0004) ----------------------------------
# A dealer is a tenant: every row below that names a dealer_id belongs to that dealer
# alone, and every query for a dealer filters by it (storage.accounts, storage.jobs).


class Dealer(Base):
    """A dealer (a tenant): a shop whose staff and API keys check devices together."""

    __tablename__ = "dealers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime]


class User(Base):
    """A person who logs in to a dealer's workspace.

    ``email`` is stored lower-cased, so that it is unique however it is typed.
    ``password_hash`` is an Argon2 hash (never the password). ``role`` is ``admin``
    (manages the dealer's users and keys) or ``staff``. ``disabled_at`` set: may no
    longer log in.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint("role IN ('admin', 'staff')", name="role"),)


class ApiKey(Base):
    """A dealer's key to the REST API; only the SHA-256 (hex) of the whole key is kept.

    Keys are 256-bit random strings, so a fast hash is enough to make a leaked table
    useless (Argon2's slowness is for guessable passwords). ``prefix`` is the key's
    first characters, shown in lists so a person can tell keys apart.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"), index=True)
    label: Mapped[str | None] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Job(Base):
    """A check or a batch run for the web or the API, kept so it can resume anywhere.

    ``key`` (uuid4 hex) is the only id shown outside. ``dealer_id`` NULL: a public web
    check. ``input`` holds the uploaded file or the JSON list of IMEIs; ``options``
    what the run was asked (column, all_carriers, fresh, role, lang, carriers).
    ``status`` moves queued → running → done | failed | cancelled; ``done``, ``total``
    and ``verdicts`` (verdict → count) report progress. ``idempotency_key`` is the
    client's ``Idempotency-Key``: unique per dealer, so a retried POST finds its job.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealers.id"))
    kind: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(10))
    input_name: Mapped[str | None] = mapped_column(Text)
    input: Mapped[bytes | None] = mapped_column(LargeBinary)
    options: Mapped[dict[str, Any]]
    total: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    verdicts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("bulk_runs.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    #: A finished batch's report (CSV), kept here so that any server can hand it out,
    #: whichever machine ran the batch. Loaded only when asked for.
    report: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    __table_args__ = (
        UniqueConstraint("dealer_id", "idempotency_key"),
        # "This dealer's jobs, newest first" (the workspace and the API).
        Index(None, "dealer_id", "created_at"),
        # "The jobs to resume" (queued or running) at a server's start.
        Index(None, "status", "created_at"),
        CheckConstraint("kind IN ('check', 'batch')", name="kind"),
        CheckConstraint("source IN ('web', 'api')", name="source"),
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="status"
        ),
        CheckConstraint("done >= 0", name="done_not_negative"),
    )


class JobResult(Base):
    """One row's result of a job: an object as a line of ``akarom check --json``.

    Upserted: a row may be written again (after each carrier answers, or after a
    resume); the last write wins.
    """

    __tablename__ = "job_results"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    imei: Mapped[str | None] = mapped_column(String(16))
    result: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class DealerDevice(Base):
    """A device a dealer has checked: what lets the dealer see its pages and find it."""

    __tablename__ = "dealer_devices"

    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"), primary_key=True)
    imei: Mapped[str] = mapped_column(String(16), primary_key=True)
    first_checked_at: Mapped[datetime]
    last_checked_at: Mapped[datetime]

    __table_args__ = (
        # "This dealer's devices, most recently checked first".
        Index(None, "dealer_id", "last_checked_at"),
    )


class CarrierPace(Base):
    """One carrier's politeness budget, shared by every process of a fleet (PostgreSQL).

    ``akarom.storage.pace`` advances it in one atomic statement on the database's
    clock (epoch seconds): ``next_start`` is the earliest moment anyone may start a
    request at the carrier, ``learned_interval`` the least gap some process learned
    from refusals (0: none). ``last_start``/``last_t`` hold the last claim's answer,
    so that the same statement can return it; ``reserved_until`` keeps the next
    start for a claimant a person is waiting for. ``claimant`` names the process that
    claimed last, and ``shared_until`` says until when the carrier counts as shared (a
    process other than the one before claimed). ``key`` is ``<carrier>@<host>``.
    """

    __tablename__ = "carrier_pace"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    next_start: Mapped[float] = mapped_column(Double, default=0.0)
    learned_interval: Mapped[float] = mapped_column(Double, default=0.0)
    last_start: Mapped[float | None] = mapped_column(Double)
    last_t: Mapped[float] = mapped_column(Double, default=0.0)
    reserved_until: Mapped[float] = mapped_column(Double, default=0.0)
    claimant: Mapped[str] = mapped_column(String(64), default="", server_default="")
    shared_until: Mapped[float] = mapped_column(Double, default=0.0, server_default="0")


class Worker(Base):
    """A process that runs jobs (``akarom worker``, or a server running them itself).

    Each writes ``seen_at`` every few seconds; one not seen for a while is gone
    (killed, or its machine lost). ``/readyz`` and the metrics count the live ones,
    and a server runs jobs itself only while there are none.
    """

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))
    concurrency: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime] = mapped_column(index=True)
    running: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (CheckConstraint("kind IN ('worker', 'server')", name="kind"),)


# --- The 赤ロム guarantee (migration 0006). Personal data is sealed (``akarom.sealing``):
# ``*_sealed`` holds nonce + AES-256-GCM ciphertext, ``*_key`` the record's data key
# wrapped with the operator's master key. Erasure sets both to NULL (crypto-shredding).

_CARRIERS = "'docomo', 'au', 'softbank', 'rakuten'"


class Intake(Base):
    """A device bought in: the 古物営業法 取引記録, kept at least three years.

    The item (``model``, ``features``, IMEI), the date and price, and the check made
    at intake (``observation_ids``: the answers that cleared it). The seller's
    identity (name, address, occupation, age, how it was confirmed) is sealed;
    ``retain_until`` is the first day it may be erased, ``erased_at``/``erased_by``
    say that it was.
    """

    __tablename__ = "intakes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"))
    imei: Mapped[str] = mapped_column(String(16))
    bought_on: Mapped[date]
    price: Mapped[int] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(Text)
    features: Mapped[str | None] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(16))
    observation_ids: Mapped[list[int]] = mapped_column(JSON)
    seller_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    seller_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime]
    retain_until: Mapped[date]
    erased_at: Mapped[datetime | None]
    erased_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index(None, "dealer_id", "imei"),
        CheckConstraint("price >= 0", name="price"),
        CheckConstraint(
            "(erased_at IS NULL) OR (seller_sealed IS NULL AND seller_key IS NULL)",
            name="erased_means_gone",
        ),
    )


class Guarantee(Base):
    """A sold device under a dealer's promise: its sale, its terms, its baseline check.

    ``kind``: ``lifetime_red`` (赤ロム永久保証), ``return_1y`` (1-year return or
    exchange) or ``own`` (the dealer's own, described in ``terms``); ``term_until``
    NULL is for life. ``baseline_ids`` are the observations that allowed the sale
    (``baseline_verdict``). The customer's contact is sealed. ``status``: ``active``,
    ``claimed`` (a × opened a claim) or ``ended`` (the term ran out).
    """

    __tablename__ = "guarantees"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"))
    imei: Mapped[str] = mapped_column(String(16), index=True)
    order_ref: Mapped[str] = mapped_column(String(100))
    sold_on: Mapped[date]
    price: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    terms: Mapped[str | None] = mapped_column(Text)
    term_until: Mapped[date | None]
    baseline_verdict: Mapped[str] = mapped_column(String(16))
    baseline_ids: Mapped[list[int]] = mapped_column(JSON)
    intake_id: Mapped[int | None] = mapped_column(ForeignKey("intakes.id"))
    customer_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    customer_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(8))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("dealer_id", "order_ref"),
        CheckConstraint("kind IN ('lifetime_red', 'return_1y', 'own')", name="kind"),
        CheckConstraint("status IN ('active', 'claimed', 'ended')", name="status"),
        CheckConstraint("baseline_verdict IN ('clear', 'caution')", name="baseline_verdict"),
    )


class Watch(Base):
    """The monitor's state for one device at the carrier that sold it.

    Shared by every guarantee on the device (a phone sold twice is asked once).
    ``next_due_at`` orders the re-checks; a claim pushes it out by a lease, so a
    crashed monitor's watches come back on their own. ``last_status`` and
    ``last_observation_id`` are the answer the next one is compared with.
    """

    __tablename__ = "watches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imei: Mapped[str] = mapped_column(String(16))
    carrier: Mapped[str] = mapped_column(String(16))
    last_status: Mapped[str] = mapped_column(String(16))
    last_observation_id: Mapped[int | None] = mapped_column(ForeignKey("observations.id"))
    last_checked_at: Mapped[datetime]
    next_due_at: Mapped[datetime]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        UniqueConstraint("imei", "carrier"),
        # "The next watches due at this carrier" (the monitor's claim).
        Index(None, "carrier", "next_due_at"),
        CheckConstraint(f"carrier IN ({_CARRIERS})", name="carrier"),
        CheckConstraint(f"last_status IN ({_STATUSES})", name="last_status"),
    )


class RecheckBudget(Base):
    """Requests the monitor spent at one carrier on one Japan day (never over its budget)."""

    __tablename__ = "recheck_budget"

    carrier: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    spent: Mapped[int] = mapped_column(Integer, default=0)
    #: The carrier was down (answers unknown) since then; NULL: up.
    down_since: Mapped[datetime | None]


class StatusChange(Base):
    """A change of a guaranteed device's status at a carrier (○→△, △→×, ○→×, -→× …).

    One per guarantee, so each dealer sees and acknowledges its own; both answers are
    kept by observation (their evidence pages with them).
    """

    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guarantee_id: Mapped[int] = mapped_column(ForeignKey("guarantees.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(16))
    before_status: Mapped[str] = mapped_column(String(16))
    after_status: Mapped[str] = mapped_column(String(16))
    before_observation_id: Mapped[int | None] = mapped_column(ForeignKey("observations.id"))
    after_observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id"))
    detected_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))


class AlertTarget(Base):
    """Where a dealer's alerts go: a webhook URL (with its sealed signing secret) or
    an e-mail address."""

    __tablename__ = "alert_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(Text)
    secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    secret_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint("channel IN ('webhook', 'email')", name="channel"),)


class Delivery(Base):
    """One alert to send (the outbox): written with the change, sent until delivered.

    ``recipient`` names who, never their address: ``target:<alert_target id>`` (the
    dealer's) or ``customer`` (the guarantee's sealed contact, opened when sending).
    Unique per change, channel and recipient, so a change is never alerted twice.
    """

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("status_changes.id"))
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    given_up_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("change_id", "channel", "recipient"),
        # "What is due to be sent now".
        Index(None, "next_attempt_at"),
        CheckConstraint("channel IN ('webhook', 'email')", name="channel"),
    )


class Claim(Base):
    """A × on a guaranteed device: the case the dealer settles (one per guarantee).

    ``status`` moves ``open`` → ``exchange`` | ``refund`` | ``rejected`` (``reason``);
    every step is a ``ClaimAction``.
    """

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guarantee_id: Mapped[int] = mapped_column(ForeignKey("guarantees.id"), unique=True)
    change_id: Mapped[int | None] = mapped_column(ForeignKey("status_changes.id"))
    status: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('open', 'exchange', 'refund', 'rejected')", name="status"),
        CheckConstraint("status <> 'rejected' OR reason IS NOT NULL", name="rejected_has_reason"),
    )


class ClaimAction(Base):
    """Who did what to a claim, and when (opened, noted, exchange, refund, rejected)."""

    __tablename__ = "claim_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]


class SigningKey(Base):
    """A public key certificates were signed with, kept by key id so old ones verify."""

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class Certificate(Base):
    """A check certificate as issued: its signed payload, for the verification page."""

    __tablename__ = "certificates"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealers.id"))
    imei: Mapped[str] = mapped_column(String(16), index=True)
    observation_ids: Mapped[list[int]] = mapped_column(JSON)
    payload: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(ForeignKey("signing_keys.key_id"))
    signature: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime]

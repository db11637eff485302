"""Every name ``akarom.storage`` offers, imported together on first use (see ``__init__``)."""

from __future__ import annotations

from akarom.storage.accounts import (
    StoredApiKey,
    StoredDealer,
    StoredUser,
    UserRole,
    normalise_email,
)
from akarom.storage.challenges import (
    ChallengeKind,
    ChallengeStatus,
    NewChallenge,
    StoredChallenge,
)
from akarom.storage.db import migrate, normalise_url, open_engine
from akarom.storage.jobs import (
    JobKind,
    JobSource,
    JobStatus,
    NewJob,
    StoredJob,
    StoredJobResult,
)
from akarom.storage.observations import StoredObservation
from akarom.storage.repo import (
    CarrierPages,
    NewObservation,
    NewPage,
    PageLike,
    Store,
    StoredPage,
    StoredRow,
    StoredRun,
    tac_of,
)
from akarom.storage.workers import LiveWorker

__all__ = [
    "CarrierPages",
    "ChallengeKind",
    "ChallengeStatus",
    "JobKind",
    "JobSource",
    "JobStatus",
    "LiveWorker",
    "NewChallenge",
    "NewJob",
    "NewObservation",
    "NewPage",
    "PageLike",
    "Store",
    "StoredApiKey",
    "StoredChallenge",
    "StoredDealer",
    "StoredJob",
    "StoredJobResult",
    "StoredObservation",
    "StoredPage",
    "StoredRow",
    "StoredRun",
    "StoredUser",
    "UserRole",
    "migrate",
    "normalise_email",
    "normalise_url",
    "open_engine",
    "tac_of",
]

"""Settings read from the environment (INTERFACES.md §4), validated once.

==============================  =============================================
``AKAROM_DATABASE_URL``         SQLAlchemy URL (default: SQLite in the data folder)
``AKAROM_CARRIERS_URL``         scheme+host(+port) replacing every carrier's host
``AKAROM_<ID>_URL``             the same for one carrier (``AKAROM_DOCOMO_URL``)
``AKAROM_LANG``                 ``ja`` (default) or ``en``
``AKAROM_RATE_LIMIT``           most requests per second to each carrier (0.5)
``AKAROM_CONCURRENCY``          most requests in flight to each carrier (1)
``AKAROM_<ID>_RATE_LIMIT``      the same for one carrier
``AKAROM_<ID>_CONCURRENCY``     the same for one carrier
``AKAROM_DATA_DIR``             where akarom keeps its files (default: the
                                user's data folder, via platformdirs)
``AKAROM_RULES_FILE``           a dealer's advice rules, merged over the shipped
                                ones (see ``akarom.advice``)
``AKAROM_QUEUE_URL``            where the job queue lives, when not in the
                                database itself (``services.engine``)
==============================  =============================================

>>> s = Settings.from_env({"AKAROM_CARRIERS_URL": "http://127.0.0.1:8765/",
...                        "AKAROM_AU_RATE_LIMIT": "5"})
>>> s.carrier(Carrier.AU).base_url, s.carrier(Carrier.AU).rate_limit
('http://127.0.0.1:8765', 5.0)
>>> s.carrier(Carrier.DOCOMO).rate_limit, s.lang
(0.5, 'ja')
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from akarom.domain import Carrier
from akarom.errors import ConfigError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RECHECK_BUDGET",
    "DEFAULT_WORKER_BATCHES",
    "CarrierSettings",
    "Lang",
    "Settings",
]

Lang = Literal["ja", "en"]

#: Requests per second to one carrier: one every two seconds. Deliberately
#: conservative; nobody has documented what the carriers tolerate (carrier-sites.md §8).
DEFAULT_RATE_LIMIT = 0.5
DEFAULT_CONCURRENCY = 1
#: Batches one ``akarom worker`` runs at once unless ``--concurrency`` says otherwise.
DEFAULT_WORKER_BATCHES = 2
#: Re-checks of guaranteed devices per carrier per Japan day: at the default pace of
#: one request every two seconds, about a twentieth of what a day allows.
DEFAULT_RECHECK_BUDGET = 2000


@dataclass(frozen=True, slots=True)
class CarrierSettings:
    """How to reach one carrier: ``base_url`` None means the live site."""

    base_url: str | None
    rate_limit: float
    concurrency: int


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    lang: Lang
    data_dir: Path
    carriers: Mapping[Carrier, CarrierSettings]
    rules_file: Path | None = None
    queue_url: str | None = None
    #: The master key that seals personal data (base64 of 32 bytes); None: the file
    #: ``<data_dir>/data.key``, created on first use (``akarom.sealing``).
    data_key: str | None = None
    #: The Ed25519 key certificates are signed with (PKCS8 PEM); None: the file
    #: ``<data_dir>/certificate-key.pem``, created on first use.
    certificate_key: Path | None = None
    #: Where this installation's pages are reached from outside: the verification
    #: URL printed (and in the QR code) on a certificate.
    public_url: str = "http://127.0.0.1:8000"
    #: The SMTP server alerts are mailed through (smtp://[user:password@]host[:port],
    #: smtps://… for TLS, ?starttls=1 to upgrade), and the sender's address.
    smtp_url: str | None = None
    mail_from: str = "akarom@localhost"
    #: Requests the monitor may spend per carrier per Japan day.
    recheck_budget: Mapping[Carrier, int] | None = None
    #: Webhooks may go to private, loopback and link-local addresses (a closed
    #: network; tests). Off: only public addresses, checked after DNS.
    webhook_private_ok: bool = False
    #: The least time between two re-checks of one device: a day, as the carriers
    #: show a change by the next day at the soonest. Shorter only when no carrier is
    #: the live site (the sandbox: a walk-through, tests).
    recheck_floor_s: float = 86400.0

    def carrier(self, carrier: Carrier) -> CarrierSettings:
        return self.carriers[carrier]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; ``ConfigError`` names the variable at fault."""
        env = os.environ if environ is None else environ
        shared_url = _base_url(env, "AKAROM_CARRIERS_URL")
        shared_rate = _positive_float(env, "AKAROM_RATE_LIMIT", DEFAULT_RATE_LIMIT)
        shared_concurrency = _positive_int(env, "AKAROM_CONCURRENCY", DEFAULT_CONCURRENCY)
        shared_budget = _positive_int(env, "AKAROM_RECHECK_BUDGET", DEFAULT_RECHECK_BUDGET)
        carriers = {}
        for carrier in Carrier:
            prefix = f"AKAROM_{carrier.value.upper()}"
            carriers[carrier] = CarrierSettings(
                base_url=_base_url(env, f"{prefix}_URL") or shared_url,
                rate_limit=_positive_float(env, f"{prefix}_RATE_LIMIT", shared_rate),
                concurrency=_positive_int(env, f"{prefix}_CONCURRENCY", shared_concurrency),
            )
        lang = env.get("AKAROM_LANG", "ja").strip().lower() or "ja"
        if lang not in ("ja", "en"):
            raise ConfigError(f"AKAROM_LANG must be 'ja' or 'en', not {lang!r}")
        data_dir = env.get("AKAROM_DATA_DIR") or _user_data_dir()
        return cls(
            database_url=env.get("AKAROM_DATABASE_URL") or None,
            lang=lang,  # type: ignore[arg-type]  # checked against Lang just above
            data_dir=Path(data_dir),
            carriers=carriers,
            rules_file=Path(rules_file) if (rules_file := env.get("AKAROM_RULES_FILE")) else None,
            queue_url=env.get("AKAROM_QUEUE_URL", "").strip() or None,
            data_key=env.get("AKAROM_DATA_KEY", "").strip() or None,
            certificate_key=Path(key) if (key := env.get("AKAROM_CERTIFICATE_KEY")) else None,
            public_url=_base_url(env, "AKAROM_PUBLIC_URL") or "http://127.0.0.1:8000",
            smtp_url=_smtp_url(env),
            mail_from=env.get("AKAROM_MAIL_FROM", "").strip() or "akarom@localhost",
            recheck_budget={
                carrier: _positive_int(
                    env,
                    f"AKAROM_{carrier.value.upper()}_RECHECK_BUDGET",
                    shared_budget,
                )
                for carrier in Carrier
            },
            webhook_private_ok=env.get("AKAROM_WEBHOOK_PRIVATE_OK", "").strip() in ("1", "true"),
            recheck_floor_s=_recheck_floor(env, carriers),
        )

    def budget(self, carrier: Carrier) -> int:
        """Requests the monitor may spend at ``carrier`` per Japan day."""
        if self.recheck_budget is None:
            return DEFAULT_RECHECK_BUDGET
        return self.recheck_budget[carrier]


def _base_url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be a URL such as http://127.0.0.1:8765, not {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(
            f"{name} replaces only the scheme and host; the carriers' paths stay as they are "
            f"(got {value!r})"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _recheck_floor(env: Mapping[str, str], carriers: Mapping[Carrier, CarrierSettings]) -> float:
    name = "AKAROM_RECHECK_FLOOR_S"
    floor = _positive_float(env, name, 86400.0)
    live = [c.value for c, s in carriers.items() if s.base_url is None]
    if floor < 86400.0 and live:
        raise ConfigError(
            f"{name} below a day is for the sandbox only: {', '.join(live)} would be the "
            "live site (set AKAROM_CARRIERS_URL)"
        )
    return floor


def _smtp_url(env: Mapping[str, str]) -> str | None:
    value = env.get("AKAROM_SMTP_URL", "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(
            f"AKAROM_SMTP_URL must be a URL such as smtp://mail.example.jp:587, not {value!r}"
        )
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of requests per second, not {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, not {raw!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdecimal() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of 1 or more, not {raw!r}")
    return int(raw)


def _user_data_dir() -> str:
    # Imported here: with AKAROM_DATA_DIR set, start-up does not pay ~4 ms for it.
    import platformdirs

    return platformdirs.user_data_dir("akarom", "akarom")

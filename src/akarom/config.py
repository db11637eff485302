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

    def carrier(self, carrier: Carrier) -> CarrierSettings:
        return self.carriers[carrier]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; ``ConfigError`` names the variable at fault."""
        env = os.environ if environ is None else environ
        shared_url = _base_url(env, "AKAROM_CARRIERS_URL")
        shared_rate = _positive_float(env, "AKAROM_RATE_LIMIT", DEFAULT_RATE_LIMIT)
        shared_concurrency = _positive_int(env, "AKAROM_CONCURRENCY", DEFAULT_CONCURRENCY)
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
        )


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

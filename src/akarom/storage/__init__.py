"""akarom's database: every carrier answer ever seen, with the pages that prove it.

SQLAlchemy 2 models (``tables``) and Alembic migrations (``migrations/``).
``Store.open`` creates a new database straight from the models and stamps it at the
newest revision, leaves an up-to-date one alone, and runs Alembic only for an older
schema (``db.migrate``), so most commands never import Alembic. SQLite in the user's
data folder by default (WAL, one writer); PostgreSQL when ``AKAROM_DATABASE_URL``
names a server. Only ``akarom.domain`` and ``akarom.errors`` are imported from the
rest of akarom.

Importing this package costs nothing: its names (``Store`` and the records) load,
with SQLAlchemy, the first time one is used. A command that answers from the store
without SQLAlchemy (``storage.readonly``) imports only what it reads with.

Schema
======

``observations``
    One row per check of one IMEI at one carrier (an *observation*): ``imei``,
    ``tac`` (first 8 digits; NULL for a MEID), ``carrier``, ``status``,
    ``printed_symbol``, ``message`` (the carrier's wording), ``error`` + ``detail``
    (set exactly when ``status`` is ``unknown``), ``checked_at`` (UTC),
    ``elapsed_ms``, ``source`` (``live`` or ``manual``; a cached answer is not a new
    observation), ``adapter_version``, ``entered_by`` (who typed a manual answer),
    ``run_id`` (the bulk run that asked). Indexed on (imei, carrier, checked_at)
    for "the newest answer per carrier", on ``tac`` for "which carrier sold this
    model", and on ``run_id``.
``evidence_pages``
    Every HTTP response seen during a check (au and SoftBank: a form, then a result):
    ``observation_id``, ``seq``, ``method``, ``url``, ``status_code``, ``headers``
    (JSON), ``fetched_at``, ``body_sha256``.
``evidence_blobs``
    The bodies, zlib-compressed, keyed by the SHA-256 of the raw bytes: the same form
    page is stored once however often it was seen. Checked on every read.
``bulk_runs`` / ``bulk_rows``
    A bulk run (input name and SHA-256, output name, options, ``finished_at``) and
    each row it finished (the output cells), for ``akarom bulk --resume``.
``challenges``
    What a person answers because akarom may not (``storage.challenges``): a captcha
    (the image, and the carrier session its answer is sent in) or a blocked carrier's
    page to read by hand (its URL); who may answer (``tenant``), who asked
    (``origin``, ``run_id``), the status (open → answered, skipped, expired, void),
    the answer, who gave it and when, and what came of it (``outcome``).
``dealers`` / ``users`` / ``api_keys``
    Tenants (``storage.accounts``): a dealer, the people who log in to its workspace
    (lower-cased e-mail, Argon2 password hash, ``admin`` or ``staff``) and its REST
    API keys (only the SHA-256 of each key, a prefix to tell them apart, revocation).
``jobs`` / ``job_results`` / ``dealer_devices``
    Checks and batches asked for through the web or the API (``storage.jobs``), with
    their input kept so any process can resume them, each row's result (upserted),
    and which devices each dealer has checked (what lets it see them).

Append-only
===========

Observations, evidence and bulk rows are only ever inserted: ``Store`` has no
function that updates or deletes them, and the cache never rewrites history. The one
update is ``finish_run``, which sets ``bulk_runs.finished_at`` once. Challenges are
the exception by nature: each moves once from open to closed, by a conditional
update that only one writer wins.

>>> from akarom.storage import tac_of
>>> tac_of("352099001761481")
'35209900'
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from akarom.storage._public import *  # noqa: F403  (what __getattr__ gives)
else:  # hidden from type checkers, which then see exactly the names of _public

    def __getattr__(name: str) -> object:
        """``Store`` and the records, imported (with SQLAlchemy) when first asked for."""
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            # A submodule not imported yet (``from akarom.storage import jobs`` asks here
            # first): Python imports it once this says no. Loading ``_public`` instead
            # would import the module that asked, half-initialised, in a circle.
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        public = importlib.import_module("akarom.storage._public")
        if name not in public.__all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(public, name)
        globals()[name] = value  # asked once: later uses are plain attribute reads
        return value

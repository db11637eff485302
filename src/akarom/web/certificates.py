"""``/certificates/{id}``: the page a certificate's QR code opens, for anyone.

It shows what the certificate states exactly as it was signed (the IMEI masked when
the issuer asked), when it was issued and the fingerprint of the key that signed it,
so a buyer holding a printed or photographed certificate can compare; and the public
key itself (``/certificates/keys/{key_id}.pem``) for ``akarom certificate verify FILE
--key``. The page says what a certificate is not: today's answer.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import PlainTextResponse, Response

from akarom.domain import JST, Carrier, Status
from akarom.services.certificates import certificate_by_id, public_key_by_id
from akarom.web.rendering import page, request_lang
from akarom.web.state import hub_of

__all__ = ["router"]

router = APIRouter(include_in_schema=False)  # pages, not API operations


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(JST).strftime("%Y-%m-%d %H:%M")


@router.get("/certificates/{certificate_id}")
async def certificate(request: Request, certificate_id: str) -> Response:
    """A certificate as issued; 404 for an id nobody issued."""
    store = hub_of(request).store
    found = await asyncio.to_thread(certificate_by_id, store, certificate_id)
    if found is None:
        raise HTTPException(status_code=404)
    lang = request_lang(request)
    payload = found.payload
    device = payload["device"]
    check = payload["check"]
    rows: list[dict[str, Any]] = []
    for result in check["results"]:
        carrier, status = Carrier(result["carrier"]), Status(result["status"])
        rows.append(
            {
                "carrier": carrier.value,
                "name": carrier.label(lang),
                "status": status.value,
                "symbol": status.symbol,
                "checked_at": _when(result.get("checked_at")),
            }
        )
    response = page(
        request,
        "certificate.html",
        {
            "id": found.id,
            "issued_at": _when(payload.get("issued_at")),
            "issuer": (payload.get("issuer") or {}).get("name") or "akarom",
            "imei": device.get("imei") or device.get("imei_masked"),
            "masked": "imei" not in device,
            "verdict": found.verdict.value,
            "checked_at": _when(check.get("checked_at")),
            "rows": rows,
            "fingerprint": None if found.key is None else found.key.fingerprint,
            "key_id": payload.get("key_id"),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/certificates/keys/{key_id}.pem")
async def public_key(request: Request, key_id: str) -> Response:
    """A signing key's public half (PEM), for ``akarom certificate verify --key``."""
    key = await asyncio.to_thread(public_key_by_id, hub_of(request).store, key_id)
    if key is None:
        raise HTTPException(status_code=404)
    return PlainTextResponse(key.pem(), media_type="application/x-pem-file")

"""The page a certificate's QR code opens, and the key anyone verifies it with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from akarom.domain import Carrier, Status
from akarom.services.certificates import (
    Outcome,
    issue_certificate,
    read_public_key,
    verify_certificate,
)
from tests.storage.helpers import IMEI, observation
from tests.web.conftest import Served


def _issue(served: Served, *, mask: bool = False):  # type: ignore[no-untyped-def]
    store = served.hub.store
    store.record(
        observation(IMEI, Carrier.DOCOMO, Status.OK, at=datetime.now(UTC) - timedelta(hours=1))
    )
    return issue_certificate(store, served.hub.settings, IMEI, issuer="スマホ堂", mask=mask)


async def test_the_qr_code_opens_what_the_certificate_states(served: Served) -> None:
    issued = _issue(served)
    assert issued.verify_url.endswith(f"/certificates/{issued.id}")
    shown = await served.client.get(f"/certificates/{issued.id}")
    assert shown.status_code == 200
    html = shown.text
    assert "確認証明書" in html
    assert IMEI in html
    assert 'data-verdict="clear"' in html
    assert "今日の状態ではありません" in html  # a certificate is not today's answer
    assert issued.key.fingerprint in html
    assert shown.headers["cache-control"] == "no-store"


async def test_the_public_key_served_verifies_the_pdf_offline(served: Served) -> None:
    issued = _issue(served)
    pem = await served.client.get(f"/certificates/keys/{issued.key.key_id}.pem")
    assert pem.status_code == 200
    key = read_public_key(pem.content)
    assert verify_certificate(issued.pdf, [key]).outcome is Outcome.AUTHENTIC


async def test_a_masked_certificate_shows_no_more_than_it_signed(served: Served) -> None:
    issued = _issue(served, mask=True)
    html = (await served.client.get(f"/certificates/{issued.id}")).text
    assert IMEI not in html
    assert IMEI[:8] in html


async def test_an_id_nobody_issued_is_not_found(served: Served) -> None:
    for path in ("/certificates/" + "0" * 32, "/certificates/nonsense", "/certificates/keys/x.pem"):
        assert (await served.client.get(path)).status_code == 404
